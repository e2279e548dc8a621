"""Orders through ib_async's real ``IB`` against the IB stand-in: the status walk, fills with
commission reports, resting and partial fills, cancel and modify with TWS's error codes, the
order types and times in force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ib_async import (
    IB,
    ExecutionFilter,
    LimitOrder,
    MarketOrder,
    Order,
    StopLimitOrder,
    StopOrder,
    Trade,
)
from ib_async.contract import Contract, Stock

from support.ib_standin import GATEWAY, Gateway
from support.ib_standin.harness import connect, run, settle, until


@pytest.fixture(autouse=True)
def gateway() -> Iterator[Gateway]:
    GATEWAY.reset()
    yield GATEWAY
    GATEWAY.reset()


async def _setup() -> tuple[IB, Contract, list[tuple[int, int, str]]]:
    ib = await connect(client_id=2)
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req, code, msg, _c: errors.append((req, code, msg))
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00)
    return ib, aapl, errors


def _statuses(trade: Trade) -> list[str]:
    out: list[str] = []
    for entry in trade.log:
        if not out or out[-1] != entry.status:
            out.append(entry.status)
    return out


def test_market_order_walks_to_filled_with_fill_and_commission() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        reports: list[Any] = []
        ib.commissionReportEvent += lambda _t, fill, report: reports.append((fill, report))
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 100, orderRef="cid-1"))
        await until(trade.isDone, "the market order to finish")
        assert _statuses(trade) == ["PendingSubmit", "Submitted", "Filled"]
        assert trade.orderStatus.filled == 100 and trade.orderStatus.remaining == 0
        assert trade.orderStatus.avgFillPrice == 190.01  # bought at the ask
        [fill] = trade.fills
        ex = fill.execution
        assert (ex.side, ex.shares, ex.price, ex.cumQty, ex.avgPrice) == ("BOT", 100, 190.01,
                                                                          100, 190.01)
        assert ex.orderRef == "cid-1" and ex.acctNumber == "DU1234567"
        assert ex.permId == trade.order.permId != 0
        assert ex.time.tzinfo is not None and ex.time.utcoffset() == timedelta(0)
        await until(lambda: bool(reports), "the commission report")
        report = fill.commissionReport
        assert report.execId == ex.execId and report.currency == "USD"
        assert report.commission == 1.0  # 0.005/share, 1.00 minimum
        [position] = ib.positions()
        assert position.position == 100 and position.avgCost == pytest.approx(190.02)
        [item] = ib.portfolio()
        assert item.position == 100
        values = {(v.tag, v.currency): float(v.value) for v in ib.accountValues()
                  if v.tag == "TotalCashValue"}
        assert values[("TotalCashValue", "USD")] == pytest.approx(1_000_000 - 19_001 - 1.0)
        names = [n for n, f in GATEWAY.log if f.get("orderRef") == "cid-1"
                 or n in ("commissionReport", "position") or
                 (n == "orderStatus" and f.get("orderId") == trade.order.orderId)]
        assert names.index("execDetails") < names.index("commissionReport") < \
            names.index("position")
        ib.disconnect()

    run(scenario())


def test_limit_order_rests_then_fills_only_when_the_market_reaches_it() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 50, 189.50, orderRef="lmt"))
        await settle()
        assert trade.orderStatus.status == "Submitted" and not trade.fills
        GATEWAY.set_price("AAPL", 189.49, 189.51, 189.50)  # ask still above the limit
        await settle()
        assert trade.orderStatus.status == "Submitted"
        GATEWAY.set_price("AAPL", 189.40, 189.45, 189.42)
        await until(trade.isDone, "the limit order to fill")
        assert trade.orderStatus.status == "Filled"
        assert [f.execution.price for f in trade.fills] == [189.50]  # it rested: its price
        marketable = ib.placeOrder(aapl, LimitOrder("BUY", 10, 190.00, orderRef="mkt-lmt"))
        await until(marketable.isDone, "the marketable limit")
        assert marketable.fills[0].execution.price == 189.45  # arrived marketable: the ask
        ib.disconnect()

    run(scenario())


def test_partial_fills_through_fill_then_the_rest_on_the_market() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        trade = ib.placeOrder(aapl, LimitOrder("SELL", 100, 195.00, orderRef="part"))
        await settle()
        GATEWAY.fill("part", 30)
        await until(lambda: trade.orderStatus.filled == 30, "the partial fill")
        assert trade.orderStatus.status == "Submitted" and trade.orderStatus.remaining == 70
        assert trade.fills[0].execution.price == 195.00
        GATEWAY.set_price("AAPL", 195.00, 195.02, 195.01, bid_size=50)
        await until(lambda: trade.orderStatus.filled == 80, "a fill limited by the bid size")
        GATEWAY.set_price("AAPL", 195.10, 195.12, 195.11)
        await until(trade.isDone, "the rest")
        ex = trade.fills[-1].execution
        assert (ex.shares, ex.cumQty) == (20, 100)
        assert trade.orderStatus.avgFillPrice == pytest.approx(195.0)
        assert len({f.execution.execId for f in trade.fills}) == 3
        with pytest.raises(ValueError, match="no working"):
            GATEWAY.fill("part", 1)
        ib.disconnect()

    run(scenario())


def test_cancel_and_its_error_codes() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 180.00, orderRef="c1"))
        await settle()
        ib.cancelOrder(trade.order)
        await until(trade.isDone, "the cancel")
        assert trade.orderStatus.status == "Cancelled"
        assert (trade.order.orderId, 202) in [(r, c) for r, c, _ in errors]
        assert GATEWAY.orders[-1].status == "Cancelled"
        ib.client.cancelOrder(9999)
        filled = ib.placeOrder(aapl, MarketOrder("BUY", 1))
        await until(filled.isDone, "the market order")
        ib.client.cancelOrder(filled.order.orderId)
        await settle()
        codes = [(r, c) for r, c, _ in errors]
        assert (9999, 135) in codes and (filled.order.orderId, 161) in codes
        assert filled.orderStatus.status == "Filled"
        ib.disconnect()

    run(scenario())


def test_modify_price_and_quantity_and_the_modify_errors() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 180.00, orderRef="m1"))
        await settle()
        trade.order.lmtPrice = 181.00
        trade.order.totalQuantity = 20
        ib.placeOrder(aapl, trade.order)
        await until(lambda: trade.orderStatus.remaining == 20, "the modify ack")
        assert trade.log[-1].status == "Submitted"
        trade.order.lmtPrice = 181.50  # same quantity: ib_async logs the ack as "Modified"
        ib.placeOrder(aapl, trade.order)
        await until(lambda: trade.log[-1].message == "Modified", "the price-only modify")
        [rec] = GATEWAY.orders
        assert (rec.lmt_price, rec.total_quantity, rec.status) == (181.5, 20, "Submitted")
        assert GATEWAY.submits("m1") == 1  # a modify is no new submission
        trade.order.lmtPrice = 190.05  # now marketable: fills at the ask
        ib.placeOrder(aapl, trade.order)
        await until(trade.isDone, "the fill after the modify")
        assert trade.fills[0].execution.price == 190.01
        with pytest.raises(AssertionError):  # IB sends the modify, then asserts on its trade
            ib.placeOrder(aapl, trade.order)
        await settle()
        assert (trade.order.orderId, 104) in [(r, c) for r, c, _ in errors]
        live = ib.placeOrder(aapl, LimitOrder("BUY", 5, 170.00))
        await settle()
        [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
        ib.client.placeOrder(live.order.orderId, msft, LimitOrder("BUY", 5, 170.00))
        live.order.lmtPrice = 170.005  # off the 0.01 tick
        ib.placeOrder(aapl, live.order)
        await settle()
        codes = [(r, c) for r, c, _ in errors]
        assert (live.order.orderId, 103) in codes and (live.order.orderId, 110) in codes
        assert GATEWAY.orders[-1].lmt_price == 170.0
        ib.disconnect()

    run(scenario())


def test_new_order_validation_errors() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        off_tick = ib.placeOrder(aapl, LimitOrder("BUY", 1, 100.001))
        zero = ib.placeOrder(aapl, LimitOrder("BUY", 0, 100.0))
        odd = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=1, orderType="PEG MID"))
        await settle()
        codes = {r: c for r, c, _ in errors}
        assert codes[off_tick.order.orderId] == 110 and off_tick.orderStatus.status == \
            "Cancelled"
        assert codes[zero.order.orderId] == 434
        assert codes[odd.order.orderId] == 201
        assert GATEWAY.orders == ()  # nothing booked
        stale = ib.placeOrder(aapl, LimitOrder("BUY", 1, 100.0, orderId=1))
        await settle()
        assert codes != {r: c for r, c, _ in errors}
        assert (stale.order.orderId, 103) in [(r, c) for r, c, _ in errors]
        ib.disconnect()

    run(scenario())


def test_stop_and_stop_limit_wait_presubmitted_until_triggered() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        stop = ib.placeOrder(aapl, StopOrder("SELL", 10, 185.00, orderRef="stp"))
        stop_limit = ib.placeOrder(aapl, StopLimitOrder("BUY", 10, 195.50, 195.00,
                                                        orderRef="stplmt"))
        await settle()
        assert stop.orderStatus.status == stop_limit.orderStatus.status == "PreSubmitted"
        GATEWAY.set_price("AAPL", 185.01, 185.03, 185.02)
        await settle()
        assert stop.orderStatus.status == "PreSubmitted"
        GATEWAY.set_price("AAPL", 184.90, 184.95, 184.95)
        await until(stop.isDone, "the stop")
        assert _statuses(stop) == ["PendingSubmit", "PreSubmitted", "Submitted", "Filled"]
        assert stop.fills[0].execution.price == 184.90  # a market order once triggered
        GATEWAY.set_price("AAPL", 195.55, 195.60, 195.60)  # triggers, but above the limit
        await settle()
        assert stop_limit.orderStatus.status == "Submitted" and not stop_limit.fills
        GATEWAY.set_price("AAPL", 195.40, 195.45, 195.45)
        await until(stop_limit.isDone, "the stop limit")
        assert stop_limit.fills[0].execution.price == 195.50
        ib.disconnect()

    run(scenario())


def test_trailing_stop_by_amount_and_by_percent() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        by_amount = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=10,
                                              orderType="TRAIL", auxPrice=2.00,
                                              orderRef="trail-amt"))
        by_percent = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=10,
                                               orderType="TRAIL", trailingPercent=5.0,
                                               orderRef="trail-pct"))
        await settle()
        amount, percent = GATEWAY.orders
        assert amount.trail_stop_price == 188.00  # 190.00 last - 2.00
        assert percent.trail_stop_price == 180.50  # 190.00 * 0.95
        GATEWAY.set_price("AAPL", 199.99, 200.01, 200.00)
        GATEWAY.set_price("AAPL", 198.50, 198.52, 198.50)  # does not move back
        await settle()
        assert GATEWAY.orders[0].trail_stop_price == 198.00
        assert GATEWAY.orders[1].trail_stop_price == 190.00
        GATEWAY.set_price("AAPL", 197.90, 197.95, 197.95)
        await until(by_amount.isDone, "the trailing stop")
        assert by_amount.fills[0].execution.price == 197.90
        assert by_percent.orderStatus.status == "PreSubmitted"
        ib.disconnect()

    run(scenario())


def test_market_if_touched() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        mit = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=5, orderType="MIT",
                                        auxPrice=188.00))
        await settle()
        assert mit.orderStatus.status == "PreSubmitted"
        GATEWAY.set_price("AAPL", 187.95, 187.99, 187.99)
        await until(mit.isDone, "the MIT order")
        assert mit.fills[0].execution.price == 187.99
        ib.disconnect()

    run(scenario())


def test_ioc_fills_what_it_can_and_fok_is_all_or_nothing() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00, ask_size=30)
        ioc = ib.placeOrder(aapl, LimitOrder("BUY", 100, 190.05, tif="IOC"))
        await until(ioc.isDone, "the IOC order")
        assert ioc.orderStatus.status == "Cancelled" and ioc.orderStatus.filled == 30
        fok = ib.placeOrder(aapl, LimitOrder("BUY", 100, 190.05, tif="FOK"))
        await until(fok.isDone, "the FOK order")
        assert fok.orderStatus.status == "Cancelled" and not fok.fills
        fok_ok = ib.placeOrder(aapl, LimitOrder("BUY", 20, 190.05, tif="FOK"))
        await until(fok_ok.isDone, "the fillable FOK order")
        assert fok_ok.orderStatus.status == "Filled"
        away = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00, tif="IOC"))
        await until(away.isDone, "the unmarketable IOC order")
        assert away.orderStatus.status == "Cancelled" and not away.fills
        ib.disconnect()

    run(scenario())


def test_day_gtc_and_gtd_expiry() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        soon = (GATEWAY.now() + timedelta(minutes=5)).astimezone(UTC)
        gtd = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="GTD",
                                             goodTillDate=f"{soon:%Y%m%d-%H:%M:%S}"))
        day = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="DAY"))
        gtc = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="GTC", outsideRth=True))
        await settle()
        assert GATEWAY.orders[0].good_till_date.endswith(f"{soon:%H:%M:%S}")
        assert GATEWAY.orders[2].outside_rth is True
        GATEWAY.advance(240)
        await settle()
        assert gtd.orderStatus.status == "Submitted"
        GATEWAY.advance(61)
        await until(gtd.isDone, "the GTD expiry")
        assert gtd.orderStatus.status == "Cancelled" and day.orderStatus.status == "Submitted"
        GATEWAY.expire_day()
        await until(day.isDone, "the DAY expiry")
        assert gtc.orderStatus.status == "Submitted"
        past = datetime.now(UTC) - timedelta(hours=1)
        late = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="GTD",
                                              goodTillDate=f"{past:%Y%m%d %H:%M:%S} UTC"))
        await until(late.isDone, "the rejected GTD order")
        ib.disconnect()

    run(scenario())


def test_submits_counts_distinct_order_ids_per_order_ref() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        first = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, orderRef="dup"))
        await settle()
        first.order.lmtPrice = 151.00
        ib.placeOrder(aapl, first.order)
        ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, orderRef="dup"))
        await settle()
        assert GATEWAY.submits("dup") == 2 and GATEWAY.submits("other") == 0
        ib.disconnect()

    run(scenario())


def test_limit_if_touched_and_a_modify_that_changes_the_order_type() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        lit = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=5, orderType="LIT",
                                        auxPrice=192.00, lmtPrice=191.90))
        await settle()
        assert lit.orderStatus.status == "PreSubmitted"
        changed = Order(action="SELL", totalQuantity=5, orderType="LMT", lmtPrice=191.90)
        ib.client.placeOrder(lit.order.orderId, aapl, changed)
        await settle()
        assert (lit.order.orderId, 105) in [(r, c) for r, c, _ in errors]
        assert GATEWAY.orders[0].order_type == "LIT"
        GATEWAY.set_price("AAPL", 192.00, 192.02, 192.00)  # touched: a limit at 191.90
        await until(lit.isDone, "the LIT order")
        assert lit.fills[0].execution.price == 192.00
        ib.disconnect()

    run(scenario())


def test_what_if_orders_answer_margin_and_commission_without_booking() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        state = await ib.whatIfOrderAsync(aapl, LimitOrder("BUY", 100, 190.00))
        assert float(state.initMarginChange) == pytest.approx(0.25 * 100 * 190.00)
        assert state.commission == 1.0 and state.commissionCurrency == "USD"
        assert GATEWAY.orders == () and ib.openTrades() == []
        ib.disconnect()

    run(scenario())


def test_execution_filter_time_and_completed_orders_as_tws_sends_them() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        first = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="early"))
        await until(first.isDone, "the first fill")
        GATEWAY.advance(120)
        cut = GATEWAY.now() - timedelta(seconds=60)
        second = ib.placeOrder(aapl, MarketOrder("SELL", 4, orderRef="late"))
        await until(second.isDone, "the second fill")
        recent = await ib.reqExecutionsAsync(ExecutionFilter(time=f"{cut:%Y%m%d-%H:%M:%S}"))
        assert [f.execution.orderRef for f in recent] == ["late"]
        # realized P&L on the closing sell: 4 x (190.01 bought - ... sold at the bid 189.99)
        closing = second.fills[0].commissionReport
        assert closing.realizedPNL == pytest.approx(4 * (189.99 - 190.11) - 1.0)
        completed = await ib.reqCompletedOrdersAsync(False)
        assert [t.order.orderRef for t in completed] == ["early", "late"]
        # completedOrder carries no orderId or clientId on the wire: match on permId/orderRef
        assert {t.order.orderId for t in completed} == {0}
        assert [t.order.permId for t in completed] == [first.order.permId, second.order.permId]
        assert all(t.order.filledQuantity > 0 for t in completed)
        summary = await ib.accountSummaryAsync()
        tags = {v.tag for v in summary}
        assert {"NetLiquidation", "TotalCashValue", "BuyingPower"} <= tags
        ib.disconnect()

    run(scenario())
