"""A local Schwab for tests: Trader API, Market Data API, OAuth and the streamer on 127.0.0.1.

See ``README.md`` for what it implements and how to steer it.
"""

from __future__ import annotations

import httpx

from .oauth import ACCESS_LIFETIME_S, APP_KEY, APP_SECRET, CALLBACK_URL, REFRESH_LIFETIME_S
from .server import ACCOUNT_HASH, ACCOUNT_NUMBER, OPENING_CASH, RequestRecord, SchwabServer
from .streamer import CORREL_ID, CUSTOMER_ID


def approve(authorize_url: str) -> str:
    """What a person does in the browser: open the authorize URL the adapter shows, log in,
    approve, and copy the address the browser was sent to (the callback with the code)."""
    answer = httpx.get(authorize_url, follow_redirects=False, timeout=10)
    if answer.status_code != 302:
        raise AssertionError(f"the authorize URL answered {answer.status_code}: {answer.text}")
    return answer.headers["location"]


__all__ = ["ACCESS_LIFETIME_S", "ACCOUNT_HASH", "ACCOUNT_NUMBER", "APP_KEY", "APP_SECRET",
           "CALLBACK_URL", "CORREL_ID", "CUSTOMER_ID", "OPENING_CASH", "REFRESH_LIFETIME_S",
           "RequestRecord", "SchwabServer", "approve"]
