"""Alpaca's error answers: an HTTP status and a JSON body ``{"code": <int>, "message": "..."}``
(extra fields for some of them, such as ``available`` and ``existing_qty`` when a sell asks for
more than is held), as the trading and market data APIs send them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Codes the stand-in answers with (the first three digits are the HTTP status, as at Alpaca).
UNAUTHORIZED = 40110000
FORBIDDEN = 40310000  # insufficient buying power or qty, PDT protection, wash trade...
NOT_FOUND = 40410000
DUPLICATE_CLIENT_ID = 40010001
MALFORMED = 40010000
UNPROCESSABLE = 42210000
RATE_LIMITED = 42910000
INTERNAL = 50010000

PDT_MESSAGE = "trade denied due to pattern day trading protection"


@dataclass
class AlpacaError(Exception):
    """An error answer.

    Attributes
    ----------
    status : int
        HTTP status.
    code : int
        Alpaca's code in the body.
    message : str
    extra : dict
        More fields of the body.
    headers : dict
        Response headers (``Retry-After``...).
    """

    status: int
    code: int
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {"code": self.code, "message": self.message, **self.extra}


def unauthorized() -> AlpacaError:
    """Missing or wrong ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``."""
    return AlpacaError(401, UNAUTHORIZED, "request is not authorized")


def forbidden(message: str, **extra: Any) -> AlpacaError:
    """Refused for the account's state (buying power, held quantity, PDT protection)."""
    return AlpacaError(403, FORBIDDEN, message, extra)


def not_found(what: str = "order") -> AlpacaError:
    """No such order, position or asset."""
    return AlpacaError(404, NOT_FOUND, f"{what} not found")


def unprocessable(message: str, code: int = UNPROCESSABLE) -> AlpacaError:
    """A request Alpaca validates and refuses (bad type, time in force, price...)."""
    return AlpacaError(422, code, message)


def duplicate_client_id() -> AlpacaError:
    """A ``client_order_id`` the account used before."""
    return AlpacaError(422, DUPLICATE_CLIENT_ID, "client_order_id must be unique")


def malformed(message: str) -> AlpacaError:
    """A body or parameter that cannot be read."""
    return AlpacaError(400, MALFORMED, message)


def rate_limited(retry_after: int = 1) -> AlpacaError:
    """Too many requests (Alpaca allows 200 a minute per account)."""
    return AlpacaError(429, RATE_LIMITED, "rate limit exceeded",
                       headers={"Retry-After": str(retry_after)})


def internal() -> AlpacaError:
    """A failure inside Alpaca: whether the request took effect is not said."""
    return AlpacaError(500, INTERNAL, "internal server error occurred")


__all__ = ["DUPLICATE_CLIENT_ID", "FORBIDDEN", "INTERNAL", "MALFORMED", "NOT_FOUND",
           "PDT_MESSAGE", "RATE_LIMITED", "UNAUTHORIZED", "UNPROCESSABLE", "AlpacaError",
           "duplicate_client_id", "forbidden", "internal", "malformed", "not_found",
           "rate_limited", "unauthorized", "unprocessable"]
