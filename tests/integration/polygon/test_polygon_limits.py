"""Request-rate limits, 429s, Retry-After and retries against the local Polygon."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from support.polygon import PolygonServer, local_settings, utc_ns
from tradeloop.core.errors import RetryableVenueError
from tradeloop.data.download import DownloadResult, download_bars
from tradeloop.data.sources.polygon import polygon_history
from tradeloop.data.sources.polygon_client import RequestRateLimiter
from tradeloop.data.store import DataStore


class RecordedSleep:
    """Records the waits asked for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def download(server: PolygonServer, store: DataStore, *, limiter: RequestRateLimiter | None
             = None, sleep: Any = None, symbol: str = "X:BTCUSD", start: str = "2024-04-01",
             end: str = "2024-04-02", **settings: Any) -> DownloadResult:
    async def main() -> DownloadResult:
        source = polygon_history(local_settings(server, **settings), limiter=limiter,
                                 sleep=sleep)
        async with source:
            return await download_bars(source, store, symbol, "1m", utc_ns(start), utc_ns(end),
                                       venue=source.venue, chunk_bars=source.chunk_bars)

    return asyncio.run(main())


def test_the_limiter_keeps_every_window_within_the_limit(polygon: PolygonServer,
                                                         tmp_path: Path) -> None:
    polygon.set_rate_limit(4, 0.4)  # the stand-in refuses a fifth request in 0.4 s
    polygon.page_size = 100
    result = download(polygon, DataStore(tmp_path), limiter=RequestRateLimiter(4, 0.4))
    log = polygon.requests("/v2/aggs")
    assert len(log) == 15 and result.added == 1440
    assert all(r.status == 200 for r in log)  # never refused
    arrivals = [r.received for r in log]
    for first in arrivals:
        assert sum(1 for t in arrivals if first <= t < first + 0.4) <= 4


def test_retry_after_is_honoured(polygon: PolygonServer, tmp_path: Path) -> None:
    polygon.fail_next("rate_limit", count=2, retry_after=7)
    sleep = RecordedSleep()
    result = download(polygon, DataStore(tmp_path), sleep=sleep)
    assert sleep.waits == [7.0, 7.0]
    assert [r.status for r in polygon.requests()] == [429, 429, 200]
    assert result.added == 1440


def test_without_retry_after_the_wait_doubles_up_to_the_cap(polygon: PolygonServer,
                                                            tmp_path: Path) -> None:
    polygon.fail_next("rate_limit", count=3, retry_after=None)
    sleep = RecordedSleep()
    download(polygon, DataStore(tmp_path), sleep=sleep, backoff_initial_s=0.5,
             backoff_max_s=1.5)
    assert sleep.waits == [0.5, 1.0, 1.5]


def test_the_stand_in_limit_is_waited_out_for_real(polygon: PolygonServer,
                                                   tmp_path: Path) -> None:
    polygon.set_rate_limit(2, 1.0)
    polygon.page_size = 600
    result = download(polygon, DataStore(tmp_path))  # no client limit: 429, Retry-After: 1
    statuses = [r.status for r in polygon.requests()]
    assert statuses.count(200) == 3 and 429 in statuses
    assert result.added == 1440


def test_polygon_failures_and_lost_connections_are_retried(polygon: PolygonServer,
                                                           tmp_path: Path) -> None:
    polygon.fail_next("unavailable")
    polygon.fail_next("drop")
    polygon.fail_next("bad_json")
    sleep = RecordedSleep()
    result = download(polygon, DataStore(tmp_path), sleep=sleep)
    assert [r.status for r in polygon.requests()] == [502, 0, 200, 200]
    assert len(sleep.waits) == 3 and result.added == 1440


def test_it_gives_up_after_the_retries_and_keeps_what_was_stored(polygon: PolygonServer,
                                                                 tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    polygon.fail_next("rate_limit", count=50, after=1, retry_after=None)
    sleep = RecordedSleep()
    with pytest.raises(RetryableVenueError, match=r"1m bars of X:BTCUSD: rate limited \(HTTP "
                                                  r"429: You've exceeded.*\), still after 3 "
                                                  r"attempts; lower requests_per_minute"):
        download(polygon, store, sleep=sleep, end="2024-04-03", chunk_bars=1440, max_retries=2)
    assert len(polygon.requests()) == 4 and len(sleep.waits) == 2
    assert len(store.read_bars("X:BTCUSD", "1m", venue="POLYGON")) == 1440
