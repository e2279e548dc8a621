"""Fixtures for the Alpaca integration tests: one local Alpaca per module, reset per test, and
the API keys in the environment variables the adapter reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alpaca_harness import KEY_ENV, SECRET_ENV

from support.alpaca import API_KEY, API_SECRET, AlpacaServer


@pytest.fixture(scope="module")
def _alpaca_running() -> Iterator[AlpacaServer]:
    with AlpacaServer(seed=3) as server:
        yield server


@pytest.fixture
def alpaca(_alpaca_running: AlpacaServer, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[AlpacaServer]:
    """The local Alpaca, running and in its opening state, with the keys in the
    environment."""
    monkeypatch.setenv(KEY_ENV, API_KEY)
    monkeypatch.setenv(SECRET_ENV, API_SECRET)
    _alpaca_running.start()
    _alpaca_running.set_page_limit(10_000)
    _alpaca_running.reset()
    yield _alpaca_running
    _alpaca_running.start()
