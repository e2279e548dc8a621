"""Mapping of the column names data vendors use onto canonical OHLCV fields.

Names are compared after normalising: lower case, surrounding ``<`` ``>`` (MetaTrader) and
blanks removed, inner blanks and hyphens turned into underscores. So ``"Gmt time"`` is
``gmt_time``, ``"<TICKVOL>"`` is ``tickvol`` and ``"Adj Close"`` is ``adj_close``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tradeloop.core.errors import DataError

TIME_SPELLINGS = (
    "datetime", "date_time", "timestamp", "ts", "time", "gmt_time", "local_time",
    "open_time", "date",
)
"""Single timestamp columns, in order of preference."""
DATE_TIME_PAIR = ("date", "time")
"""A date column plus a time-of-day column (MetaTrader's ``<DATE>`` and ``<TIME>``)."""

PRICE_SPELLINGS: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "adj_close"),
}
VOLUME_SPELLINGS = (
    "volume", "vol", "v", "real_volume", "tick_volume", "tickvol", "tick_vol", "ticks",
)
"""Volume columns in order of preference; a column of only zeros gives way to a later one."""


def normalise(name: object) -> str:
    """Return the comparison form of a column name.

    Parameters
    ----------
    name : object
        A column label as found in the file.

    Returns
    -------
    str
    """
    text = str(name).strip().lower().strip("<>").strip()
    return re.sub(r"[\s\-]+", "_", text)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which file columns hold which field.

    Attributes
    ----------
    time : str or None
        The single timestamp column, or None when ``date`` and ``clock`` are used.
    date, clock : str or None
        Separate date and time-of-day columns (MetaTrader exports).
    prices : dict of str to str
        ``open``, ``high``, ``low``, ``close`` to the file's column names.
    volumes : list of str
        Candidate volume columns, most preferred first; empty when the file has none.
    """

    time: str | None
    date: str | None
    clock: str | None
    prices: dict[str, str]
    volumes: list[str] = field(default_factory=list)

    def used(self) -> list[str]:
        """Return every file column this map reads, without repeats, in a stable order."""
        names = [self.time, self.date, self.clock, *self.prices.values(), *self.volumes]
        return list(dict.fromkeys(n for n in names if n is not None))


def _first(by_norm: dict[str, str], spellings: Sequence[str]) -> str | None:
    for spelling in spellings:
        if spelling in by_norm:
            return by_norm[spelling]
    return None


def _accepted(spellings: Sequence[str]) -> str:
    return ", ".join(spellings)


def resolve_columns(
    columns: Sequence[object], source: str, *, time_is_clock: bool | None = None
) -> tuple[ColumnMap, list[str]]:
    """Find the timestamp, OHLC and volume columns among a file's columns.

    Parameters
    ----------
    columns : sequence
        The column labels in file order.
    source : str
        The path, for error messages.
    time_is_clock : bool, optional
        Whether the column normalised as ``time`` holds times of day. When both ``date`` and
        ``time`` columns exist and this is not False, they are combined.

    Returns
    -------
    tuple of (ColumnMap, list of str)
        The map and notes about choices made (for the validation report).

    Raises
    ------
    DataError
        When a timestamp, open, high, low or close column is missing; the message names the
        file, the columns found and the spellings accepted.
    """
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise(col), str(col))
    notes: list[str] = []
    problems: list[str] = []

    time = date = clock = None
    pair = all(p in by_norm for p in DATE_TIME_PAIR)
    if pair and time_is_clock is not False:
        date, clock = by_norm["date"], by_norm["time"]
    else:
        time = _first(by_norm, TIME_SPELLINGS)
        if time is None:
            problems.append(
                f"no timestamp column (accepted: {_accepted(TIME_SPELLINGS)}, "
                "or a date column plus a time column)"
            )

    prices: dict[str, str] = {}
    for name, spellings in PRICE_SPELLINGS.items():
        found = _first(by_norm, spellings)
        if found is None:
            problems.append(f"no {name} column (accepted: {_accepted(spellings)})")
        else:
            prices[name] = found
            if normalise(found) == "adj_close":
                notes.append(f"no close column: using {found!r}")
    volumes = [by_norm[s] for s in VOLUME_SPELLINGS if s in by_norm]

    if problems:
        found_cols = ", ".join(str(c) for c in columns) or "(none)"
        raise DataError(
            f"{source}: {'; '.join(problems)}; columns found: {found_cols} "
            "(names are matched ignoring case, <> and spaces)"
        )
    return ColumnMap(time, date, clock, prices, volumes), notes
