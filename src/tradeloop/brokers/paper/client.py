"""The transport to a served paper venue: REST over ``httpx``, the stream over ``websockets``.

Every failure leaves here as the error tree's class (see :mod:`.errors`): a refused connection
is retryable, a timeout after a state change was sent is outcome-unknown, a 4xx answer fatal.
The HTTP transport is injectable (``httpx.MockTransport`` in tests, or any
``httpx.AsyncBaseTransport``), the bearer token is sent as a header and never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from tradeloop.brokers.paper.config import PaperClientConfig
from tradeloop.brokers.paper.errors import (
    PaperFatalError,
    PaperRetryableError,
    error_from_response,
    error_from_transport,
)
from tradeloop.brokers.paper.protocol import API_PREFIX, ReasonCode

logger = logging.getLogger(__name__)

_JSON_HEADERS = {"Content-Type": "application/json"}


class PaperHttpClient:
    """REST calls and stream connections to one paper venue.

    Parameters
    ----------
    config : PaperClientConfig
    transport : httpx.AsyncBaseTransport, optional
        The HTTP transport (default: httpx's own, with the config's timeouts).
    """

    def __init__(self, config: PaperClientConfig,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        headers = {"Accept": "application/json"}
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        self._auth = {k: v for k, v in headers.items() if k == "Authorization"}
        self._http = httpx.AsyncClient(
            base_url=config.url, headers=headers, transport=transport,
            timeout=httpx.Timeout(config.request_timeout_s, connect=config.connect_timeout_s),
            trust_env=config.trust_env,
        )

    def __repr__(self) -> str:
        return f"PaperHttpClient({self.config.url!r})"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def request(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
        body: bytes | None = None, missing_ok: bool = False,
    ) -> bytes | None:
        """Send one request and return the answer's body.

        Parameters
        ----------
        method : str
        path : str
            Under the API prefix (``"/orders"``) or absolute (``"/health"``).
        params : mapping, optional
            Query parameters.
        body : bytes, optional
            JSON.
        missing_ok : bool
            Return None for a 404 answer instead of raising.

        Raises
        ------
        VenueError
            :class:`PaperRetryableError`, :class:`PaperFatalError` or
            :class:`PaperOutcomeUnknownError`.
        """
        url = path if path.startswith(API_PREFIX) or path == "/health" else API_PREFIX + path
        try:
            response = await self._http.request(
                method, url, params=params, content=body,
                headers=_JSON_HEADERS if body is not None else None,
            )
        except httpx.TransportError as exc:
            raise error_from_transport(method, url, exc) from exc
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise error_from_response(method, url, response)
        return response.content

    def stream_url(self, *, events: bool = True, market: bool = False,
                   symbols: Iterable[str] | None = None) -> str:
        """The WebSocket address of the stream."""
        base = "ws" + self.config.url.removeprefix("http")
        query: dict[str, str] = {"events": "1" if events else "0",
                                 "market": "1" if market else "0"}
        if symbols is not None:
            query["symbols"] = ",".join(symbols)
        return f"{base}{API_PREFIX}/stream?{urlencode(query)}"

    async def open_stream(self, *, events: bool = True, market: bool = False,
                          symbols: Iterable[str] | None = None) -> ClientConnection:
        """Open the stream; its first message is the venue's hello.

        Raises
        ------
        PaperFatalError
            UNAUTHORIZED when the venue refuses the token.
        PaperRetryableError
            When the venue cannot be reached.
        """
        url = self.stream_url(events=events, market=market, symbols=symbols)
        try:
            return await connect(
                url, additional_headers=self._auth, open_timeout=self.config.stream_open_timeout_s,
                proxy=True if self.config.trust_env else None, max_size=None,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise PaperFatalError(ReasonCode.UNAUTHORIZED,
                                      f"the venue refused the stream (HTTP {status}): "
                                      "missing or wrong bearer token") from None
            raise PaperRetryableError("UNREACHABLE",
                                      f"stream handshake failed: HTTP {status}") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise PaperRetryableError("UNREACHABLE",
                                      f"cannot open the stream: {type(exc).__name__}: {exc}"
                                      ) from None


__all__ = ["PaperHttpClient"]
