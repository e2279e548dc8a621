"""Dropped connections and the daily restart at the IB stand-in, through ib_async's real ``IB``:
what the client sees when the socket closes, refused connects while the gateway is down, and
finding orders, executions and positions again after reconnecting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ib_async import ExecutionFilter, LimitOrder, MarketOrder
from ib_async.contract import Stock
from ib_async.util import globalErrorEvent

from support.ib_standin import GATEWAY, Gateway
from support.ib_standin.harness import connect, new_ib, run, settle, until


@pytest.fixture(autouse=True)
def gateway() -> Iterator[Gateway]:
    GATEWAY.reset()
    yield GATEWAY
    GATEWAY.reset()


def test_drop_connection_closes_the_socket_as_the_client_sees_it() -> None:
    async def scenario() -> None:
        ib = await connect(client_id=11)
        events: list[str] = []
        ib.disconnectedEvent += lambda: events.append("disconnected")
        ib.client.apiError += events.append
        socket_errors: list[Exception] = []
        globalErrorEvent.connect(socket_errors.append)
        answered = ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        GATEWAY.drop_connection()
        # sent into the closing socket before the client noticed: never answered
        pending = ib.reqContractDetailsAsync(Stock("MSFT", "SMART", "USD"))
        await until(lambda: "disconnected" in events, "the disconnect")
        globalErrorEvent.disconnect(socket_errors.append)
        assert events == ["Peer closed connection.", "disconnected"]
        assert not ib.isConnected() and GATEWAY.connected_client_ids == ()
        # what the gateway sent before closing still arrived; the unanswered request fails
        # the way ib_async fails requests on a socket disconnect
        assert [d.contract.symbol for d in await answered] == ["AAPL"]
        with pytest.raises(ConnectionError):
            await pending
        assert socket_errors and isinstance(socket_errors[0], ConnectionError)
        with pytest.raises(ConnectionError):
            ib.client.reqOpenOrders()
        again = await connect(client_id=11)
        assert again.isConnected()
        again.disconnect()

    run(scenario())


def test_restart_refuses_connects_while_down_and_keeps_the_state() -> None:
    async def scenario() -> None:
        ib = await connect(client_id=12)
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00)
        bought = ib.placeOrder(aapl, MarketOrder("BUY", 20, orderRef="before-1"))
        ib.placeOrder(aapl, LimitOrder("BUY", 10, 185.00, orderRef="before-2"))
        working = ib.placeOrder(aapl, LimitOrder("SELL", 5, 199.00, orderRef="before-3"))
        await until(bought.isDone, "the first fill")
        used = working.order.orderId
        GATEWAY.restart(60)
        await until(lambda: not ib.isConnected(), "the drop")
        down = new_ib()
        with pytest.raises(ConnectionRefusedError):
            await down.connectAsync("127.0.0.1", 4002, clientId=12, timeout=5)
        assert not down.isConnected()
        # the market moves while the gateway is down: the resting order fills unseen
        GATEWAY.set_price("AAPL", 184.90, 185.00, 185.00)
        GATEWAY.advance(61)
        back = await connect(client_id=12)
        # IB.connectAsync's startup sync finds the orders, executions and positions again
        assert [t.order.orderRef for t in back.openTrades()] == ["before-3"]
        refs = sorted(f.execution.orderRef for f in back.fills())
        assert refs == ["before-1", "before-2"]
        assert all(f.commissionReport.commission > 0 for f in back.fills())
        [position] = back.positions()
        assert position.position == 30
        assert back.client.getReqId() > used
        completed = await back.reqCompletedOrdersAsync(False)
        assert sorted(t.order.orderRef for t in completed) == ["before-1", "before-2"]
        assert {t.orderStatus.status for t in completed} == {"Filled"}
        mine = await back.reqExecutionsAsync(ExecutionFilter(clientId=12, side="BUY"))
        assert len(mine) == 2
        assert await back.reqExecutionsAsync(ExecutionFilter(symbol="MSFT")) == []
        # the open order is still live and still the client's: it can be cancelled
        [open_trade] = await back.reqOpenOrdersAsync()
        back.cancelOrder(open_trade.order)
        await until(open_trade.isDone, "the cancel after reconnecting")
        assert GATEWAY.orders[-1].status == "Cancelled"
        back.disconnect()

    run(scenario())


def test_ib_link_loss_and_restore_are_reported_as_errors_1100_and_1102() -> None:
    async def scenario() -> None:
        ib = await connect(client_id=13)
        codes: list[int] = []
        ib.errorEvent += lambda _req, code, _msg, _c: codes.append(code)
        GATEWAY.lose_ib_link()
        GATEWAY.restore_ib_link()
        await settle()
        assert codes[:2] == [1100, 1102]
        await until(lambda: bool(ib.wrapper.acctSummary), "the summary IB re-requests on 1102")
        assert ib.isConnected()
        ib.disconnect()

    run(scenario())
