"""Fixtures for the Polygon integration tests: one local Polygon per module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.polygon import API_KEY, PolygonServer


@pytest.fixture(scope="module")
def _polygon_running() -> Iterator[PolygonServer]:
    with PolygonServer() as server:
        yield server


@pytest.fixture
def polygon(_polygon_running: PolygonServer, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[PolygonServer]:
    """The local Polygon, running and in its opening state; ``POLYGON_API_KEY`` holds its key."""
    _polygon_running.start()
    _polygon_running.reset()
    monkeypatch.setenv("POLYGON_API_KEY", API_KEY)
    yield _polygon_running
    _polygon_running.start()
