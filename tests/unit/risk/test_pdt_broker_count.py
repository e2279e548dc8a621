"""The pattern day trader rule takes what a US broker counts (Alpaca reports the day trades of
the last five business days and whether it flags the account): trades made before the node
started, or elsewhere, count towards the limit, and a flagged account under the minimum equity
may make no day trade at all."""

from __future__ import annotations

from decimal import Decimal

from test_calendar_rules import BUY, SELL, Book, attempt, day_trade, ny_time

from tradeloop.model.reports import AccountReport
from tradeloop.risk.base import DenialCode
from tradeloop.risk.calendar_rules import PatternDayTrader

DAY = "2025-06-09"


def report(count: int | None, flagged: bool | None = False) -> AccountReport:
    return AccountReport(account_id="PA1", currency="USD", balance=Decimal(20_000),
                         equity=Decimal(20_000), day_trade_count=count,
                         pattern_day_trader=flagged)


def test_the_brokers_count_of_earlier_day_trades_is_the_floor() -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader()
    rule.on_account_report(report(3), book.at(ny_time(DAY, 13)))
    assert rule.count(ny_time(DAY, 13)) == 3
    assert attempt(book, rule, DAY) is False  # a fourth: denied though the node made none


def test_the_nodes_own_day_trades_add_to_the_brokers_count() -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader()
    rule.on_account_report(report(2), book.at(ny_time(DAY, 13)))
    day_trade(book, rule, DAY)  # the third: allowed, and counted on top
    assert rule.count(ny_time(DAY, 16)) == 3
    assert attempt(book, rule, DAY) is False


def test_a_flagged_account_under_the_minimum_makes_no_day_trade() -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader()
    rule.on_account_report(report(0, flagged=True), book.at(ny_time(DAY, 13)))
    book.fill("ABC", BUY, 10, ny_time(DAY, 16), rule)
    denial = rule.check(book.order("ABC", SELL, 10), book.at(ny_time(DAY, 17)))
    assert denial is not None and denial.code is DenialCode.PATTERN_DAY_TRADER
    assert "flags the account as a pattern day trader" in denial.reason
    assert denial.limit == "0"


def test_a_report_without_the_figures_changes_nothing() -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader()
    rule.on_account_report(report(None, None), book.at(ny_time(DAY, 13)))
    assert attempt(book, rule, DAY) is True


def test_the_brokers_count_is_for_its_own_day() -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader()
    rule.on_account_report(report(3), book.at(ny_time("2025-06-06", 13)))
    assert rule.count(ny_time("2025-06-06", 14)) == 3
    assert rule.count(ny_time(DAY, 14)) == 0  # a new day: the next report tells
