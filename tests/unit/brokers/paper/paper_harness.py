"""Helpers of the paper venue tests: orders, bars, and a real uvicorn server on a free port.

The server runs in a thread on 127.0.0.1 with a port the OS picked; tests talk to it with the
real clients. Bars are hourly from Tuesday 2024-01-02 14:00 UTC.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from support.paper_venue import ServedVenue, free_socket
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.time import NANOS_PER_HOUR, dt_to_ns
from tradeloop.model.account import Account
from tradeloop.model.data import Bar
from tradeloop.model.enums import AccountType, OrderSide, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order

T = TypeVar("T")
SYMBOL = "ABC"
START_NS = dt_to_ns(datetime(2024, 1, 2, 14, tzinfo=UTC))
BUY, SELL = OrderSide.BUY, OrderSide.SELL
_ids = itertools.count(1)


def instruments() -> list[Instrument]:
    """ABC (whole shares, one-cent tick) and XYZ."""
    return [Instrument.equity(SYMBOL), Instrument.equity("XYZ")]


def make_venue(path: Path, *, cash: int = 1_000_000, account_type: AccountType = AccountType.MARGIN,
               config: SimulatedVenueConfig | None = None, **options: Any) -> PaperVenue:
    """A paper venue on ``path`` with the test instruments (``options``: of PaperVenue)."""
    account = Account("PAPER-001", "USD", account_type, Decimal(cash))
    return PaperVenue(path, instruments(), account=account,
                      config=config or SimulatedVenueConfig(venue="PAPER"), **options)


def order(side: OrderSide, quantity: int | str, *, cid: str | None = None,
          price: str | None = None, trigger: str | None = None,
          order_type: OrderType | None = None, tif: TimeInForce = TimeInForce.GTC,
          symbol: str = SYMBOL, strategy_id: str = "S") -> Order:
    """An order; the type follows from the prices given when not named."""
    if order_type is None:
        if trigger is not None:
            order_type = OrderType.STOP_LIMIT if price is not None else OrderType.STOP
        else:
            order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    return Order(
        client_order_id=cid or f"P-{next(_ids)}", strategy_id=strategy_id, symbol=symbol,
        side=side, order_type=order_type, quantity=Decimal(str(quantity)), ts_init=0,
        price=None if price is None else Decimal(price),
        trigger_price=None if trigger is None else Decimal(trigger), time_in_force=tif,
    )


def bar(i: int, open_: float, high: float, low: float, close: float, volume: float = 1e9,
        symbol: str = SYMBOL) -> Bar:
    """The ``i``-th hourly bar from the start."""
    return Bar(symbol, START_NS + i * NANOS_PER_HOUR, open_, high, low, close, volume, "1h")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


__all__ = ["ServedVenue", "free_socket"]


async def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``condition`` on the loop until it holds (fails the test after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
