"""Sample OHLCV data for the indicator tests.

The bundled files are read from the package copy ``src/tradeloop/data/samples`` when it
exists, otherwise from the shared data directory next to the repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIRS = (
    REPO_ROOT / "src" / "tradeloop" / "data" / "samples",
    REPO_ROOT.parent / "shared" / "data",
)
DATASETS = ("GOOG", "EURUSD")

Columns = dict[str, np.ndarray]


def _data_file(name: str) -> Path:
    for directory in DATA_DIRS:
        path = directory / f"{name}.csv"
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in DATA_DIRS)
    raise FileNotFoundError(f"sample data {name}.csv not found in {searched}")


@cache
def _load(name: str) -> Columns:
    frame = pd.read_csv(_data_file(name))
    ts = pd.to_datetime(frame["Date"]).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    columns: Columns = {
        field: frame[field.capitalize()].to_numpy(dtype=np.float64)
        for field in ("open", "high", "low", "close", "volume")
    }
    columns["ts"] = ts
    for column in columns.values():
        column.setflags(write=False)
    return columns


@pytest.fixture(params=DATASETS)
def ohlcv(request: pytest.FixtureRequest) -> Columns:
    """Columns open/high/low/close/volume (float64) and ts (int64 UTC ns) of a sample file."""
    return _load(request.param)


@pytest.fixture
def goog() -> Columns:
    """The daily GOOG sample."""
    return _load("GOOG")


@pytest.fixture
def eurusd() -> Columns:
    """The hourly EURUSD sample."""
    return _load("EURUSD")
