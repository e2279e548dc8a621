"""A local Binance (spot ``/api/v3`` and USD-M ``/fapi``) on 127.0.0.1 for tests.

Real ccxt talks to it over HTTP, and ccxt.pro over websockets on the same port (:mod:`.ws`);
see :func:`support.binance.local_exchange`. Requests
are answered from a small matching model (:mod:`.matching`) with Binance's response shapes and
error codes; SIGNED endpoints check the API key, the HMAC-SHA256 signature and the timestamp
window exactly as Binance does. Tests steer it through the control methods: prices, partial
fills, injected failures, balances, an outage (stop/start on the same port) and the request log.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from support.local_server import LocalServer, LocalService

from .algo import AlgoOrder, AlgoService
from .auth import API_KEY, API_SECRET, check_api_key, check_signed, check_ws_signed, parse_params
from .errors import (
    BinanceError,
    not_found,
    rate_limited,
    service_unavailable,
    unknown_outcome,
)
from .futures import FuturesVenue
from .futures_account import DEFAULT_FUTURES_BALANCES, Position
from .market import DEFAULT_SYMBOLS, Market, SymbolSpec
from .matching import Order, Trade
from .spot import DEFAULT_SPOT_BALANCES, SpotVenue
from .ws import FUTURES, SPOT, StreamHub

logger = logging.getLogger(__name__)

NONE, SIGNED, USER_STREAM = "NONE", "SIGNED", "USER_STREAM"
FAILURE_KINDS = ("rate_limit", "unavailable", "unknown_after_booking", "insufficient_funds")
Handler = Callable[[dict[str, str]], Any]


@dataclass(frozen=True)
class RequestRecord:
    """One request the exchange received.

    Attributes
    ----------
    method, path : str
        ``POST``, ``/api/v3/order``.
    params : dict of str to str
        Query and body parameters as sent (``signature`` included).
    status : int
        HTTP status answered (0 when the connection was dropped).
    code : int or None
        Binance error code answered, if any.
    time : int
        Server time in ms.
    """

    method: str
    path: str
    params: dict[str, str]
    status: int
    code: int | None
    time: int


@dataclass(frozen=True)
class _Route:
    handler: Handler
    security: str
    places_order: bool
    venue: SpotVenue | FuturesVenue


@dataclass
class _Failure:
    kind: str
    remaining: int
    path: str | None
    drop: bool
    retry_after: int


@dataclass
class _State:
    market: Market
    spot: SpotVenue
    futures: FuturesVenue
    algo: AlgoService
    log: list[RequestRecord] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    weight: dict[int, int] = field(default_factory=dict)


class BinanceServer(LocalService):
    """The local exchange; start it with ``with BinanceServer() as server:``.

    Parameters
    ----------
    seed : int
        Seeds the generated kline history and :meth:`step`.
    symbols : tuple of SymbolSpec
        Listed symbols (BTCUSDT, ETHUSDT, SOLUSDT by default), on both markets.
    spot_balances, futures_balances : dict of str to Decimal, optional
        Opening balances (spot free balances; futures wallet).
    history_days : int
        How far back generated klines go.
    """

    def __init__(self, *, seed: int = 7, symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
                 spot_balances: dict[str, Decimal] | None = None,
                 futures_balances: dict[str, Decimal] | None = None,
                 history_days: int = 400) -> None:
        self.seed = seed
        self.symbols = symbols
        self.spot_balances = dict(spot_balances or DEFAULT_SPOT_BALANCES)
        self.futures_balances = dict(futures_balances or DEFAULT_FUTURES_BALANCES)
        self.history_days = history_days
        self.keys = {API_KEY: API_SECRET}
        self.clock_offset_ms = 0
        self._lock = threading.RLock()
        self._hub = StreamHub(self._lock, lambda: self._state,
                              lambda params: check_ws_signed(params, self.keys, self.now_ms()))
        self._state = self._build()
        self._routes = self._route_table()
        self._app = Starlette(routes=[Mount("", app=self._asgi)])
        self._http = LocalServer(self._app, "the local Binance server", websockets=True)

    # -- running ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: put it in front of ``/api/v3`` or ``/fapi/v1``."""
        return f"http://127.0.0.1:{self.port}"

    def now_ms(self) -> int:
        """The exchange's clock (wall clock plus :attr:`clock_offset_ms`)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def stop(self) -> None:
        """Stop answering: connections are refused until :meth:`start` (an outage)."""
        if self.running:
            super().stop()
            self._hub.close_all()

    # -- control ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the opening state: prices, balances, keys, clock; no orders, log or
        failures."""
        with self._lock:
            self.clock_offset_ms = 0
            self.keys = {API_KEY: API_SECRET}
            self._state = self._build()
            self._routes = self._route_table()

    def set_price(self, symbol: str, bid: Decimal | float | str,
                  ask: Decimal | float | str) -> None:
        """Move the top of book of ``symbol`` (both markets); stops and limits react."""
        with self._lock:
            self._state.market.set_price(symbol, Decimal(str(bid)), Decimal(str(ask)))
            self._on_price(symbol)

    def step(self, symbol: str | None = None, count: int = 1) -> None:
        """Advance the seeded random walk ``count`` steps (one symbol or all)."""
        with self._lock:
            for _ in range(count):
                for name in [symbol] if symbol else list(self._state.market.specs):
                    self._state.market.step(name)
                    self._on_price(name)

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Current (bid, ask) of ``symbol``."""
        with self._lock:
            q = self._state.market.quote(symbol)
            return q.bid, q.ask

    def fill(self, order_id_or_client_id: int | str, qty: Decimal | float | str, *,
             market: str | None = None) -> Trade:
        """Fill part of a resting limit order at its price, as maker.

        Parameters
        ----------
        order_id_or_client_id : int or str
            The exchange's order id, or the client order id (latest order carrying it).
        qty : Decimal, float or str
        market : {"spot", "futures"}, optional
            Where to look (both when omitted, spot first).
        """
        with self._lock:
            venue, found = self._find(order_id_or_client_id, market)
            return venue.engine.fill_resting(found, Decimal(str(qty)))

    def order(self, order_id_or_client_id: int | str, *, market: str | None = None) -> Order:
        """An order of the model, by id or client order id (KeyError when unknown; an open
        order wins over older ones with the same client order id)."""
        with self._lock:
            return self._find(order_id_or_client_id, market)[1]

    def _find(self, key: int | str, market: str | None) -> tuple[SpotVenue | FuturesVenue, Order]:
        venues: list[SpotVenue | FuturesVenue] = []
        if market in (None, "spot"):
            venues.append(self._state.spot)
        if market in (None, "futures"):
            venues.append(self._state.futures)
        for venue in venues:
            matches = [o for o in venue.engine.orders.values()
                       if key in (o.order_id, o.client_id, str(o.order_id))]
            if matches:
                open_ones = [o for o in matches if o.is_open]
                return venue, (open_ones or matches)[-1]
        raise KeyError(key)

    def algo_order(self, algo_id_or_client_id: int | str) -> AlgoOrder:
        """A USD-M algo (conditional) order by algo id or client algo id."""
        with self._lock:
            found = self._state.algo.find(algo_id_or_client_id)
            if found is None:
                raise KeyError(algo_id_or_client_id)
            return found

    def fail_next(self, kind: str, count: int = 1, *, path: str | None = None,
                  drop: bool = False, retry_after: int = 1) -> None:
        """Make the next ``count`` matching requests fail.

        Parameters
        ----------
        kind : str
            ``rate_limit`` (HTTP 429, -1003, ``Retry-After``), ``unavailable`` (HTTP 503
            "Service Unavailable." before anything happens), ``unknown_after_booking`` (the
            order is booked, then HTTP 503 "Unknown error, please check your request or try
            again later." or, with ``drop``, the connection is dropped without an answer) or
            ``insufficient_funds`` (the order is refused: -2010 on spot, -2019 on futures).
        count : int
        path : str, optional
            Only requests to this path (``/api/v3/order``). By default ``rate_limit`` and
            ``unavailable`` hit any request, the other two only order placement (POST order,
            POST algoOrder, PUT order).
        drop : bool
            For ``unknown_after_booking``: drop the connection instead of answering 503.
        retry_after : int
            Seconds in the ``Retry-After`` header of a 429.
        """
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        with self._lock:
            self._state.failures.append(_Failure(kind, count, path, drop, retry_after))

    def requests(self, path: str | None = None, method: str | None = None
                 ) -> list[RequestRecord]:
        """The requests received, oldest first (of one path and/or method, when given)."""
        with self._lock:
            return [r for r in self._state.log
                    if (path is None or r.path == path)
                    and (method is None or r.method == method.upper())]

    def set_balance(self, asset: str, amount: Decimal | float | str, *,
                    market: str | None = None) -> None:
        """Set a balance: spot free balance and/or futures wallet (both when ``market`` is
        omitted)."""
        value = Decimal(str(amount))
        with self._lock:
            if market in (None, "spot"):
                self._state.spot.account.set_balance(asset, value)
            if market in (None, "futures"):
                self._state.futures.account.set_balance(asset, value)

    def balance(self, asset: str, *, market: str = "spot") -> tuple[Decimal, Decimal]:
        """(free, locked) on spot, or (wallet, 0) on futures."""
        with self._lock:
            if market == "spot":
                acc = self._state.spot.account
                return acc.free.get(asset, Decimal(0)), acc.locked.get(asset, Decimal(0))
            return self._state.futures.account.wallet.get(asset, Decimal(0)), Decimal(0)

    def position(self, symbol: str) -> Position:
        """The USD-M position in ``symbol``."""
        with self._lock:
            return self._state.futures.account.positions[symbol]

    def websockets(self) -> list[tuple[str, bool, list[str]]]:
        """Open websocket clients as (market, receives user data, subscribed streams)."""
        with self._lock:
            return [(c.market, c.user, sorted(c.streams)) for c in self._hub.connections]

    def set_clock_offset(self, offset_ms: int) -> None:
        """Shift the exchange's clock (``/time`` and the timestamp check) by ``offset_ms``."""
        with self._lock:
            self.clock_offset_ms = offset_ms

    # -- serving ----------------------------------------------------------------------------

    def _build(self) -> _State:
        market = Market(self.symbols, self.now_ms, self.seed, self.history_days)
        spot_trades = itertools.count(500_001)
        futures_trades = itertools.count(300_000_001)
        spot = SpotVenue(market, self.spot_balances, lambda: next(spot_trades))
        futures = FuturesVenue(market, self.futures_balances, lambda: next(futures_trades))
        algo = AlgoService(futures)
        hub = self._hub
        spot.engine.listeners.append(lambda o, e, t: hub.order_event(SPOT, o, e, t))
        futures.engine.listeners.append(lambda o, e, t: hub.order_event(FUTURES, o, e, t))
        algo.listeners.append(hub.algo_event)
        return _State(market, spot, futures, algo)

    def _on_price(self, symbol: str) -> None:
        state = self._state
        state.spot.engine.on_price(symbol)
        state.algo.on_price(symbol)
        state.futures.engine.on_price(symbol)
        self._hub.price_changed(symbol)

    def _route_table(self) -> dict[tuple[str, str], _Route]:
        s, f, a = self._state.spot, self._state.futures, self._state.algo

        def time_of_server(params: dict[str, str]) -> dict[str, int]:
            return {"serverTime": self.now_ms()}

        def ping(params: dict[str, str]) -> dict[str, Any]:
            return {}

        table: list[tuple[str, str, Handler, str, bool, SpotVenue | FuturesVenue]] = [
            ("GET", "/api/v3/ping", ping, NONE, False, s),
            ("GET", "/api/v3/time", time_of_server, NONE, False, s),
            ("GET", "/api/v3/exchangeInfo", s.exchange_info, NONE, False, s),
            ("GET", "/api/v3/klines", s.klines, NONE, False, s),
            ("GET", "/api/v3/uiKlines", s.klines, NONE, False, s),
            ("GET", "/api/v3/ticker/24hr", s.ticker_24hr, NONE, False, s),
            ("GET", "/api/v3/ticker/bookTicker", s.book_ticker, NONE, False, s),
            ("GET", "/api/v3/ticker/price", s.ticker_price, NONE, False, s),
            ("GET", "/api/v3/depth", s.depth, NONE, False, s),
            ("GET", "/api/v3/account", s.account_info, SIGNED, False, s),
            ("POST", "/api/v3/order", s.new_order, SIGNED, True, s),
            ("POST", "/api/v3/order/test", s.test_order, SIGNED, False, s),
            ("GET", "/api/v3/order", s.get_order, SIGNED, False, s),
            ("DELETE", "/api/v3/order", s.cancel_order, SIGNED, False, s),
            ("GET", "/api/v3/openOrders", s.open_orders, SIGNED, False, s),
            ("DELETE", "/api/v3/openOrders", s.cancel_open_orders, SIGNED, False, s),
            ("GET", "/api/v3/allOrders", s.all_orders, SIGNED, False, s),
            ("GET", "/api/v3/myTrades", s.my_trades, SIGNED, False, s),
            ("POST", "/api/v3/userDataStream", s.new_listen_key, USER_STREAM, False, s),
            ("PUT", "/api/v3/userDataStream", s.keep_listen_key, USER_STREAM, False, s),
            ("DELETE", "/api/v3/userDataStream", s.keep_listen_key, USER_STREAM, False, s),
            ("GET", "/fapi/v1/ping", ping, NONE, False, f),
            ("GET", "/fapi/v1/time", time_of_server, NONE, False, f),
            ("GET", "/fapi/v1/exchangeInfo", f.exchange_info, NONE, False, f),
            ("GET", "/fapi/v1/klines", f.klines, NONE, False, f),
            ("GET", "/fapi/v1/ticker/24hr", f.ticker_24hr, NONE, False, f),
            ("GET", "/fapi/v1/ticker/bookTicker", f.book_ticker, NONE, False, f),
            ("GET", "/fapi/v1/ticker/price", f.ticker_price, NONE, False, f),
            ("GET", "/fapi/v1/premiumIndex", f.premium_index, NONE, False, f),
            ("GET", "/fapi/v1/depth", f.depth, NONE, False, f),
            ("POST", "/fapi/v1/order", f.new_order, SIGNED, True, f),
            ("PUT", "/fapi/v1/order", f.modify_order, SIGNED, True, f),
            ("GET", "/fapi/v1/order", f.get_order, SIGNED, False, f),
            ("DELETE", "/fapi/v1/order", f.cancel_order, SIGNED, False, f),
            ("GET", "/fapi/v1/openOrder", f.open_order, SIGNED, False, f),
            ("GET", "/fapi/v1/openOrders", f.open_orders, SIGNED, False, f),
            ("DELETE", "/fapi/v1/allOpenOrders", f.cancel_all, SIGNED, False, f),
            ("GET", "/fapi/v1/allOrders", f.all_orders, SIGNED, False, f),
            ("GET", "/fapi/v1/userTrades", f.user_trades, SIGNED, False, f),
            ("GET", "/fapi/v1/leverageBracket", f.leverage_bracket, SIGNED, False, f),
            ("POST", "/fapi/v1/leverage", f.set_leverage, SIGNED, False, f),
            ("GET", "/fapi/v1/commissionRate", f.commission_rate, SIGNED, False, f),
            ("POST", "/fapi/v1/algoOrder", a.new_algo_order, SIGNED, True, f),
            ("GET", "/fapi/v1/algoOrder", a.get_algo_order, SIGNED, False, f),
            ("DELETE", "/fapi/v1/algoOrder", a.cancel_algo_order, SIGNED, False, f),
            ("GET", "/fapi/v1/openAlgoOrders", a.open_algo_orders, SIGNED, False, f),
            ("DELETE", "/fapi/v1/algoOpenOrders", a.cancel_all_algo, SIGNED, False, f),
            ("GET", "/fapi/v1/allAlgoOrders", a.all_algo_orders, SIGNED, False, f),
            ("GET", "/fapi/v2/account", f.account_info_v2, SIGNED, False, f),
            ("GET", "/fapi/v3/account", f.account_info, SIGNED, False, f),
            ("GET", "/fapi/v2/balance", f.balance, SIGNED, False, f),
            ("GET", "/fapi/v3/balance", f.balance, SIGNED, False, f),
            ("GET", "/fapi/v2/positionRisk", f.position_risk_v2, SIGNED, False, f),
            ("GET", "/fapi/v3/positionRisk", f.position_risk, SIGNED, False, f),
            ("POST", "/fapi/v1/listenKey", f.new_listen_key, USER_STREAM, False, f),
            ("PUT", "/fapi/v1/listenKey", f.keep_listen_key, USER_STREAM, False, f),
            ("DELETE", "/fapi/v1/listenKey", lambda q: {}, USER_STREAM, False, f),
        ]
        return {(m, path): _Route(h, sec, places, venue)
                for m, path, h, sec, places, venue in table}

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._hub.serve(scope, receive, send)
            return
        request = Request(scope, receive)
        body = (await request.body()).decode("utf-8", "replace")
        raw_query = scope.get("query_string", b"").decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            status, payload, extra_headers, drop = self._answer(
                scope["method"], scope["path"], raw_query, body, headers)
        if drop and await _drop_connection(receive):
            return
        response = JSONResponse(payload, status_code=status, headers=extra_headers)
        await response(scope, receive, send)

    def _answer(self, method: str, path: str, raw_query: str, body: str,
                headers: dict[str, str]) -> tuple[int, Any, dict[str, str], bool]:
        state = self._state
        now = self.now_ms()
        params: dict[str, str] = {}
        drop = False
        try:
            params = parse_params(raw_query, body)
            route = self._routes.get((method, path))
            self._fail_before(path, route)
            if route is None:
                raise not_found()
            if route.security == SIGNED:
                check_signed(raw_query, body, params, headers, self.keys, now)
            elif route.security == USER_STREAM:
                check_api_key(headers, self.keys)
            if route.places_order and self._take(path, "insufficient_funds", route):
                raise route.venue.insufficient_funds()
            payload = route.handler(params)
            status = 200
            failure = self._take(path, "unknown_after_booking", route) \
                if route.places_order else None
            if failure is not None:
                drop = failure.drop
                raise unknown_outcome()
        except BinanceError as error:
            status, payload = error.status, error.body(path, now)
            code, extra = error.code, dict(error.headers)
        else:
            code, extra = None, {}
        minute = now // 60_000
        state.weight = {minute: state.weight.get(minute, 0) + 1}
        extra["X-MBX-USED-WEIGHT-1M"] = str(state.weight[minute])
        state.log.append(RequestRecord(method, path, params, 0 if drop else status, code, now))
        if status >= 500 or status == 429:
            logger.info("local binance answered %s %s with %s", method, path, status)
        return status, payload, extra, drop

    def _fail_before(self, path: str, route: _Route | None) -> None:
        failure = self._take(path, "rate_limit", route)
        if failure is not None:
            raise rate_limited(failure.retry_after)
        if self._take(path, "unavailable", route) is not None:
            raise service_unavailable()

    def _take(self, path: str, kind: str, route: _Route | None) -> _Failure | None:
        for failure in self._state.failures:
            if failure.kind != kind or failure.remaining <= 0:
                continue
            if failure.path is not None and failure.path != path:
                continue
            order_only = kind in ("unknown_after_booking", "insufficient_funds")
            if failure.path is None and order_only and (route is None or
                                                       not route.places_order):
                continue
            failure.remaining -= 1
            if failure.remaining == 0:
                self._state.failures.remove(failure)
            return failure
        return None


async def _drop_connection(receive: Receive) -> bool:
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
