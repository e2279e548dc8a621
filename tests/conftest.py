"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop.core.logging import clear_registered_secrets


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
