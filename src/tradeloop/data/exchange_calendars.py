"""Exchange calendars: trading sessions with holidays removed and early closes honoured.

The schedules come from ``pandas_market_calendars``, an optional extra (``pip install
tradeloop[calendars]``) imported only when a calendar is first used. A schedule is fetched one
calendar year at a time and cached, so repeated queries are cheap.

Names are matched ignoring case. Besides every name ``pandas_market_calendars`` registers, these
aliases are accepted: ``XNYS`` and ``NYSE`` (New York Stock Exchange), ``XNAS`` and ``NASDAQ``,
``CME`` (CME Globex equity index futures, calendar ``CME_Equity``), ``LSE`` and ``XLON`` (London
Stock Exchange).

An :class:`ExchangeCalendar` is a :class:`~tradeloop.data.sessions.TradingHours`: its windows are
the regular trading intervals (a midday break splits a session in two), and it combines with FX
sessions through ``&`` and ``|``.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.data.sessions import (
    ALWAYS_OPEN,
    FX_MARKET_WEEK,
    TradingHours,
    merge_windows,
    overlapping,
    session_from_spec,
    union,
    year_of,
)
from tradeloop.model.data import IntArray

BoolArray = npt.NDArray[np.bool_]
DateArray = npt.NDArray[np.datetime64]
DateLike = date | str

_ALIASES = {
    "xnys": "NYSE",
    "nyse": "NYSE",
    "xnas": "NASDAQ",
    "nasdaq": "NASDAQ",
    "cme": "CME_Equity",
    "lse": "LSE",
    "xlon": "LSE",
}
_INSTALL_HINT = ("exchange calendars need the optional package pandas_market_calendars: "
                 "install tradeloop[calendars]")


class ExchangeSession(NamedTuple):
    """One trading day of an exchange.

    Attributes
    ----------
    date : datetime.date
        The session's label (its trading date in the exchange's timezone).
    open_ns, close_ns : int
        UTC nanoseconds.
    break_start_ns, break_end_ns : int or None
        A midday break, when the exchange has one.
    early_close : bool
        True when the session closes before the regular time.
    """

    date: date
    open_ns: int
    close_ns: int
    break_start_ns: int | None = None
    break_end_ns: int | None = None
    early_close: bool = False


@dataclass(frozen=True, slots=True)
class ExchangeSessions:
    """Trading sessions as columns; iterating yields :class:`ExchangeSession` rows.

    Attributes
    ----------
    dates : ndarray of datetime64[D]
    open_ns, close_ns : ndarray of int64
        UTC nanoseconds.
    break_start_ns, break_end_ns : ndarray of int64
        Equal to ``close_ns`` on days without a break.
    early_close : ndarray of bool
    """

    dates: DateArray
    open_ns: IntArray
    close_ns: IntArray
    break_start_ns: IntArray
    break_end_ns: IntArray
    early_close: BoolArray

    def __len__(self) -> int:
        return int(self.dates.shape[0])

    def __iter__(self) -> Iterator[ExchangeSession]:
        for i in range(len(self)):
            has_break = bool(self.break_start_ns[i] < self.break_end_ns[i])
            yield ExchangeSession(
                self.dates[i].astype(date),
                int(self.open_ns[i]),
                int(self.close_ns[i]),
                int(self.break_start_ns[i]) if has_break else None,
                int(self.break_end_ns[i]) if has_break else None,
                bool(self.early_close[i]),
            )

    def select(self, mask: BoolArray) -> ExchangeSessions:
        """The sessions where ``mask`` is True."""
        return ExchangeSessions(
            self.dates[mask], self.open_ns[mask], self.close_ns[mask],
            self.break_start_ns[mask], self.break_end_ns[mask], self.early_close[mask],
        )


class ExchangeCalendar(TradingHours):
    """The trading calendar of one exchange.

    Parameters
    ----------
    name : str
        ``"XNYS"``/``"NYSE"``, ``"XNAS"``, ``"CME"``, ``"LSE"``, or any
        ``pandas_market_calendars`` name (case does not matter).

    Raises
    ------
    ConfigError
        For an unknown name (with the closest known names), or when ``pandas_market_calendars``
        is not installed.

    Examples
    --------
    >>> nyse = ExchangeCalendar("XNYS")
    >>> nyse.is_holiday("2024-07-04")
    True
    """

    __slots__ = ("calendar_name", "name", "timezone")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calendar_name = _resolve(name)
        self.timezone = str(_calendar(self.calendar_name).tz)

    def __repr__(self) -> str:
        return f"ExchangeCalendar({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExchangeCalendar) and other.calendar_name == self.calendar_name

    def __hash__(self) -> int:
        return hash(("ExchangeCalendar", self.calendar_name))

    def sessions(self, start: DateLike, end: DateLike) -> ExchangeSessions:
        """The trading sessions from ``start`` to ``end`` (trading dates, both included).

        Parameters
        ----------
        start, end : datetime.date or str
            ``"YYYY-MM-DD"`` or a date.

        Returns
        -------
        ExchangeSessions
            Holidays are absent; early closes carry their shortened close.
        """
        first, last = _to_date(start), _to_date(end)
        if last < first:
            raise ConfigError(f"sessions from {first} to {last}: the end is before the start")
        table = _years_table(self.calendar_name, first.year, last.year)
        lo, hi = np.datetime64(first, "D"), np.datetime64(last, "D")
        return table.select((table.dates >= lo) & (table.dates <= hi))

    def early_closes(self, start: DateLike, end: DateLike) -> ExchangeSessions:
        """The sessions from ``start`` to ``end`` that close before the regular time."""
        table = self.sessions(start, end)
        return table.select(table.early_close)

    def is_holiday(self, day: DateLike) -> bool:
        """True when ``day`` is a weekday of the exchange's trading week without a session.

        Weekends are not holidays.
        """
        moment = _to_date(day)
        return bool(np.isin(np.datetime64(moment, "D"), _year_holidays(self.calendar_name,
                                                                         moment.year)))

    def holidays(self, start: DateLike, end: DateLike) -> list[date]:
        """The holidays (see :meth:`is_holiday`) from ``start`` to ``end``, both included."""
        first, last = _to_date(start), _to_date(end)
        found: list[date] = []
        for year in range(first.year, last.year + 1):
            days = _year_holidays(self.calendar_name, year)
            chosen = days[(days >= np.datetime64(first, "D")) & (days <= np.datetime64(last, "D"))]
            found.extend(d.astype(date) for d in chosen)
        return found

    def _raw_windows(self, start_ns: int, end_ns: int) -> tuple[IntArray, IntArray]:
        years = year_of(start_ns - 2 * NANOS_PER_DAY), year_of(end_ns + 2 * NANOS_PER_DAY)
        return overlapping(*_span_intervals(self.calendar_name, *years), start_ns, end_ns)


def trading_hours(text: str) -> TradingHours:
    """Trading hours written as in an instruments file.

    Parameters
    ----------
    text : str
        ``"fx"`` (Sunday 17:00 to Friday 17:00 New York), ``"24/7"``, an exchange calendar name
        (``"XNYS"``), or sessions in the grammar of
        :func:`~tradeloop.data.sessions.session_from_spec` joined by ``";"`` (their union):
        ``"Mon-Fri 09:30-16:00 America/New_York"``, ``"Sun-Fri 18:00-17:00 America/New_York"``.

    Raises
    ------
    ConfigError
        For an unknown calendar name or a malformed session.
    """
    value = " ".join(text.split())
    if value.lower() == "fx":
        return FX_MARKET_WEEK
    if value.lower() == "24/7":
        return ALWAYS_OPEN
    if ":" not in value:
        return ExchangeCalendar(value)
    parts = [session_from_spec(p) for p in value.split(";") if p.strip()]
    return parts[0] if len(parts) == 1 else union(*parts, name=value)


def exchange_calendar_names() -> list[str]:
    """Every calendar name ``pandas_market_calendars`` knows, plus tradeloop's aliases."""
    return sorted({*_mcal().get_calendar_names(), *(a.upper() for a in _ALIASES)})


def _mcal() -> ModuleType:
    try:
        import pandas_market_calendars
    except ImportError:
        raise ConfigError(_INSTALL_HINT) from None
    module: ModuleType = pandas_market_calendars
    return module


def _resolve(name: str) -> str:
    key = name.strip()
    if key.lower() in _ALIASES:
        return _ALIASES[key.lower()]
    known: dict[str, str] = {str(n).lower(): str(n) for n in _mcal().get_calendar_names()}
    if key.lower() in known:
        return known[key.lower()]
    spellings = {a: a.upper() for a in _ALIASES} | known
    close = difflib.get_close_matches(key.lower(), list(spellings), n=3, cutoff=0.6)
    spelled = [spellings[c] for c in close]
    hint = f"did you mean {', '.join(repr(s) for s in spelled)}? " if spelled else ""
    raise ConfigError(
        f"unknown exchange calendar {name!r}: {hint}use XNYS, XNAS, CME, LSE or a "
        "pandas_market_calendars name (see exchange_calendar_names())"
    )


def _to_date(value: DateLike) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"date {value!r}: use YYYY-MM-DD") from None


@lru_cache(maxsize=32)
def _calendar(calendar_name: str) -> Any:
    return _mcal().get_calendar(calendar_name)


def _column_ns(frame: pd.DataFrame, column: str, fallback: IntArray) -> IntArray:
    if column not in frame.columns:
        return fallback.copy()
    index = pd.DatetimeIndex(frame[column])
    values = np.asarray(index.as_unit("ns").asi8, dtype=np.int64).copy()
    missing = np.asarray(index.isna())
    values[missing] = fallback[missing]
    return values


@lru_cache(maxsize=512)
def _year_table(calendar_name: str, year: int) -> ExchangeSessions:
    calendar = _calendar(calendar_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        schedule = calendar.schedule(f"{year}-01-01", f"{year}-12-31")
        early = calendar.early_closes(schedule) if len(schedule) else schedule
    dates = np.asarray(pd.DatetimeIndex(schedule.index).values, dtype="datetime64[D]")
    n = dates.shape[0]
    opens = _column_ns(schedule, "market_open", np.zeros(n, dtype=np.int64))
    closes = _column_ns(schedule, "market_close", np.zeros(n, dtype=np.int64))
    break_start = _column_ns(schedule, "break_start", closes)
    break_end = _column_ns(schedule, "break_end", closes)
    early_dates = np.asarray(pd.DatetimeIndex(early.index).values, dtype="datetime64[D]")
    table = ExchangeSessions(dates, opens, closes, break_start, break_end,
                             np.isin(dates, early_dates))
    for array in (dates, opens, closes, break_start, break_end, table.early_close):
        array.flags.writeable = False
    return table


@lru_cache(maxsize=256)
def _years_table(calendar_name: str, first: int, last: int) -> ExchangeSessions:
    if first == last:
        return _year_table(calendar_name, first)
    parts = [_year_table(calendar_name, y) for y in range(first, last + 1)]
    return ExchangeSessions(*(
        np.concatenate([getattr(p, f) for p in parts])
        for f in ("dates", "open_ns", "close_ns", "break_start_ns", "break_end_ns",
                  "early_close")
    ))


@lru_cache(maxsize=512)
def _year_holidays(calendar_name: str, year: int) -> DateArray:
    mask = str(_calendar(calendar_name).weekmask)
    weekdays = pd.bdate_range(f"{year}-01-01", f"{year}-12-31", freq="C", weekmask=mask)
    candidates = np.asarray(weekdays.values, dtype="datetime64[D]")
    days = candidates[~np.isin(candidates, _year_table(calendar_name, year).dates)]
    days.flags.writeable = False
    return days


@lru_cache(maxsize=256)
def _span_intervals(calendar_name: str, first: int, last: int) -> tuple[IntArray, IntArray]:
    table = _years_table(calendar_name, first, last)
    starts = np.concatenate([table.open_ns, table.break_end_ns])
    ends = np.concatenate([table.break_start_ns, table.close_ns])
    keep = ends > starts
    opens, closes = merge_windows(starts[keep], ends[keep])
    opens.flags.writeable = False
    closes.flags.writeable = False
    return opens, closes


__all__ = [
    "ExchangeCalendar",
    "ExchangeSession",
    "ExchangeSessions",
    "exchange_calendar_names",
    "trading_hours",
]
