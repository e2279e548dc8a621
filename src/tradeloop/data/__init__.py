"""Market data in: loading bar files, validating them, finding gaps, bundled samples, and the
instruments file."""

from tradeloop.data.bundled import bundled_names, bundled_path
from tradeloop.data.gaps import Gap, find_gaps
from tradeloop.data.instruments import (
    InstrumentBook,
    InstrumentSpec,
    bundled_instruments,
    instrument_book,
    load_instruments,
)
from tradeloop.data.loaders import LoadResult, load_bars
from tradeloop.data.validation import ValidationReport

__all__ = [
    "Gap",
    "InstrumentBook",
    "InstrumentSpec",
    "LoadResult",
    "ValidationReport",
    "bundled_instruments",
    "bundled_names",
    "bundled_path",
    "find_gaps",
    "instrument_book",
    "load_bars",
    "load_instruments",
]
