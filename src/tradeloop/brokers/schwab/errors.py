"""Schwab's failures mapped to the error tree of :mod:`tradeloop.core.errors`, in one table.

What an answer means depends on whether the request could have changed anything at Schwab
(``state_change``: placing, replacing or cancelling an order):

* retryable (:class:`SchwabRetryableError`): the request did not take effect: HTTP 429 (Schwab
  allows 120 order requests a minute), or a connection that was never opened. Safe to send
  again.
* fatal (:class:`SchwabFatalError`): Schwab refused for good: a validation error (400: buying
  power, an instruction that does not fit the position, a bad price), a forbidden account
  (403), an unknown order (404).
* outcome unknown (:class:`SchwabOutcomeUnknownError`): a state change was sent and no usable
  answer came back: a timeout, a connection lost after sending, any 5xx (a gateway timeout
  may come after the order was booked), a 201 without the new order's id. The order is looked
  up (see :mod:`.execution`) before anything else. The same failure of a query is retryable.

HTTP 401 is not in the table: the client renews the access token once and sends again (a 401
means the request was refused before it was looked at, so nothing was placed). A login that
cannot be renewed is :class:`SchwabLoginError`: fatal and a ``ConfigError`` (one line telling
the user to log in again).

Messages carry Schwab's message and errors, never a token, a code or the account hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from tradeloop.core.errors import (
    ConfigError,
    FatalVenueError,
    OutcomeUnknownError,
    RetryableVenueError,
    VenueError,
)
from tradeloop.core.logging import redact_text

Kind = Literal["retryable", "fatal", "unknown"]
LOGIN_COMMAND = "tradeloop broker login schwab --settings <your node.toml>"
_MAX_REASON = 300


class SchwabFatalError(FatalVenueError):
    """Schwab refused the request for good.

    Attributes
    ----------
    code : str
        Our code (``REFUSED``, ``FORBIDDEN``, ``NOT_FOUND``, ``NOT_SUPPORTED``...).
    reason : str
        Schwab's one-line reason.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class SchwabLoginError(SchwabFatalError, ConfigError):
    """The saved Schwab login cannot be used (none, expired, revoked, unreadable): the user
    must log in again. Fatal, and shown as one line.

    Attributes
    ----------
    expired_on : datetime or None
        When the refresh token ran out, when known.
    """

    def __init__(self, reason: str, expired_on: datetime | None = None) -> None:
        super().__init__("LOGIN", reason)
        self.expired_on = expired_on

    def __str__(self) -> str:
        return self.reason

    @classmethod
    def expired(cls, expired_on: datetime | None, why: str = "") -> SchwabLoginError:
        """The one message for a login that ran out or was refused."""
        when = f" on {expired_on.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if expired_on else ""
        also = f" ({why})" if why else ""
        return cls(f"Schwab login expired{when}{also}: run `{LOGIN_COMMAND}` to log in again",
                   expired_on)


class SchwabRetryableError(RetryableVenueError):
    """The request did not take effect; it may be sent again.

    Attributes
    ----------
    code, reason : str
    retry_after_s : float or None
        The wait Schwab asked for (``Retry-After``).
    """

    def __init__(self, code: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.retry_after_s = retry_after_s


class SchwabOutcomeUnknownError(OutcomeUnknownError):
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
    """One row of :data:`TABLE`: an HTTP status (0: any other), what it means, our code."""

    status: int
    kind: Kind
    code: str


#: HTTP status -> meaning for state changes; queries retry what is "unknown" here.
TABLE: tuple[Rule, ...] = (
    Rule(400, "fatal", "REFUSED"),
    Rule(403, "fatal", "FORBIDDEN"),
    Rule(404, "fatal", "NOT_FOUND"),
    Rule(405, "fatal", "NOT_ALLOWED"),
    Rule(415, "fatal", "BAD_REQUEST"),
    Rule(422, "fatal", "REFUSED"),
    Rule(429, "retryable", "RATE_LIMITED"),
    Rule(500, "unknown", "SERVER_ERROR"),
    Rule(502, "unknown", "BAD_GATEWAY"),
    Rule(503, "unknown", "UNAVAILABLE"),
    Rule(504, "unknown", "GATEWAY_TIMEOUT"),
    Rule(0, "unknown", "HTTP_ERROR"),
)

#: Transport failures before anything was sent: always safe to retry.
NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout,
                                         httpx.PoolTimeout, httpx.UnsupportedProtocol)


def rule_for(status: int) -> Rule:
    """The row of :data:`TABLE` for an HTTP status (4xx not listed: fatal)."""
    for rule in TABLE:
        if rule.status == status:
            return rule
    if 400 <= status < 500:
        return Rule(status, "fatal", "REFUSED")
    return TABLE[-1]


def clean(text: str) -> str:
    """``text`` with registered secrets masked, on one line, not too long."""
    text = " ".join(redact_text(text).split())
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "..."


def reason_of(body: Any, status: int) -> str:
    """Schwab's reason from an error body (Trader ``message``/``errors``, Market Data
    ``errors[].detail``, OAuth ``error``/``error_description``), else the status."""
    if isinstance(body, dict):
        if "message" in body:
            errors = [str(e) for e in body.get("errors") or [] if str(e) != body["message"]]
            return clean("; ".join([str(body["message"]), *errors]))
        if isinstance(body.get("errors"), list):
            details = [str(e.get("detail") or e.get("title") or e) if isinstance(e, dict)
                       else str(e) for e in body["errors"]]
            return clean("; ".join(details)) or f"HTTP {status}"
        if "error" in body:
            described = body.get("error_description")
            return clean(f"{body['error']}: {described}" if described else str(body["error"]))
    return f"HTTP {status}"


def body_of(response: httpx.Response) -> Any:
    """A response's JSON body, or its text when it is not JSON."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text


def retry_after_of(response: httpx.Response) -> float | None:
    """The ``Retry-After`` of a response, in seconds, when it has one."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def from_response(response: httpx.Response, *, request: str, state_change: bool) -> VenueError:
    """Our error for an error answer (status 400 and up, 401 excepted).

    Parameters
    ----------
    response : httpx.Response
    request : str
        What was asked (``"submit CF0001"``), for the message.
    state_change : bool
        True for a request that may change state at Schwab.
    """
    rule = rule_for(response.status_code)
    reason = reason_of(body_of(response), response.status_code)
    kind = rule.kind
    if kind == "unknown" and not state_change:
        kind = "retryable"
    if kind == "retryable":
        return SchwabRetryableError(rule.code, f"{request}: {reason}",
                                    retry_after_of(response))
    if kind == "unknown":
        return SchwabOutcomeUnknownError(request, f"HTTP {response.status_code} {reason}")
    return SchwabFatalError(rule.code, reason)


def from_transport(exc: Exception, *, request: str, state_change: bool) -> VenueError:
    """Our error for a transport failure (httpx's exceptions)."""
    what = clean(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__
    if isinstance(exc, NOT_SENT) or not state_change:
        return SchwabRetryableError("NETWORK", f"{request}: {what}")
    return SchwabOutcomeUnknownError(request, what)


__all__ = [
    "LOGIN_COMMAND",
    "NOT_SENT",
    "TABLE",
    "Rule",
    "SchwabFatalError",
    "SchwabLoginError",
    "SchwabOutcomeUnknownError",
    "SchwabRetryableError",
    "body_of",
    "clean",
    "from_response",
    "from_transport",
    "reason_of",
    "retry_after_of",
    "rule_for",
]
