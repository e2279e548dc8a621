"""The stand-in's endpoints: aggregates, trades and ticker details, with Polygon's paging.

Both lists page with ``next_url``: the full URL of the next page, whose ``cursor`` carries the
query (so the client sends nothing else but its key, which ``next_url`` never holds).
Aggregates move the ``from`` part of the path to the next window, as Polygon does.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from .market import (
    MS_PER_DAY,
    MS_PER_MINUTE,
    NS_PER_MS,
    Listing,
    Market,
    base_bars,
    bucket_starts,
    trades,
)

MAX_LIMIT = 50_000
_AGGS = re.compile(r"^/v2/aggs/ticker/(?P<ticker>[^/]+)/range/(?P<multiplier>[^/]+)/"
                   r"(?P<timespan>[^/]+)/(?P<start>[^/]+)/(?P<end>[^/]+)$")
_TRADES = re.compile(r"^/v3/trades/(?P<ticker>[^/]+)$")
_DETAILS = re.compile(r"^/v3/reference/tickers/(?P<ticker>[^/]+)$")
_INTRADAY_MS = {"second": 1000, "minute": MS_PER_MINUTE, "hour": 3_600_000}
_BASE_STEP_MS = {"second": 1000, "minute": MS_PER_MINUTE, "hour": MS_PER_MINUTE,
                 "day": 30 * MS_PER_MINUTE, "week": 30 * MS_PER_MINUTE}
NOT_ENTITLED = ("You are not entitled to this data. Please upgrade your plan at "
                "https://polygon.io/pricing")


@dataclass
class Answer:
    """An HTTP answer: status, JSON body, headers; ``drop`` closes the connection instead and
    ``raw`` sends that text instead of JSON."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    raw: str | None = None


class PolygonError(Exception):
    """An error answer in Polygon's shape: ``{"status", "request_id", "error"|"message"}``."""

    def __init__(self, status: int, kind: str, *, error: str | None = None,
                 message: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(error or message or kind)
        self.status, self.kind = status, kind
        self.error, self.message = error, message
        self.headers = headers or {}

    def answer(self, request_id: str) -> Answer:
        """The answer carrying this error."""
        body: dict[str, Any] = {"status": self.kind, "request_id": request_id}
        if self.error is not None:
            body["error"] = self.error
        if self.message is not None:
            body["message"] = self.message
        return Answer(self.status, body, dict(self.headers))


@dataclass(frozen=True)
class RouteContext:
    """What a handler needs beyond the query: the market, the key's entitlements, the base URL
    for ``next_url``, the clock, the page size and the request id."""

    market: Market
    entitled: frozenset[str]
    base_url: str
    now_ms: int
    page_size: int | None
    request_id: str


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque cursor (URL-safe base64 of JSON)."""
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    """The state behind a cursor; a 400 answer for a malformed one."""
    try:
        state = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        raise PolygonError(400, "ERROR", error="invalid cursor") from None
    if not isinstance(state, dict):
        raise PolygonError(400, "ERROR", error="invalid cursor")
    return state


def route_request(path: str, params: dict[str, str], context: RouteContext) -> Answer:
    """Answer one authenticated GET."""
    for pattern, handler in ((_AGGS, aggregates), (_TRADES, trade_list),
                             (_DETAILS, ticker_details)):
        match = pattern.match(path)
        if match is not None:
            return handler(match.groupdict(), params, context)
    raise PolygonError(404, "NOT_FOUND", message="Not found")


def _listing(context: RouteContext, ticker: str) -> Listing | None:
    listing = context.market.listing(ticker)
    if listing is not None and listing.market not in context.entitled:
        raise PolygonError(403, "NOT_AUTHORIZED", message=NOT_ENTITLED)
    return listing


def _int(value: str, name: str, low: int = 1, high: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise PolygonError(400, "ERROR", error=f"{name} must be an integer") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise PolygonError(400, "ERROR", error=f"{name} must be {bound}")
    return number


def _moment_ms(text: str, name: str, end: bool) -> int:
    if text.isdigit():
        return int(text)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PolygonError(400, "ERROR", error=f"Could not parse the time parameter: "
                                               f"'{name}'. Use YYYY-MM-DD or a Unix MS "
                                               "Timestamp") from None
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return start + MS_PER_DAY - 1 if end else start


def aggregates(parts: dict[str, str], params: dict[str, str], context: RouteContext) -> Answer:
    """``/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}``."""
    query = dict(params)
    if "cursor" in params:
        query.update({k: str(v) for k, v in decode_cursor(params["cursor"]).items()})
    ticker = parts["ticker"]
    multiplier = _int(parts["multiplier"], "multiplier")
    timespan = parts["timespan"]
    if timespan not in ("second", "minute", "hour", "day", "week", "month", "quarter", "year"):
        raise PolygonError(400, "ERROR", error=f"invalid timespan '{timespan}'")
    if timespan not in _BASE_STEP_MS:
        raise PolygonError(400, "ERROR", error=f"the stand-in does not serve {timespan} bars")
    start = _moment_ms(parts["start"], "from", end=False)
    end = _moment_ms(parts["end"], "to", end=True)
    adjusted = query.get("adjusted", "true").lower() != "false"
    sort = query.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise PolygonError(400, "ERROR", error="sort must be 'asc' or 'desc'")
    limit = _int(query.get("limit", "5000"), "limit", 1, MAX_LIMIT)
    body: dict[str, Any] = {"ticker": ticker, "queryCount": 0, "resultsCount": 0,
                            "adjusted": adjusted, "status": "OK",
                            "request_id": context.request_id}
    listing = _listing(context, ticker)
    if listing is None or end < start:
        return Answer(200, body)
    rows, base_count = _aggregate(context, listing, multiplier, timespan, start, end, adjusted)
    if sort == "desc":
        rows.reverse()
    size = min(limit, context.page_size or limit)
    page, rest = rows[:size], rows[size:]
    body.update(queryCount=base_count, resultsCount=len(page), count=len(page))
    if page:
        body["results"] = page
    if rest:
        cursor = encode_cursor({"limit": limit, "sort": sort, "adjusted": str(adjusted).lower()})
        lo, hi = (rest[0]["t"], end) if sort == "asc" else (start, rest[0]["t"])
        body["next_url"] = (f"{context.base_url}/v2/aggs/ticker/{ticker}/range/{multiplier}/"
                            f"{timespan}/{lo}/{hi}?cursor={cursor}")
    return Answer(200, body)


def _aggregate(context: RouteContext, listing: Listing, multiplier: int, timespan: str,
               start: int, end: int, adjusted: bool) -> tuple[list[dict[str, Any]], int]:
    if timespan in _INTRADAY_MS:
        size = _INTRADAY_MS[timespan] * multiplier
        upto = end // size * size + size
    else:
        upto = end + (8 * multiplier if timespan == "week" else multiplier + 1) * MS_PER_DAY
    upto = min(upto, context.now_ms + 1)
    base = base_bars(context.market, listing, start, upto, _BASE_STEP_MS[timespan], adjusted)
    if base.t.shape[0] == 0:
        return [], 0
    buckets = bucket_starts(listing, base.t, multiplier, timespan)
    labels, first = np.unique(buckets, return_index=True)
    last = np.r_[first[1:], buckets.shape[0]] - 1
    volume = np.add.reduceat(base.v, first)
    typical = (base.h + base.low + base.c) / 3
    weighted = np.add.reduceat(typical * base.v, first) / np.where(volume > 0, volume, 1)
    results = []
    for k, label in enumerate(labels.tolist()):
        if label < start or label > end:
            continue
        lo, hi = int(first[k]), int(last[k]) + 1
        row = {"v": float(volume[k]), "vw": round(float(weighted[k]), 4),
               "o": float(base.o[lo]), "c": float(base.c[hi - 1]),
               "h": float(base.h[lo:hi].max()), "l": float(base.low[lo:hi].min()),
               "t": int(label), "n": int(base.n[lo:hi].sum())}
        row.update(context.market.overrides.get((listing.ticker, int(label)), {}))
        results.append(row)
    return results, int(base.t.shape[0])


def _moment_ns(text: str, name: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PolygonError(400, "ERROR", error=f"invalid {name}: use a date or a "
                                               "nanosecond timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _trade_bounds(query: dict[str, str]) -> tuple[int, int]:
    low, high = 0, 2**62
    if "timestamp" in query:
        exact = _moment_ns(query["timestamp"], "timestamp")
        low, high = exact, exact + 1
    for name, shift, is_low in (("timestamp.gte", 0, True), ("timestamp.gt", 1, True),
                                ("timestamp.lt", 0, False), ("timestamp.lte", 1, False)):
        if name in query:
            value = _moment_ns(query[name], name) + shift
            low, high = (max(low, value), high) if is_low else (low, min(high, value))
    return low, high


def trade_list(parts: dict[str, str], params: dict[str, str], context: RouteContext) -> Answer:
    """``/v3/trades/{ticker}``: ``timestamp[.gte|.gt|.lte|.lt]``, ``order``, ``limit``,
    ``sort=timestamp``, ``cursor``."""
    query = dict(params)
    state: dict[str, Any] = {}
    if "cursor" in params:
        state = decode_cursor(params["cursor"])
        query.update({k: str(v) for k, v in state.get("query", {}).items()})
    ticker = parts["ticker"]
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise PolygonError(400, "ERROR", error="order must be 'asc' or 'desc'")
    if query.get("sort", "timestamp") != "timestamp":
        raise PolygonError(400, "ERROR", error="the stand-in sorts trades by timestamp only")
    limit = _int(query.get("limit", "1000"), "limit", 1, MAX_LIMIT)
    body: dict[str, Any] = {"results": [], "status": "OK", "request_id": context.request_id}
    listing = _listing(context, ticker)
    if listing is None:
        return Answer(200, body)
    if listing.market == "fx":
        raise PolygonError(400, "ERROR", error="trades are not available for forex tickers")
    low, high = _trade_bounds(query)
    high = min(high, (context.now_ms + 1) * NS_PER_MS)
    size = min(limit, context.page_size or limit)
    rows = _trade_page(context, listing, low, high, order, state, size + 1)
    page = rows[:size]
    body["results"] = page
    if len(rows) > size:
        key = "sip_timestamp" if listing.market != "crypto" else "participant_timestamp"
        edge = page[-1][key]
        same = sum(1 for row in page if row[key] == edge)
        if state.get("edge") == edge:
            same += int(state.get("skip", 0))
        cursor = encode_cursor({"query": {k: v for k, v in query.items() if k not in (
            "cursor", "apiKey")}, "edge": edge, "skip": same})
        body["next_url"] = f"{context.base_url}/v3/trades/{ticker}?cursor={cursor}"
    return Answer(200, body)


def _trade_page(context: RouteContext, listing: Listing, low: int, high: int, order: str,
                state: dict[str, Any], wanted: int) -> list[dict[str, Any]]:
    # Resume at the cursor's edge timestamp, skipping the trades at it already sent; grow the
    # generated window until it holds enough trades or reaches the end of the range.
    edge = state.get("edge")
    skip = int(state.get("skip", 0))
    if edge is not None:
        low, high = (int(edge), high) if order == "asc" else (low, int(edge) + 1)
    window = 3_600 * 1_000_000_000
    while True:
        lo, hi = (low, min(high, low + window)) if order == "asc" else (
            max(low, high - window), high)
        found = trades(context.market, listing, lo, hi)
        stamps = found.sip if listing.market != "crypto" else found.participant
        index = list(range(stamps.shape[0]))
        if order == "desc":
            index.reverse()
        if edge is not None:
            at_edge = [i for i in index if int(stamps[i]) == int(edge)]
            drop = set(at_edge[:skip])
            index = [i for i in index if i not in drop]
        if len(index) >= wanted or (lo <= low and hi >= high):
            break
        window *= 4
    return [_trade_row(listing, found, i) for i in index[:wanted]]


def _trade_row(listing: Listing, found: Any, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "conditions": [1] if listing.market == "crypto" else [12, 37][: 1 + int(i % 2)],
        "exchange": 1 if listing.market == "crypto" else 4 + int(found.sequence[i] % 8),
        "id": str(int(found.sequence[i])),
        "participant_timestamp": int(found.participant[i]),
        "price": float(found.price[i]),
        "size": float(found.size[i]),
    }
    if listing.market != "crypto":
        row.update(sip_timestamp=int(found.sip[i]), sequence_number=int(found.sequence[i]),
                   tape=1 if listing.market == "stocks" else None)
        if row["tape"] is None:
            del row["tape"]
    return row


def ticker_details(parts: dict[str, str], params: dict[str, str],
                   context: RouteContext) -> Answer:
    """``/v3/reference/tickers/{ticker}``: 404 NOT_FOUND for a ticker Polygon does not know."""
    listing = context.market.listing(parts["ticker"])
    if listing is None:
        raise PolygonError(404, "NOT_FOUND", message="Ticker not found.")
    locale = "global" if listing.market in ("fx", "crypto") else "us"
    return Answer(200, {"results": {"ticker": listing.ticker, "name": listing.name,
                                    "market": listing.market, "locale": locale,
                                    "active": True, "currency_name": "usd"},
                        "status": "OK", "request_id": context.request_id})


__all__ = ["NOT_ENTITLED", "Answer", "PolygonError", "RouteContext", "decode_cursor",
           "encode_cursor", "route_request"]
