"""The API key: sent on every page (``next_url`` lacks it), never in logs or error messages."""

from __future__ import annotations

import asyncio
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from support.polygon import API_KEY, PolygonServer, local_settings, utc_ns
from tradeloop.core.errors import ConfigError, RetryableVenueError, TradeloopError
from tradeloop.data.download import download_bars
from tradeloop.data.sources.polygon import download_trades, polygon_history
from tradeloop.data.store import DataStore


async def _no_wait(seconds: float) -> None:
    return None


def run_downloads(server: PolygonServer, store: DataStore, **settings: Any) -> None:
    async def main() -> None:
        source = polygon_history(local_settings(server, **settings), sleep=_no_wait)
        async with source:
            assert API_KEY not in repr(source) and API_KEY not in repr(source.settings)
            assert API_KEY not in str(source.settings.model_dump())
            await download_bars(source, store, "AAPL", "1m", utc_ns("2024-04-01"),
                                utc_ns("2024-04-03"), venue=source.venue)
            await download_trades(source, store, "X:BTCUSD", utc_ns("2024-04-01T10:00"),
                                  utc_ns("2024-04-01T11:00"), venue=source.venue)

    asyncio.run(main())


def failure_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


@pytest.mark.parametrize("auth", ["header", "query"])
def test_the_key_is_on_every_page_and_in_no_log_line(polygon: PolygonServer, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture,
                                                     auth: str) -> None:
    polygon.page_size = 100
    polygon.fail_next("rate_limit", retry_after=None)
    polygon.fail_next("drop")
    with caplog.at_level(logging.DEBUG):
        run_downloads(polygon, DataStore(tmp_path), auth=auth)
    log = polygon.requests()
    assert sum(1 for r in log if r.path.startswith("/v3/trades")) > 1
    assert sum(1 for r in log if "cursor" in r.params) > 10  # pages from next_url
    assert all(r.auth == auth for r in log)  # the key came with every one of them
    assert all(("apiKey" in r.params) == (auth == "query") for r in log)
    assert "HTTP Request: GET" in caplog.text  # httpx logged every URL...
    assert API_KEY not in caplog.text  # ...with the key masked
    if auth == "query":
        assert "apiKey=***" in caplog.text


@pytest.mark.parametrize("auth", ["header", "query"])
def test_a_refused_key_is_not_repeated_in_the_error(polygon: PolygonServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture,
                                                    auth: str) -> None:
    wrong = "pk_revoked_Zq81LmN0pX"
    monkeypatch.setenv("POLYGON_API_KEY", wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as caught:
        run_downloads(polygon, DataStore(tmp_path), auth=auth)
    message = str(caught.value)
    assert message.startswith("polygon refused the API key in $POLYGON_API_KEY: Unknown API "
                              "Key (request_id ")
    assert wrong not in failure_text(caught.value) and wrong not in caplog.text


def test_errors_after_retries_hold_no_key(polygon: PolygonServer, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    errors: list[TradeloopError] = []
    with caplog.at_level(logging.DEBUG):
        for kind in ("drop", "unavailable", "rate_limit", "bad_json"):
            polygon.fail_next(kind, count=10)
            with pytest.raises(RetryableVenueError) as caught:
                run_downloads(polygon, DataStore(tmp_path / kind), auth="query", max_retries=1)
            errors.append(caught.value)
            polygon.reset()
        polygon.stop()
        try:
            with pytest.raises(RetryableVenueError, match="connection failed") as caught:
                run_downloads(polygon, DataStore(tmp_path / "down"), auth="query",
                              max_retries=1)
        finally:
            polygon.start()
        errors.append(caught.value)
    for error in errors:
        assert API_KEY not in failure_text(error)
    assert API_KEY not in caplog.text
