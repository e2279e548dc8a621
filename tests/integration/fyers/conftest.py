"""Fixtures of the Fyers integration tests: a local Fyers per test, the adapter's settings on
it, and a stored login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.fyers import PIN, SECRET_KEY, FyersServer
from support.fyers.adapter import KEY_ENV, PIN_ENV, SECRET_ENV, adapter_settings, store_login


@pytest.fixture
def fyers(monkeypatch: pytest.MonkeyPatch) -> Iterator[FyersServer]:
    """A running local Fyers with generous request limits; the token key, the app secret and
    the PIN in the environment."""
    monkeypatch.setenv(KEY_ENV, "integration-token-key")
    monkeypatch.setenv(SECRET_ENV, SECRET_KEY)
    monkeypatch.setenv(PIN_ENV, PIN)
    with FyersServer(seed=3, per_second=50, per_minute=3000) as server:
        yield server


@pytest.fixture
def settings(fyers: FyersServer, tmp_path: Path) -> dict[str, Any]:
    """The adapter's settings on the local Fyers."""
    return adapter_settings(fyers, tmp_path)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The adapter's home (``<tradeloop home>/brokers/<node>``)."""
    return tmp_path / "brokers" / "node"


@pytest.fixture
def logged_in(fyers: FyersServer, settings: dict[str, Any], home: Path) -> None:
    """A login stored where the adapter reads it."""
    store_login(fyers, settings, home)
