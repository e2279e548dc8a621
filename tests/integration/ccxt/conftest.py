"""Fixtures for the ccxt integration tests: one local Binance per module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.binance import BinanceServer


@pytest.fixture(scope="module")
def _binance_running() -> Iterator[BinanceServer]:
    with BinanceServer(seed=11) as server:
        yield server


@pytest.fixture
def binance(_binance_running: BinanceServer) -> Iterator[BinanceServer]:
    """The local Binance, running and in its opening state."""
    _binance_running.start()
    _binance_running.reset()
    yield _binance_running
    _binance_running.start()
