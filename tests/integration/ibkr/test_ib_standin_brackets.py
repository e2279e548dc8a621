"""Bracket orders (parentId, transmit), OCA groups and global cancel at the IB stand-in, through
ib_async's real ``IB``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ib_async import IB, LimitOrder, StopOrder, Trade
from ib_async.contract import Contract, Stock

from support.ib_standin import GATEWAY, Gateway
from support.ib_standin.harness import connect, run, settle, until


@pytest.fixture(autouse=True)
def gateway() -> Iterator[Gateway]:
    GATEWAY.reset()
    yield GATEWAY
    GATEWAY.reset()


async def _setup() -> tuple[IB, Contract]:
    ib = await connect(client_id=6)
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00)
    return ib, aapl


async def _bracket(ib: IB, aapl: Contract, ref: str) -> list[Trade]:
    orders = ib.bracketOrder("BUY", 100, 189.00, 195.00, 185.00)
    for order in orders:
        order.orderRef = ref
    trades = []
    for order in orders[:2]:
        trades.append(ib.placeOrder(aapl, order))
    await settle()
    # transmit=False orders are held: no answer at all until the transmitting child arrives
    assert [t.orderStatus.status for t in trades] == ["PendingSubmit", "PendingSubmit"]
    assert [o.transmitted for o in GATEWAY.orders] == [False, False]
    trades.append(ib.placeOrder(aapl, orders[2]))
    await settle()
    return trades


def test_bracket_children_wait_for_the_parent_fill() -> None:
    async def scenario() -> None:
        ib, aapl = await _setup()
        parent, profit, loss = await _bracket(ib, aapl, "br")
        assert [t.orderStatus.status for t in (parent, profit, loss)] == [
            "Submitted", "PreSubmitted", "PreSubmitted"]
        assert [o.parent_id for o in GATEWAY.orders] == [0, parent.order.orderId,
                                                         parent.order.orderId]
        GATEWAY.set_price("AAPL", 194.99, 195.01, 195.00)  # the take-profit is not live yet
        await settle()
        assert profit.orderStatus.status == "PreSubmitted" and not profit.fills
        GATEWAY.set_price("AAPL", 188.95, 189.00, 189.00)
        await until(parent.isDone, "the parent fill")
        await until(lambda: profit.orderStatus.status == "Submitted", "the child going live")
        assert loss.orderStatus.status == "PreSubmitted"  # a stop: held until triggered
        GATEWAY.set_price("AAPL", 195.00, 195.02, 195.00, bid_size=40)
        await until(lambda: profit.orderStatus.filled == 40, "a partial take-profit")
        await until(lambda: loss.order.totalQuantity == 60, "the stop-loss reduced")
        GATEWAY.set_price("AAPL", 195.00, 195.02, 195.00)
        await until(lambda: profit.isDone() and loss.isDone(), "the bracket to finish")
        assert profit.orderStatus.status == "Filled" and loss.orderStatus.status == "Cancelled"
        assert GATEWAY.positions == {}
        ib.disconnect()

    run(scenario())


def test_cancelling_the_parent_cancels_its_children() -> None:
    async def scenario() -> None:
        ib, aapl = await _setup()
        parent, profit, loss = await _bracket(ib, aapl, "br2")
        ib.cancelOrder(parent.order)
        await until(lambda: all(t.isDone() for t in (parent, profit, loss)), "the cascade")
        assert {t.orderStatus.status for t in (parent, profit, loss)} == {"Cancelled"}
        ib.disconnect()

    run(scenario())


def test_stop_loss_of_a_bracket_fires_and_cancels_the_take_profit() -> None:
    async def scenario() -> None:
        ib, aapl = await _setup()
        parent, profit, loss = await _bracket(ib, aapl, "br3")
        GATEWAY.fill("br3", 100, 189.00)  # fills the parent, the only live order
        await until(parent.isDone, "the parent fill")
        GATEWAY.set_price("AAPL", 184.90, 184.95, 184.90)
        await until(lambda: loss.isDone() and profit.isDone(), "the stop-loss")
        assert loss.orderStatus.status == "Filled" and profit.orderStatus.status == "Cancelled"
        assert loss.fills[0].execution.price == 184.90
        ib.disconnect()

    run(scenario())


def test_an_unanswered_transmit_false_order_can_be_released_by_modifying_it() -> None:
    async def scenario() -> None:
        ib, aapl = await _setup()
        held = ib.placeOrder(aapl, LimitOrder("BUY", 10, 180.00, transmit=False))
        await settle()
        assert held.orderStatus.status == "PendingSubmit"
        assert [n for n, f in GATEWAY.log if f.get("orderId") == held.order.orderId] == [
            "client.placeOrder"]
        held.order.transmit = True
        ib.placeOrder(aapl, held.order)
        await until(lambda: held.orderStatus.status == "Submitted", "the transmit")
        ib.disconnect()

    run(scenario())


def test_oca_group_type_1_cancels_the_others_on_a_fill() -> None:
    async def scenario() -> None:
        ib, aapl = await _setup()
        orders = IB.oneCancelsAll([LimitOrder("SELL", 10, 200.00), StopOrder("SELL", 10, 180.00),
                                   LimitOrder("SELL", 10, 205.00)], "exit-1", 1)
        trades = [ib.placeOrder(aapl, o) for o in orders]
        await settle()
        assert [o.oca_group for o in GATEWAY.orders] == ["exit-1"] * 3
        GATEWAY.set_price("AAPL", 200.00, 200.02, 200.00, bid_size=4)
        await until(lambda: all(t.isDone() for t in trades[1:]), "the OCA cancels")
        assert [t.orderStatus.status for t in trades[1:]] == ["Cancelled", "Cancelled"]
        assert trades[0].orderStatus.filled == 4  # a partial fill is enough for type 1
        ib.disconnect()

    run(scenario())


def test_oca_group_type_2_reduces_the_others() -> None:
    async def scenario() -> None:
        ib, aapl = await _setup()
        orders = IB.oneCancelsAll([LimitOrder("SELL", 10, 200.00), LimitOrder("SELL", 10, 210.00)],
                                  "exit-2", 2)
        first, second = (ib.placeOrder(aapl, o) for o in orders)
        await settle()
        GATEWAY.set_price("AAPL", 200.00, 200.02, 200.00, bid_size=4)
        await until(lambda: second.order.totalQuantity == 6, "the reduction")
        assert second.orderStatus.status == "Submitted"
        GATEWAY.set_price("AAPL", 200.00, 200.02, 200.00)
        await until(lambda: first.isDone() and second.isDone(), "the group to finish")
        assert first.orderStatus.status == "Filled" and second.orderStatus.status == "Cancelled"
        ib.disconnect()

    run(scenario())


def test_global_cancel_cancels_every_working_order() -> None:
    async def scenario() -> None:
        ib, aapl = await _setup()
        other = await connect(client_id=7)
        mine = [ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00 + i)) for i in range(3)]
        theirs = other.placeOrder(aapl, LimitOrder("SELL", 1, 250.00))
        await settle()
        ib.reqGlobalCancel()
        await until(lambda: all(t.isDone() for t in [*mine, theirs]), "the global cancel")
        assert {o.status for o in GATEWAY.orders} == {"Cancelled"}
        ib.disconnect()
        other.disconnect()

    run(scenario())
