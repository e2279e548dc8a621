"""Fixtures of the simulated venue tests; the harness itself lives in ``venue_harness``."""

from __future__ import annotations

import pytest
from venue_harness import Harness


@pytest.fixture
def h() -> Harness:
    """A default harness: no fees, no slippage, stop-first conflicts, no volume limit."""
    return Harness()
