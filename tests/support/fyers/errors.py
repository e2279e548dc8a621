"""Fyers' error answers: ``{"s": "error", "code": <negative int>, "message": ...}`` with the HTTP
status of its table (400 bad request, 401 authorisation, 403 permission, 429 rate limit)."""

from __future__ import annotations

from typing import Any

#: Fyers' common codes, as its API documentation lists them.
TOKEN_EXPIRED = -8
TOKEN_INVALID = -15
TOKEN_UNAUTHENTICATED = -16
TOKEN_INVALID_OR_EXPIRED = -17
INVALID_PARAMETERS = -50
INVALID_ORDER_ID = -51
INVALID_POSITION_ID = -53
ORDER_REJECTED = -99
INVALID_SYMBOL = -300
INVALID_APP_ID = -352
RATE_LIMITED = -429

_MESSAGES = {
    TOKEN_EXPIRED: "Your token has expired. Please generate a new token",
    TOKEN_INVALID: "Could not authenticate the user: invalid token",
    TOKEN_UNAUTHENTICATED: "Could not authenticate the user token",
    TOKEN_INVALID_OR_EXPIRED: "The token is invalid or expired",
    INVALID_APP_ID: "Invalid app id",
    RATE_LIMITED: "request limit reached",
}


class FyersError(Exception):
    """An error answer.

    Parameters
    ----------
    code : int
        Fyers' negative error code.
    message : str
        What went wrong (the table's message when empty).
    status : int
        The HTTP status.
    extra : dict, optional
        More keys of the answer (the ``id`` of a rejected order).
    """

    def __init__(self, code: int, message: str = "", status: int = 400,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message or _MESSAGES.get(code, "error"))
        self.code = code
        self.message = message or _MESSAGES.get(code, "error")
        self.status = status
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"s": "error", "code": self.code, "message": self.message, **self.extra}


def auth_error(code: int) -> FyersError:
    """The answer to a request whose token or app id is refused."""
    return FyersError(code, status=403 if code == INVALID_APP_ID else 401)


def invalid(message: str) -> FyersError:
    """-50: invalid input, the message naming it."""
    return FyersError(INVALID_PARAMETERS, message)


def rate_limited() -> FyersError:
    """-429 with HTTP 429."""
    return FyersError(RATE_LIMITED, status=429)


__all__ = ["INVALID_APP_ID", "INVALID_ORDER_ID", "INVALID_PARAMETERS", "INVALID_POSITION_ID",
           "INVALID_SYMBOL", "ORDER_REJECTED", "RATE_LIMITED", "TOKEN_EXPIRED",
           "TOKEN_INVALID", "TOKEN_INVALID_OR_EXPIRED", "TOKEN_UNAUTHENTICATED", "FyersError",
           "auth_error", "invalid", "rate_limited"]
