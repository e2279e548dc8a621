"""A local Alpaca (trading API v2, market data v2 and v1beta3, and their websockets) on
127.0.0.1, for tests.

The real ``alpaca-py`` talks to it: ``TradingClient(url_override=server.base_url)``,
``TradingStream(url_override=server.trading_stream_url)``, the historical data clients with
``url_override=server.base_url`` and the data streams with
``url_override=server.data_stream_url(...)``. Every HTTP request is checked for the
``APCA-API-KEY-ID`` and ``APCA-API-SECRET-KEY`` headers (401 otherwise), answered from the
model (:mod:`.trading`, :mod:`.account`, :mod:`.market`) in Alpaca's shapes, and logged. Tests
steer it through the control methods: prices, partial fills, the session, the account's PDT
state, injected failures, stream outages and a full outage (stop/start on the same port).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from support.local_server import LocalServer, LocalService

from .account import Account
from .data_api import MAX_LIMIT, DataApi
from .errors import (
    AlpacaError,
    forbidden,
    internal,
    malformed,
    not_found,
    rate_limited,
    unauthorized,
)
from .market import DEFAULT_ASSETS, AssetSpec, Market
from .orders_api import TradingApi
from .streams import CRYPTO, STOCKS, TRADING, StreamHub
from .trading import Fill, Order, Venue

logger = logging.getLogger(__name__)

API_KEY = "PKTLSTANDIN000000001"
API_SECRET = "tlstandinsecret0000000000000000000000001"
FAILURE_KINDS = ("rate_limit", "internal", "insufficient_buying_power", "lose_answer",
                 "stall", "duplicate_reports", "out_of_order", "reject_after_booking")
_ORDER_ONLY = frozenset(FAILURE_KINDS) - {"rate_limit"}
_ORDERS = "/v2/orders"


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the server received.

    Attributes
    ----------
    method, path : str
    params : dict
        Query parameters.
    body : dict
        The JSON body (numbers as Decimal), empty when none.
    status : int
        HTTP status answered (0: the connection was dropped without an answer).
    code : int or None
        Alpaca's error code, if any.
    time : int
        UTC ns.
    """

    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any]
    status: int
    code: int | None
    time: int


@dataclass
class _Failure:
    kind: str
    remaining: int
    path: str | None
    method: str | None
    retry_after: int
    delay_s: float


@dataclass
class _State:
    market: Market
    account: Account
    venue: Venue
    trading: TradingApi
    data: DataApi
    log: list[RequestRecord] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)


Handler = Callable[[dict[str, str], dict[str, Any], dict[str, str]], tuple[int, Any]]


class AlpacaServer(LocalService):
    """The local Alpaca; start it with ``with AlpacaServer() as server:``.

    Parameters
    ----------
    seed : int
        Seeds the generated bar history.
    assets : tuple of AssetSpec
        What it lists (AAPL, SPY, GOOG, BTC/USD, ETH/USD by default).
    cash : Decimal
        The account's opening cash.
    page_limit : int
        Most market data items per page (10,000 as at Alpaca; lower to test paging).
    """

    def __init__(self, *, seed: int = 7, assets: tuple[AssetSpec, ...] = DEFAULT_ASSETS,
                 cash: Decimal = Decimal(100_000), page_limit: int = MAX_LIMIT) -> None:
        self.seed = seed
        self.assets = assets
        self.cash = cash
        self.page_limit = page_limit
        self.keys = {API_KEY: API_SECRET}
        self._lock = threading.RLock()
        self.hub = StreamHub(self._lock, lambda: self.keys)
        self._state = self._build()
        self._app = Starlette(routes=[Mount("", app=self._asgi)])
        self._http = LocalServer(self._app, "the local Alpaca", websockets=True)
        self._routes = self._route_table()

    # -- running ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the ``url_override`` of the REST clients."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def trading_stream_url(self) -> str:
        """The trading stream's address."""
        return f"ws://127.0.0.1:{self.port}/stream"

    def data_stream_url(self, crypto: bool = False, feed: str = "iex") -> str:
        """A data stream's address (``/v2/<feed>`` or ``/v1beta3/crypto/us``)."""
        path = "/v1beta3/crypto/us" if crypto else f"/v2/{feed}"
        return f"ws://127.0.0.1:{self.port}{path}"

    def _cut_connections(self) -> None:
        with self._lock:
            self.hub.drop()

    # -- control ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the opening state: prices, account, session; no orders, log or failures
        (open websockets stay connected)."""
        with self._lock:
            self.keys = {API_KEY: API_SECRET}
            self.hub.refuse_trading = False
            self._state = self._build()

    def set_price(self, symbol: str, bid: Decimal | str | float, ask: Decimal | str | float
                  ) -> None:
        """Make ``bid``/``ask`` the market of ``symbol``: quote streams tick, orders react."""
        bid_d, ask_d = Decimal(str(bid)), Decimal(str(ask))
        with self._lock:
            state = self._state
            ts = state.market.set_quote(symbol, bid_d, ask_d)
            self.hub.quote(symbol, state.market.by_symbol[symbol].crypto, bid_d, ask_d, ts)
            state.venue.on_price(symbol)

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        """The current (bid, ask)."""
        with self._lock:
            return self._state.market.quotes[symbol]

    def fill(self, key: str, qty: Decimal | str | float, price: Decimal | None = None) -> None:
        """Fill ``qty`` of a working order (by client order id or id) at its limit price (or
        ``price``, or the quote)."""
        with self._lock:
            order = self._state.venue.find(key)
            if order is None or not order.is_open or order.status == "held":
                raise KeyError(f"no working order {key!r}")
            self._state.venue.fill(order, Decimal(str(qty)), price)

    def fail_next(self, kind: str, count: int = 1, *, path: str | None = None,
                  method: str | None = None, retry_after: int = 1, delay_s: float = 2.0
                  ) -> None:
        """Make the next ``count`` matching requests fail.

        ``rate_limit`` (429, before anything) hits any request unless ``path`` (and
        ``method``) narrow it;
        the others hit new orders (``POST /v2/orders``) unless ``path`` says otherwise:
        ``internal`` (500, nothing booked), ``insufficient_buying_power`` (403 40310000),
        ``lose_answer`` (booked, then the connection is closed without an answer), ``stall``
        (booked, answered after ``delay_s``), ``duplicate_reports`` (the order's trade updates
        sent twice), ``out_of_order`` (the order's ``new`` sent after its next event),
        ``reject_after_booking`` (answered as booked, then a ``rejected`` trade update).
        """
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        if kind in _ORDER_ONLY:
            path, method = path or _ORDERS, method or "POST"
        with self._lock:
            self._state.failures.append(_Failure(kind, count, path, method and method.upper(),
                                                 retry_after, delay_s))

    def requests(self, path: str | None = None, method: str | None = None
                 ) -> list[RequestRecord]:
        """The requests received, oldest first (of one path and/or method)."""
        with self._lock:
            return [r for r in self._state.log if (path is None or r.path == path)
                    and (method is None or r.method == method.upper())]

    def submits(self, client_order_id: str) -> int:
        """How many new-order requests with this client order id reached the venue (those
        refused by the rate limit never did)."""
        return sum(1 for r in self.requests(_ORDERS, "POST")
                   if r.body.get("client_order_id") == client_order_id and r.status != 429)

    def order(self, key: str) -> Order:
        """An order of the model by id or client order id (KeyError when unknown)."""
        with self._lock:
            found = self._state.venue.find(key)
        if found is None:
            raise KeyError(key)
        return found

    def orders(self) -> list[Order]:
        """Every order of the model, legs included, oldest first."""
        with self._lock:
            return self._state.venue.all_orders()

    def position(self, symbol: str) -> Decimal:
        """The account's signed position in ``symbol``."""
        with self._lock:
            return self._state.account.position(symbol)

    def set_session(self, state: str) -> None:
        """``regular``, ``extended`` (pre- or after-market) or ``closed``; working orders react."""
        if state not in ("regular", "extended", "closed"):
            raise ValueError(f"unknown session state {state!r}")
        with self._lock:
            self._state.venue.session.state = state
            self._state.venue.open_session()

    def end_of_day(self) -> None:
        """Expire working DAY orders."""
        with self._lock:
            self._state.venue.end_of_day()

    def set_account(self, *, cash: Decimal | None = None, last_equity: Decimal | None = None,
                    daytrade_count: int | None = None, pattern_day_trader: bool | None = None,
                    multiplier: Decimal | None = None) -> None:
        """Change the account: cash, equity at the last close, PDT state, margin multiplier."""
        with self._lock:
            account = self._state.account
            if cash is not None:
                account.cash = cash
            if last_equity is not None:
                account.last_equity = last_equity
            if daytrade_count is not None:
                account.daytrade_count = daytrade_count
            if pattern_day_trader is not None:
                account.pattern_day_trader = pattern_day_trader
            if multiplier is not None:
                account.multiplier = multiplier

    def account(self) -> Account:
        """The account model."""
        return self._state.account

    def publish_bar(self, symbol: str, ts_ns: int, o: float, h: float, low: float, c: float,
                    v: float) -> None:
        """Send a one-minute bar to the data streams subscribed to it."""
        with self._lock:
            crypto = self._state.market.by_symbol[symbol].crypto
            self.hub.bar(symbol, crypto, {"t": ts_ns, "o": o, "h": h, "l": low, "c": c,
                                          "v": v})

    def publish_trade(self, symbol: str, price: Decimal | str, size: Decimal | str) -> None:
        """Print a trade on the tape (trade streams tick)."""
        with self._lock:
            market = self._state.market
            trade_id = len(market.trade_log.get(symbol, ())) + 1
            ts = market.record_trade(symbol, Decimal(str(price)), Decimal(str(size)), trade_id)
            self.hub.trade(symbol, market.by_symbol[symbol].crypto, Decimal(str(price)),
                           Decimal(str(size)), trade_id, ts)

    def set_page_limit(self, limit: int) -> None:
        """Most market data items per page from now on (and after resets)."""
        with self._lock:
            self.page_limit = limit
            self._state.data.page_limit = limit

    def subscribed(self, kind: str, channel: str | None = None) -> list[str]:
        """What open websockets listen to: ``subscribed("trading")`` lists ``trade_updates``
        per listening trading stream; ``subscribed("stocks", "quotes")`` the symbols."""
        with self._lock:
            return self.hub.subscribed(kind, channel)

    def drop_streams(self, kind: str | None = None) -> int:
        """Close the websockets (``trading``, ``stocks``, ``crypto`` or all); REST stays up."""
        with self._lock:
            return self.hub.drop(kind)

    def refuse_trading_stream(self, refuse: bool = True) -> None:
        """While on, new trading stream connections are closed at once."""
        with self._lock:
            self.hub.refuse_trading = refuse

    # -- serving ------------------------------------------------------------------------------

    def _build(self) -> _State:
        market = Market(self.assets, self.seed)
        account = Account(cash=self.cash)
        venue = Venue(market, account)
        venue.listeners.append(self._on_event)
        return _State(market, account, venue, TradingApi(venue, market, account),
                      DataApi(market, self.page_limit))

    def _on_event(self, event: str, order: Order, fill: Fill | None) -> None:
        self.hub.trade_update(event, order, fill)
        if fill is not None:
            self.hub.trade(order.symbol, order.asset.crypto, fill.price, fill.qty,
                           int(fill.ts % 10**12), fill.ts)

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        def t(method: str, pattern: str, handler: Handler) -> tuple[str, re.Pattern[str],
                                                                    Handler]:
            return method, re.compile(f"^{pattern}$"), handler

        s = self
        return [
            t("GET", "/v2/account", lambda q, b, m: (200, s._api.account.as_json(
                s._state.market, s._state.venue.reserved()))),
            t("GET", "/v2/account/activities/FILL", lambda q, b, m: (
                200, s._api.activities(q))),
            t("GET", "/v2/account/activities", s._activities),
            t("POST", _ORDERS, s._new_order),
            t("GET", _ORDERS, lambda q, b, m: (200, s._api.list_orders(q))),
            t("DELETE", _ORDERS, lambda q, b, m: (207, s._api.cancel_all())),
            t("GET", "/v2/orders:by_client_order_id", lambda q, b, m: (200, s._api.order(
                q.get("client_order_id", ""), by_client_id=True).as_json())),
            t("GET", "/v2/orders/(?P<id>[^/]+)", lambda q, b, m: (
                200, s._api.order(m["id"]).as_json())),
            t("PATCH", "/v2/orders/(?P<id>[^/]+)", lambda q, b, m: (
                200, s._api.replace(s._api.order(m["id"]), b).as_json())),
            t("DELETE", "/v2/orders/(?P<id>[^/]+)", s._cancel),
            t("GET", "/v2/positions", lambda q, b, m: (200, s._api.positions())),
            t("GET", "/v2/positions/(?P<symbol>.+)", lambda q, b, m: (
                200, s._api.position(m["symbol"]))),
            t("GET", "/v2/assets", lambda q, b, m: (200, s._api.assets(q))),
            t("GET", "/v2/assets/(?P<symbol>.+)", lambda q, b, m: (
                200, s._api.asset(m["symbol"]))),
            t("GET", "/v2/clock", lambda q, b, m: (200, s._api.clock())),
            t("GET", "/v2/stocks/(?P<kind>bars|quotes|trades)", lambda q, b, m: (
                200, s._state.data.answer(m["kind"], False, q))),
            t("GET", "/v1beta3/crypto/us/(?P<kind>bars|quotes|trades)", lambda q, b, m: (
                200, s._state.data.answer(m["kind"], True, q))),
        ]

    @property
    def _api(self) -> TradingApi:
        return self._state.trading

    def _activities(self, q: dict[str, str], b: dict[str, Any], m: dict[str, str]
                    ) -> tuple[int, Any]:
        if q.get("activity_types", "FILL") != "FILL":
            return 200, []
        return 200, self._api.activities(q)

    def _cancel(self, q: dict[str, str], b: dict[str, Any], m: dict[str, str]
                ) -> tuple[int, Any]:
        self._api.cancel(m["id"])
        return 204, None

    def _new_order(self, q: dict[str, str], b: dict[str, Any], m: dict[str, str]
                   ) -> tuple[int, Any]:
        if self._take(_ORDERS, "insufficient_buying_power") is not None:
            raise forbidden("insufficient buying power")
        if self._take(_ORDERS, "internal") is not None:
            raise internal()
        order = self._api.build(b)
        for fault in ("duplicate_reports", "out_of_order"):
            if self._take(_ORDERS, fault) is not None:
                order.faults.add(fault)
        venue = self._state.venue
        venue.place(order)
        answer = order.as_json()
        if self._take(_ORDERS, "reject_after_booking") is not None:
            venue.reject(order)
        else:
            venue.start(order)
        return 200, answer

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.hub.serve(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks).decode("utf-8", "replace")
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        with self._lock:
            status, payload, extra, after = self._answer(scope["method"], scope["path"], query,
                                                         body, headers)
        if after is not None and after.kind == "lose_answer" and await _drop(receive):
            return
        if after is not None and after.kind == "stall":
            await asyncio.sleep(after.delay_s)
        if status == 204:
            response: Response = Response(status_code=204)
        else:
            response = JSONResponse(payload, status_code=status, headers=extra)
        await response(scope, receive, send)

    def _answer(self, method: str, path: str, query: dict[str, str], text: str,
                headers: dict[str, str]) -> tuple[int, Any, dict[str, str], _Failure | None]:
        state = self._state
        body: dict[str, Any] = {}
        after: _Failure | None = None
        extra: dict[str, str] = {}
        try:
            if text.strip():
                try:
                    loaded = json.loads(text, parse_float=Decimal)
                except ValueError:
                    raise malformed("request body format is invalid") from None
                body = loaded if isinstance(loaded, dict) else {"items": loaded}
            failure = self._take(path, "rate_limit", method)
            if failure is not None:
                raise rate_limited(failure.retry_after)
            if self.keys.get(headers.get("apca-api-key-id", "")) != \
                    headers.get("apca-api-secret-key") or "apca-api-key-id" not in headers:
                raise unauthorized()
            for verb, pattern, handler in self._routes:
                found = pattern.match(path)
                if verb == method and found is not None:
                    status, payload = handler(query, body, found.groupdict())
                    break
            else:
                raise not_found("endpoint")
            if method == "POST" and path == _ORDERS:
                after = self._take(path, "lose_answer") or self._take(path, "stall")
            code = None
        except AlpacaError as error:
            status, payload, code, extra = error.status, error.body(), error.code, error.headers
        dropped = after is not None and after.kind == "lose_answer"
        state.log.append(RequestRecord(method, path, query, body, 0 if dropped else status,
                                       code, time.time_ns()))
        if status >= 500 or status == 429 or dropped:
            logger.info("local alpaca answered %s %s with %s", method, path,
                        "nothing" if dropped else status)
        return status, _jsonable(payload), extra, after

    def _take(self, path: str, kind: str, method: str = "POST") -> _Failure | None:
        for failure in self._state.failures:
            if failure.kind != kind or failure.remaining <= 0:
                continue
            if failure.path is not None and failure.path != path:
                continue
            if failure.method is not None and failure.method != method:
                continue
            failure.remaining -= 1
            if failure.remaining == 0:
                self._state.failures.remove(failure)
            return failure
        return None


def _jsonable(payload: Any) -> Any:
    if isinstance(payload, Decimal):
        return float(payload)
    if isinstance(payload, dict):
        return {k: _jsonable(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_jsonable(v) for v in payload]
    return payload


async def _drop(receive: Receive) -> bool:
    # uvicorn keeps the transport on the request cycle that `receive` is bound to; aborting it
    # makes the client see the connection closed with no answer at all.
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass
    return True


__all__ = ["API_KEY", "API_SECRET", "CRYPTO", "FAILURE_KINDS", "STOCKS", "TRADING",
           "AlpacaServer", "RequestRecord"]
