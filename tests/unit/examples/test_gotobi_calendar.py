"""The gotobi calendar: 5th, 10th, 15th, 20th, 25th and month end, weekends moved back."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest

from tradeloop.examples.gotobi import gotobi_days, is_gotobi_day


def _days(year: int, month: int) -> list[int]:
    return [d.day for d in gotobi_days(year, month)]


def test_plain_month_keeps_the_nominal_days() -> None:
    # June 2017: the 5th is a Monday, the 30th a Friday, nothing lands on a weekend
    assert _days(2017, 6) == [5, 9, 15, 20, 23, 30]  # the 10th (Sat) -> 9th, 25th (Sun) -> 23rd


def test_25th_on_a_saturday_moves_to_friday_24th() -> None:
    assert date(2017, 11, 25).weekday() == calendar.SATURDAY
    assert date(2017, 11, 5).weekday() == calendar.SUNDAY
    assert _days(2017, 11) == [3, 10, 15, 20, 24, 30]
    assert is_gotobi_day(date(2017, 11, 24))
    assert not is_gotobi_day(date(2017, 11, 25))


def test_month_end_on_a_sunday_moves_to_friday() -> None:
    assert date(2017, 12, 31).weekday() == calendar.SUNDAY
    assert _days(2017, 12) == [5, 8, 15, 20, 25, 29]  # 10th is a Sunday too
    assert is_gotobi_day(date(2017, 12, 29))
    assert not is_gotobi_day(date(2017, 12, 31))


def test_month_end_on_a_saturday_moves_to_friday() -> None:
    assert date(2017, 9, 30).weekday() == calendar.SATURDAY
    assert _days(2017, 9)[-1] == 29


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2018, [5, 9, 15, 20, 23, 28]),  # 10th Sat, 25th Sun; the 28th (Wed) is month end
        (2017, [3, 10, 15, 20, 24, 28]),  # 5th Sun, 25th Sat; the 28th is a Tuesday
        (2020, [5, 10, 14, 20, 25, 28]),  # leap year: the 29th is a Saturday -> 28th
        (2021, [5, 10, 15, 19, 25, 26]),  # 28th is a Sunday -> 26th
    ],
)
def test_february(year: int, expected: list[int]) -> None:
    assert _days(year, 2) == expected


def test_every_gotobi_day_is_a_weekday_and_each_month_has_six() -> None:
    for year in range(2000, 2031):
        for month in range(1, 13):
            days = gotobi_days(year, month)
            assert len(days) == 6
            assert days == sorted(days)
            for d in days:
                assert d.weekday() < calendar.SATURDAY
                assert (d.year, d.month) == (year, month)
            last = date(year, month, calendar.monthrange(year, month)[1])
            while last.weekday() >= calendar.SATURDAY:
                last -= timedelta(days=1)
            assert days[-1] == last


def test_is_gotobi_day_agrees_with_the_month_list() -> None:
    day = date(2017, 1, 1)
    while day.year == 2017:
        assert is_gotobi_day(day) == (day in gotobi_days(day.year, day.month))
        day += timedelta(days=1)
    assert sum(is_gotobi_day(date(2017, 3, d)) for d in range(1, 32)) == 6
