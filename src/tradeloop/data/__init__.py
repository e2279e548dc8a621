"""Market data in: loading and validating bar and tick files, the Parquet store, building bars
from ticks, resampling, bar lengths, sessions, exchange and economic calendars, and the
instruments file.

Names are imported on first use, so that the kernel, which needs only bar lengths, does not pay
for pandas and pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeloop.core.exports import import_on_first_use

if TYPE_CHECKING:
    from tradeloop.data.bars import (
        BarBuilder,
        TickBars,
        TimeBars,
        ValueBars,
        VolumeBars,
        build_bars,
    )
    from tradeloop.data.bundled import bundled_names, bundled_path
    from tradeloop.data.catalog import CatalogEntry
    from tradeloop.data.economic import EconomicCalendar, EconomicEvent, Impact
    from tradeloop.data.exchange_calendars import ExchangeCalendar
    from tradeloop.data.feeds import MarketDataSource, ReplaySource, SyntheticQuotes
    from tradeloop.data.gaps import Gap, find_gaps
    from tradeloop.data.instruments import (
        InstrumentBook,
        InstrumentSpec,
        bundled_instruments,
        instrument_book,
        load_instruments,
    )
    from tradeloop.data.loaders import LoadResult, load_bars
    from tradeloop.data.resample import resample_bars
    from tradeloop.data.sessions import fx_session, session_from_spec
    from tradeloop.data.store import DataStore, ImportResult, WriteResult
    from tradeloop.data.ticks import TickLoadResult, TickReport, load_ticks
    from tradeloop.data.timeframes import BucketAlignment, Timeframe, parse_timeframe
    from tradeloop.data.validation import ValidationReport

_HOMES = {
    "BarBuilder": "tradeloop.data.bars",
    "BucketAlignment": "tradeloop.data.timeframes",
    "CatalogEntry": "tradeloop.data.catalog",
    "DataStore": "tradeloop.data.store",
    "EconomicCalendar": "tradeloop.data.economic",
    "EconomicEvent": "tradeloop.data.economic",
    "ExchangeCalendar": "tradeloop.data.exchange_calendars",
    "Gap": "tradeloop.data.gaps",
    "Impact": "tradeloop.data.economic",
    "ImportResult": "tradeloop.data.store",
    "InstrumentBook": "tradeloop.data.instruments",
    "InstrumentSpec": "tradeloop.data.instruments",
    "LoadResult": "tradeloop.data.loaders",
    "MarketDataSource": "tradeloop.data.feeds",
    "ReplaySource": "tradeloop.data.feeds",
    "SyntheticQuotes": "tradeloop.data.feeds",
    "TickBars": "tradeloop.data.bars",
    "TickLoadResult": "tradeloop.data.ticks",
    "TickReport": "tradeloop.data.ticks",
    "TimeBars": "tradeloop.data.bars",
    "Timeframe": "tradeloop.data.timeframes",
    "ValidationReport": "tradeloop.data.validation",
    "ValueBars": "tradeloop.data.bars",
    "VolumeBars": "tradeloop.data.bars",
    "WriteResult": "tradeloop.data.store",
    "build_bars": "tradeloop.data.bars",
    "bundled_instruments": "tradeloop.data.instruments",
    "bundled_names": "tradeloop.data.bundled",
    "bundled_path": "tradeloop.data.bundled",
    "find_gaps": "tradeloop.data.gaps",
    "fx_session": "tradeloop.data.sessions",
    "instrument_book": "tradeloop.data.instruments",
    "load_bars": "tradeloop.data.loaders",
    "load_instruments": "tradeloop.data.instruments",
    "load_ticks": "tradeloop.data.ticks",
    "parse_timeframe": "tradeloop.data.timeframes",
    "resample_bars": "tradeloop.data.resample",
    "session_from_spec": "tradeloop.data.sessions",
}


def __getattr__(name: str) -> Any:
    return import_on_first_use(__name__, _HOMES, globals(), name)


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BarBuilder",
    "BucketAlignment",
    "CatalogEntry",
    "DataStore",
    "EconomicCalendar",
    "EconomicEvent",
    "ExchangeCalendar",
    "Gap",
    "Impact",
    "ImportResult",
    "InstrumentBook",
    "InstrumentSpec",
    "LoadResult",
    "MarketDataSource",
    "ReplaySource",
    "SyntheticQuotes",
    "TickBars",
    "TickLoadResult",
    "TickReport",
    "TimeBars",
    "Timeframe",
    "ValidationReport",
    "ValueBars",
    "VolumeBars",
    "WriteResult",
    "build_bars",
    "bundled_instruments",
    "bundled_names",
    "bundled_path",
    "find_gaps",
    "fx_session",
    "instrument_book",
    "load_bars",
    "load_instruments",
    "load_ticks",
    "parse_timeframe",
    "resample_bars",
    "session_from_spec",
]
