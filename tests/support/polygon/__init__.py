"""A local Polygon.io REST API for tests (see README.md).

``with PolygonServer() as server:`` serves aggregates, trades and ticker details on a free
127.0.0.1 port; :data:`API_KEY` is the key it accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .market import DEFAULT_LISTINGS, NYSE_HOLIDAYS, Listing, Market, Split
from .routes import NOT_ENTITLED, decode_cursor, encode_cursor
from .server import ALL_MARKETS, API_KEY, FAILURE_KINDS, PolygonServer, RequestRecord


def local_settings(server: PolygonServer, **overrides: Any) -> dict[str, Any]:
    """Settings of tradeloop's Polygon source pointed at ``server``, with no request limit and
    quick retries unless ``overrides`` say otherwise (the key comes from
    ``POLYGON_API_KEY``)."""
    settings: dict[str, Any] = {"base_url": server.base_url, "requests_per_minute": 0,
                                "backoff_initial_s": 0.01, "backoff_max_s": 0.05}
    settings.update(overrides)
    return settings


def utc_ns(text: str) -> int:
    """UTC nanoseconds of an ISO date or time (``"2024-04-01"``, ``"2024-04-01T13:30"``)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000

__all__ = [
    "ALL_MARKETS",
    "API_KEY",
    "DEFAULT_LISTINGS",
    "FAILURE_KINDS",
    "NOT_ENTITLED",
    "NYSE_HOLIDAYS",
    "Listing",
    "Market",
    "PolygonServer",
    "RequestRecord",
    "Split",
    "decode_cursor",
    "encode_cursor",
    "local_settings",
    "utc_ns",
]
