"""Fyers' own cover (CO) and bracket (BO) orders, asked for through order tags: the entry goes
untagged (Fyers refuses tags on them) with its intent journaled, a node's bracket children take
over the legs Fyers makes, a leg is never cancelled alone, and a lost answer is still resolved
without sending the entry twice."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from support.fyers import ORDER_PATH, FyersServer
from tradeloop.brokers.fyers import capabilities, create_adapter
from tradeloop.brokers.testing.harness import Desk, Target, TargetSpec
from tradeloop.model.enums import (
    AssetClass,
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order

SYMBOL = "NSE:SBIN-EQ"
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def _desk(settings: dict[str, Any], home: Path) -> Desk:
    instrument = Instrument(SYMBOL, "FYERS", AssetClass.EQUITY, "INR", "INR", Decimal("0.05"),
                            Decimal(1), Decimal(1))
    target = Target(TargetSpec("fyers/native", capabilities(), frozenset()), None,  # type: ignore[arg-type]
                    lambda: create_adapter(settings, variant="", home=home), instrument,
                    quantity=Decimal(5), bid=Decimal("799.95"), ask=Decimal("800.05"),
                    settle_s=10.0)
    return Desk(target, target.connect())


def _bracket(desk: Desk, tags: str, stop: str, profit: str,
             entry: Decimal | None = None) -> tuple[Order, Order, Order]:
    """Entry, stop-loss and take-profit linked as ``Strategy.bracket`` links them."""
    parent = desk.order(BUY, OrderType.LIMIT if entry else OrderType.MARKET, price=entry,
                        tif=TimeInForce.DAY)
    sl = desk.order(SELL, OrderType.STOP, trigger=Decimal(stop), tif=TimeInForce.DAY)
    tp = desk.order(SELL, OrderType.LIMIT, price=Decimal(profit), tif=TimeInForce.DAY)
    parent.tags = (tags,)
    parent.contingency, parent.linked_ids = ContingencyType.OTO, (sl.client_order_id,
                                                                  tp.client_order_id)
    for leg, other in ((sl, tp), (tp, sl)):
        leg.parent_id = parent.client_order_id
        leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
    return parent, sl, tp


def _book(fyers: FyersServer) -> list[tuple[str, int, int, str, Decimal, Decimal]]:
    """(product, type, status, parent id, stop, limit) of every order at Fyers."""
    with fyers.locked():
        return [(o.product, o.type, o.status, o.parent_id, o.stop, o.limit)
                for o in fyers.book.orders.values()]


def test_a_node_bracket_becomes_a_fyers_bracket_order(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    async def run() -> None:
        desk = await _desk(settings, home).open()
        try:
            parent, sl, tp = _bracket(desk, "product=BO;stop_loss=2;take_profit=4",
                                      "797.00", "805.00")
            for order in (parent, sl, tp):
                desk.submit(order)
            await desk.until_status(parent, OrderStatus.FILLED)
            await desk.until_status(sl, OrderStatus.ACCEPTED)
            await desk.until_status(tp, OrderStatus.ACCEPTED)
            entry = fyers.order(parent.venue_order_id or "")
            assert entry.product == "BO" and entry.tag == ""  # Fyers refuses tags on BO
            # the legs Fyers made, moved to the node's own prices
            assert sorted(_book(fyers)[1:]) == [
                ("BO", 1, 6, entry.id, Decimal(0), Decimal("805.0")),
                ("BO", 3, 6, entry.id, Decimal("797.0"), Decimal(0))]
            assert sl.venue_order_id and tp.venue_order_id
            fyers.set_price(SYMBOL, "805.00", "805.10")
            await desk.until_status(tp, OrderStatus.FILLED)
            await desk.until_status(sl, OrderStatus.CANCELED)
            assert desk.cache.net_quantity(SYMBOL) == 0 == fyers.net(SYMBOL)
            assert [f.last_px for f in desk.fills(tp)] == [Decimal("805.00")]
        finally:
            await desk.close()
        assert len(fyers.requests(ORDER_PATH, "POST")) == 1  # the children sent nothing

    asyncio.run(run())


def test_a_leg_is_not_cancelled_alone(fyers: FyersServer, settings: dict[str, Any],
                                      home: Path, logged_in: None) -> None:
    async def run() -> None:
        desk = await _desk(settings, home).open()
        try:
            parent, sl, tp = _bracket(desk, "product=BO;stop_loss=2;take_profit=4",
                                      "798.05", "804.05")
            for order in (parent, sl, tp):
                desk.submit(order)
            await desk.until_status(sl, OrderStatus.ACCEPTED)
            await desk.until_status(tp, OrderStatus.ACCEPTED)
            desk.cancel(sl)
            await desk.until(lambda: any(e.kind == "OrderCancelRejected"
                                         and e.client_order_id == sl.client_order_id
                                         for e in desk.events), "the cancel refused")
            assert sl.status is OrderStatus.ACCEPTED
            assert "leg of a Fyers cover or bracket order" in next(
                e.reason for e in desk.events if e.kind == "OrderCancelRejected")
            assert [s for _, _, s, parent_id, _, _ in _book(fyers) if parent_id] == [6, 6]
        finally:
            await desk.close()

    asyncio.run(run())


def test_a_cover_order_leg_nobody_took_is_adopted_by_reconciliation(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    async def run() -> None:
        desk = await _desk(settings, home).open()
        try:
            order = desk.order(BUY, OrderType.MARKET, tif=TimeInForce.DAY)
            order.tags = ("product=CO;stop_loss=2.5",)
            desk.submit(order)
            await desk.until_status(order, OrderStatus.FILLED)
            entry = fyers.order(order.venue_order_id or "")
            assert (entry.product, entry.stop_loss) == ("CO", Decimal("2.5"))
            leg = [row for row in _book(fyers) if row[3] == entry.id]
            assert leg == [("CO", 3, 6, entry.id, Decimal("797.55"), Decimal(0))]
            fyers.set_price(SYMBOL, "797.00", "797.10")  # the stop-loss leg fills at Fyers
            assert fyers.net(SYMBOL) == 0
            report = await desk.reconcile()
            assert report.ok, report.position_mismatches
            adopted = desk.cache.order(f"{order.client_order_id}.SL")
            assert adopted is not None and adopted.status is OrderStatus.FILLED
            assert desk.cache.net_quantity(SYMBOL) == 0
        finally:
            await desk.close()

    asyncio.run(run())


def test_a_bracket_whose_answer_was_lost_is_found_without_a_tag(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    async def run() -> None:
        desk = await _desk(settings, home).open()
        try:
            fyers.fail_next("lost_answer")
            order = desk.order(BUY, OrderType.LIMIT, price=Decimal("790.00"),
                               tif=TimeInForce.DAY)
            order.tags = ("product=BO;stop_loss=3;take_profit=6",)
            desk.submit(order)
            await desk.until_status(order, OrderStatus.ACCEPTED)
            await desk.close()
            assert desk.router.sends == 1
            assert len(fyers.requests(ORDER_PATH, "POST")) == 1
            journal = json.loads((home / f"fyers-orders-{settings['client_id']}.json")
                                 .read_text())
            intent = journal["natives"][order.client_order_id]
            assert intent["venue_order_id"] == fyers.order(intent["venue_order_id"]).id
            # a restarted node finds it again by its journal
            desk = await _desk(settings, home).open()
            assert await desk.venue_open(order)
            status = await desk.adapter.execution.order_status(order.client_order_id)
            assert status is not None and status.venue_order_id == intent["venue_order_id"]
        finally:
            await desk.close()

    asyncio.run(run())


def test_a_cover_order_without_its_stop_loss_is_refused_before_sending(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    async def run() -> None:
        desk = await _desk(settings, home).open()
        try:
            order = desk.order(BUY, OrderType.MARKET, tif=TimeInForce.DAY)
            order.tags = ("product=CO",)
            desk.submit(order)
            await desk.until_status(order, OrderStatus.REJECTED)
            assert "needs stop_loss=" in order.reason
        finally:
            await desk.close()
        assert fyers.requests(ORDER_PATH, "POST") == []

    asyncio.run(run())
