import sys
from datetime import UTC, date, datetime

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import dt_to_ns
from tradeloop.data import exchange_calendars as module
from tradeloop.data.exchange_calendars import (
    ExchangeCalendar,
    exchange_calendar_names,
    trading_hours,
)
from tradeloop.data.sessions import ALWAYS_OPEN, FX_MARKET_WEEK, LONDON, CombinedSession, Session

pytest.importorskip("pandas_market_calendars")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, minute, tzinfo=UTC))


@pytest.fixture(scope="module")
def nyse() -> ExchangeCalendar:
    return ExchangeCalendar("XNYS")


@pytest.mark.parametrize("day", ["2024-07-04", "2024-12-25", "2024-03-29", "2024-01-01",
                                 "2024-11-28"])
def test_nyse_holidays(nyse: ExchangeCalendar, day: str) -> None:
    assert nyse.is_holiday(day)
    assert date.fromisoformat(day) not in [s.date for s in nyse.sessions("2024-01-01",
                                                                         "2024-12-31")]


def test_trading_days_and_weekends_are_not_holidays(nyse: ExchangeCalendar) -> None:
    assert not nyse.is_holiday(date(2024, 7, 5))
    assert not nyse.is_holiday("2024-07-06")  # Saturday
    holidays = nyse.holidays("2024-01-01", "2024-12-31")
    assert date(2024, 3, 29) in holidays and date(2024, 7, 4) in holidays
    assert len(holidays) == 10


def test_nyse_early_closes_come_from_the_calendar(nyse: ExchangeCalendar) -> None:
    early = list(nyse.early_closes("2024-01-01", "2024-12-31"))
    assert [(s.date, s.close_ns) for s in early] == [
        (date(2024, 7, 3), utc(2024, 7, 3, 17)),     # 13:00 New York on summer time
        (date(2024, 11, 29), utc(2024, 11, 29, 18)),  # 13:00 New York = 18:00 UTC
        (date(2024, 12, 24), utc(2024, 12, 24, 18)),
    ]
    assert all(s.early_close for s in early)


def test_sessions_in_utc(nyse: ExchangeCalendar) -> None:
    week = nyse.sessions("2024-07-01", date(2024, 7, 5))
    assert len(week) == 4
    assert [s.date for s in week] == [date(2024, 7, d) for d in (1, 2, 3, 5)]
    first = next(iter(week))
    assert (first.open_ns, first.close_ns) == (utc(2024, 7, 1, 13, 30), utc(2024, 7, 1, 20))
    assert first.break_start_ns is None and not first.early_close
    winter = next(iter(nyse.sessions("2024-01-02", "2024-01-02")))
    assert (winter.open_ns, winter.close_ns) == (utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 21))
    assert week.dates.dtype == np.dtype("datetime64[D]")
    assert week.open_ns.dtype == np.int64


def test_is_open_honours_holidays_and_early_closes(nyse: ExchangeCalendar) -> None:
    assert nyse.is_open(utc(2024, 7, 3, 16, 59))
    assert not nyse.is_open(utc(2024, 7, 3, 17))
    assert not nyse.is_open(utc(2024, 7, 4, 15))
    assert nyse.is_open(utc(2024, 7, 5, 13, 30))
    assert not nyse.is_open(utc(2024, 7, 5, 13, 29))
    ts = np.array([utc(2024, 7, 3, 16, 59), utc(2024, 7, 3, 17), utc(2024, 7, 4, 15),
                   utc(2024, 12, 24, 17, 59), utc(2024, 12, 24, 18), utc(2024, 3, 29, 15)])
    assert nyse.is_open_array(ts).tolist() == [True, False, False, True, False, False]
    assert nyse.is_open_array(ts[::-1]).tolist() == [False, False, True, False, False, True]


def test_is_open_array_matches_the_sessions(nyse: ExchangeCalendar) -> None:
    rng = np.random.default_rng(11)
    ts = rng.integers(utc(2023, 12, 20), utc(2025, 1, 10), 5000, dtype=np.int64)
    table = nyse.sessions("2023-12-01", "2025-01-31")
    expected = [bool(((table.open_ns <= t) & (t < table.close_ns)).any()) for t in ts]
    assert nyse.is_open_array(ts).tolist() == expected
    assert nyse.is_open_array(np.sort(ts)).tolist() == [expected[i] for i in np.argsort(ts)]


def test_midday_break_closes_the_market() -> None:
    tokyo = ExchangeCalendar("JPX")
    day = next(iter(tokyo.sessions("2024-07-01", "2024-07-01")))
    assert day.break_start_ns is not None and day.break_end_ns is not None
    assert tokyo.is_open(day.open_ns)
    assert not tokyo.is_open(day.break_start_ns)
    assert tokyo.is_open(day.break_end_ns)
    assert tokyo.windows(day.open_ns, day.close_ns) == [
        (day.open_ns, day.break_start_ns), (day.break_end_ns, day.close_ns)]


def test_aliases_and_other_exchanges() -> None:
    assert ExchangeCalendar("NYSE") == ExchangeCalendar("xnys")
    nasdaq = ExchangeCalendar("XNAS")
    assert nasdaq.is_holiday("2024-07-04")
    lse = ExchangeCalendar("LSE")
    assert lse.timezone == "Europe/London"
    christmas_eve = next(iter(lse.sessions("2024-12-24", "2024-12-24")))
    assert christmas_eve.early_close and christmas_eve.close_ns == utc(2024, 12, 24, 12, 30)
    assert lse.is_holiday("2024-12-26")  # Boxing Day
    cme = ExchangeCalendar("CME")
    monday = next(iter(cme.sessions("2024-07-08", "2024-07-08")))
    assert monday.open_ns == utc(2024, 7, 7, 22)  # Sunday 17:00 Chicago
    assert "XNAS" in exchange_calendar_names() and "NYSE" in exchange_calendar_names()


def test_exchange_calendar_combines_with_fx_sessions(nyse: ExchangeCalendar) -> None:
    both = nyse & LONDON
    assert both.windows(utc(2024, 3, 12), utc(2024, 3, 13)) == [
        (utc(2024, 3, 12, 13, 30), utc(2024, 3, 12, 17))]
    assert both.windows(utc(2024, 7, 4), utc(2024, 7, 5)) == []
    assert nyse.next_open(utc(2024, 7, 3, 18)) == utc(2024, 7, 5, 13, 30)
    assert nyse.next_close(utc(2024, 7, 3, 14)) == utc(2024, 7, 3, 17)


def test_trading_hours_as_instruments_files_write_them() -> None:
    assert trading_hours("fx") is FX_MARKET_WEEK
    assert trading_hours("24/7") is ALWAYS_OPEN
    assert trading_hours("XNYS") == ExchangeCalendar("NYSE")
    metals = trading_hours("Sun-Fri 18:00-17:00 America/New_York")
    assert isinstance(metals, Session)
    assert metals.windows(utc(2024, 1, 12), utc(2024, 1, 16)) == [
        (utc(2024, 1, 11, 23), utc(2024, 1, 12, 22)),  # Thursday 18:00 to Friday 17:00 New York
        (utc(2024, 1, 14, 23), utc(2024, 1, 15, 22)),
        (utc(2024, 1, 15, 23), utc(2024, 1, 16, 22)),
    ]
    split = trading_hours("Mon-Fri 09:00-11:30 Asia/Tokyo; Mon-Fri 12:30-15:00 Asia/Tokyo")
    assert isinstance(split, CombinedSession)
    assert split.windows(utc(2024, 7, 1), utc(2024, 7, 2)) == [
        (utc(2024, 7, 1, 0), utc(2024, 7, 1, 2, 30)), (utc(2024, 7, 1, 3, 30), utc(2024, 7, 1, 6))]
    with pytest.raises(ConfigError, match="unknown exchange calendar"):
        trading_hours("NOWHERE")


def test_schedules_are_cached_per_year(
    nyse: ExchangeCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    calendar = module._calendar(nyse.calendar_name)
    calls: list[tuple[str, str]] = []
    original = calendar.schedule

    def counting(start: str, end: str, *args: object, **kwargs: object) -> object:
        calls.append((start, end))
        return original(start, end, *args, **kwargs)

    monkeypatch.setattr(calendar, "schedule", counting)
    module._year_table.cache_clear()
    module._years_table.cache_clear()
    nyse.sessions("2023-02-01", "2023-02-28")
    nyse.sessions("2023-06-01", "2023-06-30")
    nyse.is_holiday("2023-07-04")
    nyse.is_open(utc(2023, 7, 5, 15))
    assert calls == [("2023-01-01", "2023-12-31")]


@pytest.mark.parametrize(("name", "hint"), [("NYS", "did you mean 'XNYS'"),
                                            ("XNSY", "did you mean 'XNYS'")])
def test_unknown_name_suggests(name: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint):
        ExchangeCalendar(name)


def test_bad_dates() -> None:
    nyse = ExchangeCalendar("XNYS")
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        nyse.sessions("July 4th", "2024-07-05")
    with pytest.raises(ConfigError, match="before the start"):
        nyse.sessions("2024-07-05", "2024-07-01")


def test_missing_optional_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas_market_calendars", None)
    module._calendar.cache_clear()
    with pytest.raises(ConfigError, match=r"install tradeloop\[calendars\]"):
        ExchangeCalendar("XNYS")
    with pytest.raises(ConfigError, match=r"install tradeloop\[calendars\]"):
        ExchangeCalendar("XTKS")
