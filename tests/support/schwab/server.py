"""A local Schwab (Trader API, Market Data API, OAuth and the streamer) on 127.0.0.1 for tests.

Our Schwab adapter talks to it over HTTP and a websocket exactly as it would to
``https://api.schwabapi.com``: every ``/trader`` and ``/marketdata`` request needs a valid
bearer access token from the OAuth endpoints (:mod:`.oauth`), orders are checked and worked by
a small matching model (:mod:`.venue`), errors come in Schwab's shapes (:mod:`.errors`) and
quotes stream from :mod:`.streamer`. Tests steer it through methods: prices, partial fills,
token expiry and revocation, injected failures, an outage (stop and start on the same port),
dropped streamer connections, and the request log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from support.local_server import LocalServer, LocalService

from .errors import (
    MARKET_DATA,
    OAUTH,
    TRADER,
    SchwabError,
    bad_request,
    forbidden,
    gateway_timeout,
    insufficient_funds,
    not_found,
    rate_limited,
    unavailable,
)
from .history import History
from .oauth import OAuthServer
from .orders import FINAL, StandinOrder, order_json, query_time
from .streamer import CHANNEL, CORREL_ID, CUSTOMER_ID, FUNCTION_ID, Streamer
from .venue import Venue, default_listings

logger = logging.getLogger(__name__)

ACCOUNT_NUMBER = "12345678"
ACCOUNT_HASH = hashlib.sha256(f"local-schwab:{ACCOUNT_NUMBER}".encode()).hexdigest().upper()
OPENING_CASH = Decimal(100_000)
#: What :meth:`SchwabServer.fail_next` can do.
FAILURES = ("rate_limit", "unavailable", "lost_answer", "insufficient_funds", "expire_token")
_ORDERS = re.compile(r"^/trader/v1/accounts/(?P<hash>[^/]+)/orders(?:/(?P<id>[^/]+))?$")
_ACCOUNT = re.compile(r"^/trader/v1/accounts/(?P<hash>[^/]+)$")


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the server received.

    Attributes
    ----------
    method, path : str
    params : dict of str to str
        Query parameters.
    body : Any
        The JSON (or form) body, None when there was none.
    status : int
        The HTTP status answered (0: the connection was dropped).
    order_id : int or None
        The order a POST or PUT created.
    """

    method: str
    path: str
    params: dict[str, str]
    body: Any
    status: int
    order_id: int | None
    time_ms: int


@dataclass
class _Failure:
    kind: str
    remaining: int
    method: str | None
    path: str | None
    drop: bool
    retry_after: int | None
    end_login: bool = False


@dataclass
class _Answer:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    created: int | None = None


class SchwabServer(LocalService):
    """The local Schwab; ``with SchwabServer() as server:`` starts it on a free port.

    Parameters
    ----------
    seed : int
        Seeds the generated price history.
    cash : Decimal
        The account's opening cash.
    """

    def __init__(self, *, seed: int = 7, cash: Decimal = OPENING_CASH) -> None:
        self.seed = seed
        self.cash = cash
        self._lock = threading.RLock()
        self.oauth = OAuthServer(time.time)
        self.streamer = Streamer(self._lock, lambda: self.venue, self.oauth.valid_access,
                                 self.now_ms)
        self.venue = self._new_venue()
        openings = {x.symbol: float(x.mid) for x in default_listings()}
        self.history = History(seed, openings.get, self.now_ms)
        self.log: list[RequestRecord] = []
        self._failures: list[_Failure] = []
        self._app = Starlette(routes=[Mount("", app=self._asgi)])
        self._http = LocalServer(self._app, "the local Schwab", websockets=True)

    # -- running --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the adapter's ``api_url``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def streamer_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``, as the user preferences give it."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @staticmethod
    def now_ms() -> int:
        """The server's clock."""
        return int(time.time() * 1000)

    def _cut_connections(self) -> None:
        self.streamer.drop_all()

    # -- steering -------------------------------------------------------------------------

    def reset(self) -> None:
        """Opening prices and cash; no orders, positions, log, pending failures or grant
        counts (tokens and streamer connections stay)."""
        with self._lock:
            self.venue = self._new_venue()
            self.log.clear()
            self._failures.clear()
            self.oauth.issued.clear()
            self.oauth.refused = 0
            self.streamer.denied = 0

    def set_price(self, symbol: str, bid: Decimal | str | float, ask: Decimal | str | float,
                  at_ms: int | None = None) -> None:
        """Move ``symbol``'s quote (Schwab's quote time ``at_ms``, default now): working
        orders react, streamer subscribers get it."""
        with self._lock:
            self.venue.set_price(symbol, Decimal(str(bid)), Decimal(str(ask)), at_ms)

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        """``symbol``'s (bid, ask)."""
        with self._lock:
            listing = self.venue.listing(symbol)
            return listing.bid, listing.ask

    def fill(self, order_id: int, quantity: Decimal | str | float) -> None:
        """Execute part of a working order at its limit price."""
        with self._lock:
            self.venue.fill(order_id, Decimal(str(quantity)))

    def order(self, order_id: int) -> StandinOrder:
        """An order of the model by id (any node of a tree)."""
        with self._lock:
            return self.venue.order(order_id)

    def orders(self) -> list[StandinOrder]:
        """Every order tree booked, oldest first."""
        with self._lock:
            return list(self.venue.roots)

    def positions(self) -> dict[str, Decimal]:
        """Net positions by symbol."""
        with self._lock:
            return {s: h.quantity for s, h in self.venue.holdings.items()}

    def arm(self, flag: str) -> None:
        """Mark the next order: ``duplicate_reports`` (each execution listed twice),
        ``out_of_order`` (executions in two parts, listed newest first) or ``reject`` (booked,
        then REJECTED with a statusDescription)."""
        if flag not in ("duplicate_reports", "out_of_order", "reject"):
            raise ValueError(f"unknown flag {flag!r}")
        with self._lock:
            self.venue.next_flags.add(flag)

    def fail_next(self, kind: str, count: int = 1, *, method: str | None = None,
                  path: str | None = None, drop: bool = False,
                  retry_after: int | None = 1, end_login: bool = False) -> None:
        """Make the next ``count`` matching requests fail.

        Parameters
        ----------
        kind : str
            ``rate_limit`` (429 before anything happens, ``Retry-After`` when given),
            ``unavailable`` (503 before anything happens), ``lost_answer`` (an order POST or
            PUT takes effect, then 504, or with ``drop`` the connection closes unanswered; with
            ``end_login`` every access token expires and every refresh token is revoked right
            after), ``insufficient_funds`` (an order POST refused with 400, buying power) or
            ``expire_token`` (every access token expires just before an order POST or PUT is
            checked: it gets 401 and nothing is placed).
        method, path : str, optional
            Only requests with this method and path prefix. By default ``rate_limit`` and
            ``unavailable`` hit any ``/trader`` request, the other two only order POSTs and
            PUTs.
        """
        if kind not in FAILURES:
            raise ValueError(f"unknown failure {kind!r}; one of {FAILURES}")
        with self._lock:
            self._failures.append(_Failure(kind, count, method, path, drop, retry_after,
                                           end_login))

    def requests(self, path: str | None = None, method: str | None = None
                 ) -> list[RequestRecord]:
        """The requests received (of a path prefix and/or method), oldest first."""
        with self._lock:
            return [r for r in self.log if (path is None or r.path.startswith(path))
                    and (method is None or r.method == method.upper())]

    def drop_streams(self) -> None:
        """Close every streamer connection."""
        self.streamer.drop_all()

    # -- serving --------------------------------------------------------------------------

    def _new_venue(self) -> Venue:
        venue = Venue(self.now_ms, ACCOUNT_NUMBER, self.cash)
        venue.price_listeners.append(self.streamer.price_changed)
        return venue

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if scope["path"] == "/ws":
                await self.streamer.serve(scope, receive, send)
            return
        request = Request(scope, receive)
        raw = (await request.body()).decode("utf-8", "replace")
        params = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.items()}
        method, path = scope["method"], scope["path"]
        with self._lock:
            answer, body = self._answer(method, path, params, headers, raw)
            self.log.append(RequestRecord(method, path, params, body,
                                          0 if answer.drop else answer.status, answer.created,
                                          self.now_ms()))
        if answer.drop and await _drop_connection(receive):
            return
        if answer.payload is None:
            response: Response = Response(status_code=answer.status, headers=answer.headers)
        else:
            response = JSONResponse(answer.payload, status_code=answer.status,
                                    headers=answer.headers)
        await response(scope, receive, send)

    def _answer(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
                raw: str) -> tuple[_Answer, Any]:
        api = OAUTH if path.startswith("/v1/oauth") else (
            MARKET_DATA if path.startswith("/marketdata") else TRADER)
        body: Any = None
        try:
            if api == OAUTH:
                body = dict(parse_qsl(raw)) if raw else None
                return self._oauth(method, path, params, headers, body), _public(body)
            body = _json(raw)
            if self._take(method, path, "expire_token") is not None:
                self.oauth.expire_access_tokens()
            self.oauth.check_bearer(headers.get("authorization", ""))
            self._fail_before(method, path)
            if api == MARKET_DATA:
                return self._market_data(path, params), body
            return self._trader(method, path, params, body), body
        except SchwabError as error:
            if error.status >= 500 or error.status == 429:
                logger.info("local schwab answered %s %s with %s", method, path, error.status)
            return _Answer(error.status, error.body(api), dict(error.headers)), body

    def _oauth(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
               form: dict[str, str] | None) -> _Answer:
        if method == "GET" and path == "/v1/oauth/authorize":
            location = self.oauth.authorize(params.get("client_id", ""),
                                            params.get("redirect_uri", ""))
            return _Answer(302, None, {"Location": location})
        if method == "POST" and path == "/v1/oauth/token":
            if headers.get("content-type", "").split(";")[0] != \
                    "application/x-www-form-urlencoded":
                raise SchwabError(400, "invalid_request",
                                  description="the body must be application/x-www-form-urlencoded")
            return _Answer(200, self.oauth.token(headers.get("authorization", ""), form or {}))
        raise not_found(path)

    def _market_data(self, path: str, params: dict[str, str]) -> _Answer:
        if path == "/marketdata/v1/pricehistory":
            return _Answer(200, self.history.answer(params))
        if path == "/marketdata/v1/quotes":
            return _Answer(200, self._quotes(params.get("symbols", "")))
        raise not_found(path)

    def _quotes(self, symbols: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        invalid = []
        for symbol in [s.strip() for s in symbols.split(",") if s.strip()]:
            listing = self.venue.listings.get(symbol)
            if listing is None:
                invalid.append(symbol)
                continue
            reference: dict[str, Any] = {"description": listing.description,
                                         "exchange": "Q", "exchangeName": "NASDAQ"}
            if listing.asset_type == "OPTION" and listing.expiry is not None:
                year, month, day = listing.expiry
                reference.update({"contractType": listing.put_call[0],
                                  "strikePrice": float(listing.strike or 0),
                                  "multiplier": float(listing.multiplier),
                                  "underlying": listing.underlying, "expirationYear": year,
                                  "expirationMonth": month, "expirationDay": day,
                                  "exchange": "o", "exchangeName": "OPR"})
            out[symbol] = {
                "assetMainType": listing.asset_type, "symbol": symbol, "realtime": True,
                "quoteType": "NBBO" if listing.asset_type == "EQUITY" else "",
                "quote": {"bidPrice": float(listing.bid), "askPrice": float(listing.ask),
                          "lastPrice": float(listing.mid), "mark": float(listing.mid),
                          "quoteTime": listing.quote_ms or self.now_ms(),
                          "tradeTime": listing.quote_ms or self.now_ms()},
                "reference": reference}
        if invalid:
            out["errors"] = {"invalidSymbols": invalid}
        return out

    def _trader(self, method: str, path: str, params: dict[str, str], body: Any) -> _Answer:
        if method == "GET" and path == "/trader/v1/accounts/accountNumbers":
            return _Answer(200, [{"accountNumber": ACCOUNT_NUMBER, "hashValue": ACCOUNT_HASH}])
        if method == "GET" and path == "/trader/v1/userPreference":
            return _Answer(200, self._preferences())
        if method == "GET" and path == "/trader/v1/accounts":
            return _Answer(200, [self.venue.account_json("positions" in params.get("fields",
                                                                                   ""))])
        match = _ACCOUNT.match(path)
        if match and method == "GET":
            self._check_hash(match["hash"])
            return _Answer(200, self.venue.account_json(
                "positions" in params.get("fields", "")))
        match = _ORDERS.match(path)
        if match is None:
            raise not_found(path)
        self._check_hash(match["hash"])
        if match["id"] is None:
            if method == "GET":
                return _Answer(200, self._list_orders(params))
            if method == "POST":
                return self._place(method, path, body)
            raise not_found(path)
        try:
            order_id = int(match["id"])
        except ValueError:
            raise bad_request(f"orderId {match['id']!r} is not a number") from None
        if method == "GET":
            return _Answer(200, order_json(self.venue.order(order_id)))
        if method == "DELETE":
            self.venue.cancel(order_id)
            return _Answer(200)
        if method == "PUT":
            return self._place(method, path, body, replacing=order_id)
        raise not_found(path)

    def _place(self, method: str, path: str, body: Any, replacing: int | None = None
               ) -> _Answer:
        if self._take(method, path, "insufficient_funds") is not None:
            raise insufficient_funds()
        order = self.venue.place(body) if replacing is None \
            else self.venue.replace(replacing, body)
        location = f"{self.base_url}/trader/v1/accounts/{ACCOUNT_HASH}/orders/{order.order_id}"
        lost = self._take(method, path, "lost_answer")
        if lost is not None:
            if lost.end_login:
                self.oauth.expire_access_tokens()
                self.oauth.revoke_refresh_tokens()
            error = gateway_timeout()
            return _Answer(error.status, error.body(TRADER), drop=lost.drop,
                           created=order.order_id)
        return _Answer(201, None, {"Location": location}, created=order.order_id)

    def _list_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        start = query_time(params.get("fromEnteredTime"), "fromEnteredTime")
        end = query_time(params.get("toEnteredTime"), "toEnteredTime")
        if end < start or end - start > 366 * 86_400_000:
            raise bad_request("the range from fromEnteredTime to toEnteredTime must be at most "
                              "one year")
        status = params.get("status")
        limit = int(params.get("maxResults", "3000"))
        found = [o for o in self.venue.roots if start <= o.entered_ms <= end
                 and (status is None or o.status == status)]
        found.sort(key=lambda o: o.entered_ms, reverse=True)
        return [order_json(o) for o in found[:limit]]

    def _preferences(self) -> dict[str, Any]:
        return {
            "accounts": [{"accountNumber": ACCOUNT_NUMBER, "primaryAccount": True,
                          "type": "BROKERAGE", "nickName": "Individual",
                          "displayAcctId": f"...{ACCOUNT_NUMBER[-3:]}",
                          "autoPositionEffect": False, "accountColor": "Green"}],
            "streamerInfo": [{"streamerSocketUrl": self.streamer_url,
                              "schwabClientCustomerId": CUSTOMER_ID,
                              "schwabClientCorrelId": CORREL_ID,
                              "schwabClientChannel": CHANNEL,
                              "schwabClientFunctionId": FUNCTION_ID}],
            "offers": [{"level2Permissions": True, "mktDataPermission": "NP"}]}

    @staticmethod
    def _check_hash(value: str) -> None:
        if value != ACCOUNT_HASH:
            raise forbidden()

    def _fail_before(self, method: str, path: str) -> None:
        failure = self._take(method, path, "rate_limit")
        if failure is not None:
            raise rate_limited(failure.retry_after)
        if self._take(method, path, "unavailable") is not None:
            raise unavailable()

    def _take(self, method: str, path: str, kind: str) -> _Failure | None:
        placing = method in ("POST", "PUT") and _ORDERS.match(path) is not None
        for failure in self._failures:
            if failure.kind != kind or failure.remaining <= 0:
                continue
            if failure.method is not None and failure.method != method:
                continue
            if failure.path is not None and not path.startswith(failure.path):
                continue
            if failure.path is None and failure.method is None:
                order_only = kind in ("lost_answer", "insufficient_funds", "expire_token")
                if (order_only and not placing) or not path.startswith("/trader"):
                    continue
            failure.remaining -= 1
            if failure.remaining == 0:
                self._failures.remove(failure)
            return failure
        return None


def _json(raw: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("the body is not valid JSON") from None


def _public(form: dict[str, str] | None) -> dict[str, str] | None:
    # the log keeps the grant type, never a code or token
    return None if form is None else {"grant_type": form.get("grant_type", "")}


async def _drop_connection(receive: Receive) -> bool:
    # uvicorn keeps the transport on the request cycle `receive` is bound to: aborting it makes
    # the client see the connection closed with no answer
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass
    return True


__all__ = ["ACCOUNT_HASH", "ACCOUNT_NUMBER", "FAILURES", "FINAL", "OPENING_CASH",
           "RequestRecord", "SchwabServer"]
