"""The error answers of the local Schwab, in the three shapes Schwab's APIs use.

* Trader API (``/trader/v1``): ``{"message": "...", "errors": ["..."]}`` with the HTTP status.
* Market Data API (``/marketdata/v1``): ``{"errors": [{"id", "status", "title", "detail"}]}``.
* OAuth (``/v1/oauth``): ``{"error": "...", "error_description": "..."}``; an expired or revoked
  refresh token answers 400 ``unsupported_token_type`` whose description wraps the inner
  ``refresh_token_authentication_error``, as Schwab does.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

TRADER, MARKET_DATA, OAUTH = "trader", "marketdata", "oauth"


@dataclass
class SchwabError(Exception):
    """An error answer.

    Attributes
    ----------
    status : int
        The HTTP status.
    message : str
        The one-line message (Trader ``message``, Market Data ``detail``, OAuth ``error``).
    details : list of str
        Trader ``errors`` entries.
    description : str
        OAuth ``error_description``.
    headers : dict of str to str
    """

    status: int
    message: str
    details: list[str] = field(default_factory=list)
    description: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, api: str) -> dict[str, Any]:
        """The JSON body in the shape of ``api`` (:data:`TRADER`, :data:`MARKET_DATA` or
        :data:`OAUTH`)."""
        if api == OAUTH:
            return {"error": self.message, "error_description": self.description}
        if api == MARKET_DATA:
            return {"errors": [{"id": str(uuid.uuid4()), "status": str(self.status),
                                "title": _TITLES.get(self.status, "Error"),
                                "detail": self.message}]}
        return {"message": self.message, "errors": list(self.details) or [self.message]}


_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def bad_request(*problems: str) -> SchwabError:
    """HTTP 400: the request was refused as it is (validation)."""
    return SchwabError(400, "A validation error occurred while processing the request.",
                       list(problems))


def insufficient_funds() -> SchwabError:
    """HTTP 400: the order would exceed the account's buying power."""
    return SchwabError(400, "The order was refused.",
                       ["Your buying power is not sufficient for this order."])


def unauthorized() -> SchwabError:
    """HTTP 401: no valid access token (missing, unknown or expired)."""
    return SchwabError(401, "Client not authorized",
                       ["The access token is invalid or has expired."])


def forbidden() -> SchwabError:
    """HTTP 403: the token does not grant this account."""
    return SchwabError(403, "Forbidden", ["The caller may not act on this account."])


def not_found(what: str = "The requested resource") -> SchwabError:
    """HTTP 404."""
    return SchwabError(404, f"{what} was not found.")


def rate_limited(retry_after: int | None) -> SchwabError:
    """HTTP 429: too many requests (Schwab allows 120 order requests a minute)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return SchwabError(429, "Too many requests: the app's request limit was reached.",
                       headers=headers)


def unavailable() -> SchwabError:
    """HTTP 503 before anything was done."""
    return SchwabError(503, "Service unavailable. Please try again later.")


def gateway_timeout() -> SchwabError:
    """HTTP 504: the gateway gave up waiting; whether the request took effect is unknown."""
    return SchwabError(504, "Gateway timeout.")


def oauth_error(status: int, error: str, description: str) -> SchwabError:
    """An OAuth error answer."""
    return SchwabError(status, error, description=description)


def refresh_refused(digest: str) -> SchwabError:
    """HTTP 400 for an expired, revoked or unknown refresh token, Schwab's nested shape."""
    inner = json.dumps({"error_description": f"Exception while authenticating refresh token "
                                             f"[tokenDigest={digest}]",
                        "error": "refresh_token_authentication_error"})
    return SchwabError(400, "unsupported_token_type",
                       description=f"400 Bad Request: {json.dumps(inner)}")


__all__ = ["MARKET_DATA", "OAUTH", "TRADER", "SchwabError", "bad_request", "forbidden",
           "gateway_timeout", "insufficient_funds", "not_found", "oauth_error", "rate_limited",
           "refresh_refused", "unauthorized", "unavailable"]
