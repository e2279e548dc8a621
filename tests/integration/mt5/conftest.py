"""The bridge server over the stand-in, as a subprocess (see ``support.mt5_bridge``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.mt5_bridge import TOKEN, BridgeProcess


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[BridgeProcess]:
    """A bridge with :data:`TOKEN` on 127.0.0.1, a free port; stopped after the test."""
    process = BridgeProcess(tmp_path / "bridge", TOKEN).start()
    yield process
    process.stop()
