"""An access token that dies while a node trades (Fyers' morning reset): one clear message
telling the user to log in again, no order lost and none sent twice, and trading resumes with
the orders it had once a new login is stored."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.fyers import ORDER_PATH, FyersServer
from support.fyers.adapter import store_login
from tradeloop.brokers.fyers import capabilities, create_adapter
from tradeloop.brokers.fyers.errors import LOGIN_COMMAND
from tradeloop.brokers.testing.harness import Desk, Target, TargetSpec
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

SYMBOL = "NSE:SBIN-EQ"


def _target(settings: dict[str, Any], home: Path) -> Target:
    instrument = Instrument(SYMBOL, "FYERS", AssetClass.EQUITY, "INR", "INR", Decimal("0.05"),
                            Decimal(1), Decimal(1))
    return Target(TargetSpec("fyers/expiry", capabilities(), frozenset()), None,  # type: ignore[arg-type]
                  lambda: create_adapter(settings, variant="", home=home), instrument,
                  quantity=Decimal(5), bid=Decimal("799.95"), ask=Decimal("800.05"),
                  settle_s=10.0)


def _posted_tags(fyers: FyersServer) -> list[str]:
    return [r.body.get("orderTag", "") for r in fyers.requests(ORDER_PATH, "POST")
            if isinstance(r.body, dict)]


def test_an_expired_token_stops_orders_with_one_message_and_loses_none(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async def run() -> None:
        desk = await Desk(_target(settings, home), create_adapter(settings, variant="",
                                                                  home=home)).open()
        try:
            limit = dict(price=Decimal("780.00"), tif=TimeInForce.DAY)
            working = desk.submit(desk.order(OrderSide.BUY, OrderType.LIMIT, **limit))
            await desk.until_status(working, OrderStatus.ACCEPTED)

            fyers.expire_tokens()  # the morning reset
            first = desk.submit(desk.order(OrderSide.BUY, OrderType.LIMIT, **limit))
            await desk.until_status(first, OrderStatus.REJECTED)
            second = desk.submit(desk.order(OrderSide.BUY, OrderType.MARKET))
            await desk.until_status(second, OrderStatus.REJECTED)
            for order in (first, second):
                assert LOGIN_COMMAND in order.reason and "code -8" in order.reason
            assert desk.router.sends == 3  # the router sent each once and retried none
            # only the first reached Fyers (and was refused there); the second never left
            assert _posted_tags(fyers) == [working.client_order_id, first.client_order_id]
            with fyers.locked():
                assert [o.tag for o in fyers.book.orders.values()] == [
                    working.client_order_id]

            # the user logs in again; the node's working order is still its own
            store_login(fyers, settings, home)
            desk.cancel(working)
            await desk.until_status(working, OrderStatus.CANCELED)
            third = desk.submit(desk.order(OrderSide.BUY, OrderType.MARKET))
            await desk.until_status(third, OrderStatus.FILLED)
        finally:
            await desk.close()
        assert fyers.submits(working.client_order_id) == 1
        assert fyers.submits(first.client_order_id) == 0
        assert fyers.submits(second.client_order_id) == 0
        assert fyers.submits(third.client_order_id) == 1
        assert fyers.net(SYMBOL) == 5

    asyncio.run(run())
    refusals = [r for r in caplog.records if r.name.startswith("tradeloop.brokers.fyers")
                and r.levelno >= logging.ERROR]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert LOGIN_COMMAND in refusals[0].getMessage()
    assert "a new login was found" in caplog.text


def test_a_node_starting_with_a_dead_token_fails_with_the_login_message(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    fyers.expire_tokens()
    adapter = create_adapter(settings, variant="", home=home)

    async def run() -> None:
        try:
            await adapter.execution.connect()
        finally:
            await adapter.close()

    with pytest.raises(Exception) as caught:
        asyncio.run(run())
    assert type(caught.value).__name__ == "FyersTokenError"
    assert str(caught.value).startswith("Fyers needs a new login (code -8")
    assert LOGIN_COMMAND in str(caught.value) and "\n" not in str(caught.value)


def test_an_order_in_transit_when_the_token_dies_is_neither_rejected_nor_sent_again(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    async def run() -> None:
        desk = await Desk(_target(settings, home), create_adapter(settings, variant="",
                                                                  home=home)).open()
        try:
            fyers.fail_next("lost_answer")  # booked, answered "in transit" (code 201)...
            with fyers.locked():  # ...and the morning reset right then
                fyers.book.listeners.append(lambda order, trade: fyers.tokens.expire_all())
            order = desk.submit(desk.order(OrderSide.BUY, OrderType.LIMIT,
                                           price=Decimal("780.00"), tif=TimeInForce.DAY))
            await asyncio.wait_for(desk.router.settle(), 10)
            assert order.status is OrderStatus.SUBMITTED  # unknown: not rejected unseen
            assert _posted_tags(fyers) == [order.client_order_id]
            with fyers.locked():
                fyers.book.listeners.pop()
            store_login(fyers, settings, home)
            report = await desk.reconcile()
            assert report.ok and order.status is OrderStatus.ACCEPTED
        finally:
            await desk.close()
        assert fyers.submits(order.client_order_id) == 1

    asyncio.run(run())
