"""Fixtures of the cTrader tests: a local Open API proxy per module, reset for each test, and
the credential variables its adapter settings name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.ctrader import CtraderServer, credentials_env


@pytest.fixture(scope="module")
def _proxy_running() -> Iterator[CtraderServer]:
    with CtraderServer(heartbeat_s=0.2) as server:
        yield server


@pytest.fixture
def proxy(_proxy_running: CtraderServer) -> Iterator[CtraderServer]:
    """The local proxy in its opening state, its credentials in the environment."""
    _proxy_running.reset()
    with credentials_env():
        yield _proxy_running
    _proxy_running.drop_connections()
