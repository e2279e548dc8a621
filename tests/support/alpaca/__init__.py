"""A local Alpaca (trading API v2, market data, and their websockets) that the real alpaca-py
talks to, for tests. ``with AlpacaServer() as server:`` starts it on a free 127.0.0.1 port; see
README.md for the endpoints, the control methods and what is simplified."""

from __future__ import annotations

from .market import DEFAULT_ASSETS, AssetSpec
from .server import (
    API_KEY,
    API_SECRET,
    CRYPTO,
    FAILURE_KINDS,
    STOCKS,
    TRADING,
    AlpacaServer,
    RequestRecord,
)

__all__ = ["API_KEY", "API_SECRET", "CRYPTO", "DEFAULT_ASSETS", "FAILURE_KINDS", "STOCKS",
           "TRADING", "AlpacaServer", "AssetSpec", "RequestRecord"]
