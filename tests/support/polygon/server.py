"""A local Polygon.io REST API on 127.0.0.1 for tests.

It serves what tradeloop's Polygon source uses, with Polygon's response shapes, paging and error
bodies: aggregates (``/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}``),
trades (``/v3/trades/{ticker}``) and ticker details (``/v3/reference/tickers/{ticker}``). The
key is checked as Polygon checks it: ``apiKey`` in the query or ``Authorization: Bearer``.
Tests steer it: a requests-per-window limit answering 429, injected failures, page size,
per-key entitlements, splits, halts and corrupted bars, and read its request log.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from support.local_server import LocalServer, LocalService

from .market import Market
from .routes import Answer, PolygonError, RouteContext, route_request

logger = logging.getLogger(__name__)

API_KEY = "pk_local_7Hq2Zr9VbX4mNc1T"
"""The key the stand-in accepts (entitled to every market)."""

ALL_MARKETS = frozenset({"stocks", "options", "fx", "crypto"})
FAILURE_KINDS = ("rate_limit", "unavailable", "drop", "unauthorized", "bad_json")


@dataclass(frozen=True)
class RequestRecord:
    """One request the stand-in received.

    Attributes
    ----------
    path : str
        The URL path (``/v3/trades/AAPL``).
    params : dict of str to str
        The query parameters as sent (``apiKey`` included when it was sent that way).
    auth : {"header", "query", None}
        How the key came.
    status : int
        HTTP status answered (0 when the connection was dropped).
    received : float
        ``time.monotonic()`` when it arrived.
    """

    path: str
    params: dict[str, str]
    auth: str | None
    status: int
    received: float


@dataclass
class _Failure:
    kind: str
    remaining: int
    path_prefix: str | None
    retry_after: float | None
    after: int = 0


@dataclass
class _RateLimit:
    requests: int
    window_s: float
    retry_after_header: bool
    admitted: list[float] = field(default_factory=list)


class PolygonServer(LocalService):
    """The local Polygon; start it with ``with PolygonServer() as server:``.

    Parameters
    ----------
    page_size : int, optional
        Most results per page regardless of ``limit`` (to exercise paging on small ranges).
    """

    def __init__(self, *, page_size: int | None = None) -> None:
        self.page_size = page_size
        self.now_ms_override: int | None = None
        self._lock = threading.RLock()
        self._market = Market()
        self._keys: dict[str, frozenset[str]] = {API_KEY: ALL_MARKETS}
        self._log: list[RequestRecord] = []
        self._failures: list[_Failure] = []
        self._limit: _RateLimit | None = None
        self._app = Starlette(routes=[Mount("", app=self._asgi)])
        self._http = LocalServer(self._app, "the local Polygon server")

    # -- running ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def market(self) -> Market:
        """The listings and the steering state behind the answers."""
        return self._market

    def now_ms(self) -> int:
        """The stand-in's clock: data exists up to this moment."""
        if self.now_ms_override is not None:
            return self.now_ms_override
        return int(time.time() * 1000)

    # -- steering ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the opening state: default listings and key, no limit, failures or log."""
        with self._lock:
            self._market = Market()
            self._keys = {API_KEY: ALL_MARKETS}
            self._log.clear()
            self._failures.clear()
            self._limit = None
            self.page_size = None
            self.now_ms_override = None

    def add_key(self, key: str, markets: frozenset[str] | set[str] = ALL_MARKETS) -> None:
        """Accept ``key``, entitled to ``markets`` (others answer NOT_AUTHORIZED, 403)."""
        with self._lock:
            self._keys[key] = frozenset(markets)

    def set_rate_limit(self, requests: int | None, window_s: float = 60.0, *,
                       retry_after_header: bool = True) -> None:
        """Admit at most ``requests`` per ``window_s`` (Polygon's free tier: 5 per minute);
        more answer 429, with ``Retry-After`` (whole seconds until a slot frees) unless
        ``retry_after_header`` is False. None lifts the limit."""
        with self._lock:
            self._limit = None if requests is None else _RateLimit(requests, window_s,
                                                                    retry_after_header)

    def fail_next(self, kind: str, count: int = 1, *, path_prefix: str | None = None,
                  retry_after: float | None = 1.0, after: int = 0) -> None:
        """Make the next ``count`` matching requests fail.

        Parameters
        ----------
        kind : str
            ``rate_limit`` (429 with Polygon's error body; ``Retry-After: retry_after`` unless
            it is None), ``unavailable`` (502 from the gateway), ``drop`` (the connection is
            closed with no answer), ``unauthorized`` (401 "Unknown API Key") or ``bad_json``
            (200 with a body that is not JSON).
        path_prefix : str, optional
            Only requests whose path starts with it (``/v3/trades``).
        after : int
            Let this many matching requests through first.
        """
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        with self._lock:
            self._failures.append(_Failure(kind, count, path_prefix, retry_after, after))

    def requests(self, path_prefix: str | None = None) -> list[RequestRecord]:
        """The requests received, oldest first (those under ``path_prefix`` when given)."""
        with self._lock:
            return [r for r in self._log
                    if path_prefix is None or r.path.startswith(path_prefix)]

    def clear_log(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._log.clear()

    # -- serving ----------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw_query = scope.get("query_string", b"").decode("utf-8", "replace")
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            answer = self._answer(scope["path"], params, headers)
        if answer.drop and await _drop_connection(receive):
            return
        if answer.raw is not None:
            response: Any = _RawResponse(answer.raw, answer.status)
        else:
            response = JSONResponse(answer.body, status_code=answer.status,
                                    headers=answer.headers)
        await response(scope, receive, send)

    def _answer(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer:
        received = time.monotonic()
        auth, key = _credentials(params, headers)
        request_id = uuid.uuid4().hex
        try:
            answer = self._checked(path, params, key, received, request_id)
        except PolygonError as error:
            answer = error.answer(request_id)
        self._log.append(RequestRecord(path, dict(params), auth,
                                       0 if answer.drop else answer.status, received))
        if answer.status >= 400:
            logger.info("local polygon answered %s with %s", path, answer.status)
        return answer

    def _checked(self, path: str, params: dict[str, str], key: str | None, received: float,
                 request_id: str) -> Answer:
        failure = self._take(path)
        if failure is not None and failure.kind == "drop":
            return Answer(0, {}, drop=True)
        if failure is not None and failure.kind == "unavailable":
            return Answer(502, {"status": "ERROR", "request_id": request_id,
                                "error": "Bad Gateway"})
        if key is None:
            raise PolygonError(401, "ERROR", error="API Key was not provided")
        if key not in self._keys or (failure is not None and failure.kind == "unauthorized"):
            raise PolygonError(401, "ERROR", error="Unknown API Key")
        if failure is not None and failure.kind == "rate_limit":
            raise _rate_limited(failure.retry_after)
        self._admit(received)
        context = RouteContext(self._market, self._keys[key], self.base_url, self.now_ms(),
                               self.page_size, request_id)
        answer = route_request(path, params, context)
        if failure is not None and failure.kind == "bad_json":
            return Answer(200, {}, raw="<html>upstream error</html>")
        return answer

    def _admit(self, received: float) -> None:
        limit = self._limit
        if limit is None:
            return
        limit.admitted = [t for t in limit.admitted if t > received - limit.window_s]
        if len(limit.admitted) >= limit.requests:
            wait = limit.admitted[0] + limit.window_s - received
            raise _rate_limited(max(1, math.ceil(wait)) if limit.retry_after_header else None)
        limit.admitted.append(received)

    def _take(self, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.path_prefix is not None and not path.startswith(failure.path_prefix):
                continue
            if failure.after > 0:
                failure.after -= 1
                return None
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.remove(failure)
            return failure
        return None


def _rate_limited(retry_after: float | None) -> PolygonError:
    headers = {} if retry_after is None else {"Retry-After": _seconds(retry_after)}
    return PolygonError(429, "ERROR", headers=headers, error=(
        "You've exceeded the maximum requests per minute, please wait or upgrade your "
        "subscription to continue. https://polygon.io/pricing"))


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _credentials(params: dict[str, str], headers: dict[str, str]) -> tuple[str | None,
                                                                             str | None]:
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return "header", authorization[7:].strip()
    if params.get("apiKey"):
        return "query", params["apiKey"]
    return None, None


class _RawResponse:
    def __init__(self, text: str, status: int) -> None:
        self.text, self.status = text, status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.text.encode()
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"text/html"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _drop_connection(receive: Receive) -> bool:
    # uvicorn binds `receive` to the request cycle that holds the transport; aborting it closes
    # the connection without any answer.
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass
    return True


__all__ = ["ALL_MARKETS", "API_KEY", "FAILURE_KINDS", "PolygonServer", "RequestRecord"]
