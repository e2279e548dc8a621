"""Alpaca's errors in tradeloop's error tree, decided once, here.

alpaca-py raises ``APIError`` for an answer with an error status (its text is Alpaca's JSON,
``{"code": 40310000, "message": "..."}``) and lets ``requests`` errors through for a request
that got no answer. :data:`TABLE` sorts the answers by HTTP status, Alpaca code and message
into:

* retryable (:class:`AlpacaRetryableError`): the request did not take effect: a rate limit
  (429, with the wait Alpaca asked for), or a connection that was never opened (refused,
  DNS, connect timeout). Safe to send again.
* fatal (:class:`AlpacaFatalError`): refused for good: insufficient buying power or quantity,
  the pattern day trader protection, a validation error (422), an unknown order, asset or
  endpoint. Refused keys are :class:`AlpacaAuthenticationError`, also a ``ConfigError``.
* outcome unknown (:class:`AlpacaOutcomeUnknownError`): a state change was sent and no
  usable answer came back: a read timeout, a connection dropped after sending, a 5xx, an
  unreadable answer. Look the order up by its client order id before anything else. The same
  failure of a query is retryable.

Messages carry Alpaca's code and text, never a key or a header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import requests
from alpaca.common.exceptions import APIError
from urllib3.exceptions import NameResolutionError, NewConnectionError

from tradeloop.core.errors import (
    ConfigError,
    FatalVenueError,
    OutcomeUnknownError,
    RetryableVenueError,
    VenueError,
)
from tradeloop.core.logging import redact_text

Kind = Literal["retryable", "fatal", "auth", "unknown"]

#: Alpaca's code for refusals that depend on the account (buying power, held quantity, PDT).
FORBIDDEN = 40310000
#: Alpaca's code for a ``client_order_id`` the account used before.
DUPLICATE_CLIENT_ID = 40010001
PDT_EXPLAINED = ("Alpaca's pattern day trader protection: the order would be the account's "
                 "fourth day trade in five business days while its equity at the last close "
                 "is under 25,000 USD")
_MAX_REASON = 300


class AlpacaFatalError(FatalVenueError):
    """Alpaca refused the request for good.

    Attributes
    ----------
    code : str
        Our code (``INSUFFICIENT_BUYING_POWER``, ``PDT_PROTECTION``, ``INVALID_ORDER``...).
    reason : str
        Alpaca's one-line reason.
    status : int
        The HTTP status (0 when the adapter refused before sending).
    """

    def __init__(self, code: str, reason: str, status: int = 0) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.status = status


class AlpacaAuthenticationError(AlpacaFatalError, ConfigError):
    """Alpaca refused the keys (wrong key, secret, or paper keys on the live endpoint)."""


class AlpacaRetryableError(RetryableVenueError):
    """The request did not take effect; it may be sent again.

    Attributes
    ----------
    code, reason : str
    retry_after_s : float or None
        The wait Alpaca asked for (``Retry-After``).
    """

    def __init__(self, code: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.retry_after_s = retry_after_s


class AlpacaOutcomeUnknownError(OutcomeUnknownError):
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
    """One row of :data:`TABLE`: what an answer means."""

    status: int | None  # None: any status
    code: int | None  # None: any code
    words: str  # "" or a phrase the message must contain (lower case)
    kind: Kind
    our_code: str


#: (HTTP status, Alpaca code, message phrase) -> meaning; the first matching row wins.
TABLE: tuple[Rule, ...] = (
    Rule(401, None, "", "auth", "UNAUTHORIZED"),
    Rule(403, FORBIDDEN, "pattern day trad", "fatal", "PDT_PROTECTION"),
    Rule(403, FORBIDDEN, "buying power", "fatal", "INSUFFICIENT_BUYING_POWER"),
    Rule(403, FORBIDDEN, "insufficient qty", "fatal", "INSUFFICIENT_QTY"),
    Rule(403, FORBIDDEN, "insufficient balance", "fatal", "INSUFFICIENT_QTY"),
    Rule(403, None, "wash trade", "fatal", "WASH_TRADE"),
    Rule(403, None, "", "fatal", "FORBIDDEN"),
    Rule(404, None, "", "fatal", "NOT_FOUND"),
    Rule(422, DUPLICATE_CLIENT_ID, "", "fatal", "DUPLICATE_CLIENT_ORDER_ID"),
    Rule(422, None, "already in", "fatal", "NOT_CANCELABLE"),
    Rule(422, None, "cannot be replaced", "fatal", "NOT_REPLACEABLE"),
    Rule(422, None, "", "fatal", "INVALID_ORDER"),
    Rule(400, None, "", "fatal", "BAD_REQUEST"),
    Rule(429, None, "", "retryable", "RATE_LIMITED"),
    Rule(None, None, "", "unknown", "SERVER_ERROR"),
)


def _body(text: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def rule_for(status: int, code: int | None, message: str) -> Rule:
    """The row of :data:`TABLE` an answer falls under."""
    text = message.lower()
    for rule in TABLE:
        if rule.status is not None and rule.status != status:
            continue
        if rule.code is not None and rule.code != code:
            continue
        if rule.words and rule.words not in text:
            continue
        return rule
    return TABLE[-1]


def clean(text: str) -> str:
    """``text`` on one line, without registered secrets, at most 300 characters."""
    text = " ".join(redact_text(text).split())
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "..."


def _never_sent(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | NameResolutionError
                      | ConnectionRefusedError):
            return True
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
    return False


def _retry_after(error: APIError) -> float | None:
    response = error.response
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def translate(exc: BaseException, *, request: str, state_change: bool) -> VenueError:
    """Our error for what an alpaca-py call raised.

    Parameters
    ----------
    exc : BaseException
    request : str
        What was asked (``"submit CF0001"``), for the message.
    state_change : bool
        True for a request that may change state at Alpaca (submit, cancel, replace).

    Returns
    -------
    VenueError
        :class:`AlpacaRetryableError`, :class:`AlpacaFatalError` (or
        :class:`AlpacaAuthenticationError`) or :class:`AlpacaOutcomeUnknownError`.
    """
    if isinstance(exc, VenueError):
        return exc
    if isinstance(exc, APIError):
        status = exc.status_code or 0
        body = _body(str(exc))
        code = body.get("code") if isinstance(body.get("code"), int) else None
        message = str(body.get("message") or str(exc) or f"HTTP {status}")
        rule = rule_for(status, code, message)
        reason = clean(f"{message} ({code})" if code is not None else message)
        if rule.our_code == "PDT_PROTECTION":
            reason = clean(f"{PDT_EXPLAINED}; Alpaca said: {reason}")
        kind = rule.kind
        if kind == "unknown" and not state_change:
            kind = "retryable"
        if kind == "retryable":
            return AlpacaRetryableError(rule.our_code, f"{request}: {reason}",
                                        _retry_after(exc) if status == 429 else None)
        if kind == "unknown":
            return AlpacaOutcomeUnknownError(request, f"HTTP {status}: {reason}")
        if kind == "auth":
            return AlpacaAuthenticationError(rule.our_code, f"{request}: Alpaca refused the "
                                             f"API keys ({reason}); check api_key_env, "
                                             "secret_env and paper", status)
        return AlpacaFatalError(rule.our_code, reason, status)
    if isinstance(exc, requests.exceptions.RequestException | OSError):
        reason = clean(f"{type(exc).__name__}: {exc}")
        if _never_sent(exc) or not state_change:
            return AlpacaRetryableError("UNREACHABLE" if _never_sent(exc) else "NO_ANSWER",
                                        f"{request}: {reason}")
        return AlpacaOutcomeUnknownError(request, f"no answer: {reason}")
    if isinstance(exc, ValueError | TypeError):  # the SDK refused to build the request
        return AlpacaFatalError("INVALID_ORDER", clean(f"{request}: {exc}"))
    reason = clean(f"{type(exc).__name__}: {exc}")
    if state_change:
        return AlpacaOutcomeUnknownError(request, reason)
    return AlpacaRetryableError("ERROR", f"{request}: {reason}")


__all__ = ["DUPLICATE_CLIENT_ID", "FORBIDDEN", "PDT_EXPLAINED", "TABLE",
           "AlpacaAuthenticationError", "AlpacaFatalError", "AlpacaOutcomeUnknownError",
           "AlpacaRetryableError", "Rule", "clean", "rule_for", "translate"]
