"""Paper venue errors, mapped to the error tree of :mod:`tradeloop.core.errors`.

* An answer with a retryable reason code (429 RATE_LIMITED, 503 REQUOTE or BUSY), a refused
  connection, a connect timeout or a full connection pool: the request did not take effect,
  :class:`PaperRetryableError`.
* Any other 4xx answer (invalid volume, insufficient funds, unknown order, bad credentials):
  :class:`PaperFatalError` with the venue's reason code.
* A timeout or a dropped connection after a request that changes state (submit, cancel,
  modify) was sent, or a 5xx answer to one: :class:`PaperOutcomeUnknownError`; look the order
  up by its client order id before anything else. The same failure of a query (``GET``) is
  retryable: a query changes nothing.
"""

from __future__ import annotations

import httpx
import msgspec

from tradeloop.brokers.paper.protocol import RETRYABLE_CODES, ErrorAnswer
from tradeloop.core.errors import (
    FatalVenueError,
    OutcomeUnknownError,
    RetryableVenueError,
    VenueError,
)
from tradeloop.model.reports import OrderStatusReport

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_EXCERPT = 200


class PaperFatalError(FatalVenueError):
    """The venue refused the request for good (retrying the same request will not help).

    Attributes
    ----------
    code : str
        A :class:`~tradeloop.brokers.paper.protocol.ReasonCode` (``INVALID_VOLUME``...).
    reason : str
        The venue's one-line reason.
    order : OrderStatusReport or None
        The order the refusal concerns, as the venue holds it (a rejected order is booked).
    """

    def __init__(self, code: str, reason: str, order: OrderStatusReport | None = None) -> None:
        super().__init__(f"paper venue: {code}: {reason}")
        self.code = code
        self.reason = reason
        self.order = order


class PaperRetryableError(RetryableVenueError):
    """The request did not take effect (rate limit, requote, busy, not connected): retry.

    Attributes
    ----------
    code : str
    reason : str
    retry_after_s : float or None
        The wait the venue asked for (its ``Retry-After`` header), when it gave one.
    """

    def __init__(self, code: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"paper venue: {code}: {reason}")
        self.code = code
        self.reason = reason
        self.retry_after_s = retry_after_s


class PaperOutcomeUnknownError(OutcomeUnknownError):
    """A state-changing request was sent but its answer never came (timeout, disconnect).

    Attributes
    ----------
    request : str
        ``"POST /v1/orders"`` and the like.
    """

    def __init__(self, request: str, reason: str) -> None:
        super().__init__(f"paper venue: outcome of {request} unknown: {reason}")
        self.request = request


def _is_safe(method: str) -> bool:
    return method.upper() in _SAFE_METHODS


def _retry_after(response_headers: httpx.Headers) -> float | None:
    value = response_headers.get("retry-after")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(method: str, path: str, response: httpx.Response) -> VenueError:
    """The error a non-2xx answer means.

    Parameters
    ----------
    method, path : str
        The request, for the message and to tell queries from state changes.
    response : httpx.Response
        An answer with a status of 400 or more (its body read).

    Returns
    -------
    VenueError
        :class:`PaperRetryableError` for 429 and the retryable reason codes (and any 5xx
        answer to a query), :class:`PaperOutcomeUnknownError` for another 5xx answer to a
        state change (a proxy's 502 included: the venue may have acted), else
        :class:`PaperFatalError`.
    """
    request = f"{method.upper()} {path}"
    status = response.status_code
    try:
        answer = msgspec.json.decode(response.content, type=ErrorAnswer)
        code, reason, order = answer.error.code, answer.error.reason, answer.order
        retryable = answer.error.retryable or code in RETRYABLE_CODES
    except msgspec.DecodeError:  # not the venue's error body (a proxy's page, say)
        excerpt = " ".join(response.text[:_EXCERPT].split())
        code, reason, order = f"HTTP_{status}", f"HTTP {status} to {request}: {excerpt}", None
        retryable = False
    if status == 429 or retryable:
        return PaperRetryableError(code, reason, _retry_after(response.headers))
    if status >= 500:
        if _is_safe(method):
            return PaperRetryableError(code, reason, _retry_after(response.headers))
        return PaperOutcomeUnknownError(request, f"HTTP {status} ({code}): {reason}")
    return PaperFatalError(code, reason, order)


def error_from_transport(method: str, path: str, exc: httpx.TransportError) -> VenueError:
    """The error a failed exchange means.

    A failure before the request left (refused connection, connect timeout, no free connection
    in the pool) is retryable; one after it was sent (read or write timeout, dropped
    connection) leaves a state change's outcome unknown, and a query retryable.
    """
    request = f"{method.upper()} {path}"
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                          | httpx.UnsupportedProtocol | httpx.ProxyError)
    if not_sent or _is_safe(method):
        return PaperRetryableError("UNREACHABLE" if not_sent else "NO_ANSWER",
                                   f"{request}: {reason}")
    return PaperOutcomeUnknownError(request, reason)


__all__ = [
    "PaperFatalError",
    "PaperOutcomeUnknownError",
    "PaperRetryableError",
    "error_from_response",
    "error_from_transport",
]
