"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


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
