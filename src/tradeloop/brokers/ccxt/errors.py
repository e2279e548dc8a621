"""ccxt's exceptions mapped to the error tree of :mod:`tradeloop.core.errors`, in one table.

What a failure means depends on whether the request could have changed anything at the venue
(``state_change``: submit, cancel, modify):

* retryable (:class:`CcxtRetryableError`): the request did not take effect: a rate limit (HTTP
  429/418, with the wait the venue asked for), maintenance, a clock outside the venue's
  window, HTTP 503 "Service Unavailable." (Binance: not executed), or a connection that was
  never opened (refused, DNS). Safe to send again.
* fatal (:class:`CcxtFatalError`): the venue refused for good: insufficient funds, an invalid
  order, an unknown symbol or order, a bad request. Bad credentials are
  :class:`CcxtAuthenticationError`, also a ``ConfigError`` (one line, no traceback).
* outcome unknown (:class:`CcxtOutcomeUnknownError`): a state change was sent and no usable
  answer came back: a timeout, a connection dropped after sending, HTTP 503 "Unknown error"
  (Binance: execution status unknown) or any other 5xx, an unreadable answer. Look the order
  up by its client order id before anything else. The same failure of a query is retryable.

Messages carry the exchange's code and text, never a key, a signature or a query string.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Literal

import aiohttp
import ccxt

from tradeloop.core.errors import (
    ConfigError,
    FatalVenueError,
    OutcomeUnknownError,
    RetryableVenueError,
    VenueError,
)
from tradeloop.core.logging import redact_text

Kind = Literal["retryable", "fatal", "auth", "unknown", "network"]


class CcxtFatalError(FatalVenueError):
    """The exchange refused the request for good.

    Attributes
    ----------
    code : str
        Our code (``INSUFFICIENT_FUNDS``, ``INVALID_ORDER``, ``ORDER_NOT_FOUND``...).
    reason : str
        The exchange's one-line reason.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class CcxtAuthenticationError(CcxtFatalError, ConfigError):
    """The exchange refused the credentials (wrong key, secret, permissions or IP)."""


class CcxtRetryableError(RetryableVenueError):
    """The request did not take effect; it may be sent again.

    Attributes
    ----------
    code, reason : str
    retry_after_s : float or None
        The wait the exchange asked for (its ``Retry-After`` header).
    """

    def __init__(self, code: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.retry_after_s = retry_after_s


class CcxtOutcomeUnknownError(OutcomeUnknownError):
    """A state change was sent and its outcome is not known.

    Attributes
    ----------
    request : str
        What was sent (``"submit CF0001"``).
    """

    def __init__(self, request: str, reason: str) -> None:
        super().__init__(f"outcome of {request} unknown: {reason}")
        self.request = request


@dataclass(frozen=True)
class Rule:
    """One row of :data:`TABLE`: a ccxt exception class, what it means and our code."""

    error: type[Exception]
    kind: Kind
    code: str


#: ccxt exception class -> meaning; the first row whose class matches wins (subclasses first).
TABLE: tuple[Rule, ...] = (
    Rule(ccxt.RateLimitExceeded, "retryable", "RATE_LIMITED"),
    Rule(ccxt.DDoSProtection, "retryable", "RATE_LIMITED"),
    Rule(ccxt.OnMaintenance, "retryable", "MAINTENANCE"),
    Rule(ccxt.InvalidNonce, "retryable", "CLOCK"),
    Rule(ccxt.RequestTimeout, "unknown", "TIMEOUT"),
    Rule(ccxt.ExchangeNotAvailable, "network", "UNAVAILABLE"),
    Rule(ccxt.NetworkError, "network", "NETWORK"),
    Rule(ccxt.BadResponse, "unknown", "BAD_RESPONSE"),
    Rule(ccxt.AuthenticationError, "auth", "AUTHENTICATION"),
    Rule(ccxt.InsufficientFunds, "fatal", "INSUFFICIENT_FUNDS"),
    Rule(ccxt.OrderNotFound, "fatal", "ORDER_NOT_FOUND"),
    Rule(ccxt.OrderImmediatelyFillable, "fatal", "WOULD_TRIGGER_OR_TAKE"),
    Rule(ccxt.OrderNotFillable, "fatal", "NOT_FILLABLE"),
    Rule(ccxt.DuplicateOrderId, "fatal", "DUPLICATE_ORDER"),
    Rule(ccxt.InvalidOrder, "fatal", "INVALID_ORDER"),
    Rule(ccxt.BadSymbol, "fatal", "BAD_SYMBOL"),
    Rule(ccxt.MarketClosed, "fatal", "MARKET_CLOSED"),
    Rule(ccxt.BadRequest, "fatal", "BAD_REQUEST"),
    Rule(ccxt.ArgumentsRequired, "fatal", "BAD_REQUEST"),
    Rule(ccxt.NotSupported, "fatal", "NOT_SUPPORTED"),
    Rule(ccxt.OperationRejected, "fatal", "REJECTED"),
    Rule(ccxt.ExchangeError, "fatal", "EXCHANGE_ERROR"),
    Rule(ccxt.BaseError, "unknown", "ERROR"),
)

#: Binance's 503 "not executed" text; every other 5xx leaves a state change's outcome unknown.
NOT_EXECUTED = ("Service Unavailable.",)

_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.InvalidURL, socket.gaierror,
             ConnectionRefusedError)
_SENT = (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
         aiohttp.ClientResponseError, aiohttp.ServerTimeoutError, aiohttp.ClientOSError)
_QUERY = re.compile(r"(\b(?:https?|wss?)://[^\s?\"']+)\?[^\s\"']*")
_MAX_REASON = 300


def rule_for(exc: BaseException) -> Rule:
    """The row of :data:`TABLE` that ``exc`` falls under (the last row for anything else)."""
    for rule in TABLE:
        if isinstance(exc, rule.error):
            return rule
    return TABLE[-1]


def clean_message(text: str) -> str:
    """``text`` without query strings (signatures, timestamps) and registered secrets, on one
    line."""
    text = _QUERY.sub(r"\1", text)
    text = " ".join(redact_text(text).split())
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "..."


def _body(exc: BaseException) -> dict[str, object] | None:
    text = str(exc)
    start = text.find("{")
    if start < 0:
        return None
    try:
        body = json.loads(text[start:])
    except ValueError:
        return None
    if isinstance(body, dict) and ("msg" in body or "message" in body):
        return body
    return None


def reason_of(exc: BaseException) -> str:
    """The exchange's own code and text when the message carries its JSON body (``-2010
    Account has insufficient balance...``), else the cleaned message."""
    body = _body(exc)
    if body is not None:
        msg = str(body.get("msg") or body.get("message"))
        code = body.get("code")
        return clean_message(f"{code} {msg}" if code is not None else msg)
    return clean_message(str(exc)) or type(exc).__name__


def _never_sent(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _NOT_SENT):  # before _SENT: a connect error is an OSError too
            return True
        if isinstance(current, _SENT):
            return False
        current = current.__cause__ or current.__context__
    return False


def _not_executed(exc: BaseException) -> bool:
    body = _body(exc)
    if body is not None and str(body.get("msg") or body.get("message")) in NOT_EXECUTED:
        return True
    return " 404 " in str(exc)  # no such endpoint: nothing was done


def translate(exc: BaseException, *, request: str, state_change: bool,
              retry_after_s: float | None = None) -> VenueError:
    """Our error for a ccxt exception.

    Parameters
    ----------
    exc : BaseException
        What ccxt raised.
    request : str
        What was asked (``"submit CF0001"``, ``"fetch_order CF0001"``), for the message.
    state_change : bool
        True for a request that may change state at the venue (submit, cancel, modify).
    retry_after_s : float, optional
        The ``Retry-After`` the exchange sent with a rate limit.

    Returns
    -------
    VenueError
        :class:`CcxtRetryableError`, :class:`CcxtFatalError` (or
        :class:`CcxtAuthenticationError`) or :class:`CcxtOutcomeUnknownError`.
    """
    if isinstance(exc, VenueError):
        return exc
    rule = rule_for(exc)
    reason = reason_of(exc)
    kind = rule.kind
    if kind == "network":
        kind = "retryable" if _never_sent(exc) or _not_executed(exc) else "unknown"
    if kind == "unknown" and not state_change:
        kind = "retryable"
    if kind == "retryable":
        return CcxtRetryableError(rule.code, f"{request}: {reason}",
                                  retry_after_s if rule.code == "RATE_LIMITED" else None)
    if kind == "unknown":
        return CcxtOutcomeUnknownError(request, f"{rule.code}: {reason}")
    if kind == "auth":
        return CcxtAuthenticationError(rule.code, f"{request}: the exchange refused the "
                                       f"credentials: {reason}")
    return CcxtFatalError(rule.code, reason)


def retry_after_of(headers: object) -> float | None:
    """The ``Retry-After`` of a response's headers (seconds), if it has one."""
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


__all__ = [
    "TABLE",
    "CcxtAuthenticationError",
    "CcxtFatalError",
    "CcxtOutcomeUnknownError",
    "CcxtRetryableError",
    "Rule",
    "clean_message",
    "reason_of",
    "retry_after_of",
    "rule_for",
    "translate",
]
