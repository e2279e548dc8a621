"""A local Fyers (API v3) on 127.0.0.1 for tests: REST under ``/api/v3`` and ``/data``, the
symbol master under ``/sym_details``, and the order and data websockets on the same port.

Requests are checked as Fyers checks them: ``Authorization: <app_id>:<access_token>`` on every
API call (expired tokens answer -8, unknown ones -15, a wrong app id -352), ``appIdHash`` on the
token endpoints, and the rate limits (10 requests a second and 200 a minute by default, -429
with HTTP 429; a client over the minute limit more than three times in a day is blocked for the
rest of it). Tests steer it: prices, partial fills, token expiry, injected failures, an outage
(stop and start on the same port) and the request log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from support.local_server import LocalServer, LocalService

from .errors import FyersError, auth_error, rate_limited
from .history import IST, History
from .matching import Book, Order, Trade
from .rest import Handlers
from .sockets import SocketHub
from .symbols import DEFAULT_SYMBOLS, SymbolSpec, master
from .tokens import TokenDesk

logger = logging.getLogger(__name__)

FAILURE_KINDS = ("rate_limit", "unavailable", "reject", "lost_answer")
ORDER_PATH = "/api/v3/orders/sync"
Handler = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class RequestRecord:
    """One request the server received.

    Attributes
    ----------
    method, path : str
    query : dict of str to str
    body : Any
        The JSON body (None without one).
    status : int
        HTTP status answered (0: the connection was dropped).
    code : int or None
        Fyers' code of an error answer.
    time : float
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    code: int | None
    time: float


@dataclass
class _Failure:
    kind: str
    remaining: int
    path: str | None
    drop: bool
    reason: str


@dataclass
class _State:
    book: Book
    tokens: TokenDesk
    history: History
    log: list[RequestRecord] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    second: deque[float] = field(default_factory=deque)
    minute: deque[float] = field(default_factory=deque)
    minute_breaches: int = 0
    breached_minute: int = -1


class FyersServer(LocalService):
    """The local Fyers; ``with FyersServer() as server:`` starts it on a free port.

    Parameters
    ----------
    seed : int
        Seeds the candle history.
    symbols : tuple of SymbolSpec
    per_second, per_minute : int
        Fyers' request limits (0: none).
    token_ttl_s : int
        How long an access token lives.
    """

    def __init__(self, *, seed: int = 7, symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
                 per_second: int = 10, per_minute: int = 200,
                 token_ttl_s: int = 12 * 3600) -> None:
        self.seed = seed
        self.symbols = symbols
        self.per_second = per_second
        self.per_minute = per_minute
        self.token_ttl_s = token_ttl_s
        self.clock_offset_s = 0.0
        self._lock = threading.RLock()
        self._state = self._build()
        self._hub = SocketHub(self._lock, lambda: self._state.book,
                              lambda: self._state.tokens, self.now)
        self._wire()
        self._app = Starlette(routes=[Mount("", app=self._asgi)])
        self._http = LocalServer(self._app, "the local Fyers server", websockets=True)

    # -- running -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        return f"ws://127.0.0.1:{self.port}"

    def now(self) -> float:
        """The server's clock: the wall clock plus :attr:`clock_offset_s`."""
        return time.time() + self.clock_offset_s

    def _cut_connections(self) -> None:
        self._hub.close_all()

    # -- steering ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the opening state: prices, balances, no orders, no failures, no log.
        Issued tokens stay valid (a reset is not a new day)."""
        with self._lock:
            tokens = self._state.tokens
            self._state = self._build(tokens)
            self._wire()
            self._hub.duplicate.clear()
            self._hub.out_of_order.clear()
            self._hub.armed.clear()

    @property
    def tokens(self) -> TokenDesk:
        """Auth codes and tokens (``auth_code()``, ``issue()``, ``expire_all()``)."""
        return self._state.tokens

    @property
    def book(self) -> Book:
        """The order book (read it under :meth:`locked`)."""
        return self._state.book

    @property
    def history(self) -> History:
        """The candle history, with the requests it answered."""
        return self._state.history

    def locked(self) -> threading.RLock:
        """The server's lock, to read the book consistently."""
        return self._lock

    def issue_token(self) -> str:
        """A fresh access token, as after a login (for tests that skip the login)."""
        with self._lock:
            return self._state.tokens.issue()

    def expire_tokens(self) -> None:
        """The morning reset: every access token issued so far answers -8 from now on."""
        with self._lock:
            self._state.tokens.expire_all()

    def set_price(self, ticker: str, bid: Decimal | float | str,
                  ask: Decimal | float | str) -> None:
        """Move the top of book of ``ticker``: working orders match, the data socket
        streams."""
        with self._lock:
            self._state.book.set_price(ticker, Decimal(str(bid)), Decimal(str(ask)))
            self._hub.market_moved(ticker)

    def fill(self, key: str, qty: int | Decimal) -> Trade:
        """Fill ``qty`` of a working order (by order id or tag) at its limit price."""
        with self._lock:
            order = self._state.book.find(key)
            trade = self._state.book.fill_resting(order, int(qty))
            self._hub.market_moved(order.spec.ticker)
            return trade

    def order(self, key: str) -> Order:
        """An order by id or tag (KeyError when unknown)."""
        with self._lock:
            return self._state.book.find(key)

    def net(self, ticker: str) -> int:
        """The account's net quantity of ``ticker``."""
        with self._lock:
            return self._state.book.net(ticker)

    def fail_next(self, kind: str, count: int = 1, *, path: str | None = None,
                  drop: bool = False, reason: str = "") -> None:
        """Make the next ``count`` matching requests fail.

        Parameters
        ----------
        kind : str
            ``rate_limit`` (HTTP 429, -429, nothing happens), ``unavailable`` (HTTP 503
            before anything happens), ``reject`` (an order is booked as refused by the RMS:
            status 5, answered -99 with its id) or ``lost_answer`` (the order is booked, then
            answered code 201, "in transit, check the order book", or with ``drop`` the
            connection is dropped without an answer).
        path : str, optional
            Only requests to this path; by default order placement (``unavailable``: any
            API request).
        """
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        with self._lock:
            self._state.failures.append(_Failure(kind, count, path, drop, reason))

    def arm_reports(self, fault: str) -> None:
        """``duplicate`` or ``out_of_order``: the order socket misbehaves for the next new
        order."""
        if fault not in ("duplicate", "out_of_order"):
            raise ValueError(f"unknown report fault {fault!r}")
        with self._lock:
            self._hub.armed.append(fault)

    def drop_sockets(self) -> None:
        """Close every websocket (REST keeps answering)."""
        self._hub.close_all()

    def sockets(self) -> dict[str, int]:
        """Open websockets by kind (``orders``, ``data``)."""
        return self._hub.counts()

    def requests(self, path: str | None = None, method: str | None = None
                 ) -> list[RequestRecord]:
        """Requests received, oldest first (of one path and/or method)."""
        with self._lock:
            return [r for r in self._state.log if (path is None or r.path == path)
                    and (method is None or r.method == method.upper())]

    def submits(self, tag: str) -> int:
        """How many order requests with this ``orderTag`` reached the order book."""
        return sum(1 for r in self.requests(ORDER_PATH, "POST")
                   if isinstance(r.body, dict) and r.body.get("orderTag") == tag
                   and r.status not in (401, 403, 429, 503))

    # -- serving -----------------------------------------------------------------------------

    def _build(self, tokens: TokenDesk | None = None) -> _State:
        day = dt.datetime.fromtimestamp(self.now(), IST).strftime("%y%m%d")
        book = Book(self.symbols, self.now, day=day)
        desk = tokens or TokenDesk(now=self.now, ttl_s=self.token_ttl_s)
        return _State(book, desk, History(self.seed, self.now))

    def _wire(self) -> None:
        state = self._state
        state.book.listeners.append(self._hub.order_event)
        handlers = Handlers(lambda: self._state.book, state.history, self.now)
        self._routes: dict[tuple[str, str], tuple[Handler, bool]] = {
            ("GET", "/api/v3/profile"): (handlers.profile, False),
            ("GET", "/api/v3/funds"): (handlers.funds, False),
            ("GET", "/api/v3/holdings"): (handlers.holdings, False),
            ("POST", "/api/v3/logout"): (handlers.logout, False),
            ("GET", "/api/v3/orders"): (handlers.orders, False),
            ("GET", "/api/v3/tradebook"): (handlers.tradebook, False),
            ("GET", "/api/v3/positions"): (handlers.positions, False),
            ("POST", ORDER_PATH): (handlers.place, True),
            ("PATCH", ORDER_PATH): (handlers.modify, False),
            ("DELETE", ORDER_PATH): (handlers.cancel, False),
            ("GET", "/data/history"): (handlers.history_candles, False),
            ("GET", "/data/quotes"): (handlers.quotes, False),
            ("POST", "/data/symbol-token"): (handlers.symbol_token, False),
            ("GET", "/data/marketStatus"): (handlers.market_status, False),
        }

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._hub.serve(scope, receive, send)
            return
        request = Request(scope, receive)
        raw = await request.body()
        query = dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", "replace")))
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            response, drop = self._answer(scope["method"], scope["path"], query, raw, headers)
        if drop and await _drop_connection(receive):
            return
        await response(scope, receive, send)

    def _answer(self, method: str, path: str, query: dict[str, str], raw: bytes,
                headers: dict[str, str]) -> tuple[Response, bool]:
        state = self._state
        body: Any = None
        drop = False
        code: int | None = None
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        try:
            public = self._public(method, path, query, body)
            if public is not None:
                return public, False
            route = self._routes.get((method, path))
            if route is None:
                raise FyersError(-50, f"No such endpoint: {method} {path}", status=404)
            handler, places = route
            problem = state.tokens.check(headers.get("authorization", ""))
            if problem:
                raise auth_error(problem)
            self._pace()
            self._fail_before(path, places)
            params = body if isinstance(body, dict) else {}
            if places:
                failure = self._take(path, "reject", places)
                if failure is not None:
                    order = state.book.reject(params, failure.reason or
                                              "RMS:Margin Exceeds, Required margin exceeds "
                                              "the available funds")
                    raise FyersError(-99, order.message, extra={"id": order.id})
            payload = handler(query, params)
            status = 200
            if places:
                failure = self._take(path, "lost_answer", places)
                if failure is not None:
                    drop = failure.drop
                    payload = {"s": "ok", "code": 201, "message": "Order request is in "
                               "transit: check the order book before placing it again",
                               "id": ""}
        except FyersError as error:
            status, payload, code = error.status, error.body(), error.code
        state.log.append(RequestRecord(method, path, query, body, 0 if drop else status,
                                       code, self.now()))
        if status >= 500 or status == 429:
            logger.info("local fyers answered %s %s with %s", method, path, status)
        return JSONResponse(payload, status_code=status), drop

    def _public(self, method: str, path: str, query: dict[str, str], body: Any
                ) -> Response | None:
        """The endpoints without a token: login steps and the symbol master."""
        tokens = self._state.tokens
        if method == "GET" and path.startswith("/sym_details/"):
            name = path.rsplit("/", 1)[1].removesuffix("_sym_master.json")
            found = master(self.symbols, name)
            if found is None:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            return JSONResponse(found)
        if method == "GET" and path == "/api/v3/generate-authcode":
            if query.get("client_id") != tokens.app_id or \
                    query.get("redirect_uri") != tokens.redirect_uri or \
                    query.get("response_type") != "code":
                raise FyersError(-352 if query.get("client_id") != tokens.app_id else -50,
                                 "invalid client_id, redirect_uri or response_type")
            target = tokens.redirect_uri + "?" + urlencode({
                "s": "ok", "code": 200, "auth_code": tokens.auth_code(),
                "state": query.get("state", "")})
            return RedirectResponse(target, status_code=302)
        params = body if isinstance(body, dict) else {}
        if method == "POST" and path == "/api/v3/validate-authcode":
            if params.get("grant_type") != "authorization_code":
                raise FyersError(-50, "grant_type must be authorization_code")
            result = tokens.validate_code(str(params.get("appIdHash", "")),
                                          str(params.get("code", "")))
            if isinstance(result, str):
                raise FyersError(-413 if "code" in result else -352, result)
            return JSONResponse({"s": "ok", "code": 200, "message": "",
                                 "access_token": result[0], "refresh_token": result[1]})
        if method == "POST" and path == "/api/v3/validate-refresh-token":
            if params.get("grant_type") != "refresh_token":
                raise FyersError(-50, "grant_type must be refresh_token")
            refreshed = tokens.validate_refresh(str(params.get("appIdHash", "")),
                                                str(params.get("refresh_token", "")),
                                                str(params.get("pin", "")))
            if isinstance(refreshed, str):
                raise FyersError(-17 if "refresh" in refreshed else -50, refreshed,
                                 status=401 if "refresh" in refreshed else 400)
            return JSONResponse({"s": "ok", "code": 200, "message": "",
                                 "access_token": refreshed[0]})
        return None

    def _pace(self) -> None:
        state = self._state
        now = self.now()
        if state.minute_breaches > 3:
            raise FyersError(-429, "blocked for the day: the per-minute limit was exceeded "
                             "more than three times", status=429)
        for window, limit, span in ((state.second, self.per_second, 1.0),
                                    (state.minute, self.per_minute, 60.0)):
            while window and window[0] <= now - span:
                window.popleft()
            if limit and len(window) >= limit:
                if span == 60.0 and state.breached_minute != int(now // 60):
                    state.breached_minute = int(now // 60)
                    state.minute_breaches += 1
                raise rate_limited()
        state.second.append(now)
        state.minute.append(now)

    def _fail_before(self, path: str, places: bool) -> None:
        if self._take(path, "rate_limit", places) is not None:
            raise rate_limited()
        if self._take(path, "unavailable", places) is not None:
            raise FyersError(-1, "Service Unavailable", status=503)

    def _take(self, path: str, kind: str, places: bool) -> _Failure | None:
        for failure in self._state.failures:
            if failure.kind != kind or failure.remaining <= 0:
                continue
            if failure.path is not None and failure.path != path:
                continue
            if failure.path is None and kind in ("reject", "lost_answer", "rate_limit") \
                    and not places:
                continue
            failure.remaining -= 1
            if failure.remaining == 0:
                self._state.failures.remove(failure)
            return failure
        return None


async def _drop_connection(receive: Receive) -> bool:
    # uvicorn keeps the transport on the request cycle `receive` belongs to; aborting it
    # makes the client see the connection closed without an answer.
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass
    return True


__all__ = ["FAILURE_KINDS", "ORDER_PATH", "FyersServer", "RequestRecord"]
