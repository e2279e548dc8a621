"""Trading sessions defined in local time: the FX sessions, instrument trading hours, and their
overlaps and unions.

A session opens at a local time of day on chosen weekdays and closes at a local time; a close at
or before the open means the session runs past local midnight and closes the next day (equal
times mean 24 hours). Daylight saving is handled by the timezone database (``zoneinfo``): the
London session opens at 08:00 UTC in winter and 07:00 UTC in summer. A local open or close that
falls into a daylight-saving gap moves forward by the gap; an ambiguous one (clocks set back)
takes its first occurrence.

Every schedule is a list of half-open UTC windows ``[open, close)``. Occurrences that touch or
overlap are merged into one window, so ``Sun-Fri 17:00-17:00 America/New_York`` is the FX market
week from Sunday 17:00 to Friday 17:00 New York; :data:`ALWAYS_OPEN` is open at every instant.

The FX sessions, in the hours most retail and broker charts use, Monday to Friday local time:

========  ===================  ===========  ==============================================
name      timezone             local hours  UTC in northern winter / summer
========  ===================  ===========  ==============================================
sydney    Australia/Sydney     07:00-16:00  20:00 (the day before)-05:00 / 21:00-06:00
tokyo     Asia/Tokyo           09:00-18:00  00:00-09:00 (Japan has no daylight saving)
london    Europe/London        08:00-17:00  08:00-17:00 / 07:00-16:00
new_york  America/New_York     08:00-17:00  13:00-22:00 / 12:00-21:00
========  ===================  ===========  ==============================================

Sydney's summer is the northern winter: it runs on UTC+11 from October to April. Overlaps
``sydney_tokyo``, ``tokyo_london`` and ``london_new_york`` are the intersections of those
sessions; ``fx_week`` is the FX market week, Sunday 17:00 to Friday 17:00 New York. Other sources
shift these hours by an hour or so (London 07:00-16:00 local, New York 08:00-17:00 or 13:00-22:00
GMT all round the year); build those with :func:`session_from_spec`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_DAY, dt_to_ns, ns_to_dt
from tradeloop.data.timeframes import zone_info
from tradeloop.model.data import IntArray

BoolArray = npt.NDArray[np.bool_]
Window = tuple[int, int]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = frozenset(range(5))
_MIN_YEAR, _MAX_YEAR = 1678, 2261  # the years int64 nanoseconds can hold
_MAX_CHAIN_STEPS = 64
_SEARCH_SPANS = (8 * NANOS_PER_DAY, 120 * NANOS_PER_DAY, 800 * NANOS_PER_DAY)
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.flags.writeable = False
_FOREVER = (np.array([np.iinfo(np.int64).min]), np.array([np.iinfo(np.int64).max]))
for _edge in _FOREVER:
    _edge.flags.writeable = False


class TradingHours:
    """Recurring UTC windows during which something is open.

    The common interface of :class:`Session`, :class:`CombinedSession` and
    :class:`~tradeloop.data.exchange_calendars.ExchangeCalendar`. ``a & b`` is the overlap of
    two schedules and ``a | b`` their union.
    """

    __slots__ = ()
    name: str

    def _chains(self) -> bool:
        return True

    def _raw_windows(self, start_ns: int, end_ns: int) -> tuple[IntArray, IntArray]:
        raise NotImplementedError

    def window_arrays(self, start_ns: int, end_ns: int) -> tuple[IntArray, IntArray]:
        """UTC opens and closes of the windows that overlap ``[start_ns, end_ns)``.

        Parameters
        ----------
        start_ns, end_ns : int
            UTC nanoseconds; an empty range gives no windows.

        Returns
        -------
        tuple of two ndarrays of int64
            Sorted, disjoint, not clipped to the range: a window open across ``start_ns`` keeps
            its real open time.
        """
        if end_ns <= start_ns:
            return _EMPTY, _EMPTY
        return _complete(self._raw_windows, start_ns, end_ns, self._chains())

    def windows(self, start_ns: int, end_ns: int) -> list[Window]:
        """UTC ``(open, close)`` of each window that overlaps ``[start_ns, end_ns)``.

        Parameters
        ----------
        start_ns, end_ns : int
            UTC nanoseconds.

        Returns
        -------
        list of tuple of int
            In time order; windows are not clipped to the range.
        """
        opens, closes = self.window_arrays(start_ns, end_ns)
        return [(int(o), int(c)) for o, c in zip(opens.tolist(), closes.tolist(), strict=True)]

    def is_open_array(self, ts: npt.ArrayLike) -> BoolArray:
        """Whether the schedule is open at each timestamp (vectorised).

        Parameters
        ----------
        ts : array of int64
            UTC nanoseconds, in any order.

        Returns
        -------
        ndarray of bool
            True where ``open <= ts < close`` for some window.
        """
        values = np.asarray(ts, dtype=np.int64)
        if values.size == 0:
            return np.zeros(values.shape, dtype=np.bool_)
        flat = values.reshape(-1)
        ascending = bool(np.all(flat[1:] >= flat[:-1]))
        low, high = (int(flat[0]), int(flat[-1])) if ascending else (
            int(flat.min()), int(flat.max()))
        opens, closes = self._raw_windows(low, high + 1)
        if opens.shape[0] == 0:
            return np.zeros(values.shape, dtype=np.bool_)
        if ascending:
            # count window edges at or before each timestamp: linear in the timestamps
            size = flat.shape[0] + 1
            edges = np.bincount(np.searchsorted(flat, opens), minlength=size) - np.bincount(
                np.searchsorted(flat, closes), minlength=size)
            return (np.cumsum(edges[:-1]) > 0).reshape(values.shape)
        index = np.searchsorted(opens, values, side="right") - 1
        inside = index >= 0
        result = np.zeros(values.shape, dtype=np.bool_)
        result[inside] = values[inside] < closes[index[inside]]
        return result

    def is_open(self, ts_ns: int) -> bool:
        """Whether the schedule is open at ``ts_ns`` (UTC nanoseconds)."""
        opens, closes = self._raw_windows(ts_ns, ts_ns + 1)
        return bool(opens.shape[0]) and bool(((opens <= ts_ns) & (closes > ts_ns)).any())

    def next_open(self, ts_ns: int) -> int | None:
        """The first open strictly after ``ts_ns``, or None if there is none within two years."""
        for span in _SEARCH_SPANS:
            opens, _ = self.window_arrays(ts_ns, ts_ns + span)
            later = opens[opens > ts_ns]
            if later.shape[0]:
                return int(later[0])
        return None

    def next_close(self, ts_ns: int) -> int | None:
        """The first close strictly after ``ts_ns`` (the current window's close when open now).

        Returns None if there is none within two years, or never (:data:`ALWAYS_OPEN`).
        """
        for span in _SEARCH_SPANS:
            _, closes = self.window_arrays(ts_ns, ts_ns + span)
            later = closes[(closes > ts_ns) & (closes != _FOREVER[1][0])]
            if later.shape[0]:
                return int(later[0])
        return None

    def __and__(self, other: TradingHours) -> CombinedSession:
        return overlap(self, other)

    def __or__(self, other: TradingHours) -> CombinedSession:
        return union(self, other)


@dataclass(frozen=True, slots=True)
class Session(TradingHours):
    """A session opening at a local time of day on some weekdays.

    Attributes
    ----------
    name : str
    timezone : str
        IANA name in which ``open`` and ``close`` are read.
    open, close : datetime.time
        Local times of day. A close at or before the open closes on the next local day.
    weekdays : frozenset of int
        The local weekdays on which the session opens (0 is Monday); Monday to Friday by default.
    """

    name: str
    timezone: str
    open: time
    close: time
    weekdays: frozenset[int] = field(default=_WEEKDAYS)

    def __post_init__(self) -> None:
        zone_info(self.timezone)
        days = frozenset(int(d) for d in self.weekdays)
        if not days or not days <= frozenset(range(7)):
            raise ConfigError(
                f"session {self.name!r}: weekdays must be a non-empty set of 0 (Monday) to 6 "
                f"(Sunday), got {sorted(days)}"
            )
        if self.open.tzinfo is not None or self.close.tzinfo is not None:
            raise ConfigError(f"session {self.name!r}: open and close are local times, "
                              "pass them without tzinfo")
        object.__setattr__(self, "weekdays", days)

    @property
    def crosses_midnight(self) -> bool:
        """True when the session closes on the local day after it opens."""
        return self.close <= self.open

    def _raw_windows(self, start_ns: int, end_ns: int) -> tuple[IntArray, IntArray]:
        years = year_of(start_ns - 8 * NANOS_PER_DAY), year_of(end_ns + NANOS_PER_DAY)
        return overlapping(*_session_years(self, *years), start_ns, end_ns)


@dataclass(frozen=True, slots=True)
class CombinedSession(TradingHours):
    """The overlap (intersection) or union of several schedules, with the same interface.

    Attributes
    ----------
    kind : {"overlap", "union"}
    parts : tuple of TradingHours
    name : str
        Defaults to the part names joined with ``" & "`` or ``" | "``.
    """

    kind: Literal["overlap", "union"]
    parts: tuple[TradingHours, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("overlap", "union"):
            raise ConfigError(f"combined session kind {self.kind!r}: use 'overlap' or 'union'")
        if len(self.parts) < 2:
            raise ConfigError(f"an {self.kind} needs at least two sessions")
        if not self.name:
            joiner = " & " if self.kind == "overlap" else " | "
            object.__setattr__(self, "name", joiner.join(p.name for p in self.parts))

    def _chains(self) -> bool:
        return self.kind == "union"

    def _raw_windows(self, start_ns: int, end_ns: int) -> tuple[IntArray, IntArray]:
        years = year_of(start_ns - 8 * NANOS_PER_DAY), year_of(end_ns + NANOS_PER_DAY)
        return overlapping(*_combined_years(self, *years), start_ns, end_ns)

    def _combine(self, start_ns: int, end_ns: int) -> tuple[IntArray, IntArray]:
        if self.kind == "union":
            pieces = [p._raw_windows(start_ns, end_ns) for p in self.parts]
            return merge_windows(np.concatenate([o for o, _ in pieces]),
                          np.concatenate([c for _, c in pieces]))
        return _intersect([p.window_arrays(start_ns, end_ns) for p in self.parts])


@dataclass(frozen=True, slots=True)
class AlwaysOpen(TradingHours):
    """Open at every instant (``"24/7"``): one window spanning every int64 nanosecond."""

    name: str = "24/7"

    def _chains(self) -> bool:
        return False

    def _raw_windows(self, start_ns: int, end_ns: int) -> tuple[IntArray, IntArray]:
        return _FOREVER


def overlap(*sessions: TradingHours, name: str = "") -> CombinedSession:
    """The times when all of ``sessions`` (two or more) are open, as a :class:`CombinedSession`.

    London and New York overlap from 13:00 to 17:00 UTC in January. ``name`` defaults to the part
    names joined with ``" & "``.
    """
    return CombinedSession("overlap", tuple(sessions), name)


def union(*sessions: TradingHours, name: str = "") -> CombinedSession:
    """The times when any of ``sessions`` (two or more) is open, as a :class:`CombinedSession`.

    Touching windows merge into one. ``name`` defaults to the part names joined with ``" | "``.
    """
    return CombinedSession("union", tuple(sessions), name)


def overlapping(opens: IntArray, closes: IntArray, start_ns: int,
                end_ns: int) -> tuple[IntArray, IntArray]:
    """The windows of sorted, disjoint ``opens``/``closes`` that overlap ``[start_ns, end_ns)``."""
    first = int(np.searchsorted(closes, start_ns, side="right"))
    last = int(np.searchsorted(opens, end_ns, side="left"))
    return opens[first:last], closes[first:last]


def year_of(ns: int) -> int:
    """The UTC year of ``ns``, clamped to the years int64 nanoseconds can hold."""
    try:
        year = ns_to_dt(ns).year
    except OverflowError:
        year = _MIN_YEAR if ns < 0 else _MAX_YEAR
    return min(max(year, _MIN_YEAR), _MAX_YEAR)


@lru_cache(maxsize=4096)
def _session_year(session: Session, year: int) -> tuple[IntArray, IntArray]:
    zone = zone_info(session.timezone)
    close_day = timedelta(days=1 if session.crosses_midnight else 0)
    opens: list[int] = []
    closes: list[int] = []
    day = date(year, 1, 1)
    step = timedelta(days=1)
    while day.year == year:
        if day.weekday() in session.weekdays:
            open_ns = dt_to_ns(datetime.combine(day, session.open, tzinfo=zone))
            close_ns = dt_to_ns(datetime.combine(day + close_day, session.close, tzinfo=zone))
            if close_ns > open_ns:
                opens.append(open_ns)
                closes.append(close_ns)
        day += step
    return _frozen(merge_windows(np.array(opens, dtype=np.int64), np.array(closes, dtype=np.int64)))


def _complete(
    raw: Callable[[int, int], tuple[IntArray, IntArray]], start_ns: int, end_ns: int,
    chains: bool,
) -> tuple[IntArray, IntArray]:
    lo, hi = start_ns, end_ns
    opens, closes = raw(lo, hi)
    for _ in range(_MAX_CHAIN_STEPS if chains else 0):
        # a window reaching the edge of the span looked at may chain on into windows beyond it
        if opens.shape[0] == 0:
            break
        new_lo = min(lo, int(opens[0]) - 1)
        new_hi = max(hi, int(closes[-1]) + 1)
        if new_lo == lo and new_hi == hi:
            break
        lo, hi = new_lo, new_hi
        opens, closes = raw(lo, hi)
    keep = (closes > start_ns) & (opens < end_ns)
    return opens[keep], closes[keep]


def _year_start(year: int) -> int:
    return dt_to_ns(datetime(year, 1, 1, tzinfo=UTC))


@lru_cache(maxsize=1024)
def _combined_year(session: CombinedSession, year: int) -> tuple[IntArray, IntArray]:
    merged = _complete(session._combine, _year_start(year), _year_start(year + 1),
                       session._chains())
    return _frozen(merged)


@lru_cache(maxsize=1024)
def _combined_years(session: CombinedSession, first: int, last: int) -> tuple[IntArray, IntArray]:
    parts = [_combined_year(session, year) for year in range(first, last + 1)]
    if len(parts) == 1:
        return parts[0]
    return _frozen(merge_windows(np.concatenate([p[0] for p in parts]),
                          np.concatenate([p[1] for p in parts])))


def _frozen(arrays: tuple[IntArray, IntArray]) -> tuple[IntArray, IntArray]:
    for array in arrays:
        array.flags.writeable = False
    return arrays


@lru_cache(maxsize=1024)
def _session_years(session: Session, first: int, last: int) -> tuple[IntArray, IntArray]:
    parts = [_session_year(session, year) for year in range(first, last + 1)]
    if len(parts) == 1:
        return parts[0]
    return _frozen(merge_windows(np.concatenate([p[0] for p in parts]),
                          np.concatenate([p[1] for p in parts])))


def merge_windows(opens: IntArray, closes: IntArray) -> tuple[IntArray, IntArray]:
    """Sort windows by open and merge those that overlap or touch."""
    if opens.shape[0] == 0:
        return _EMPTY, _EMPTY
    order = np.argsort(opens, kind="stable")
    starts, ends = opens[order], np.maximum.accumulate(closes[order])
    first = np.ones(starts.shape[0], dtype=np.bool_)
    first[1:] = starts[1:] > ends[:-1]
    heads = np.flatnonzero(first)
    tails = np.append(heads[1:] - 1, starts.shape[0] - 1)
    return starts[heads], ends[tails]


def _intersect(pieces: list[tuple[IntArray, IntArray]]) -> tuple[IntArray, IntArray]:
    times = np.concatenate([np.concatenate([o, c]) for o, c in pieces])
    steps = np.concatenate(
        [np.concatenate([np.ones(o.shape[0], np.int64), -np.ones(c.shape[0], np.int64)])
         for o, c in pieces]
    )
    if times.shape[0] == 0:
        return _EMPTY, _EMPTY
    order = np.lexsort((steps, times))  # at equal times closes come first: touching is not open
    level = np.cumsum(steps[order])
    active = level >= len(pieces)
    before = np.concatenate([[False], active[:-1]])
    sorted_times = times[order]
    opens = sorted_times[active & ~before]
    closes = sorted_times[np.flatnonzero(~active & before)]
    keep = closes > opens
    return opens[keep], closes[keep]


def _local_time(text: str, spec: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if match is None:
        raise ConfigError(f"session {spec!r}: time {text!r} is not HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes == 0:
        return time(0, 0)
    if hours > 23 or minutes > 59:
        raise ConfigError(f"session {spec!r}: time {text!r} is not a time of day")
    return time(hours, minutes)


def _day_index(text: str, spec: str) -> int:
    word = text.strip().lower()
    if word in _DAY_NAMES:
        return _DAY_NAMES.index(word)
    if word in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(word)
    raise ConfigError(f"session {spec!r}: {text!r} is not a weekday (use Mon, Tue, ... Sun)")


def _parse_days(text: str, spec: str, overnight: bool) -> frozenset[int]:
    if text.lower() in ("daily", "everyday"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first_text, _, last_text = part.partition("-")
            first, last = _day_index(first_text, spec), _day_index(last_text, spec)
            length = (last - first) % 7 + (0 if overnight else 1)
            if length == 0:
                raise ConfigError(f"session {spec!r}: the overnight range {part!r} must end "
                                  "on the day of its last close, after the first open")
            days.update((first + k) % 7 for k in range(length))
        else:
            days.add(_day_index(part, spec))
    return frozenset(days)


_SPEC = re.compile(
    r"^\s*(?:(?P<days>[A-Za-z][A-Za-z,\s-]*?)\s+)?(?P<open>\d{1,2}:\d{2})\s*-\s*"
    r"(?P<close>\d{1,2}:\d{2})\s+(?P<zone>\S+)\s*$"
)


def session_from_spec(spec: str, name: str | None = None) -> Session:
    """Read instrument trading hours written as ``"Mon-Fri 09:30-16:00 America/New_York"``.

    Grammar::

        spec  := [days] open "-" close timezone
        days  := range ("," range)* | "Daily"
        range := day ["-" day]          (wraps around the week: "Sun-Thu", "Fri-Mon")
        day   := Mon | Tue | Wed | Thu | Fri | Sat | Sun   (or full names, any case)
        open, close := HH:MM            (24-hour local time; "24:00" means midnight)
        timezone    := an IANA name such as America/New_York, or UTC

    ``days`` default to Mon-Fri. A session that closes after it opens opens on every day
    listed. A close at or before the open closes on the next day, and a range then runs, as
    exchanges write it, from the first open to the last close: ``"Sun-Fri 17:00-16:00
    America/Chicago"`` opens on Sunday to Thursday evenings and last closes on Friday afternoon
    (a single day, as in ``"Sun 17:00-16:00 ..."``, opens on that day). This is the grammar of
    ``trading_hours`` in instruments files, where sessions may also be joined by ``";"`` (see
    :func:`tradeloop.data.exchange_calendars.trading_hours`).

    Parameters
    ----------
    spec : str
    name : str, optional
        Defaults to the spec itself.

    Returns
    -------
    Session

    Raises
    ------
    ConfigError
        For text that does not follow the grammar, naming the part that is wrong.
    """
    match = _SPEC.match(spec)
    if match is None:
        raise ConfigError(
            f"session {spec!r}: write it as '[days] HH:MM-HH:MM Timezone', such as "
            "'Mon-Fri 09:30-16:00 America/New_York'"
        )
    opens, closes = _local_time(match.group("open"), spec), _local_time(match.group("close"), spec)
    days_text = match.group("days")
    days = (_parse_days(re.sub(r"\s+", "", days_text), spec, closes <= opens) if days_text
            else _WEEKDAYS)
    return Session(name or " ".join(spec.split()), match.group("zone"), opens, closes, days)


ALWAYS_OPEN = AlwaysOpen()
SYDNEY = Session("sydney", "Australia/Sydney", time(7), time(16))
TOKYO = Session("tokyo", "Asia/Tokyo", time(9), time(18))
LONDON = Session("london", "Europe/London", time(8), time(17))
NEW_YORK = Session("new_york", "America/New_York", time(8), time(17))
FX_MARKET_WEEK = session_from_spec("Sun-Fri 17:00-17:00 America/New_York", name="fx_week")
"""The FX market week: 24-hour windows opening from Sunday to Thursday at 17:00 New York, merged
into one window from Sunday 17:00 to Friday 17:00 New York."""

_FX_SESSIONS: dict[str, TradingHours] = {
    "sydney": SYDNEY,
    "tokyo": TOKYO,
    "london": LONDON,
    "new_york": NEW_YORK,
    "sydney_tokyo": overlap(SYDNEY, TOKYO, name="sydney_tokyo"),
    "tokyo_london": overlap(TOKYO, LONDON, name="tokyo_london"),
    "london_new_york": overlap(LONDON, NEW_YORK, name="london_new_york"),
    "fx_week": FX_MARKET_WEEK,
}
_FX_ALIASES = {"ny": "new_york", "nyc": "new_york", "newyork": "new_york", "asia": "tokyo",
               "london_ny": "london_new_york", "london_newyork": "london_new_york",
               "fx_market": "fx_week"}


def fx_session_names() -> list[str]:
    """The names :func:`fx_session` knows."""
    return list(_FX_SESSIONS)


def fx_session(name: str) -> TradingHours:
    """An FX session or overlap by name.

    Parameters
    ----------
    name : str
        ``sydney``, ``tokyo``, ``london``, ``new_york`` (or ``ny``), the overlaps
        ``sydney_tokyo``, ``tokyo_london``, ``london_new_york``, or ``fx_week``. Case, spaces
        and hyphens do not matter.

    Raises
    ------
    ConfigError
        For an unknown name, with the closest known names and the full list.
    """
    key = re.sub(r"[\s\-/]+", "_", name.strip().lower())
    key = _FX_ALIASES.get(key, key)
    if key in _FX_SESSIONS:
        return _FX_SESSIONS[key]
    close = difflib.get_close_matches(key, [*_FX_SESSIONS, *_FX_ALIASES], n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise ConfigError(
        f"unknown FX session {name!r}: {hint}known sessions: {', '.join(_FX_SESSIONS)}"
    )


def fx_market_open(ts_ns: int) -> bool:
    """Whether the FX market is open: Sunday 17:00 to Friday 17:00 New York time.

    Use ``FX_MARKET_WEEK.is_open_array`` for many timestamps at once.
    """
    return FX_MARKET_WEEK.is_open(ts_ns)


__all__ = [
    "ALWAYS_OPEN",
    "FX_MARKET_WEEK",
    "LONDON",
    "NEW_YORK",
    "SYDNEY",
    "TOKYO",
    "AlwaysOpen",
    "CombinedSession",
    "Session",
    "TradingHours",
    "Window",
    "fx_market_open",
    "fx_session",
    "fx_session_names",
    "overlap",
    "session_from_spec",
    "union",
]
