"""Fyers' answers in tradeloop's error tree, decided once, here.

Fyers answers an error as ``{"s": "error", "code": <negative int>, "message": ...}`` with an
HTTP status (400 bad request, 401 authorisation, 403 permission, 429 rate limit, 500). The
table :data:`ERROR_CODES` sorts its codes into

* ``TOKEN``: the access token expired or is invalid (-8, -15, -16, -17): fatal, with one
  message telling the user to log in again; nothing was done;
* ``RETRYABLE``: the request did not take effect (-429 rate limit);
* ``FATAL``: refused for good (invalid input, order rejected, unknown symbol or order id).

A success answer with code 201 to an order request means Fyers sent it on and heard nothing
back: the order may exist (``OUTCOME_UNKNOWN``). So does a transport failure after the request
left (a read timeout, a dropped connection) on a call that changes state; the same failure on
a query, or a connection refused before anything was sent, is retryable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import httpx

from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError

#: What the user must run when the token is gone.
LOGIN_COMMAND = "tradeloop broker login fyers --settings node.toml"
IN_TRANSIT = 201


class ErrorClass(StrEnum):
    """What a Fyers error code means for the caller."""

    TOKEN = "token"
    RETRYABLE = "retryable"
    FATAL = "fatal"
    OUTCOME_UNKNOWN = "outcome_unknown"


_T, _R, _F = ErrorClass.TOKEN, ErrorClass.RETRYABLE, ErrorClass.FATAL

#: Fyers error code -> (class, what it means).
ERROR_CODES: dict[int, tuple[ErrorClass, str]] = {
    -8: (_T, "the access token has expired"),
    -15: (_T, "the access token is invalid"),
    -16: (_T, "the access token could not be authenticated"),
    -17: (_T, "the access token is invalid or expired"),
    -50: (_F, "invalid input"),
    -51: (_F, "invalid order id"),
    -53: (_F, "invalid position id"),
    -99: (_F, "order rejected"),
    -300: (_F, "invalid symbol"),
    -352: (_F, "invalid app id (or no position to exit)"),
    -429: (_R, "request limit reached"),
    400: (_F, "invalid multi-leg order"),
}


class FyersRetryableError(RetryableVenueError):
    """The request did not take effect (rate limit, Fyers unreachable): send it again later."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class FyersFatalError(FatalVenueError):
    """Refused for good (invalid input, rejected order, unknown symbol)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class FyersTokenError(FyersFatalError):
    """The access token is missing, expired or refused: a person must log in again."""


class FyersOutcomeUnknownError(OutcomeUnknownError):
    """The order request may have reached Fyers: look the order up before anything else."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


FyersError = FyersRetryableError | FyersFatalError | FyersOutcomeUnknownError


def classify(code: int, http_status: int = 400) -> ErrorClass:
    """The class of a Fyers error code (unknown codes: by the HTTP status)."""
    found = ERROR_CODES.get(code)
    if found is not None:
        return found[0]
    if http_status == 401:
        return ErrorClass.TOKEN
    if http_status == 429 or http_status >= 500:
        return ErrorClass.RETRYABLE
    return ErrorClass.FATAL


def token_message(code: int, reason: str = "") -> str:
    """The one message an unusable token produces."""
    meaning = ERROR_CODES.get(code, (None, "the access token was refused"))[1]
    detail = f" (code {code}: {meaning})" if code else f" ({reason})" if reason else ""
    return (f"Fyers needs a new login{detail}: run `{LOGIN_COMMAND}` (with your node's file), "
            "then start the node again or let it pick the new token up")


def error_for(body: Any, http_status: int, what: str, *, state_change: bool = False
              ) -> FyersError:
    """The exception of an error answer to ``what`` (``"submit SBIN-1"``)."""
    payload = body if isinstance(body, dict) else {}
    raw_code = payload.get("code")
    code = int(raw_code) if isinstance(raw_code, int | float) else 0
    message = str(payload.get("message") or "").strip() or f"HTTP {http_status}"
    kind = classify(code, http_status)
    if kind is ErrorClass.TOKEN:
        return FyersTokenError(token_message(code), code)
    meaning = ERROR_CODES.get(code, (None, ""))[1]
    text = f"Fyers {what}: {message}" + (f" (code {code}: {meaning})" if code else "")
    if kind is ErrorClass.RETRYABLE:
        if state_change and http_status >= 500 and http_status != 503:
            return FyersOutcomeUnknownError(text, code)
        return FyersRetryableError(text, code)
    return FyersFatalError(text, code)


def in_transit(what: str) -> FyersOutcomeUnknownError:
    """Code 201: Fyers passed the request on and has no answer yet."""
    return FyersOutcomeUnknownError(f"Fyers {what}: in transit without an acknowledgement "
                                    "(code 201): the order book tells what happened",
                                    IN_TRANSIT)


def transport_error(exc: httpx.HTTPError, what: str, *, state_change: bool) -> FyersError:
    """The exception of a request that got no answer."""
    text = f"Fyers {what}: {type(exc).__name__}: {exc}".rstrip(": ")
    sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if state_change and sent:
        return FyersOutcomeUnknownError(text)
    return FyersRetryableError(text)


__all__ = ["ERROR_CODES", "IN_TRANSIT", "LOGIN_COMMAND", "ErrorClass", "FyersError",
           "FyersFatalError", "FyersOutcomeUnknownError", "FyersRetryableError",
           "FyersTokenError", "classify", "error_for", "in_transit", "token_message",
           "transport_error"]
