"""Fixtures of the execution tests.

They reuse the simulated venue harness of ``tests/unit/brokers`` (a kernel on a test clock with
a venue as its execution client), loaded by path as the module ``venue_harness``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

if "venue_harness" not in sys.modules:
    _path = Path(__file__).resolve().parents[1] / "brokers" / "venue_harness.py"
    _spec = importlib.util.spec_from_file_location("venue_harness", _path)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["venue_harness"] = _module
    _spec.loader.exec_module(_module)

from venue_harness import Harness

from tradeloop.execution.ports import VenueCapabilities

#: A venue without native contingent orders or trailing stops: the emulator supplies them.
BARE = VenueCapabilities(oco=False, oto=False, trailing_stop=False)


@pytest.fixture
def h() -> Harness:
    """A kernel with a full-featured simulated venue."""
    return Harness()


@pytest.fixture
def bare() -> Harness:
    """A kernel whose simulated venue lacks OCO, OTO and trailing stops."""
    return Harness(capabilities=BARE)
