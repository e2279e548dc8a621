from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_HOUR, NANOS_PER_MINUTE, dt_to_ns, ns_to_dt
from tradeloop.data.sessions import (
    ALWAYS_OPEN,
    FX_MARKET_WEEK,
    LONDON,
    NEW_YORK,
    SYDNEY,
    TOKYO,
    CombinedSession,
    Session,
    fx_market_open,
    fx_session,
    fx_session_names,
    overlap,
    session_from_spec,
    union,
)

HOUR = NANOS_PER_HOUR


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, minute, tzinfo=UTC))


def day_range(day: date) -> tuple[int, int]:
    start = utc(day.year, day.month, day.day)
    return start, start + 24 * HOUR


# (weekday, London open UTC hour, New York open UTC hour). US clocks change on the 2nd Sunday of
# March and the 1st Sunday of November, EU clocks on the last Sundays of March and October.
DST_CASES = [
    (date(2024, 1, 10), 8, 13),   # winter on both sides
    (date(2024, 3, 8), 8, 13),    # Friday before the US change (Sunday 10 March)
    (date(2024, 3, 11), 8, 12),   # US on summer time, UK not yet
    (date(2024, 3, 28), 8, 12),   # Thursday before the UK change (Sunday 31 March)
    (date(2024, 4, 1), 7, 12),    # both on summer time
    (date(2024, 10, 25), 7, 12),  # Friday before the UK change (Sunday 27 October)
    (date(2024, 10, 28), 8, 12),  # UK back on GMT, US still on summer time
    (date(2024, 11, 1), 8, 12),   # Friday before the US change (Sunday 3 November)
    (date(2024, 11, 4), 8, 13),   # winter on both sides again
    (date(2025, 1, 8), 8, 13),
    (date(2025, 3, 7), 8, 13),    # Friday before the US change (Sunday 9 March)
    (date(2025, 3, 10), 8, 12),
    (date(2025, 3, 28), 8, 12),   # Friday before the UK change (Sunday 30 March)
    (date(2025, 3, 31), 7, 12),
    (date(2025, 10, 24), 7, 12),  # Friday before the UK change (Sunday 26 October)
    (date(2025, 10, 27), 8, 12),
    (date(2025, 10, 31), 8, 12),  # Friday before the US change (Sunday 2 November)
    (date(2025, 11, 3), 8, 13),
]


@pytest.mark.parametrize(("day", "london_open", "new_york_open"), DST_CASES)
def test_london_and_new_york_open_at_the_right_utc_times_around_dst(
    day: date, london_open: int, new_york_open: int
) -> None:
    start, end = day_range(day)
    base = utc(day.year, day.month, day.day)
    london = (base + london_open * HOUR, base + (london_open + 9) * HOUR)
    new_york = (base + new_york_open * HOUR, base + (new_york_open + 9) * HOUR)
    assert LONDON.windows(start, end) == [london]
    assert NEW_YORK.windows(start, end) == [new_york]
    assert overlap(LONDON, NEW_YORK).windows(start, end) == [(new_york[0], london[1])]
    assert fx_session("london_new_york").windows(start, end) == [(new_york[0], london[1])]
    assert LONDON.is_open(london[0]) and not LONDON.is_open(london[0] - 1)
    assert LONDON.is_open(london[1] - 1) and not LONDON.is_open(london[1])
    assert NEW_YORK.is_open(new_york[0]) and not NEW_YORK.is_open(new_york[0] - 1)


def test_overlap_windows_in_the_weeks_when_us_and_eu_clocks_differ() -> None:
    both = LONDON & NEW_YORK
    assert isinstance(both, CombinedSession)
    week = both.windows(utc(2024, 3, 11), utc(2024, 3, 16))
    assert week == [(utc(2024, 3, d, 12), utc(2024, 3, d, 17)) for d in range(11, 16)]
    # the weekend is closed: the overlap's next open after Friday is Monday
    assert both.next_open(utc(2024, 3, 15, 17)) == utc(2024, 3, 18, 12)
    assert both.next_open(utc(2024, 4, 5, 16)) == utc(2024, 4, 8, 12)
    assert both.windows(utc(2024, 4, 8), utc(2024, 4, 9)) == [(utc(2024, 4, 8, 12),
                                                               utc(2024, 4, 8, 16))]


def test_sydney_and_tokyo_in_utc() -> None:
    # Sydney is on daylight time (UTC+11) in January and on standard time (UTC+10) in July
    assert SYDNEY.windows(utc(2024, 1, 8), utc(2024, 1, 8, 1)) == [
        (utc(2024, 1, 7, 20), utc(2024, 1, 8, 5))]
    assert SYDNEY.windows(utc(2024, 7, 8), utc(2024, 7, 8, 1)) == [
        (utc(2024, 7, 7, 21), utc(2024, 7, 8, 6))]
    # Monday's Sydney session opens on Sunday in UTC; there is none on Saturday
    assert SYDNEY.is_open(utc(2024, 1, 7, 20)) and not SYDNEY.is_open(utc(2024, 1, 6, 20))
    assert TOKYO.windows(utc(2024, 7, 8), utc(2024, 7, 9)) == [
        (utc(2024, 7, 8, 0), utc(2024, 7, 8, 9))]


def test_session_crossing_local_midnight() -> None:
    # an overnight range runs from the first open to the last close, as exchanges write it
    globex = session_from_spec("Sun-Fri 17:00-16:00 America/Chicago")
    assert globex.crosses_midnight
    assert globex.weekdays == frozenset({6, 0, 1, 2, 3})
    windows = globex.windows(utc(2024, 1, 12), utc(2024, 1, 16))  # Fri 12 .. Mon 15 January
    assert windows == [
        (utc(2024, 1, 11, 23), utc(2024, 1, 12, 22)),  # opened Thursday evening
        (utc(2024, 1, 14, 23), utc(2024, 1, 15, 22)),  # Sunday evening to Monday afternoon
        (utc(2024, 1, 15, 23), utc(2024, 1, 16, 22)),
    ]
    assert not globex.is_open(utc(2024, 1, 13, 12))  # Saturday
    assert not globex.is_open(utc(2024, 1, 12, 23, 30))  # no session opens on Friday evening
    assert session_from_spec("Sun 17:00-16:00 America/Chicago").weekdays == frozenset({6})
    assert session_from_spec("Mon-Fri 22:00-02:00 UTC").weekdays == frozenset(range(4))
    with pytest.raises(ConfigError, match="overnight range 'Mon-Mon'"):
        session_from_spec("Mon-Mon 22:00-02:00 UTC")


def test_always_open() -> None:
    assert ALWAYS_OPEN.is_open(utc(2024, 1, 13, 12))
    assert ALWAYS_OPEN.is_open_array(np.array([0, utc(2024, 1, 13)])).tolist() == [True, True]
    assert len(ALWAYS_OPEN.windows(utc(2024, 1, 1), utc(2024, 1, 2))) == 1
    assert ALWAYS_OPEN.next_close(utc(2024, 1, 1)) is None
    assert (ALWAYS_OPEN & LONDON).windows(utc(2024, 1, 10), utc(2024, 1, 11)) == [
        (utc(2024, 1, 10, 8), utc(2024, 1, 10, 17))]


def test_window_opening_in_a_daylight_saving_gap_moves_forward() -> None:
    # 02:30 does not exist in New York on 2024-03-10: the session opens at 03:30 EDT (07:30 UTC)
    early = session_from_spec("Sun 02:30-04:00 America/New_York")
    assert early.windows(utc(2024, 3, 10), utc(2024, 3, 11)) == [
        (utc(2024, 3, 10, 7, 30), utc(2024, 3, 10, 8))]


def test_fx_market_week() -> None:
    # Sunday 17:00 to Friday 17:00 New York: 22:00 UTC in winter, 21:00 UTC in summer
    assert not fx_market_open(utc(2024, 1, 7, 21, 59))
    assert fx_market_open(utc(2024, 1, 7, 22))
    assert fx_market_open(utc(2024, 1, 10, 12))
    assert fx_market_open(utc(2024, 1, 12, 21, 59))
    assert not fx_market_open(utc(2024, 1, 12, 22))
    assert not fx_market_open(utc(2024, 1, 13, 12))
    assert not fx_market_open(utc(2024, 7, 7, 20, 59))
    assert fx_market_open(utc(2024, 7, 7, 21))
    assert not fx_market_open(utc(2024, 7, 12, 21))
    assert FX_MARKET_WEEK.windows(utc(2024, 1, 10), utc(2024, 1, 11)) == [
        (utc(2024, 1, 7, 22), utc(2024, 1, 12, 22))]
    assert FX_MARKET_WEEK.next_close(utc(2024, 1, 10)) == utc(2024, 1, 12, 22)
    assert FX_MARKET_WEEK.next_open(utc(2024, 1, 10)) == utc(2024, 1, 14, 22)


def test_union_merges_chained_sessions_beyond_the_range_asked_for() -> None:
    all_four = union(SYDNEY, TOKYO, LONDON, NEW_YORK)
    # Sydney opens Monday 07:00 AEDT (Sunday 20:00 UTC); New York closes Friday 22:00 UTC
    week = (utc(2024, 1, 7, 20), utc(2024, 1, 12, 22))
    assert all_four.windows(utc(2024, 1, 10, 12), utc(2024, 1, 10, 13)) == [week]
    assert all_four.next_close(utc(2024, 1, 10, 12)) == week[1]
    assert all_four.next_open(utc(2024, 1, 10, 12)) == utc(2024, 1, 14, 20)
    london_or_ny = LONDON | NEW_YORK
    assert london_or_ny.windows(utc(2024, 1, 10), utc(2024, 1, 11)) == [
        (utc(2024, 1, 10, 8), utc(2024, 1, 10, 22))]
    assert london_or_ny.name == "london | new_york"


def test_next_open_and_next_close() -> None:
    friday_evening = utc(2024, 1, 12, 18)
    assert LONDON.next_open(friday_evening) == utc(2024, 1, 15, 8)
    assert LONDON.next_close(friday_evening) == utc(2024, 1, 15, 17)
    during = utc(2024, 1, 10, 9)
    assert LONDON.next_close(during) == utc(2024, 1, 10, 17)
    assert LONDON.next_open(during) == utc(2024, 1, 11, 8)
    assert LONDON.next_open(utc(2024, 1, 10, 8)) == utc(2024, 1, 11, 8)  # strictly after
    never = overlap(session_from_spec("Mon 01:00-02:00 UTC"),
                    session_from_spec("Tue 01:00-02:00 UTC"))
    assert never.next_open(utc(2024, 1, 10)) is None
    assert never.windows(utc(2024, 1, 1), utc(2024, 2, 1)) == []


def _oracle(session: Session, ts: int) -> bool:
    """Open according to the local wall clock, for sessions that close on the day they open."""
    local = ns_to_dt(ts).astimezone(ZoneInfo(session.timezone))
    return local.weekday() in session.weekdays and session.open <= local.time() < session.close


@pytest.mark.parametrize("session", [LONDON, NEW_YORK, TOKYO, SYDNEY])
def test_is_open_array_matches_the_local_wall_clock(session: Session) -> None:
    rng = np.random.default_rng(7)
    ts = rng.integers(utc(2023, 12, 1), utc(2026, 1, 31), 4000, dtype=np.int64)
    ts = (ts // NANOS_PER_MINUTE) * NANOS_PER_MINUTE  # whole minutes hit the edges sometimes
    expected = np.array([_oracle(session, int(t)) for t in ts])
    assert np.array_equal(session.is_open_array(ts), expected)
    ordered = np.sort(ts)
    assert np.array_equal(session.is_open_array(ordered), expected[np.argsort(ts, kind="stable")])
    assert [session.is_open(int(t)) for t in ts[:300]] == expected[:300].tolist()


def test_is_open_array_of_a_combination_matches_its_parts() -> None:
    rng = np.random.default_rng(3)
    ts = np.sort(rng.integers(utc(2024, 1, 1), utc(2025, 12, 31), 20_000, dtype=np.int64))
    both = fx_session("london_new_york").is_open_array(ts)
    either = (LONDON | NEW_YORK).is_open_array(ts)
    london, new_york = LONDON.is_open_array(ts), NEW_YORK.is_open_array(ts)
    assert np.array_equal(both, london & new_york)
    assert np.array_equal(either, london | new_york)
    assert LONDON.is_open_array(np.array([], dtype=np.int64)).shape == (0,)
    grid = ts[:12].reshape(3, 4)
    assert LONDON.is_open_array(grid).shape == (3, 4)


def test_fx_session_registry_and_suggestions() -> None:
    assert fx_session("London") is LONDON
    assert fx_session("New York") is NEW_YORK
    assert fx_session("ny") is NEW_YORK
    assert fx_session("London-New York").name == "london_new_york"
    assert set(fx_session_names()) >= {"sydney", "tokyo", "london", "new_york",
                                       "london_new_york", "fx_week"}
    with pytest.raises(ConfigError, match=r"did you mean 'london'.*known sessions: sydney"):
        fx_session("londn")
    with pytest.raises(ConfigError, match="unknown FX session 'mars'"):
        fx_session("mars")


def test_session_from_spec_grammar() -> None:
    nyse = session_from_spec("Mon-Fri 09:30-16:00 America/New_York")
    assert nyse == Session("Mon-Fri 09:30-16:00 America/New_York", "America/New_York",
                           time(9, 30), time(16), frozenset(range(5)))
    assert nyse.windows(utc(2024, 7, 1), utc(2024, 7, 2)) == [
        (utc(2024, 7, 1, 13, 30), utc(2024, 7, 1, 20))]
    assert session_from_spec("09:30-16:00 America/New_York").weekdays == frozenset(range(5))
    assert session_from_spec("Fri-Mon 10:00-11:00 UTC").weekdays == frozenset({4, 5, 6, 0})
    assert session_from_spec("mon,wed,Friday 10:00-11:00 UTC").weekdays == frozenset({0, 2, 4})
    assert session_from_spec("Daily 00:00-24:00 UTC").weekdays == frozenset(range(7))
    assert session_from_spec("Sat 10:00-11:00 UTC", name="sat").name == "sat"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Mon-Fri 09:30 America/New_York", "write it as"),
        ("Mon-Fry 09:30-16:00 America/New_York", "'Fry' is not a weekday"),
        ("Mon-Fri 25:00-16:00 America/New_York", "'25:00' is not a time of day"),
        ("Mon-Fri 09:30-16:00 Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
        ("", "write it as"),
    ],
)
def test_session_from_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        session_from_spec(spec)


def test_session_validation() -> None:
    with pytest.raises(ConfigError, match="weekdays"):
        Session("x", "UTC", time(9), time(10), frozenset())
    with pytest.raises(ConfigError, match="weekdays"):
        Session("x", "UTC", time(9), time(10), frozenset({7}))
    with pytest.raises(ConfigError, match="local times"):
        Session("x", "UTC", time(9, tzinfo=UTC), time(10))
    with pytest.raises(ConfigError, match="at least two"):
        overlap(LONDON)


def test_empty_and_reversed_ranges() -> None:
    assert LONDON.windows(utc(2024, 1, 10, 12), utc(2024, 1, 10, 12)) == []
    assert LONDON.windows(utc(2024, 1, 11), utc(2024, 1, 10)) == []
    # windows are not clipped to the range
    assert LONDON.windows(utc(2024, 1, 10, 12), utc(2024, 1, 10, 12) + 1) == [
        (utc(2024, 1, 10, 8), utc(2024, 1, 10, 17))]


def test_windows_span_years() -> None:
    windows = NEW_YORK.windows(utc(2024, 12, 30), utc(2025, 1, 3))
    assert windows == [(utc(2024, 12, d, 13), utc(2024, 12, d, 22)) for d in (30, 31)] + [
        (utc(2025, 1, d, 13), utc(2025, 1, d, 22)) for d in (1, 2)]
    weekdays = int(np.busday_count("2020-01-01", "2025-01-01"))
    assert len(LONDON.windows(utc(2020, 1, 1), utc(2025, 1, 1))) == weekdays
