"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from tradeloop.core.logging import clear_registered_secrets

# support.parallel: what running on pytest-xdist workers needs (`make unit` runs two);
# support.conformance_report: the broker conformance report, in one process or several.
pytest_plugins = ["support.parallel", "support.conformance_report"]

# The suite runs on two workers beside its own servers, nodes and browsers: how long one
# Hypothesis example takes says nothing about the code, so no example has a deadline (200 ms by
# default; most property tests already say deadline=None). --hypothesis-profile still wins.
settings.register_profile("tradeloop", deadline=None)
settings.load_profile("tradeloop")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every test's tradeloop home (logs, default outputs) out of the user's ~/.tradeloop."""
    home = tmp_path_factory.mktemp("tradeloop-home")
    monkeypatch.setenv("TRADELOOP_HOME", str(home))
    return home


@pytest.fixture
def tradeloop_home(_isolated_home: Path) -> Path:
    """The tradeloop home directory of this test."""
    return _isolated_home


@pytest.fixture(autouse=True)
def _forget_secrets():
    """Secrets a test registered for masking stay with that test (a one-letter test secret
    would otherwise mask that letter in every later test's messages)."""
    yield
    clear_registered_secrets()
