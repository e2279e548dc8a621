"""Each fault the IB stand-in can arm, seen through ib_async's real ``IB``: what the client
gets, and what it takes to find out what happened."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ib_async import IB, LimitOrder, MarketOrder
from ib_async.contract import Contract, Stock

from support.ib_standin import GATEWAY, Gateway
from support.ib_standin.harness import connect, run, settle, until


@pytest.fixture(autouse=True)
def gateway() -> Iterator[Gateway]:
    GATEWAY.reset()
    yield GATEWAY
    GATEWAY.reset()


async def _setup() -> tuple[IB, Contract, list[tuple[int, int, str]]]:
    ib = await connect(client_id=8)
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req, code, msg, _c: errors.append((req, code, msg))
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00)
    return ib, aapl, errors


def _names(order_id: int) -> list[str]:
    return [n for n, f in GATEWAY.log
            if (f.get("orderId") == order_id or f.get("reqId") == order_id)
            and not n.startswith("client.")]


def test_unknown_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        GATEWAY.arm("explode")


def test_reject_fatal_gives_201_and_inactive() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        GATEWAY.arm("reject_fatal")
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="rej"))
        await until(lambda: trade.orderStatus.status == "Inactive", "the rejection")
        assert (trade.order.orderId, 201) in [(r, c) for r, c, _ in errors]
        assert next(m for r, c, m in errors if c == 201).startswith("Order rejected - reason:")
        assert not trade.fills and GATEWAY.submits("rej") == 1
        assert GATEWAY.orders[0].status == "Inactive"
        [done] = await ib.reqCompletedOrdersAsync(False)
        assert done.orderStatus.status == "Inactive" and done.order.orderRef == "rej"
        again = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="rej"))  # fires once
        await until(again.isDone, "the next order")
        assert again.orderStatus.status == "Filled"
        ib.disconnect()

    run(scenario())


def test_reject_retryable_refuses_with_100_and_books_nothing() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        GATEWAY.arm("reject_retryable")
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="retry"))
        await until(trade.isDone, "the refusal")
        assert (trade.order.orderId, 100) in [(r, c) for r, c, _ in errors]
        assert GATEWAY.orders == () and GATEWAY.submits("retry") == 0
        retry = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="retry"))
        await until(retry.isDone, "the retry")
        assert retry.orderStatus.status == "Filled" and GATEWAY.submits("retry") == 1
        # the refused id was never used at the gateway: it is not a duplicate
        GATEWAY.arm("reject_retryable")
        refused = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, orderRef="again"))
        await until(refused.isDone, "the second refusal")
        ib.client.placeOrder(refused.order.orderId, aapl,
                             LimitOrder("BUY", 1, 150.00, orderRef="again"))
        await settle()
        assert [(o.order_id, o.status) for o in GATEWAY.orders][-1] == (
            refused.order.orderId, "Submitted")
        ib.disconnect()

    run(scenario())


def test_lose_answer_stays_silent_until_the_client_asks() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        GATEWAY.arm("lose_answer")
        lost = ib.placeOrder(aapl, LimitOrder("BUY", 10, 189.00, orderRef="lost"))
        GATEWAY.arm("lose_answer")
        lost_fill = ib.placeOrder(aapl, MarketOrder("BUY", 5, orderRef="lost-fill"))
        await settle()
        GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00)
        await settle()
        # booked and handled at the gateway, nothing reached the client
        assert [o.status for o in GATEWAY.orders] == ["Submitted", "Filled"]
        assert lost.orderStatus.status == lost_fill.orderStatus.status == "PendingSubmit"
        assert not lost_fill.fills and ib.positions()  # positions are account-wide news
        assert _names(lost.order.orderId) == [] and _names(lost_fill.order.orderId) == []
        open_trades = await ib.reqAllOpenOrdersAsync()
        assert [t.order.orderRef for t in open_trades] == ["lost"]
        assert lost.orderStatus.status == "Submitted"  # the answer updated the same trade
        fills = await ib.reqExecutionsAsync()
        assert [f.execution.orderRef for f in fills] == ["lost-fill"]
        assert fills[0].commissionReport.commission == 1.0
        completed = await ib.reqCompletedOrdersAsync(False)
        assert [t.order.orderRef for t in completed] == ["lost-fill"]
        # having asked, the client gets live answers again
        GATEWAY.set_price("AAPL", 188.90, 189.00, 189.00)
        await until(lost.isDone, "the live fill after asking")
        assert lost.fills[0].execution.price == 189.00
        ib.disconnect()

    run(scenario())


def test_duplicate_reports_sends_exec_details_and_commission_twice() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        reports: list[Any] = []
        fills: list[Any] = []
        ib.commissionReportEvent += lambda _t, _f, report: reports.append(report.execId)
        ib.execDetailsEvent += lambda _t, fill: fills.append(fill.execution.execId)
        GATEWAY.arm("duplicate_reports")
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="dup"))
        await until(lambda: len(reports) == 2, "both commission reports")
        names = _names(trade.order.orderId)
        assert names.count("execDetails") == 2
        exec_ids = [f["execId"] for n, f in GATEWAY.log if n == "commissionReport"]
        assert len(exec_ids) == 2 and exec_ids[0] == exec_ids[1]
        # ib_async drops the repeated execDetails but passes the repeated commission on
        assert len(trade.fills) == 1 and len(fills) == 1 and reports[0] == reports[1]
        assert len(GATEWAY.executions) == 1
        ib.disconnect()

    run(scenario())


def test_out_of_order_sends_the_execution_before_the_acknowledgement() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        GATEWAY.arm("out_of_order")
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 189.00, orderRef="ooo"))
        await settle()
        # resting, unfilled: the acknowledgement is held back
        assert trade.orderStatus.status == "PendingSubmit"
        assert _names(trade.order.orderId) == []
        GATEWAY.set_price("AAPL", 188.95, 189.00, 189.00)
        await until(trade.isDone, "the fill")
        names = _names(trade.order.orderId)
        assert names[:3] == ["execDetails", "openOrder", "orderStatus"]
        assert names.index("execDetails") < names.index("openOrder")
        assert trade.orderStatus.status == "Filled" and len(trade.fills) == 1
        ib.disconnect()

    run(scenario())


def test_out_of_order_cancel_releases_the_held_acknowledgement_first() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        GATEWAY.arm("out_of_order")
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00, orderRef="ooo-cxl"))
        await settle()
        ib.cancelOrder(trade.order)
        await until(trade.isDone, "the cancel")
        names = _names(trade.order.orderId)
        assert names[:2] == ["openOrder", "orderStatus"] and "error" in names
        assert trade.orderStatus.status == "Cancelled"
        ib.disconnect()

    run(scenario())
