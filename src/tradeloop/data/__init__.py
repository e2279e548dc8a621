"""Market data in: loading bar files, validating them, finding gaps, bundled samples."""

from tradeloop.data.bundled import bundled_names, bundled_path
from tradeloop.data.gaps import Gap, find_gaps
from tradeloop.data.loaders import LoadResult, load_bars
from tradeloop.data.validation import ValidationReport

__all__ = [
    "Gap",
    "LoadResult",
    "ValidationReport",
    "bundled_names",
    "bundled_path",
    "find_gaps",
    "load_bars",
]
