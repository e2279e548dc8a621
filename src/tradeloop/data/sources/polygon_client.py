"""The HTTP transport to Polygon.io: the key, the request-rate limit, retries and the one table
that turns Polygon's answers into our errors.

Polygon pages long answers with ``next_url``, the full address of the next page. It never holds
the key, so the key is added again to every page; only its path and query are used, on the
configured ``base_url``, so the key can never be sent to another host. With the default
``auth = "header"`` the key travels in ``Authorization: Bearer`` and no URL ever holds it; with
``auth = "query"`` it is the ``apiKey`` parameter, and then the key is masked in every log line
(httpx logs request URLs) and no error message is built from a URL.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tradeloop.core.errors import ConfigError, DataError, FatalVenueError, RetryableVenueError
from tradeloop.core.logging import mask_secrets_in, redact_text, register_secret
from tradeloop.data.sources.polygon_settings import PolygonSettings

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Params = Mapping[str, str | int]

_OK_STATUSES = ("OK", "DELAYED", "")


class PolygonNotFound(ConfigError):
    """Polygon answered 404: no such ticker or endpoint."""


class RequestRateLimiter:
    """At most ``max_requests`` requests in any ``window_s`` seconds.

    A request holds its slot from the moment it is sent until ``window_s`` after its answer
    arrived (or it failed), so however long the network takes, the venue never sees more than
    ``max_requests`` arrivals in one window.

    Parameters
    ----------
    max_requests : int
        Positive.
    window_s : float
        The window, 60 for a per-minute limit.
    clock, sleep : callable, optional
        A monotonic clock in seconds and the matching sleep (tests pass a simulated pair).
    """

    def __init__(self, max_requests: int, window_s: float = 60.0, *,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ValueError("a rate limit needs max_requests >= 1 and window_s > 0")
        self.max_requests = max_requests
        self.window_s = window_s
        self._clock, self._sleep = clock, sleep
        self._finished: deque[float] = deque()
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"RequestRateLimiter({self.max_requests} per {self.window_s:g} s)"

    async def acquire(self) -> float:
        """Wait for a free slot and take it.

        Returns
        -------
        float
            Seconds waited.
        """
        waited = 0.0
        while True:
            now = self._clock()
            while self._finished and self._finished[0] <= now - self.window_s:
                self._finished.popleft()
            if self._in_flight + len(self._finished) < self.max_requests:
                self._in_flight += 1
                return waited
            if self._finished:
                pause = self._finished[0] + self.window_s - now
                await self._sleep(pause)
                waited += pause
            else:  # every slot is held by a request still running
                pause = min(0.05, self.window_s)
                await self._sleep(pause)
                waited += pause

    def release(self) -> None:
        """Give back the slot of a request that has finished (answered or failed)."""
        self._in_flight = max(0, self._in_flight - 1)
        self._finished.append(self._clock())

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``async with limiter.slot():`` around one request."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for: seconds, or an HTTP date; None when absent
    or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class PolygonClient:
    """GET requests to Polygon with the key, the rate limit, retries and error translation.

    Parameters
    ----------
    settings : PolygonSettings
        With the key loaded (:func:`load_settings`).
    transport : httpx.AsyncBaseTransport, optional
        For tests (``httpx.MockTransport``).
    limiter : RequestRateLimiter, optional
        Default: ``requests_per_minute`` per 60 s (none when it is 0).
    sleep : callable, optional
        The wait between retries (tests pass one that records instead of sleeping).
    """

    def __init__(self, settings: PolygonSettings, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 limiter: RequestRateLimiter | None = None, sleep: Sleep = asyncio.sleep
                 ) -> None:
        if settings.api_key is None:
            raise ConfigError(f"polygon: no API key: set {settings.api_key_env}")
        self.settings = settings
        self._key = settings.api_key.get_secret_value()
        register_secret(self._key)
        mask_secrets_in("httpx", "httpcore")  # httpx logs every request URL at INFO level
        if limiter is None and settings.requests_per_minute > 0:
            limiter = RequestRateLimiter(settings.requests_per_minute, 60.0)
        self.limiter = limiter
        self._sleep = sleep
        headers = {"User-Agent": "tradeloop", "Accept": "application/json"}
        if settings.auth == "header":
            headers["Authorization"] = f"Bearer {self._key}"
        self._http = httpx.AsyncClient(base_url=settings.base_url, headers=headers,
                                       timeout=settings.timeout_s, transport=transport,
                                       follow_redirects=False)
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"PolygonClient({self.settings.base_url!r}, auth={self.settings.auth!r})"

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    def clean(self, text: str) -> str:
        """``text`` with the key masked (for anything that may end in a message or log)."""
        return redact_text(text.replace(self._key, "***"))

    async def pages(self, path: str, params: Params, what: str
                    ) -> AsyncIterator[dict[str, Any]]:
        """Each page of an answer, following ``next_url`` with the key added again.

        Parameters
        ----------
        path : str
            ``/v2/aggs/ticker/...`` (ticker already URL-quoted).
        params : mapping
            The query of the first page (later pages carry theirs in ``next_url``).
        what : str
            What is asked for, for messages (``"1m bars of AAPL"``).
        """
        query: dict[str, str | int] = dict(params)
        seen: set[tuple[str, str]] = set()
        page = 0
        while True:
            page += 1
            seen.add((path, str(sorted(query.items()))))
            body = await self.get_json(path, query, what, page)
            yield body
            next_url = body.get("next_url")
            if not isinstance(next_url, str) or not next_url:
                return
            parts = urlsplit(next_url)
            path = parts.path
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            query.pop("apiKey", None)
            if (path, str(sorted(query.items()))) in seen:
                raise DataError(f"polygon: {what}: next_url of page {page} points back to a "
                                "page already read")

    async def get_json(self, path: str, params: Params, what: str, page: int = 1
                       ) -> dict[str, Any]:
        """One GET, retried while it is rate limited or fails on the way.

        Raises
        ------
        ConfigError
            The key was refused, the plan does not include the data, or Polygon rejected the
            request (400, 404).
        RetryableVenueError
            Still rate limited, failing (5xx) or unreachable after ``max_retries`` retries.
        FatalVenueError
            Any other refusal.
        """
        query = dict(params)
        if self.settings.auth == "query":
            query["apiKey"] = self._key
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            logger.debug("polygon GET %s (%s, page %d, attempt %d)", path, what, page, attempt)
            outcome = await self._send(path, query, what)
            if isinstance(outcome, dict):
                return outcome
            reason, wait = outcome
            if attempt == attempts:
                raise RetryableVenueError(
                    f"polygon: {what}: {reason}, still after {attempts} attempts; "
                    + ("lower requests_per_minute or try again later" if "429" in reason
                       else "try again later"))
            pause = wait if wait is not None else min(
                self.settings.backoff_max_s,
                self.settings.backoff_initial_s * 2 ** (attempt - 1))
            logger.warning("polygon: %s: %s; retrying in %.1f s (attempt %d of %d)", what,
                           reason, pause, attempt + 1, attempts)
            await self._sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, path: str, query: dict[str, str | int], what: str
                    ) -> dict[str, Any] | tuple[str, float | None]:
        # The answer's JSON, or (why it failed, the wait it asked for) when a retry may help.
        # Everything else raises.
        try:
            if self.limiter is not None:
                async with self.limiter.slot():
                    response = await self._http.get(path, params=query)
            else:
                response = await self._http.get(path, params=query)
        except httpx.TimeoutException:
            return f"no answer within {self.settings.timeout_s:g} s", None
        except httpx.TransportError as exc:
            return self.clean(f"connection failed ({type(exc).__name__}: {exc})"), None
        finally:
            self.requests_sent += 1
        return self._judge(response, what)

    def _judge(self, response: httpx.Response, what: str
               ) -> dict[str, Any] | tuple[str, float | None]:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if status == 200 or status >= 500 or status == 429:
                what = "not JSON" if body is None else "not a JSON object"
                return f"HTTP {status} with an answer that is {what}", None
            body = {}
        detail = self.clean(str(body.get("error") or body.get("message") or "")).strip()
        request_id = self.clean(str(body.get("request_id") or ""))
        tag = f" (request_id {request_id})" if request_id else ""
        polygon_status = str(body.get("status", "")).upper()
        if status == 200 and polygon_status in _OK_STATUSES:
            return body
        if status == 429:
            return (f"rate limited (HTTP 429{': ' + detail if detail else ''})",
                    retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 500:
            return f"Polygon failed (HTTP {status}{': ' + detail if detail else ''})", None
        raise _refusal(status, polygon_status, detail, tag, what, self.settings)


def _refusal(status: int, polygon_status: str, detail: str, tag: str, what: str,
             settings: PolygonSettings) -> Exception:
    """The one table from Polygon's refusals to our errors."""
    said = f": {detail}" if detail else ""
    if status == 401 or (polygon_status == "ERROR" and "api key" in detail.lower()):
        return ConfigError(f"polygon refused the API key in {settings.key_source}{said}{tag}; "
                           "check the key on polygon.io under Keys")
    if status == 403 or polygon_status == "NOT_AUTHORIZED":
        return ConfigError(f"polygon: {what}: your plan does not include this data{said}{tag}")
    if status == 404 or polygon_status == "NOT_FOUND":
        return PolygonNotFound(f"polygon: {what}: not found (HTTP {status}{said}){tag}")
    if status in (400, 422) or polygon_status == "ERROR":
        return ConfigError(f"polygon: {what}: rejected (HTTP {status}{said}){tag}")
    return FatalVenueError(f"polygon: {what}: HTTP {status} "
                           f"({polygon_status or 'no status'}){said}{tag}")


__all__ = ["PolygonClient", "PolygonNotFound", "RequestRateLimiter", "retry_after_seconds"]
