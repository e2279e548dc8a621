"""Fyers' request limits against the local Fyers enforcing them (10 a second, 200 a minute):
the adapter keeps under them by itself, and a -429 that does come is retryable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from support.fyers import FyersServer
from support.fyers.adapter import adapter_settings, store_login
from tradeloop.brokers.fyers import create_adapter
from tradeloop.core.errors import RetryableVenueError


@pytest.fixture
def strict(fyers: FyersServer, tmp_path: Path) -> FyersServer:
    fyers.per_second, fyers.per_minute = 10, 200
    return fyers


def test_a_burst_of_requests_is_paced_under_fyers_limit(strict: FyersServer,
                                                        tmp_path: Path) -> None:
    settings = adapter_settings(strict, tmp_path, per_second=10, per_minute=200)
    home = tmp_path / "brokers" / "node"
    store_login(strict, settings, home)

    async def run() -> float:
        adapter = create_adapter(settings, variant="", home=home)
        await adapter.execution.connect()
        try:
            await asyncio.gather(*(adapter.execution.positions() for _ in range(24)))
            return adapter.execution.client.pacer.waited_s  # type: ignore[attr-defined]
        finally:
            await adapter.close()

    waited = asyncio.run(run())
    answered = [r.status for r in strict.requests()]
    assert len(answered) >= 25 and set(answered) == {200}  # no -429
    assert waited > 1.0  # 25 requests at 10 a second take more than two seconds


def test_a_rate_limit_answer_is_retryable_and_named(strict: FyersServer,
                                                    settings: dict[str, Any], home: Path,
                                                    logged_in: None) -> None:
    async def run() -> None:
        adapter = create_adapter(settings, variant="", home=home)
        await adapter.execution.connect()
        try:
            strict.fail_next("rate_limit", path="/api/v3/positions")
            with pytest.raises(RetryableVenueError, match=r"request limit reached.*code -429"):
                await adapter.execution.positions()
            assert await adapter.execution.positions() == []
        finally:
            await adapter.close()

    asyncio.run(run())
