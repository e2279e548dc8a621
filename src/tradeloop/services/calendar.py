"""The calendar use cases: import and query economic events, and show when sessions and
exchanges open on a day."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from tradeloop.config.home import home_dir
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_DAY, dt_to_ns
from tradeloop.data.economic import EconomicCalendar, EconomicEvent
from tradeloop.data.exchange_calendars import ExchangeCalendar
from tradeloop.data.sessions import fx_session

_DEFAULT_SESSIONS = ("sydney", "tokyo", "london", "new_york", "london_new_york")


def economic_calendar(path: Path | None = None) -> EconomicCalendar:
    """The stored economic calendar (``$TRADELOOP_HOME/calendar/economic.parquet``)."""
    return EconomicCalendar(path if path is not None else
                            home_dir() / "calendar" / "economic.parquet")


@dataclass(frozen=True)
class CalendarImport:
    """One file imported: how many of its events were new, and how many are stored now."""

    path: str
    new: int
    stored: int


def import_calendar(
    paths: Sequence[str | os.PathLike[str]], timezone: str = "UTC",
    default_impact: str | None = None, calendar: EconomicCalendar | None = None,
) -> list[CalendarImport]:
    """Import CSV or ICS files of economic events, one file at a time.

    Raises
    ------
    DataError
        For a rejected file (naming it, the row or line and the reason); nothing of it is
        stored, the files before it are.
    """
    if not paths:
        raise ConfigError("give at least one calendar file (CSV or ICS)")
    target = calendar or economic_calendar()
    done: list[CalendarImport] = []
    for path in paths:
        try:
            new = target.import_file(path, timezone, default_impact)
        except DataError as exc:
            if done:
                raise DataError(f"{exc} (nothing of it was stored; the {len(done)} file(s) "
                                "before it were)") from None
            raise
        done.append(CalendarImport(os.fspath(path), new, len(target)))
    return done


def calendar_events(
    start: date, end: date, currencies: Sequence[str] = (), min_impact: str | None = None,
    calendar: EconomicCalendar | None = None,
) -> list[EconomicEvent]:
    """Stored events from the start of ``start`` to the end of ``end`` (UTC days)."""
    if start > end:
        raise ConfigError(f"--from {start} is after --to {end}")
    lo = dt_to_ns(datetime.combine(start, time(), UTC))
    hi = dt_to_ns(datetime.combine(end, time(), UTC)) + NANOS_PER_DAY
    return (calendar or economic_calendar()).events(lo, hi, list(currencies) or None, min_impact)


@dataclass(frozen=True)
class SessionTimes:
    """When a session or exchange is open on one day, in UTC nanoseconds."""

    name: str
    windows: list[tuple[int, int]]


def session_times(day: date, sessions: Sequence[str] = (), exchanges: Sequence[str] = ()
                  ) -> list[SessionTimes]:
    """The windows of FX sessions (default: all four) and exchanges that open on ``day`` (UTC).
    """
    lo = dt_to_ns(datetime.combine(day, time(), UTC))
    hi = dt_to_ns(datetime.combine(day + timedelta(days=1), time(), UTC))
    names = list(sessions) or ([] if exchanges else list(_DEFAULT_SESSIONS))
    found = [SessionTimes(name, fx_session(name).windows(lo, hi)) for name in names]
    for name in exchanges:
        found.append(SessionTimes(name.upper(), ExchangeCalendar(name).windows(lo, hi)))
    return found


__all__ = [
    "CalendarImport",
    "SessionTimes",
    "calendar_events",
    "economic_calendar",
    "import_calendar",
    "session_times",
]
