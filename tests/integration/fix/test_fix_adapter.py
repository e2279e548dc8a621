"""The FIX adapter's own session behaviour against the scripted QuickFIX acceptor: a dropped
connection comes back with backoff, the reports sent meanwhile arrive through the resend
recovery (each booked once), and the open orders are reconciled by OrderStatusRequest; a
restarted venue that forgot an order gets it closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from support.fix_acceptor import FixAcceptor, acceptor_binary_or_skip
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.fix import build_adapter
from tradeloop.brokers.fix.config import FixAdapterConfig
from tradeloop.brokers.fix.execution import FixExecutionClient
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.orders import Order

WAIT_S = 20.0


@pytest.fixture
def acceptor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FixAcceptor]:
    started = FixAcceptor(acceptor_binary_or_skip(request.config), tmp_path / "acceptor")
    with started:
        started.control.price("ABC", 100.0, 100.02)
        yield started


def adapter_for(acceptor: FixAcceptor, tmp_path: Path) -> BrokerAdapter:
    return build_adapter(FixAdapterConfig.model_validate({
        "session": {"port": acceptor.fix_port, "sender_comp_id": "CLIENT",
                    "target_comp_id": "BROKER", "heartbeat_s": 2,
                    "store_dir": tmp_path / "client",
                    "reconnect": {"initial_backoff_s": 0.2, "max_backoff_s": 1.0,
                                  "jitter": 0}},
        "account": "ACC1", "security_list": True, "tick_size_tag": 5001,
        "capabilities": {"status_requests": True, "positions_requests": True,
                         "collateral_inquiry": True}}))


def resting_buy(cid: str) -> Order:
    return Order(client_order_id=cid, strategy_id="T", symbol="ABC", side=OrderSide.BUY,
                 order_type=OrderType.LIMIT, quantity=Decimal(10), ts_init=time.time_ns(),
                 price=Decimal("99.00"))


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_dropped_connection_comes_back_and_open_orders_are_reconciled(acceptor, tmp_path):
    async def scenario() -> None:
        adapter = adapter_for(acceptor, tmp_path)
        execution = adapter.execution
        assert isinstance(execution, FixExecutionClient)
        events: list[ev.OrderEvent] = []
        execution.bind(events.append)
        await execution.connect()
        session = execution.client.session
        try:
            await execution.submit_order(resting_buy("R1"))
            await execution.submit_order(resting_buy("R2"))
            assert [e.kind for e in events] == ["OrderAccepted", "OrderAccepted"]
            asked_before = execution.status_requests

            assert acceptor.control.disconnect() == 1
            await until(lambda: not execution.client.logged_on, "the drop to be noticed")
            acceptor.control.fill("R1", 4)  # while the line is down: stored by the venue
            await until(lambda: execution.reconciliations == 1, "the reconciliation")

            assert session.counters.logons == 2
            assert session.counters.reconnect_attempts >= 1
            assert session.counters.resend_requests_sent >= 1  # the fill came by resend
            # one status request per open order after the logon
            assert execution.status_requests - asked_before == 2
            fills = [e for e in events if isinstance(e, ev.OrderFilled)]
            assert [(f.client_order_id, f.last_qty) for f in fills] == [("R1", Decimal(4))]
            report = await execution.order_status("R1")
            assert report is not None and report.status is OrderStatus.PARTIALLY_FILLED
            assert report.filled_qty == 4
            assert sorted(r.client_order_id for r in await execution.open_orders()) == \
                ["R1", "R2"]
            positions = await execution.positions()
            assert [(p.symbol, p.quantity) for p in positions] == [("ABC", Decimal(4))]
        finally:
            await adapter.close()
    asyncio.run(scenario())


def test_a_restarted_venue_that_forgot_an_order_gets_it_closed(acceptor, tmp_path):
    async def scenario() -> None:
        adapter = adapter_for(acceptor, tmp_path)
        execution = adapter.execution
        assert isinstance(execution, FixExecutionClient)
        events: list[ev.OrderEvent] = []
        execution.bind(events.append)
        await execution.connect()
        try:
            await execution.submit_order(resting_buy("F1"))
            acceptor.restart()  # sequence numbers kept, orders forgotten
            await until(lambda: execution.reconciliations == 1, "the reconciliation")
            closed = [e for e in events if isinstance(e, ev.OrderCanceled)]
            assert [(e.client_order_id, e.reason) for e in closed] == \
                [("F1", "the venue no longer has this order")]
            assert await execution.open_orders() == []
            assert await execution.order_status("F1") is None
        finally:
            await adapter.close()
    asyncio.run(scenario())
