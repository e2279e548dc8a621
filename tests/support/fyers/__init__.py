"""A local Fyers (API v3) for tests: REST, the symbol master, the order socket and the binary
data socket on one 127.0.0.1 port, from Fyers' published API documentation.

``with FyersServer() as server:`` starts it; :func:`login` walks the daily login (auth code,
``validate-authcode``) the way a person and the adapter's :func:`interactive_login` do. See
README.md for what is simplified.
"""

from __future__ import annotations

import httpx

from .errors import FyersError
from .hsm import FIELDS as HSM_FIELDS
from .server import FAILURE_KINDS, ORDER_PATH, FyersServer, RequestRecord
from .symbols import DEFAULT_SYMBOLS, SymbolSpec
from .tokens import APP_ID, FY_ID, PIN, REDIRECT_URI, SECRET_KEY, app_id_hash, jwt_payload

__all__ = [
    "APP_ID",
    "DEFAULT_SYMBOLS",
    "FAILURE_KINDS",
    "FY_ID",
    "HSM_FIELDS",
    "ORDER_PATH",
    "PIN",
    "REDIRECT_URI",
    "SECRET_KEY",
    "FyersError",
    "FyersServer",
    "RequestRecord",
    "SymbolSpec",
    "app_id_hash",
    "follow_login",
    "jwt_payload",
]


def follow_login(url: str) -> str:
    """What a person pastes back after logging in at ``url``: the address the login page
    redirects to (with ``auth_code`` and ``state``)."""
    answer = httpx.get(url, follow_redirects=False, timeout=5.0)
    location = answer.headers.get("location")
    if answer.status_code != 302 or not location:
        raise AssertionError(f"the login page did not redirect: {answer.status_code} "
                             f"{answer.text}")
    return str(location)
