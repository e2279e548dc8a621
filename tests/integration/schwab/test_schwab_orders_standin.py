"""Orders the conformance suite does not reach, against the local Schwab: OCO pairs, TRIGGER
(OTO) orders and brackets as one Schwab order tree, an option order, a trailing stop that
follows the bid, Schwab's replace as a modify, a refusal after booking, and idempotent sends
(an unclear send that never arrived goes again; an identical one waits for it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from support.schwab import SchwabServer
from support.schwab.harness import ORDERS_PATH
from tradeloop.brokers.schwab import JOURNAL_FILE
from tradeloop.brokers.schwab.journal import OrderJournal
from tradeloop.brokers.testing.harness import Desk, Target
from tradeloop.execution.engine import EXECUTE
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
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

BUY, SELL = OrderSide.BUY, OrderSide.SELL
D = Decimal
CALL = "AAPL  261218C00200000"


def run(target: Target, scenario: Callable[[Desk], Awaitable[None]]) -> Desk:
    async def main() -> Desk:
        desk = await Desk(target, target.connect()).open()
        try:
            await scenario(desk)
        finally:
            await desk.close()
        return desk

    return asyncio.run(main())


def submit_list(desk: Desk, *orders: Order) -> None:
    for order in orders:
        desk.cache.add_order(order)
    desk.bus.send(EXECUTE, cmd.SubmitOrderList(tuple(orders), desk.clock.now_ns()))


def oco(*orders: Order) -> None:
    for order in orders:
        order.contingency = ContingencyType.OCO
        order.linked_ids = tuple(o.client_order_id for o in orders if o is not order)


async def long_position(desk: Desk) -> Order:
    entry = desk.submit(desk.order(BUY, OrderType.MARKET))
    await desk.until_status(entry, OrderStatus.FILLED)
    return entry


def test_an_oco_pair_is_one_schwab_order_and_a_fill_cancels_the_other(
        schwab: SchwabServer, target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        await long_position(desk)
        take = desk.order(SELL, OrderType.LIMIT, price=D("195.00"))
        stop = desk.order(SELL, OrderType.STOP, trigger=D("185.00"))
        oco(take, stop)
        submit_list(desk, take, stop)
        for order in (take, stop):
            await desk.until_status(order, OrderStatus.ACCEPTED)
        (root,) = [o for o in schwab.orders() if o.strategy == "OCO"]
        assert [c.instruction for c in root.children] == ["SELL", "SELL"]
        schwab.set_price("AAPL", "195.10", "195.12")
        await desk.until_status(take, OrderStatus.FILLED)
        await desk.until_status(stop, OrderStatus.CANCELED)
        assert desk.cache.net_quantity("AAPL") == 0

    desk = run(target, scenario)
    assert len(schwab.requests(ORDERS_PATH, "POST")) == 2  # the entry, then the pair at once
    assert desk.router.sends == 3


def test_a_bracket_is_a_trigger_whose_exits_work_once_the_entry_fills(
        schwab: SchwabServer, target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        entry = desk.order(BUY, OrderType.LIMIT, price=D("185.00"))
        stop = desk.order(SELL, OrderType.STOP, trigger=D("180.00"))
        take = desk.order(SELL, OrderType.LIMIT, price=D("195.00"))
        entry.contingency, entry.linked_ids = ContingencyType.OTO, (
            stop.client_order_id, take.client_order_id)
        for leg in (stop, take):
            leg.parent_id = entry.client_order_id
        oco(stop, take)
        submit_list(desk, entry, stop, take)
        for order in (entry, stop, take):
            await desk.until_status(order, OrderStatus.ACCEPTED)
        (root,) = schwab.orders()
        assert root.strategy == "TRIGGER" and root.status == "WORKING"
        assert [n.status for n in root.walk()[1:]] == ["AWAITING_PARENT_ORDER"] * 3
        assert [n.instruction for n in root.walk()[2:]] == ["SELL", "SELL"]
        schwab.set_price("AAPL", "184.90", "184.95")  # the entry fills at its limit
        await desk.until_status(entry, OrderStatus.FILLED)
        assert [n.status for n in root.walk()[1:]] == ["WORKING"] * 3
        schwab.set_price("AAPL", "179.90", "179.95")  # the stop-loss triggers
        await desk.until_status(stop, OrderStatus.FILLED)
        await desk.until_status(take, OrderStatus.CANCELED)
        assert desk.cache.net_quantity("AAPL") == 0

    run(target, scenario)
    assert len(schwab.requests(ORDERS_PATH, "POST")) == 1
    assert schwab.positions() == {}


def test_a_trigger_with_one_child(schwab: SchwabServer, target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        entry = desk.order(BUY, OrderType.MARKET)
        exit_ = desk.order(SELL, OrderType.LIMIT, price=D("199.00"))
        entry.contingency, entry.linked_ids = ContingencyType.OTO, (exit_.client_order_id,)
        exit_.parent_id = entry.client_order_id
        submit_list(desk, entry, exit_)
        await desk.until_status(entry, OrderStatus.FILLED)
        await desk.until_status(exit_, OrderStatus.ACCEPTED)
        assert await desk.venue_open(exit_)
        desk.cancel(exit_)
        await desk.until_status(exit_, OrderStatus.CANCELED)

    run(target, scenario)
    (root,) = schwab.orders()
    assert (root.strategy, root.children[0].strategy) == ("TRIGGER", "SINGLE")


def test_an_option_opens_and_closes_by_contract(schwab: SchwabServer, target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        [call] = await desk.adapter.instruments.instruments([CALL])
        assert call.multiplier == 100 and call.asset_class is AssetClass.EQUITY
        desk.cache.add_instrument(call)
        buy = desk.submit(Order(client_order_id="OPT-1", strategy_id="CF", symbol=CALL,
                                side=BUY, order_type=OrderType.LIMIT, quantity=D(2),
                                ts_init=desk.clock.now_ns(), price=D("7.60")))
        await desk.until_status(buy, OrderStatus.FILLED)
        assert buy.avg_px == D("7.50")
        assert [(p.symbol, p.quantity) for p in await desk.adapter.execution.positions()] == [
            (CALL, D(2))]
        sell = desk.submit(Order(client_order_id="OPT-2", strategy_id="CF", symbol=CALL,
                                 side=SELL, order_type=OrderType.MARKET, quantity=D(2),
                                 ts_init=desk.clock.now_ns(), time_in_force=TimeInForce.DAY))
        await desk.until_status(sell, OrderStatus.FILLED)

    run(target, scenario)
    assert [(o.asset_type, o.instruction) for o in schwab.orders()] == [
        ("OPTION", "BUY_TO_OPEN"), ("OPTION", "SELL_TO_CLOSE")]
    assert schwab.positions() == {}
    # 2 contracts bought at 7.50 and sold at 7.40, 100 shares each, 0.65 a contract each way
    assert schwab.venue.cash == D(100_000) - 2 * D("7.50") * 100 + 2 * D("7.40") * 100 \
        - 4 * D("0.65")


def test_a_trailing_stop_follows_the_bid_and_sells_when_it_turns(
        schwab: SchwabServer, target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        await long_position(desk)
        trail = desk.submit(desk.order(SELL, OrderType.TRAILING_STOP,
                                       trailing_offset=D("1.00")))
        await desk.until_status(trail, OrderStatus.ACCEPTED)
        (node,) = [o for o in schwab.orders() if o.order_type == "TRAILING_STOP"]
        assert (node.link_basis, node.link_type, node.offset) == ("BID", "VALUE", D(1))
        for bid in ("190.00", "192.00", "191.50"):
            schwab.set_price("AAPL", bid, str(D(bid) + D("0.02")))
        assert node.stop_price == D("191.00") and node.status == "WORKING"
        schwab.set_price("AAPL", "190.99", "191.01")
        await desk.until_status(trail, OrderStatus.FILLED)
        assert trail.avg_px == D("190.99")

    run(target, scenario)
    assert schwab.positions() == {}


def test_a_modify_is_schwab_s_replace_under_the_same_client_order_id(
        schwab: SchwabServer, target: Target, tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=D("180.00")))
        await desk.until_status(order, OrderStatus.ACCEPTED)
        desk.modify(order, price=D("181.00"))
        await desk.until(lambda: order.price == D("181.00"), "the new price")
        ids = OrderJournal.open(tmp_path / JOURNAL_FILE).chain(order.client_order_id)
        assert [schwab.order(i).status for i in ids] == ["REPLACED", "WORKING"]
        schwab.fill(ids[-1], 4)
        await desk.until_status(order, OrderStatus.PARTIALLY_FILLED)
        desk.modify(order, price=D("182.00"))
        await desk.until(lambda: any(isinstance(e, ev.OrderModifyRejected)
                                     for e in desk.events), "the modify to be refused")
        refused = next(e for e in desk.events if isinstance(e, ev.OrderModifyRejected))
        assert "partly filled" in refused.reason
        assert order.price == D("181.00")

    run(target, scenario)
    assert len(schwab.requests(ORDERS_PATH, "PUT")) == 1


def test_a_refusal_after_booking_is_a_rejection_with_schwab_s_reason(
        schwab: SchwabServer, target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        schwab.arm("reject")
        order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=D("180.00")))
        await desk.until_status(order, OrderStatus.REJECTED)
        assert order.reason == "Order rejected: the security is not tradable now."

    desk = run(target, scenario)
    assert desk.router.sends == 1


def test_an_unclear_send_that_never_arrived_is_sent_again_once(
        schwab: SchwabServer, target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        schwab.fail_next("unavailable", method="POST", path=ORDERS_PATH)  # 503, nothing booked
        order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=D("180.00")))
        await desk.until_status(order, OrderStatus.ACCEPTED)

    desk = run(target, scenario)
    assert [r.status for r in schwab.requests(ORDERS_PATH, "POST")] == [503, 201]
    assert len(schwab.orders()) == 1 and desk.router.sends == 2


def test_an_identical_order_waits_until_the_unclear_one_is_found(
        schwab: SchwabServer, target: Target, tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        schwab.fail_next("lost_answer")
        first = desk.submit(desk.order(BUY, OrderType.LIMIT, price=D("180.00")))
        second = desk.submit(desk.order(BUY, OrderType.LIMIT, price=D("180.00")))
        for order in (first, second):
            await desk.until_status(order, OrderStatus.ACCEPTED)
        journal = OrderJournal.open(tmp_path / JOURNAL_FILE)
        ids = [journal.current(o.client_order_id) for o in (first, second)]
        assert len(set(ids)) == 2 and sorted(ids) == [o.order_id for o in schwab.orders()]
        assert [str(first.venue_order_id), str(second.venue_order_id)] == [str(i) for i in ids]

    run(target, scenario)
    assert [r.status for r in schwab.requests(ORDERS_PATH, "POST")] == [504, 201]
    assert len(schwab.orders()) == 2


def test_instruments_come_from_schwab_s_reference_data(target: Target) -> None:
    async def scenario(desk: Desk) -> None:
        found = await desk.adapter.instruments.instruments(["AAPL", CALL])
        assert [(i.symbol, i.venue, i.tick_size, i.multiplier) for i in found] == [
            ("AAPL", "SCHWAB", D("0.01"), 1), (CALL, "SCHWAB", D("0.01"), 100)]
        assert isinstance(found[0], Instrument)

    run(target, scenario)
