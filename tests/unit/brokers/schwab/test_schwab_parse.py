"""Schwab's JSON to our reports: statuses, executions (each once), balances, positions,
instruments, candles; and Schwab's failures to our error tree."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tradeloop.brokers.schwab.errors import (
    SchwabFatalError,
    SchwabLoginError,
    SchwabOutcomeUnknownError,
    SchwabRetryableError,
    from_response,
    from_transport,
)
from tradeloop.brokers.schwab.parse import (
    account_report,
    bars_from_candles,
    fill_reports,
    instrument_of,
    order_report,
    position_reports,
    time_ns,
)
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce


def node(status: str = "WORKING", executions: list[tuple[int, float, float]] = (),
         **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "orderId": 1001, "orderStrategyType": "SINGLE", "orderType": "LIMIT",
        "session": "NORMAL", "duration": "GOOD_TILL_CANCEL", "status": status,
        "quantity": 30, "price": 180.5, "enteredTime": "2026-05-06T14:30:00+0000",
        "orderLegCollection": [{"instruction": "SELL", "quantity": 30,
                                "instrument": {"symbol": "AAPL", "assetType": "EQUITY"}}]}
    out["orderActivityCollection"] = [
        {"activityType": "EXECUTION", "activityId": aid, "executionType": "FILL",
         "executionLegs": [{"legId": 1, "quantity": qty, "price": px,
                            "time": f"2026-05-06T14:31:0{k}+0000"}]}
        for k, (aid, qty, px) in enumerate(executions)]
    out.update(extra)
    return out


def test_a_working_order() -> None:
    report = order_report(node(), "C1")
    assert (report.status, report.side, report.order_type, report.time_in_force) == (
        OrderStatus.ACCEPTED, OrderSide.SELL, OrderType.LIMIT, TimeInForce.GTC)
    assert report.quantity == 30 and report.price == Decimal("180.5")
    assert report.venue_order_id == "1001" and report.is_open
    assert report.ts_accepted == time_ns("2026-05-06T14:30:00+0000")


def test_executions_make_fills_once_each_in_time_order() -> None:
    raw = node("WORKING", [(7, 10, 180.5), (8, 5, 180.5)])
    raw["orderActivityCollection"] = list(reversed(raw["orderActivityCollection"])) * 2
    fills = fill_reports(raw, "C1")
    assert [(f.trade_id, f.quantity) for f in fills] == [("7", 10), ("8", 5)]
    report = order_report(raw, "C1")
    assert report.status is OrderStatus.PARTIALLY_FILLED and report.filled_qty == 15
    assert report.avg_px == Decimal("180.5")


@pytest.mark.parametrize(("status", "ours"), [
    ("FILLED", OrderStatus.FILLED), ("CANCELED", OrderStatus.CANCELED),
    ("EXPIRED", OrderStatus.EXPIRED), ("REJECTED", OrderStatus.REJECTED),
    ("AWAITING_PARENT_ORDER", OrderStatus.ACCEPTED), ("PENDING_CANCEL", OrderStatus.ACCEPTED),
    ("SOMETHING_NEW", OrderStatus.ACCEPTED)])
def test_statuses(status: str, ours: OrderStatus) -> None:
    executions = [(1, 30, 180.5)] if status == "FILLED" else []
    assert order_report(node(status, executions), "C1").status is ours


def test_a_rejection_keeps_schwab_s_reason() -> None:
    report = order_report(node("REJECTED", statusDescription="Not tradable now"), "C1")
    assert report.reason == "Not tradable now"


def test_balances_and_positions() -> None:
    account = {"securitiesAccount": {
        "accountNumber": "12345678",
        "currentBalances": {"cashBalance": 98200.5, "liquidationValue": 100010.25,
                            "maintenanceRequirement": 450.0},
        "positions": [{"longQuantity": 10.0, "shortQuantity": 0.0, "averagePrice": 180.0,
                       "instrument": {"symbol": "AAPL"}},
                      {"longQuantity": 0.0, "shortQuantity": 2.0, "averagePrice": 7.45,
                       "instrument": {"symbol": "AAPL  261218C00200000"}}]}}
    report = account_report(account, 5)
    assert (report.account_id, report.currency, report.balance, report.equity,
            report.margin_used) == ("SCHWAB-5678", "USD", Decimal("98200.5"),
                                    Decimal("100010.25"), Decimal(450))
    assert [(p.symbol, p.quantity) for p in position_reports(account)] == [
        ("AAPL", Decimal(10)), ("AAPL  261218C00200000", Decimal(-2))]


def test_instruments() -> None:
    stock = instrument_of("AAPL", {"assetMainType": "EQUITY"}, "SCHWAB", 100)
    assert (stock.tick_size, stock.lot_step, stock.multiplier) == (Decimal("0.01"), 1, 1)
    option = instrument_of("AAPL  261218C00200000", {"assetMainType": "OPTION",
                                                     "reference": {"multiplier": 100.0}},
                           "SCHWAB", 10)
    assert option.multiplier == 100


def test_daily_candles_are_put_on_the_utc_date() -> None:
    chicago_midnight = int(datetime(2026, 3, 10, 5, tzinfo=UTC).timestamp() * 1000)
    bars = bars_from_candles([{"open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 9,
                               "datetime": chicago_midnight}], "AAPL", 86_400 * 10**9, True,
                             "test")
    assert bars.ts.tolist() == [int(datetime(2026, 3, 10, tzinfo=UTC).timestamp()) * 10**9]
    minute = bars_from_candles([{"open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 9,
                                 "datetime": 60_000}], "AAPL", 60 * 10**9, False, "test")
    assert minute.ts.tolist() == [60 * 10**9]


def _answer(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_errors_by_status() -> None:
    refused = from_response(_answer(400, {"message": "A validation error occurred",
                                          "errors": ["buying power"]}),
                            request="submit C1", state_change=True)
    assert isinstance(refused, SchwabFatalError)
    assert str(refused) == "REFUSED: A validation error occurred; buying power"
    limited = from_response(_answer(429, {"message": "slow down"}, **{"Retry-After": "2"}),
                            request="submit C1", state_change=True)
    assert isinstance(limited, SchwabRetryableError) and limited.retry_after_s == 2
    lost = from_response(_answer(504, {"message": "Gateway timeout."}), request="submit C1",
                         state_change=True)
    assert isinstance(lost, SchwabOutcomeUnknownError)
    query = from_response(_answer(504, {"message": "Gateway timeout."}), request="orders",
                          state_change=False)
    assert isinstance(query, SchwabRetryableError)
    market = from_response(_answer(404, {"errors": [{"status": "404", "detail": "no such"}]}),
                           request="quotes", state_change=False)
    assert isinstance(market, SchwabFatalError) and market.code == "NOT_FOUND"


def test_transport_failures() -> None:
    never = from_transport(httpx.ConnectError("refused"), request="submit C1",
                           state_change=True)
    assert isinstance(never, SchwabRetryableError)
    unclear = from_transport(httpx.ReadTimeout("slow"), request="submit C1", state_change=True)
    assert isinstance(unclear, SchwabOutcomeUnknownError)


def test_a_login_error_is_fatal_and_one_line() -> None:
    error = SchwabLoginError.expired(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    assert isinstance(error, ConfigError) and isinstance(error, SchwabFatalError)
    assert str(error) == ("Schwab login expired on 2026-11-20 09:30 UTC: run `tradeloop broker "
                          "login schwab --settings <your node.toml>` to log in again")
