"""Fixtures of the Schwab integration tests: one local Schwab per module, reset per test, and
an adapter home logged in through the real OAuth flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.schwab import SchwabServer
from support.schwab.harness import (
    STEERING,
    SchwabEnvironment,
    adapter_settings,
    local_target,
    log_in,
)
from tradeloop.brokers.schwab import capabilities
from tradeloop.brokers.testing.harness import Target, TargetSpec

SPEC = TargetSpec("schwab/integration", capabilities(), STEERING)


@pytest.fixture(scope="module")
def _server() -> Iterator[SchwabServer]:
    with SchwabServer(seed=11) as server:
        yield server


@pytest.fixture
def schwab(_server: SchwabServer) -> Iterator[SchwabServer]:
    """The local Schwab, running and in its opening state."""
    _server.start()
    _server.reset()
    _server.oauth.access_lifetime_s = 1800
    yield _server
    _server.start()


@pytest.fixture
def environment() -> Iterator[None]:
    """The app's and the token key's variables."""
    env = SchwabEnvironment()
    yield
    env.restore()


@pytest.fixture
def settings(schwab: SchwabServer, environment: None, tmp_path: Path) -> dict[str, Any]:
    """The adapter's settings, logged in with ``tmp_path`` as the home."""
    found = adapter_settings(schwab, listing_delay_s=0.1)
    log_in(found, tmp_path)
    return found


@pytest.fixture
def target(schwab: SchwabServer, settings: dict[str, Any], tmp_path: Path) -> Target:
    """A conformance-style target on the local Schwab (for a :class:`Desk`)."""
    return local_target(SPEC, schwab, tmp_path, settings)
