"""Helpers shared by the audit database tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tradeloop.core.time import dt_to_ns
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.orders import Order

START_NS = dt_to_ns(datetime(2024, 1, 2, 14, tzinfo=UTC))
PG_URL_VARIABLE = "TRADELOOP_TEST_PG_URL"
REQUIRE_PG_VARIABLE = "TRADELOOP_REQUIRE_PG"


def pg_base_url() -> sa.URL:
    """The PostgreSQL server given to the tests, or skip (fail when PostgreSQL is required)."""
    raw = os.environ.get(PG_URL_VARIABLE, "").strip()
    if not raw:
        if os.environ.get(REQUIRE_PG_VARIABLE):
            pytest.fail(
                f"{REQUIRE_PG_VARIABLE} is set but {PG_URL_VARIABLE} is not: give the "
                "PostgreSQL URL, e.g. postgresql+psycopg://user:password@127.0.0.1:5432/db"
            )
        pytest.skip(
            f"PostgreSQL tests need {PG_URL_VARIABLE}, e.g. "
            "postgresql+psycopg://user:password@127.0.0.1:5432/tradeloop_test"
        )
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def make_order(
    client_order_id: str = "O-1",
    *,
    side: OrderSide = OrderSide.BUY,
    quantity: str = "10",
    price: str | None = None,
    symbol: str = "ABC",
    strategy_id: str = "T",
    ts: int = START_NS,
) -> Order:
    """A market order, or a limit order when ``price`` is given."""
    return Order(
        client_order_id=client_order_id, strategy_id=strategy_id, symbol=symbol, side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        quantity=Decimal(quantity), ts_init=ts,
        price=Decimal(price) if price is not None else None,
    )


def accepted(order: Order, venue_order_id: str = "V-1", ts: int = START_NS + 1) -> ev.OrderAccepted:
    """The venue's acceptance of ``order``."""
    return ev.OrderAccepted(
        ts=ts, client_order_id=order.client_order_id, strategy_id=order.strategy_id,
        symbol=order.symbol, venue_order_id=venue_order_id,
    )


def submitted(order: Order, ts: int = START_NS) -> ev.OrderSubmitted:
    """The order leaving the node."""
    return ev.OrderSubmitted(
        ts=ts, client_order_id=order.client_order_id, strategy_id=order.strategy_id,
        symbol=order.symbol,
    )


def filled(
    order: Order, qty: str, px: str, trade_id: str, *, ts: int = START_NS + 2,
    commission: str = "0", venue_order_id: str = "V-1",
) -> ev.OrderFilled:
    """An execution of ``order``."""
    return ev.OrderFilled(
        ts=ts, client_order_id=order.client_order_id, strategy_id=order.strategy_id,
        symbol=order.symbol, venue_order_id=venue_order_id, trade_id=trade_id,
        side=order.side, last_qty=Decimal(qty), last_px=Decimal(px),
        commission=Decimal(commission), commission_currency="USD",
    )
