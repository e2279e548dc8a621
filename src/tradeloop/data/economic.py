"""The economic calendar: scheduled releases (payrolls, rate decisions, CPI) and the news
blackout windows around them.

Events come from CSV or iCalendar (ICS) files, or from a provider (see
:mod:`tradeloop.data.economic_providers`), and are kept in one Parquet file. A file is read in
full before anything is stored: one bad row rejects the whole file with a one-line
:class:`~tradeloop.core.errors.DataError` naming the file, the row (CSV, the header is row 1)
or line (ICS) and the reason.

CSV columns (names matched ignoring case, spaces, ``_`` and ``-``):

- time: ``time``, ``datetime`` or ``timestamp`` holding date and time; or ``date`` plus
  ``time`` (a time of day, 24-hour or ``1:30pm``; empty, ``All Day`` or ``Tentative`` mean
  00:00). Layouts are those of :func:`tradeloop.data.timestamps.parse_timestamps`; naive times
  are read in the ``timezone`` option, times with an offset or ``Z`` keep it.
- currency: ``currency``, ``ccy`` or ``cur``; or country: ``country``, ``country_code``,
  ``region`` or ``zone``, mapped to a currency by :data:`COUNTRY_CURRENCIES` (a three-letter
  currency code in the country column, as some exports write, is taken as the currency).
- impact: ``impact``, ``importance``, ``volatility`` or ``priority``, read by
  :meth:`Impact.parse`; optional when ``default_impact`` is given.
- title: ``title``, ``event``, ``name`` or ``indicator``.
- optional ``actual``; ``forecast`` (or ``consensus``, ``expected``); ``previous`` (or
  ``prior``).

ICS files are read by :func:`read_events_ics`; its conventions are described in
:mod:`tradeloop.data.economic_ics`.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.data.timeframes import zone_info
from tradeloop.data.timestamps import parse_timestamps
from tradeloop.data.validation import TS_MISSING, TS_NONEXISTENT, TS_OK

if TYPE_CHECKING:
    from tradeloop.data.economic_ics import read_events_ics

logger = logging.getLogger(__name__)


class Impact(IntEnum):
    """How much a release is expected to move the market; ordered, so ``HIGH > LOW``."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: Impact | str | int) -> Impact:
        """Read an impact level.

        Parameters
        ----------
        value : Impact, str or int
            ``low``/``medium``/``high`` (any case, also ``l``/``m``/``h``, ``med``,
            ``moderate``, ``... impact``, ``... impact expected``), ``1``-``3`` as Trading
            Economics writes importance, ``*`` to ``***``, or ``holiday``/``none``/
            ``non-economic`` (read as low).

        Raises
        ------
        ValueError
            For anything else.
        """
        if isinstance(value, Impact):
            return value
        text = str(value).strip().lower()
        text = re.sub(r"\s*impact(\s+expected)?$", "", text).strip()
        if text in _IMPACT_WORDS:
            return _IMPACT_WORDS[text]
        if text and set(text) <= {"*", "★"} and len(text) <= 3:
            return cls(len(text))
        raise ValueError(f"unknown impact {value!r} (use low, medium or high)")


_IMPACT_WORDS = {
    **dict.fromkeys(("low", "l", "1", "holiday", "none", "non-economic", "yellow"), Impact.LOW),
    **dict.fromkeys(("medium", "med", "m", "2", "moderate", "orange"), Impact.MEDIUM),
    **dict.fromkeys(("high", "h", "3", "red"), Impact.HIGH),
}

CURRENCY_COUNTRIES: dict[str, str] = {
    "USD": "United States", "EUR": "Euro Area", "GBP": "United Kingdom", "JPY": "Japan",
    "CHF": "Switzerland", "CAD": "Canada", "AUD": "Australia", "NZD": "New Zealand",
    "CNY": "China", "HKD": "Hong Kong", "SGD": "Singapore", "SEK": "Sweden", "NOK": "Norway",
    "DKK": "Denmark", "PLN": "Poland", "HUF": "Hungary", "CZK": "Czech Republic",
    "TRY": "Turkey", "ZAR": "South Africa", "MXN": "Mexico", "BRL": "Brazil", "INR": "India",
    "KRW": "South Korea", "RUB": "Russia", "IDR": "Indonesia", "SAR": "Saudi Arabia",
    "ARS": "Argentina", "ILS": "Israel", "THB": "Thailand", "TWD": "Taiwan",
}
"""The main currencies and the economy each one is named after (EUR: the euro area)."""

_EURO_MEMBERS = (
    "euro area", "eurozone", "euro zone", "emu", "eu", "ez", "european union", "europe",
    "germany", "de", "france", "fr", "italy", "it", "spain", "es", "netherlands", "nl",
    "belgium", "austria", "ireland", "portugal", "finland", "greece", "slovakia", "slovenia",
    "luxembourg", "estonia", "latvia", "lithuania", "croatia", "cyprus", "malta",
)
COUNTRY_CURRENCIES: dict[str, str] = {
    **{name.lower(): code for code, name in CURRENCY_COUNTRIES.items()},
    **dict.fromkeys(_EURO_MEMBERS, "EUR"),
    **dict.fromkeys(("us", "usa", "united states of america", "america"), "USD"),
    **dict.fromkeys(("uk", "gb", "great britain", "britain", "england"), "GBP"),
    "jp": "JPY", "ch": "CHF", "ca": "CAD", "au": "AUD", "nz": "NZD", "cn": "CNY",
    "hk": "HKD", "sg": "SGD", "se": "SEK", "no": "NOK", "dk": "DKK", "korea": "KRW",
}
"""Country names and ISO 3166 codes (lower case) to the currency of that economy."""


def currency_of_country(country: str) -> str | None:
    """The currency of ``country`` (a name or two-letter code, any case), or None."""
    return COUNTRY_CURRENCIES.get(" ".join(country.lower().split()))


@dataclass(frozen=True, slots=True)
class EconomicEvent:
    """One scheduled release.

    Attributes
    ----------
    ts_ns : int
        Release time, UTC nanoseconds.
    currency : str
        ISO 4217 code of the currency it moves, upper case.
    country : str
        The economy, as the source names it (may be empty).
    impact : Impact
    title : str
    actual, forecast, previous : str or None
        As published, such as ``"178K"`` or ``"0.3%"``.
    """

    ts_ns: int
    currency: str
    country: str
    impact: Impact
    title: str
    actual: str | None = None
    forecast: str | None = None
    previous: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", self.currency.strip().upper())
        object.__setattr__(self, "impact", Impact.parse(self.impact))
        object.__setattr__(self, "title", " ".join(self.title.split()))

    @property
    def key(self) -> tuple[int, str, str]:
        """What identifies the event in storage: time, currency and title (ignoring case)."""
        return self.ts_ns, self.currency, self.title.casefold()


# --- CSV --------------------------------------------------------------------------------------

_CSV_COLUMNS = {
    "datetime": ("datetime", "timestamp", "datetimeutc", "ts", "dateandtime"),
    "date": ("date", "day"),
    "time": ("time", "timeutc"),
    "currency": ("currency", "ccy", "cur", "curr", "currencycode"),
    "country": ("country", "countrycode", "region", "zone", "economy"),
    "impact": ("impact", "importance", "volatility", "priority", "impactlevel"),
    "title": ("title", "event", "name", "eventname", "indicator"),
    "actual": ("actual",),
    "forecast": ("forecast", "consensus", "expected", "estimate"),
    "previous": ("previous", "prior", "prev"),
}
_CLOCK_12H = re.compile(r"^(\d{1,2}):(\d{2})\s*([ap])\.?m\.?$", re.IGNORECASE)
_START_OF_DAY = ("", "all day", "allday", "tentative", "day")


def _clock(text: str) -> str:
    value = text.strip()
    if value.lower() in _START_OF_DAY:
        return "00:00"
    match = _CLOCK_12H.match(value)
    if match:
        hours = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "p" else 0)
        return f"{hours:02d}:{match.group(2)}"
    return value


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _csv_columns(header: list[str], source: Path) -> dict[str, int]:
    normal = [re.sub(r"[\s_\-<>]", "", h.lower()) for h in header]
    found: dict[str, int] = {}
    for role, names in _CSV_COLUMNS.items():
        for name in names:
            if name in normal:
                found[role] = normal.index(name)
                break
    if "date" not in found and "time" in found and "datetime" not in found:
        found["datetime"] = found.pop("time")
    problems = []
    if "datetime" not in found and "date" not in found:
        problems.append("no time column (time, datetime, timestamp, or date and time)")
    if "currency" not in found and "country" not in found:
        problems.append("no currency or country column")
    if "title" not in found:
        problems.append("no title column (title, event, name)")
    if problems:
        raise DataError(f"{source}: {'; '.join(problems)}; columns found: {', '.join(header)}")
    return found


def read_events_csv(
    path: str | os.PathLike[str], timezone: str = "UTC",
    default_impact: Impact | str | None = None,
) -> list[EconomicEvent]:
    """Read economic events from a CSV file (columns: see the module description).

    Parameters
    ----------
    path : str or PathLike
    timezone : str, default "UTC"
        IANA name in which times without an offset are read.
    default_impact : Impact or str, optional
        Used when the file has no impact column or a cell is empty.

    Returns
    -------
    list of EconomicEvent
        In file order. The first bad row raises DataError (the header is row 1).
    """
    source = Path(path)
    zone_info(timezone)
    fallback = None if default_impact is None else Impact.parse(default_impact)
    lines = _read_text(source).splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataError(f"{source}: the file is empty")
    delimiter = max(",;\t", key=lines[first].count)
    reader = csv.reader(lines[first:], delimiter=delimiter)
    header = next(reader)
    cols = _csv_columns(header, source)
    if "impact" not in cols and fallback is None:
        raise DataError(f"{source}: no impact column (impact, importance) and no default impact")
    rows: list[tuple[int, list[str]]] = []
    for cells in reader:
        if any(c.strip() for c in cells):
            rows.append((first + reader.line_num, cells))

    def cell(cells: list[str], role: str) -> str:
        index = cols.get(role)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    if "datetime" in cols:
        stamps = [cell(c, "datetime") for _, c in rows]
    else:
        stamps = [f"{cell(c, 'date')} {_clock(cell(c, 'time'))}".strip() for _, c in rows]
    parsed = parse_timestamps(pd.Series(stamps, dtype="object"), timezone)
    events = []
    for i, (row, cells) in enumerate(rows):
        where = f"{source}: row {row}"
        status = int(parsed.status[i])
        if status != TS_OK:
            reason = ("no time" if status == TS_MISSING else
                      f"time {stamps[i]!r} does not exist in {timezone} (clocks go forward)"
                      if status == TS_NONEXISTENT else f"cannot read time {stamps[i]!r}")
            raise DataError(f"{where}: {reason}")
        currency, country = cell(cells, "currency").upper(), cell(cells, "country")
        if not currency and re.fullmatch(r"[A-Za-z]{3}", country) and (
                country.upper() in CURRENCY_COUNTRIES):
            currency, country = country.upper(), CURRENCY_COUNTRIES[country.upper()]
        if not currency:
            if not country:
                raise DataError(f"{where}: no currency or country")
            currency = currency_of_country(country) or ""
            if not currency:
                raise DataError(f"{where}: unknown country {country!r}: add a currency column "
                                "or use a main economy (United States, Euro Area, Japan...)")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise DataError(f"{where}: currency {currency!r} is not a three-letter code")
        impact_text = cell(cells, "impact")
        try:
            impact = Impact.parse(impact_text) if impact_text else fallback
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None
        if impact is None:
            raise DataError(f"{where}: no impact")
        title = cell(cells, "title")
        if not title:
            raise DataError(f"{where}: no title")
        events.append(EconomicEvent(
            int(parsed.ns[i]), currency, country or CURRENCY_COUNTRIES.get(currency, ""),
            impact, title, cell(cells, "actual") or None, cell(cells, "forecast") or None,
            cell(cells, "previous") or None,
        ))
    return events


# --- storage ----------------------------------------------------------------------------------

_SCHEMA = pa.schema([
    ("ts", pa.timestamp("ns", tz="UTC")), ("currency", pa.string()), ("country", pa.string()),
    ("impact", pa.int8()), ("title", pa.string()), ("actual", pa.string()),
    ("forecast", pa.string()), ("previous", pa.string()),
])


class EconomicCalendar:
    """Economic events stored in one Parquet file.

    Events are unique on (time, currency, title ignoring case): adding an event with the same
    key replaces the stored one, so re-importing an updated file refreshes actual values. Every
    write replaces the file atomically (temp file in the same directory, then ``os.replace``).

    Parameters
    ----------
    path : str or PathLike
        The Parquet file; created on the first write, with its directory.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._set([])

    def __repr__(self) -> str:
        return f"EconomicCalendar({str(self.path)!r})"

    def __len__(self) -> int:
        return len(self._load())

    def add(self, events: Iterable[EconomicEvent]) -> int:
        """Store ``events``, replacing stored ones with the same key.

        Returns
        -------
        int
            How many of ``events`` were new (not replacing a stored event).
        """
        merged = {e.key: e for e in self._load()}
        before = len(merged)
        merged.update((e.key, e) for e in events)
        self._write(sorted(merged.values(), key=lambda e: e.key))
        added = len(merged) - before
        logger.info("economic events stored", extra={"fields": {
            "path": str(self.path), "new": added, "total": len(merged)}})
        return added

    def import_file(self, path: str | os.PathLike[str], timezone: str = "UTC",
                    default_impact: Impact | str | None = None) -> int:
        """Read an ICS file (``.ics``, ``.ical``) or else a CSV file and store its events.

        See :func:`read_events_ics` and :func:`read_events_csv`. Returns how many events were
        new; nothing is stored when the file is rejected.
        """
        from tradeloop.data.economic_ics import read_events_ics

        ics = Path(path).suffix.lower() in (".ics", ".ical", ".icalendar")
        reader = read_events_ics if ics else read_events_csv
        return self.add(reader(path, timezone, default_impact))

    def events(
        self, start_ns: int, end_ns: int, currencies: Sequence[str] | str | None = None,
        min_impact: Impact | str | int | None = None,
    ) -> list[EconomicEvent]:
        """The events with ``start_ns <= ts < end_ns``, in time order.

        Parameters
        ----------
        start_ns, end_ns : int
            UTC nanoseconds.
        currencies : str or sequence of str, optional
            Keep only these currencies (any case); all by default.
        min_impact : Impact or str, optional
            Keep only events of at least this impact.
        """
        events = self._load()
        lo = int(np.searchsorted(self._ts, start_ns, side="left"))
        hi = int(np.searchsorted(self._ts, end_ns, side="left"))
        keep = self._filter(lo, hi, currencies, min_impact)
        return [events[lo + i] for i in np.flatnonzero(keep)]

    def blackouts(
        self, currencies: Sequence[str] | str | None, before_ns: int, after_ns: int,
        start_ns: int, end_ns: int, min_impact: Impact | str | int | None = "high",
    ) -> list[tuple[int, int]]:
        """News blackout windows: from ``before_ns`` before to ``after_ns`` after each event.

        Parameters
        ----------
        currencies : str or sequence of str, or None
            The currencies whose events count (all when None).
        before_ns, after_ns : int
            Non-negative nanoseconds around each event.
        start_ns, end_ns : int
            Return the windows that overlap ``[start_ns, end_ns)``.
        min_impact : Impact or str, default "high"
            Events below this impact are ignored; None counts every event.

        Returns
        -------
        list of tuple of int
            Merged ``(start, end)`` UTC windows, half-open, in time order, not clipped to the
            range; overlapping or touching windows are merged into one.
        """
        if before_ns < 0 or after_ns < 0:
            raise ConfigError("blackout before and after must not be negative")
        self._load()
        lo = int(np.searchsorted(self._ts, start_ns - after_ns, side="right"))
        hi = int(np.searchsorted(self._ts, end_ns + before_ns, side="left"))
        ts = self._ts[lo:hi][self._filter(lo, hi, currencies, min_impact)]
        windows: list[tuple[int, int]] = []
        for moment in ts.tolist():
            begin, end = moment - before_ns, moment + after_ns
            if windows and begin <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(windows[-1][1], end))
            else:
                windows.append((begin, end))
        return [w for w in windows if w[1] > start_ns and w[0] < end_ns]

    def _filter(self, lo: int, hi: int, currencies: Sequence[str] | str | None,
                min_impact: Impact | str | int | None) -> np.ndarray:
        keep = np.ones(max(hi - lo, 0), dtype=np.bool_)
        if currencies is not None:
            wanted = [currencies] if isinstance(currencies, str) else list(currencies)
            keep &= np.isin(self._currency[lo:hi], [c.strip().upper() for c in wanted])
        if min_impact is not None:
            try:
                floor = Impact.parse(min_impact)
            except ValueError as exc:
                raise ConfigError(f"min_impact: {exc}") from None
            keep &= self._impact[lo:hi] >= int(floor)
        return keep

    def _load(self) -> list[EconomicEvent]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._set([])
            self._stamp = None
            return self._events
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp != self._stamp:
            self._set(self._read())
            self._stamp = stamp
        return self._events

    def _read(self) -> list[EconomicEvent]:
        try:
            table = pq.read_table(self.path)
            missing = [n for n in _SCHEMA.names if n not in table.column_names]
            if missing:
                raise DataError(f"{self.path}: not an economic calendar (no column "
                                f"{', '.join(missing)})")
            table = table.select(_SCHEMA.names).cast(_SCHEMA)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{self.path}: cannot read the economic calendar ({exc})") from None
        columns = table.to_pydict()
        ts = table.column("ts").cast(pa.int64()).to_pylist()
        return [
            EconomicEvent(int(ts[i]), columns["currency"][i], columns["country"][i] or "",
                          Impact(columns["impact"][i]), columns["title"][i],
                          columns["actual"][i], columns["forecast"][i], columns["previous"][i])
            for i in range(table.num_rows)
        ]

    def _set(self, events: list[EconomicEvent]) -> None:
        self._events = events
        self._ts = np.array([e.ts_ns for e in events], dtype=np.int64)
        self._currency = np.array([e.currency for e in events], dtype=object)
        self._impact = np.array([int(e.impact) for e in events], dtype=np.int8)

    def _write(self, events: list[EconomicEvent]) -> None:
        table = pa.table({
            "ts": pa.array([e.ts_ns for e in events], pa.int64()).cast(_SCHEMA.field("ts").type),
            "currency": [e.currency for e in events], "country": [e.country for e in events],
            "impact": pa.array([int(e.impact) for e in events], pa.int8()),
            "title": [e.title for e in events], "actual": [e.actual for e in events],
            "forecast": [e.forecast for e in events], "previous": [e.previous for e in events],
        }, schema=_SCHEMA)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                        dir=self.path.parent)
        os.close(handle)
        try:
            pq.write_table(table, temp)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        info = self.path.stat()
        self._stamp = (info.st_mtime_ns, info.st_size)
        self._set(events)


def __getattr__(name: str) -> object:
    # read_events_ics lives in economic_ics, which imports this module: re-export it lazily.
    if name == "read_events_ics":
        from tradeloop.data.economic_ics import read_events_ics

        return read_events_ics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COUNTRY_CURRENCIES",
    "CURRENCY_COUNTRIES",
    "EconomicCalendar",
    "EconomicEvent",
    "Impact",
    "currency_of_country",
    "read_events_csv",
    "read_events_ics",
]
