"""A local cTrader Open API proxy on 127.0.0.1: TLS, length-prefixed ``ProtoMessage`` frames,
the adapter's own codec (:mod:`tradeloop.brokers.ctrader.wire`), one demo account.

It checks what the proxy checks (the application before anything else, the account's access
token before any account request), answers with cTrader's message shapes and error codes, and
pushes execution and spot events to the connections that authorised the account. Tests steer
it from their own thread: prices, partial fills, injected faults, dropped or hung connections,
token expiry and invalidation, the request log. See ``README.md``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from tradeloop.brokers.ctrader import messages as m
from tradeloop.brokers.ctrader.messages import PT
from tradeloop.brokers.ctrader.wire import Envelope, WireError, decode, read_frame

from .model import ACCOUNT_ID, Account, Event, Refused, now_ms
from .queries import Queries, Session
from .tls import server_context

CLIENT_ID = "3141_localClientIdForTests"
CLIENT_SECRET = "local-client-secret-2718"
ACCESS_TOKEN = "local-access-token-aaaa-1111"
REFRESH_TOKEN = "local-refresh-token-bbbb-2222"
FAULTS = ("reject_fatal", "reject_retryable", "lose_answer", "duplicate_reports",
          "out_of_order")
_ACCOUNT_FREE = frozenset({PT.HEARTBEAT_EVENT, PT.APPLICATION_AUTH_REQ,
                           PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ, PT.ACCOUNT_AUTH_REQ,
                           PT.REFRESH_TOKEN_REQ})
T = TypeVar("T")


@dataclass(frozen=True)
class Record:
    """One message the proxy received: payload type, decoded fields, client message id."""

    payload_type: int
    body: dict[str, Any]
    client_msg_id: str


class CtraderServer(Queries):
    """The local proxy; ``with CtraderServer() as server:`` serves on a free port.

    Parameters
    ----------
    hedged : bool
        A hedging account (the default, as most cTrader accounts) or a netting one.
    heartbeat_s : float
        How often the proxy sends each connection a heartbeat.
    trendbar_cap : int
        The most trendbars one answer holds (the newest; ``hasMore`` says there are more).
    history_days : int
        How far back trendbars exist.
    seed : int
        Seeds the price path of the history.
    retry_after_s : int
        How long a rate-limited message type stays blocked (``retryAfter``).
    """

    def __init__(self, *, hedged: bool = True, heartbeat_s: float = 10.0,
                 trendbar_cap: int = 4000, history_days: int = 60, seed: int = 7,
                 retry_after_s: int = 1) -> None:
        self.hedged = hedged
        self.heartbeat_s = heartbeat_s
        self.trendbar_cap = trendbar_cap
        self.history_days = history_days
        self.seed = seed
        self.retry_after_s = retry_after_s
        self.port = 0
        self.account = Account(hedged=hedged)
        self.log: list[Record] = []
        self._sessions: set[Session] = set()
        self._faults: list[str] = []
        self._blocked_until: dict[int, float] = {}
        self._submits: collections.Counter[str] = collections.Counter()
        self._access = {ACCESS_TOKEN}
        self._expired: set[str] = set()
        self._refresh = {REFRESH_TOKEN}
        self._renewals = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on 127.0.0.1 in a thread (a free port the first time, the same after)."""
        if self._thread is not None:
            return
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._open())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="local-ctrader", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the local cTrader proxy did not start")

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  ssl=server_context())
        self.port = self._server.sockets[0].getsockname()[1]
        self._spawn(self._timers())

    def stop(self) -> None:
        """Close every connection and stop serving."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError, TimeoutError):
            self._call(self._close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.writer.close()
        for task in list(self._tasks):
            task.cancel()
        self._server = None

    def __enter__(self) -> CtraderServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)``."""
        return "127.0.0.1", self.port

    def _call(self, work: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        assert self._loop is not None, "the proxy is not running"
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def _do(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self._call(run())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- control ----------------------------------------------------------------------------

    def reset(self) -> None:
        """A fresh account (opening prices, balance; no orders, deals or positions), no armed
        faults, blocks or log, the original tokens and no renewals; connections stay."""
        def work() -> None:
            self.account = Account(hedged=self.hedged)
            self.log.clear()
            self._faults.clear()
            self._blocked_until.clear()
            self._submits.clear()
            self._access, self._expired, self._refresh = {ACCESS_TOKEN}, set(), {REFRESH_TOKEN}
            self._renewals = 0
            for session in self._sessions:
                session.muted = False
        self._do(work)

    def set_price(self, symbol: str, bid: Decimal | float | str, ask: Decimal | float | str
                  ) -> None:
        """Make ``bid``/``ask`` the market: spots go out, resting orders and stops match."""
        spec = self.account.by_name[symbol]

        async def work() -> None:
            old = self.account.prices[spec.symbol_id]
            new = (_scaled(bid), _scaled(ask))
            events = self.account.set_price(spec.symbol_id, *new)
            await self._spot(spec.symbol_id, old, new)
            await self._publish(events)
        self._call(work())

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        """The current bid and ask."""
        bid, ask = self.account.prices[self.account.by_name[symbol].symbol_id]
        return Decimal(bid) / 100_000, Decimal(ask) / 100_000

    def fill(self, client_order_id: str, quantity: Decimal | float | str) -> None:
        """Fill ``quantity`` (units) of a resting order at its own price."""
        async def work() -> None:
            order = self.account.by_client_id(client_order_id)
            if order is None:
                raise KeyError(client_order_id)
            volume = int(Decimal(str(quantity)) * 100)
            await self._publish(self.account.fill(order.order_id, volume))
        self._call(work())

    def arm(self, fault: str) -> None:
        """Arm one of :data:`FAULTS` for the next new order."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
        self._do(lambda: self._faults.append(fault))

    def submits(self, client_order_id: str) -> int:
        """How many new-order requests with this client order id reached the account."""
        return self._do(lambda: self._submits[client_order_id])

    def drop_connections(self) -> None:
        """Close every client connection (the proxy stays up)."""
        def work() -> None:
            for session in list(self._sessions):
                session.writer.close()
        self._do(work)

    def hang(self) -> None:
        """The open connections go silent (no answers, no heartbeats) but stay open."""
        def work() -> None:
            for session in self._sessions:
                session.muted = True
        self._do(work)

    def expire_token(self) -> None:
        """The access token in use expires: account authorisations with it are refused
        (``OA_AUTH_TOKEN_EXPIRED``); sessions already authorised go on."""
        def work() -> None:
            self._expired |= self._access
            self._access = set()
        self._do(work)

    def invalidate_token(self, reason: str = "Access Token is expired or recalled") -> None:
        """Revoke the access token: sessions of the account are dropped with
        ``ProtoOAAccountsTokenInvalidatedEvent``."""
        async def work() -> None:
            self._expired |= self._access
            self._access = set()
            for session in list(self._sessions):
                if ACCOUNT_ID in session.accounts:
                    session.accounts.discard(ACCOUNT_ID)
                    session.spots.clear()
                    await session.send(PT.ACCOUNTS_TOKEN_INVALIDATED_EVENT, {
                        "ctidTraderAccountIds": [ACCOUNT_ID], "reason": reason})
        self._call(work())

    def disconnect_client(self, reason: str = "maintenance") -> None:
        """Send every connection ``ProtoOAClientDisconnectEvent`` and close it."""
        async def work() -> None:
            for session in list(self._sessions):
                await session.send(PT.CLIENT_DISCONNECT_EVENT, {"reason": reason})
                session.writer.close()
        self._call(work())

    def drop_account_sessions(self) -> None:
        """End the account's sessions (``ProtoOAAccountDisconnectEvent``); the connections
        stay open and must authorise the account again."""
        async def work() -> None:
            for session in list(self._sessions):
                if ACCOUNT_ID in session.accounts:
                    session.accounts.discard(ACCOUNT_ID)
                    session.spots.clear()
                    await session.send(PT.ACCOUNT_DISCONNECT_EVENT,
                                       {"ctidTraderAccountId": ACCOUNT_ID})
        self._call(work())

    def connections(self) -> int:
        """Open client connections."""
        return self._do(lambda: len(self._sessions))

    def heartbeats(self) -> int:
        """Heartbeats received from clients, all connections together."""
        return self._do(lambda: sum(s.heartbeats for s in self._sessions))

    def requests(self, payload_type: int | None = None) -> list[Record]:
        """The messages received (of one payload type when given)."""
        return self._do(lambda: [r for r in self.log if payload_type is None
                                 or r.payload_type == payload_type])

    @property
    def renewals(self) -> int:
        """Access tokens renewed with a refresh token."""
        return self._renewals

    # -- connections ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(writer)
        self._sessions.add(session)
        beat = asyncio.get_running_loop().create_task(self._beat(session))
        try:
            while True:
                raw = await read_frame(reader)
                if session.muted:
                    continue
                envelope = Envelope.from_bytes(raw)
                found = m.schema(envelope.payload_type)
                body = decode(found, envelope.payload) if found is not None else {}
                self.log.append(Record(envelope.payload_type, body, envelope.client_msg_id))
                await self._handle(session, envelope.payload_type, body,
                                   envelope.client_msg_id)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, WireError,
                OSError):
            pass
        finally:
            beat.cancel()
            self._sessions.discard(session)
            writer.close()

    async def _beat(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            await session.send(PT.HEARTBEAT_EVENT, {})

    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            await self._publish(self.account.expire())

    async def _publish(self, events: list[Event], client_msg_id: str = "",
                       origin: Session | None = None) -> None:
        """Push events to every connection of the account; the one whose request caused
        them gets its ``clientMsgId`` back on them."""
        targets = [s for s in self._sessions if ACCOUNT_ID in s.accounts]
        for payload_type, body, order in events:
            if order is not None and "silent" in order.faults:
                continue
            times = 2 if order is not None and "duplicate" in order.faults else 1
            for session in targets:
                echo = client_msg_id if session is origin else ""
                for _ in range(times):
                    await session.send(payload_type, body, echo)

    async def _spot(self, symbol_id: int, old: tuple[int, int], new: tuple[int, int]) -> None:
        body: dict[str, Any] = {"ctidTraderAccountId": ACCOUNT_ID, "symbolId": symbol_id,
                                "timestamp": now_ms()}
        if new[0] != old[0]:
            body["bid"] = new[0]
        if new[1] != old[1]:
            body["ask"] = new[1]
        if "bid" not in body and "ask" not in body:
            return
        for session in list(self._sessions):
            if symbol_id in session.spots and ACCOUNT_ID in session.accounts:
                await session.send(PT.SPOT_EVENT, body)

    # -- requests ---------------------------------------------------------------------------

    async def _error(self, session: Session, code: str, description: str, msg_id: str,
                     **extra: Any) -> None:
        await session.send(PT.OA_ERROR_RES, {"errorCode": code, "description": description,
                                             **extra}, msg_id)

    async def _handle(self, session: Session, kind: int, body: dict[str, Any], msg_id: str
                      ) -> None:
        if kind == PT.HEARTBEAT_EVENT:
            session.heartbeats += 1
            return
        if m.schema(kind) is None:
            await session.send(PT.ERROR_RES, {"errorCode": "UNSUPPORTED_MESSAGE",
                                              "description": f"payload type {kind}"}, msg_id)
            return
        if kind == PT.APPLICATION_AUTH_REQ:
            await self._application_auth(session, body, msg_id)
            return
        if not session.app:
            await self._error(session, "CH_CLIENT_NOT_AUTHENTICATED",
                              "the application is not authorised", msg_id)
            return
        if kind not in _ACCOUNT_FREE:
            account = int(body.get("ctidTraderAccountId", 0))
            if account not in session.accounts:
                await self._error(session, "ACCOUNT_NOT_AUTHORIZED",
                                  "the account is not authorised", msg_id,
                                  ctidTraderAccountId=account)
                return
            if time.monotonic() < self._blocked_until.get(kind, 0.0):
                await self._error(session, "BLOCKED_PAYLOAD_TYPE", "rate limit reached",
                                  msg_id, retryAfter=self.retry_after_s,
                                  ctidTraderAccountId=account)
                return
        handler = getattr(self, f"_on_{PT(kind).name.lower()}", None)
        if handler is None:
            await session.send(PT.ERROR_RES, {"errorCode": "UNSUPPORTED_MESSAGE"}, msg_id)
            return
        try:
            await handler(session, body, msg_id)
        except Refused as exc:
            await self._error(session, exc.code, exc.description, msg_id,
                              ctidTraderAccountId=ACCOUNT_ID)

    async def _application_auth(self, session: Session, body: dict[str, Any],
                                msg_id: str) -> None:
        if session.app:
            await self._error(session, "CH_CLIENT_ALREADY_AUTHENTICATED", "already", msg_id)
        elif body.get("clientId") == CLIENT_ID and body.get("clientSecret") == CLIENT_SECRET:
            session.app = True
            await session.send(PT.APPLICATION_AUTH_RES, {}, msg_id)
        else:
            await self._error(session, "CH_CLIENT_AUTH_FAILURE",
                              "wrong client credentials", msg_id)

    def _token_error(self, token: str) -> str | None:
        if token in self._access:
            return None
        return "OA_AUTH_TOKEN_EXPIRED" if token in self._expired else "CH_ACCESS_TOKEN_INVALID"

    async def _on_get_accounts_by_access_token_req(self, session: Session,
                                                   body: dict[str, Any], msg_id: str) -> None:
        token = str(body.get("accessToken", ""))
        problem = self._token_error(token)
        if problem is not None:
            raise Refused(problem, "access token refused")
        await session.send(PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_RES, {
            "accessToken": token, "permissionScope": 1,
            "ctidTraderAccount": [{"ctidTraderAccountId": ACCOUNT_ID, "isLive": False,
                                   "traderLogin": 7_000_001,
                                   "brokerTitleShort": "Local"}]}, msg_id)

    async def _on_account_auth_req(self, session: Session, body: dict[str, Any],
                                   msg_id: str) -> None:
        account = int(body.get("ctidTraderAccountId", 0))
        if account != ACCOUNT_ID:
            raise Refused("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", f"no account {account}")
        problem = self._token_error(str(body.get("accessToken", "")))
        if problem is not None:
            raise Refused(problem, "access token refused")
        session.accounts.add(account)
        await session.send(PT.ACCOUNT_AUTH_RES, {"ctidTraderAccountId": account}, msg_id)

    async def _on_refresh_token_req(self, session: Session, body: dict[str, Any],
                                    msg_id: str) -> None:
        token = str(body.get("refreshToken", ""))
        if token not in self._refresh:
            raise Refused("CH_ACCESS_TOKEN_INVALID", "refresh token refused")
        self._renewals += 1
        access = f"local-access-token-renewed-{self._renewals}"
        refresh = f"local-refresh-token-renewed-{self._renewals}"
        self._refresh = {refresh}
        self._access.add(access)
        await session.send(PT.REFRESH_TOKEN_RES, {"accessToken": access, "tokenType": "bearer",
                                                  "expiresIn": 2_628_000,
                                                  "refreshToken": refresh}, msg_id)

    async def _on_subscribe_spots_req(self, session: Session, body: dict[str, Any],
                                      msg_id: str) -> None:
        ids = [int(i) for i in body.get("symbolId", [])]
        if any(i not in self.account.specs for i in ids):
            raise Refused("SYMBOL_NOT_FOUND", "no such symbol")
        if any(i in session.spots for i in ids):
            raise Refused("ALREADY_SUBSCRIBED", "already subscribed")
        session.spots.update(ids)
        await session.send(PT.SUBSCRIBE_SPOTS_RES, {"ctidTraderAccountId": ACCOUNT_ID}, msg_id)
        for symbol_id in ids:
            bid, ask = self.account.prices[symbol_id]
            await session.send(PT.SPOT_EVENT, {"ctidTraderAccountId": ACCOUNT_ID,
                                               "symbolId": symbol_id, "bid": bid, "ask": ask,
                                               "timestamp": now_ms()})

    async def _on_unsubscribe_spots_req(self, session: Session, body: dict[str, Any],
                                        msg_id: str) -> None:
        session.spots.difference_update(int(i) for i in body.get("symbolId", []))
        await session.send(PT.UNSUBSCRIBE_SPOTS_RES, {"ctidTraderAccountId": ACCOUNT_ID},
                           msg_id)

    async def _on_new_order_req(self, session: Session, body: dict[str, Any],
                                msg_id: str) -> None:
        fault = self._faults.pop(0) if self._faults else None
        if fault == "reject_retryable":
            self._blocked_until[PT.NEW_ORDER_REQ] = time.monotonic() + self.retry_after_s
            await self._error(session, "BLOCKED_PAYLOAD_TYPE", "rate limit reached", msg_id,
                              retryAfter=self.retry_after_s, ctidTraderAccountId=ACCOUNT_ID)
            return
        cid = str(body.get("clientOrderId", ""))
        self._submits[cid] += 1
        if fault == "reject_fatal":
            await session.send(PT.ORDER_ERROR_EVENT, {
                "ctidTraderAccountId": ACCOUNT_ID, "errorCode": "NOT_ENOUGH_MONEY",
                "description": "Not enough money"}, msg_id)
            return
        try:
            order, events = self.account.new_order(body)
        except Refused as exc:
            await session.send(PT.ORDER_ERROR_EVENT, {
                "ctidTraderAccountId": ACCOUNT_ID, "errorCode": exc.code,
                "description": exc.description}, msg_id)
            return
        if fault == "lose_answer":
            order.faults.add("silent")
        elif fault == "duplicate_reports":
            order.faults.add("duplicate")
        elif fault == "out_of_order":
            events.reverse()
        await self._publish(events, msg_id, session)

    async def _on_cancel_order_req(self, session: Session, body: dict[str, Any],
                                   msg_id: str) -> None:
        await self._order_request(session, lambda: self.account.cancel(
            int(body.get("orderId", 0))), int(body.get("orderId", 0)), msg_id)

    async def _on_amend_order_req(self, session: Session, body: dict[str, Any],
                                  msg_id: str) -> None:
        await self._order_request(session, lambda: self.account.amend(body),
                                  int(body.get("orderId", 0)), msg_id)

    async def _on_close_position_req(self, session: Session, body: dict[str, Any],
                                     msg_id: str) -> None:
        await self._order_request(session, lambda: self.account.close_position(
            int(body.get("positionId", 0)), int(body.get("volume", 0))), 0, msg_id)

    async def _order_request(self, session: Session, work: Callable[[], list[Event]],
                             order_id: int, msg_id: str) -> None:
        try:
            events = work()
        except Refused as exc:
            await session.send(PT.ORDER_ERROR_EVENT, {
                "ctidTraderAccountId": ACCOUNT_ID, "errorCode": exc.code,
                "orderId": order_id or None, "description": exc.description}, msg_id)
            return
        await self._publish(events, msg_id, session)


def _scaled(value: Decimal | float | str) -> int:
    return int((Decimal(str(value)) * 100_000).to_integral_value())


__all__ = ["ACCESS_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "FAULTS", "REFRESH_TOKEN",
           "CtraderServer", "Record", "Session"]
