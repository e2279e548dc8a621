"""Market data in: loading and validating bar and tick files, the Parquet store, building bars
from ticks, resampling, bar lengths, sessions, exchange and economic calendars, and the
instruments file."""

from tradeloop.data.bars import BarBuilder, TickBars, TimeBars, ValueBars, VolumeBars, build_bars
from tradeloop.data.bundled import bundled_names, bundled_path
from tradeloop.data.catalog import CatalogEntry
from tradeloop.data.economic import EconomicCalendar, EconomicEvent, Impact
from tradeloop.data.exchange_calendars import ExchangeCalendar
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
