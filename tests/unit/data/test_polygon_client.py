"""The Polygon transport: paging with the key, retries, Retry-After, the error table, the
request-rate limiter."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tradeloop.core.errors import (
    ConfigError,
    DataError,
    FatalVenueError,
    RetryableVenueError,
)
from tradeloop.data.sources.polygon_client import (
    PolygonClient,
    PolygonNotFound,
    RequestRateLimiter,
    retry_after_seconds,
)
from tradeloop.data.sources.polygon_settings import load_settings

KEY = "pk_unit_client_Q7wE2r"
Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A monotonic clock whose sleep moves it forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


def make_client(handler: Handler, *, sleeps: list[float] | None = None,
                **settings: Any) -> PolygonClient:
    values = {"base_url": "https://api.example.test", "requests_per_minute": 0,
              "backoff_initial_s": 1.0, "backoff_max_s": 8.0} | settings
    config = load_settings(values, {"POLYGON_API_KEY": KEY})
    recorded = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    return PolygonClient(config, transport=httpx.MockTransport(handler), sleep=sleep)


def collect(client: PolygonClient, path: str = "/v3/trades/AAPL",
            params: dict[str, str | int] | None = None) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        try:
            return [page async for page in client.pages(path, params or {"limit": 2},
                                                        "trades of AAPL")]
        finally:
            await client.close()

    return asyncio.run(main())


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


@pytest.mark.parametrize("auth", ["header", "query"])
def test_next_url_pages_get_the_key_again_and_stay_on_the_base_url(auth: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "cursor" not in request.url.params:
            return answer(200, {"status": "OK", "results": [1], "next_url":
                                "https://api.polygon.io/v3/trades/AAPL?cursor=abc"})
        return answer(200, {"status": "OK", "results": [2]})

    pages = collect(make_client(handler, auth=auth))
    assert [p["results"] for p in pages] == [[1], [2]]
    assert [r.url.host for r in seen] == ["api.example.test"] * 2
    assert dict(seen[1].url.params) == ({"cursor": "abc"} | ({"apiKey": KEY}
                                                              if auth == "query" else {}))
    for request in seen:
        assert (request.headers.get("Authorization") == f"Bearer {KEY}") == (auth == "header")
        assert (request.url.params.get("apiKey") == KEY) == (auth == "query")


def test_a_next_url_going_round_in_circles_stops() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(200, {"status": "OK", "results": [],
                            "next_url": "https://api.polygon.io/v3/trades/AAPL?cursor=same"})

    with pytest.raises(DataError, match="next_url of page 2 points back to a page already"):
        collect(make_client(handler))


def test_retry_after_is_honoured_then_the_answer_returned() -> None:
    replies = iter([answer(429, {"status": "ERROR", "error": "slow down"},
                           {"Retry-After": "7"}),
                    answer(200, {"status": "OK", "results": []})])
    sleeps: list[float] = []
    pages = collect(make_client(lambda request: next(replies), sleeps=sleeps))
    assert sleeps == [7.0] and pages[0]["status"] == "OK"


def test_without_retry_after_the_wait_doubles_to_the_cap() -> None:
    sleeps: list[float] = []
    client = make_client(lambda r: answer(503, {"status": "ERROR"}), sleeps=sleeps,
                         max_retries=5)
    with pytest.raises(RetryableVenueError, match=r"^polygon: trades of AAPL: Polygon failed "
                                                  r"\(HTTP 503\), still after 6 attempts; try "
                                                  r"again later$"):
        collect(client)
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_delayed_status_is_an_answer() -> None:
    pages = collect(make_client(lambda r: answer(200, {"status": "DELAYED", "results": []})))
    assert pages[0]["status"] == "DELAYED"


def test_lost_connections_and_garbage_are_retried() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if calls["n"] == 2:
            raise httpx.ReadTimeout("timed out", request=request)
        if calls["n"] == 3:
            return httpx.Response(200, content=b"<html>gateway</html>")
        return answer(200, {"status": "OK"})

    sleeps: list[float] = []
    collect(make_client(handler, sleeps=sleeps))
    assert calls["n"] == 4 and sleeps == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (401, {"status": "ERROR", "request_id": "r1", "error": "Unknown API Key"}, ConfigError,
     "polygon refused the API key in $POLYGON_API_KEY: Unknown API Key (request_id r1); "
     "check the key on polygon.io under Keys"),
    (403, {"status": "NOT_AUTHORIZED", "request_id": "r2", "message": "You are not entitled "
           "to this data. Please upgrade your plan at https://polygon.io/pricing"},
     ConfigError, "polygon: trades of AAPL: your plan does not include this data: You are "
                  "not entitled to this data. Please upgrade your plan at "
                  "https://polygon.io/pricing (request_id r2)"),
    (400, {"status": "ERROR", "request_id": "r3", "error": "invalid timespan 'fortnight'"},
     ConfigError, "polygon: trades of AAPL: rejected (HTTP 400: invalid timespan "
                  "'fortnight') (request_id r3)"),
    (404, {"status": "NOT_FOUND", "request_id": "r4", "message": "Ticker not found."},
     PolygonNotFound, "polygon: trades of AAPL: not found (HTTP 404: Ticker not found.) "
                      "(request_id r4)"),
    (409, {"status": "CONFLICT"}, FatalVenueError,
     "polygon: trades of AAPL: HTTP 409 (CONFLICT)"),
])
def test_refusals_are_translated_once(status: int, body: dict[str, str], error: type,
                                      message: str) -> None:
    sleeps: list[float] = []
    with pytest.raises(error) as caught:
        collect(make_client(lambda r: answer(status, body), sleeps=sleeps))
    assert str(caught.value) == message
    assert sleeps == []  # not retried


def test_the_key_never_reaches_an_error_or_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    def echo(request: httpx.Request) -> httpx.Response:  # a proxy that repeats the URL
        return answer(400, {"status": "ERROR", "error": f"bad request {request.url}"})

    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as caught:
        collect(make_client(echo, auth="query"))
    assert "apiKey=***" in str(caught.value)
    assert KEY not in "".join(traceback.format_exception(caught.value))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    with caplog.at_level(logging.DEBUG), pytest.raises(RetryableVenueError) as failed:
        collect(make_client(refuse, auth="query", max_retries=1))
    assert "connection failed (ConnectError: cannot reach" in str(failed.value)
    assert KEY not in "".join(traceback.format_exception(failed.value))
    assert KEY not in caplog.text and "retrying" in caplog.text


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), ("1.5", 1.5), (" 0 ", 0.0), ("-3", 0.0), (None, None), ("", None),
    ("soon", None), ("Mon, 01 Apr 2024 12:00:30 GMT", 30.0), ("nan", None),
])
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    now = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now) == seconds


def test_the_limiter_never_lets_more_through_in_one_window() -> None:
    fake = FakeTime()
    limiter = RequestRateLimiter(5, 60.0, clock=fake.clock, sleep=fake.sleep)
    sent: list[float] = []

    async def main() -> None:
        for _ in range(23):
            async with limiter.slot():
                sent.append(fake.now)
                fake.now += 2.0  # each request takes two seconds to answer

    asyncio.run(main())
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 60.0) <= 5
    # the sixth request waits until the first answer is a minute old
    assert sent[5] == sent[0] + 2.0 + 60.0
    assert fake.sleeps and all(s > 0 for s in fake.sleeps)


def test_a_slot_is_held_while_its_request_runs() -> None:
    fake = FakeTime()
    limiter = RequestRateLimiter(1, 10.0, clock=fake.clock, sleep=fake.sleep)
    order: list[str] = []

    async def request(name: str, takes: float) -> None:
        async with limiter.slot():
            order.append(f"{name}@{fake.now:g}")
            await fake.sleep(takes)

    async def main() -> None:
        await asyncio.gather(request("a", 3.0), request("b", 0.0))

    asyncio.run(main())
    assert order[0] == "a@1000"
    assert order[1].startswith("b@") and float(order[1][2:]) >= 1013.0


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_requests >= 1"):
        RequestRateLimiter(0)
