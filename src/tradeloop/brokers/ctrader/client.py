"""The connection to cTrader's Open API proxy (:class:`CtraderClient`), shared by the execution
and market data clients.

One TLS connection (asyncio streams; the certificate is always verified, against ``ca_file``
when given) carries length-prefixed ``ProtoMessage`` frames (:mod:`.wire`). After connecting,
the application is authorised (``ProtoOAApplicationAuthReq``), the account found when not
configured (``ProtoOAGetAccountListByAccessTokenReq``) and authorised
(``ProtoOAAccountAuthReq``). Requests carry a ``clientMsgId`` that the proxy echoes on its
answers; everything received also goes to the subscribed handlers (execution events, spots).

A heartbeat is sent every ``heartbeat_s``; a connection that received nothing for
``read_timeout_s`` is taken as dead. A lost connection is opened again with exponential backoff
and both authorisations are repeated; the ``on_ready`` callbacks then bring orders and
subscriptions up to date. An expired or revoked access token (a refused account
authorisation, ``ProtoOAAccountsTokenInvalidatedEvent``) is renewed with the refresh token when
one is configured; otherwise every call fails with one message saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tradeloop.brokers.base import cancel_tasks
from tradeloop.brokers.ctrader.config import CtraderConfig
from tradeloop.brokers.ctrader.errors import (
    CtraderAuthError,
    CtraderError,
    CtraderOutcomeUnknownError,
    CtraderRetryableError,
    auth_advice,
    error_for,
)
from tradeloop.brokers.ctrader.messages import PT, name_of, schema
from tradeloop.brokers.ctrader.tokens import Tokens, TokenStore
from tradeloop.brokers.ctrader.wire import Envelope, WireError, decode, encode, frame, read_frame
from tradeloop.core.errors import VenueError
from tradeloop.core.logging import register_secret

logger = logging.getLogger(__name__)

_ERRORS = frozenset({PT.ERROR_RES, PT.OA_ERROR_RES, PT.ORDER_ERROR_EVENT})
_TOKEN_CODES = frozenset({"OA_AUTH_TOKEN_EXPIRED", "CH_ACCESS_TOKEN_INVALID"})


@dataclass(frozen=True)
class Incoming:
    """One message received: its payload type, decoded fields and echoed client message id."""

    payload_type: int
    body: dict[str, Any]
    client_msg_id: str = ""

    @property
    def name(self) -> str:
        """The message's name."""
        return name_of(self.payload_type)


Handler = Callable[[Incoming], None]
ReadyCallback = Callable[[bool], Awaitable[None]]


class _Lost(Exception):
    """The connection dropped while a request waited for its answer."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_received: float = field(default_factory=time.monotonic)
    last_sent: float = field(default_factory=time.monotonic)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def send(self, payload_type: int, body: dict[str, Any], client_msg_id: str) -> None:
        found = schema(payload_type)
        if found is None:
            raise WireError(f"no schema for payload type {payload_type}")
        envelope = Envelope(payload_type, encode(found, {"payloadType": payload_type, **body}),
                            client_msg_id)
        async with self.lock:
            if self.closed.is_set() or self.writer.is_closing():
                raise ConnectionError("the connection is closed")
            self.writer.write(frame(envelope.to_bytes()))
            await self.writer.drain()
            self.last_sent = time.monotonic()

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(Exception):
            self.writer.close()


class CtraderClient:
    """A connection to the Open API with the account authorised on it.

    Parameters
    ----------
    config : CtraderConfig
    tokens : TokenStore, optional
        Where renewed tokens are kept.
    """

    def __init__(self, config: CtraderConfig, tokens: TokenStore | None = None) -> None:
        self.config = config
        self.account_id = config.account_id
        self._store = tokens or TokenStore(None)
        original = config.secret("access_token")
        stored = self._store.load(original) if original else None
        self._tokens = stored or Tokens(original, config.secret("refresh_token"))
        self._handlers: list[Handler] = []
        self._ready_callbacks: list[ReadyCallback] = []
        self._pending: dict[str, asyncio.Future[Incoming]] = {}
        self._ids = itertools.count(1)
        self._prefix = f"tl{uuid.uuid4().hex[:6]}-"
        self._conn: _Connection | None = None
        self._ready: asyncio.Event | None = None
        self._fatal: CtraderError | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._users = 0
        self._closing = False
        #: Connections opened again after a loss.
        self.reconnects = 0
        #: Heartbeats sent.
        self.heartbeats = 0
        #: Access tokens renewed with the refresh token.
        self.renewals = 0

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while some client uses the connection."""
        return self._users > 0

    @property
    def connected(self) -> bool:
        """True while the account is authorised on a live connection."""
        return self._ready is not None and self._ready.is_set() and self._fatal is None

    def subscribe(self, handler: Handler) -> None:
        """Send every message received to ``handler`` (on the loop, in arrival order)."""
        self._handlers.append(handler)

    def on_ready(self, callback: ReadyCallback) -> None:
        """Await ``callback(reconnected)`` each time the account is authorised again after a
        loss (a reconnection, a renewed token, an account session the proxy dropped)."""
        self._ready_callbacks.append(callback)

    async def open(self) -> None:
        """Connect and authorise (the first user), or wait until ready (the others).

        Raises
        ------
        CtraderRetryableError
            The proxy cannot be reached.
        CtraderAuthError
            The application, the token or the account is refused.
        """
        self._users += 1
        if self._users > 1:
            try:
                await self.ready()
            except BaseException:
                self._users -= 1
                raise
            return
        self._closing = False
        self._fatal = None
        self._ready = asyncio.Event()
        try:
            await self._connect()
        except BaseException:
            self._users -= 1
            raise
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="ctrader-connection")

    async def close(self) -> None:
        """Release the connection; the last user closes it."""
        if self._users == 0:
            return
        self._users -= 1
        if self._users > 0:
            return
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        await cancel_tasks(supervisor, *self._side_tasks)
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._shut(conn)
        if self._ready is not None:
            self._ready.clear()
        self._fail_pending(_Lost("the connection was closed"))

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the account is authorised.

        Raises
        ------
        CtraderAuthError
            Authorisation was refused for good (the message says what to do).
        CtraderRetryableError
            Not connected within ``timeout`` (default ``connect_timeout_s``).
        """
        if self._fatal is not None:
            raise self._fatal
        if self._ready is None or self._users == 0:
            raise CtraderRetryableError("not connected to cTrader")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout or self.config.connect_timeout_s)
        except TimeoutError:
            raise CtraderRetryableError("not connected to cTrader (reconnecting)") from None
        if self._fatal is not None:
            raise self._fatal

    def drop(self) -> None:
        """Close the current connection as if it were lost (it is opened again)."""
        if self._conn is not None:
            self._conn.close()

    # -- requests -----------------------------------------------------------------------------

    async def request(self, payload_type: int, body: dict[str, Any], *,
                      timeout: float | None = None, state_change: bool = False,
                      account: bool = True) -> Incoming:
        """Send a request and return its first answer.

        Parameters
        ----------
        body : dict
            The request's fields (``ctidTraderAccountId`` is added when ``account``).
        timeout : float, optional
            Default ``request_timeout_s``.
        state_change : bool
            The request may change the account (an order): an answer that never comes is
            ``OutcomeUnknown``, not retryable.

        Raises
        ------
        CtraderRetryableError, CtraderFatalError, CtraderAuthError, CtraderOutcomeUnknownError
            The answer was an error (by its code), or none came.
        """
        await self.ready()
        conn = self._conn
        if conn is None:
            raise CtraderRetryableError("not connected to cTrader")
        if account:
            body = {"ctidTraderAccountId": self.account_id, **body}
        return await self._request(conn, payload_type, body, timeout, state_change)

    async def _request(self, conn: _Connection, payload_type: int, body: dict[str, Any],
                       timeout: float | None, state_change: bool) -> Incoming:
        msg_id = f"{self._prefix}{next(self._ids)}"
        future: asyncio.Future[Incoming] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        what = name_of(payload_type)
        try:
            try:
                await conn.send(payload_type, body, msg_id)
            except (OSError, ConnectionError) as exc:
                raise CtraderRetryableError(f"{what} not sent: {exc}") from None
            try:
                answer = await asyncio.wait_for(asyncio.shield(future),
                                                timeout or self.config.request_timeout_s)
            except TimeoutError:
                text = f"no answer to {what} within {timeout or self.config.request_timeout_s}s"
                if state_change:
                    raise CtraderOutcomeUnknownError(text) from None
                raise CtraderRetryableError(text) from None
            except _Lost as exc:
                if state_change:
                    raise CtraderOutcomeUnknownError(f"{what}: {exc}") from None
                raise CtraderRetryableError(f"{what}: {exc}") from None
        finally:
            self._pending.pop(msg_id, None)
        if answer.payload_type in _ERRORS:
            error = error_for(str(answer.body.get("errorCode", "UNKNOWN_ERROR")),
                              str(answer.body.get("description", "")),
                              float(answer.body.get("retryAfter", 0) or 0))
            if isinstance(error, CtraderRetryableError) and error.retry_after_s > 0:
                await asyncio.sleep(min(error.retry_after_s, self.config.retry_after_max_s))
            raise error
        return answer

    def _fail_pending(self, error: Exception) -> None:
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: a waiter that gave up leaves no warning

    # -- connecting ---------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def _connect(self) -> None:
        host, port = self.config.address
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self._ssl_context(),
                                        server_hostname=host),
                self.config.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise CtraderRetryableError(f"cannot reach cTrader at {host}:{port}: "
                                        f"{type(exc).__name__}: {exc}") from None
        conn = _Connection(reader, writer)
        loop = asyncio.get_running_loop()
        conn.tasks = [loop.create_task(self._read(conn), name="ctrader-read"),
                      loop.create_task(self._heartbeat(conn), name="ctrader-heartbeat")]
        self._conn = conn
        try:
            await asyncio.wait_for(self._authorise(conn), self.config.connect_timeout_s)
        except TimeoutError:
            await self._shut(conn)
            raise CtraderRetryableError("cTrader did not answer the authorisation in time") \
                from None
        except BaseException:
            await self._shut(conn)
            raise
        assert self._ready is not None
        self._ready.set()

    async def _authorise(self, conn: _Connection) -> None:
        await self._request(conn, PT.APPLICATION_AUTH_REQ, {
            "clientId": self.config.secret("client_id"),
            "clientSecret": self.config.secret("client_secret")}, None, False)
        if not self.account_id:
            self.account_id = await self._only_account(conn)
        await self._authorise_account(conn)

    async def _only_account(self, conn: _Connection) -> int:
        answer = await self._request(conn, PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ,
                                     {"accessToken": self._tokens.access}, None, False)
        live = self.config.environment == "live"
        ids = [int(a["ctidTraderAccountId"]) for a in answer.body.get("ctidTraderAccount", [])
               if bool(a.get("isLive", False)) == live]
        if len(ids) != 1:
            found = ", ".join(str(i) for i in ids) or "none"
            raise CtraderAuthError(f"broker.settings.account_id: the access token grants "
                                   f"{len(ids)} {self.config.environment} account(s) ({found}); "
                                   "set account_id to the one to trade")
        return ids[0]

    async def _authorise_account(self, conn: _Connection) -> None:
        try:
            await self._request(conn, PT.ACCOUNT_AUTH_REQ, {
                "ctidTraderAccountId": self.account_id,
                "accessToken": self._tokens.access}, None, False)
        except CtraderAuthError as exc:
            if exc.code not in _TOKEN_CODES or not self._tokens.refresh:
                raise
            await self._renew(conn)
            await self._request(conn, PT.ACCOUNT_AUTH_REQ, {
                "ctidTraderAccountId": self.account_id,
                "accessToken": self._tokens.access}, None, False)

    async def _renew(self, conn: _Connection) -> None:
        """A new access token from the refresh token, kept for the next start."""
        try:
            answer = await self._request(conn, PT.REFRESH_TOKEN_REQ,
                                         {"refreshToken": self._tokens.refresh}, None, False)
        except CtraderAuthError as exc:
            raise CtraderAuthError(f"renewing the access token failed ({exc.code}): "
                                   f"{auth_advice('CH_ACCESS_TOKEN_INVALID')}",
                                   exc.code) from None
        access = str(answer.body.get("accessToken", ""))
        refresh = str(answer.body.get("refreshToken", ""))
        if not access:
            raise CtraderAuthError("cTrader renewed no access token: "
                                   f"{auth_advice('CH_ACCESS_TOKEN_INVALID')}")
        register_secret(access)
        register_secret(refresh)
        expires = float(answer.body.get("expiresIn", 0) or 0)
        self._tokens = Tokens(access, refresh or self._tokens.refresh,
                              time.time() + expires if expires else 0.0)
        self.renewals += 1
        self._store.save(self._tokens, self.config.secret("access_token"))
        logger.info("cTrader access token renewed", extra={"fields": {
            "account": self.account_id, "expires_in_s": expires}})

    async def _shut(self, conn: _Connection) -> None:
        conn.close()
        current = asyncio.current_task()
        await cancel_tasks(*[t for t in conn.tasks if t is not current])
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.writer.wait_closed(), 1.0)

    async def _supervise(self) -> None:
        """Wait for the connection to die, then open it again with backoff."""
        while not self._closing:
            conn = self._conn
            if conn is None:
                return
            await conn.closed.wait()
            if self._closing:
                return
            assert self._ready is not None
            self._ready.clear()
            await self._shut(conn)
            self._fail_pending(_Lost("the connection to cTrader was lost"))
            if self._fatal is not None:
                return
            logger.warning("cTrader connection lost: reconnecting")
            if not await self._reconnect():
                return
            self.reconnects += 1
            logger.info("cTrader connection restored", extra={"fields": {
                "reconnects": self.reconnects, "account": self.account_id}})
            await self._notify_ready()

    async def _reconnect(self) -> bool:
        delay = self.config.reconnect_initial_s
        failures = 0
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._connect()
                return True
            except CtraderAuthError as exc:
                self._give_up(exc)
                return False
            except (CtraderRetryableError, CtraderOutcomeUnknownError, WireError) as exc:
                failures += 1
                logger.warning("cTrader reconnection failed", extra={"fields": {
                    "attempt": failures, "error": str(exc)}})
                limit = self.config.reconnect_attempts
                if limit and failures >= limit:
                    self._give_up(CtraderRetryableError(
                        f"cTrader unreachable after {failures} reconnection attempts: {exc}"))
                    return False
                delay = min(delay * 2, self.config.reconnect_max_s)
        return False

    def _give_up(self, error: CtraderError) -> None:
        self._fatal = error
        logger.error(str(error))
        if self._ready is not None:
            self._ready.set()  # waiters wake up and raise the error
        self._fail_pending(error)

    async def _notify_ready(self) -> None:
        for callback in list(self._ready_callbacks):
            try:
                await callback(True)
            except VenueError as exc:  # the link went again: the next reconnection retries
                logger.warning("cTrader re-synchronisation failed", extra={"fields": {
                    "error": str(exc)}})
            except Exception:
                logger.exception("cTrader re-synchronisation failed")

    # -- reading ------------------------------------------------------------------------------

    async def _read(self, conn: _Connection) -> None:
        try:
            while True:
                raw = await read_frame(conn.reader)
                conn.last_received = time.monotonic()
                message = self._parse(raw)
                if message is not None:
                    self._dispatch(conn, message)
        except (asyncio.IncompleteReadError, OSError, WireError, ssl.SSLError) as exc:
            if not conn.closed.is_set() and not self._closing:
                logger.warning("cTrader connection closed", extra={"fields": {
                    "error": f"{type(exc).__name__}: {exc}"}})
        except Exception:  # a bug must not leave a dead link looking alive
            logger.exception("cTrader reader failed: closing the connection")
        finally:
            conn.close()

    @staticmethod
    def _parse(raw: bytes) -> Incoming | None:
        try:
            envelope = Envelope.from_bytes(raw)
            found = schema(envelope.payload_type)
            body = decode(found, envelope.payload) if found is not None else {}
        except WireError as exc:
            logger.warning("unreadable message from cTrader skipped", extra={"fields": {
                "error": str(exc)}})
            return None
        return Incoming(envelope.payload_type, body, envelope.client_msg_id)

    def _dispatch(self, conn: _Connection, message: Incoming) -> None:
        kind = message.payload_type
        if kind == PT.HEARTBEAT_EVENT:
            return
        account = message.body.get("ctidTraderAccountId")
        if account is not None and self.account_id and int(account) != self.account_id:
            return  # another account's message on a shared connection
        future = self._pending.get(message.client_msg_id) if message.client_msg_id else None
        if future is not None and not future.done():
            future.set_result(message)
        if kind == PT.ACCOUNTS_TOKEN_INVALIDATED_EVENT:
            ids = [int(i) for i in message.body.get("ctidTraderAccountIds", [])]
            if not ids or self.account_id in ids:
                self._spawn(self._token_invalidated(conn, str(message.body.get("reason", ""))))
            return
        if kind == PT.CLIENT_DISCONNECT_EVENT:
            logger.warning("cTrader closed the connection", extra={"fields": {
                "reason": message.body.get("reason", "")}})
            conn.close()
            return
        if kind == PT.ACCOUNT_DISCONNECT_EVENT:
            self._spawn(self._account_dropped(conn))
            return
        for handler in list(self._handlers):
            try:
                handler(message)
            except Exception:
                logger.exception("cTrader message handler failed", extra={"fields": {
                    "message": message.name}})

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _token_invalidated(self, conn: _Connection, reason: str) -> None:
        assert self._ready is not None
        self._ready.clear()
        why = f" ({reason})" if reason else ""
        if self._tokens.refresh:
            try:
                await self._renew(conn)
                await self._authorise_account(conn)
            except CtraderAuthError as exc:
                self._give_up(exc)
                return
            except (CtraderRetryableError, CtraderOutcomeUnknownError) as exc:
                logger.warning("renewing the token failed: reconnecting", extra={"fields": {
                    "error": str(exc)}})
                conn.close()
                return
            self._ready.set()
            await self._notify_ready()
            return
        self._give_up(CtraderAuthError(
            f"cTrader invalidated the access token of account {self.account_id}{why}: "
            f"{auth_advice('CH_ACCESS_TOKEN_INVALID')}", "CH_ACCESS_TOKEN_INVALID"))

    async def _account_dropped(self, conn: _Connection) -> None:
        assert self._ready is not None
        self._ready.clear()
        logger.warning("cTrader dropped the account session: authorising it again")
        try:
            await self._authorise_account(conn)
        except CtraderAuthError as exc:
            self._give_up(exc)
            return
        except (CtraderRetryableError, CtraderOutcomeUnknownError):
            conn.close()
            return
        self._ready.set()
        await self._notify_ready()

    async def _heartbeat(self, conn: _Connection) -> None:
        period = self.config.heartbeat_s
        tick = min(period, self.config.read_timeout_s / 4)
        while not conn.closed.is_set():
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - conn.last_received > self.config.read_timeout_s:
                logger.warning("cTrader sent nothing for too long: the connection is dead",
                               extra={"fields": {"silent_s": round(now - conn.last_received, 1)}})
                conn.close()
                return
            if now - conn.last_sent >= period:
                with contextlib.suppress(OSError, ConnectionError, WireError):
                    await conn.send(PT.HEARTBEAT_EVENT, {}, "")
                    self.heartbeats += 1


__all__ = ["CtraderClient", "Handler", "Incoming"]
