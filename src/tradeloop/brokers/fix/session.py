"""The FIX session over asyncio: we initiate, the counterparty accepts.

:class:`FixSession` connects, logs on, keeps the session alive (Heartbeat when idle, TestRequest
when the counterparty is silent, drop when that goes unanswered), logs out, and reconnects
with exponential backoff and jitter when the connection drops. The sequence rules (gap
recovery both ways, duplicates, SequenceReset) live in
:class:`~tradeloop.brokers.fix.protocol.SessionProtocol`, one per connection.

The application layer hands it application messages (:meth:`FixSession.send`) and gets the
counterparty's through ``on_message``: each once, in sequence order, and the session-level
Rejects of ours too, so that the application can fail the request each one refused.

Errors (from :mod:`tradeloop.core.errors`): a refused connection or an unanswered Logon is
retryable (:class:`FixConnectError`), and so is sending while not logged on
(:class:`FixNotLoggedOnError`: nothing was sent); a Logon refused by the counterparty
(:class:`FixLogonError`) and a broken sequence (:class:`FixSequenceError`) are fatal; a
connection failure while an application message was being written is outcome-unknown
(:class:`FixSendError`: the message is stored and may still reach the counterparty, resent).

Delivery: ``on_message`` runs before the inbound sequence number is saved, so a crash between
the two redelivers that one message after the restart (the application dedups by ExecID);
within one process every message is delivered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import simplefix
from pydantic import SecretStr

from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.config import FixSessionConfig
from tradeloop.brokers.fix.protocol import (
    FixConnectError,
    FixLogonError,
    FixNotLoggedOnError,
    FixSendError,
    FixSequenceError,
    SessionCounters,
    SessionProtocol,
)
from tradeloop.brokers.fix.store import FixSessionStore
from tradeloop.core.errors import FatalVenueError, RetryableVenueError

logger = logging.getLogger(__name__)

#: What receives the counterparty's application messages (a function or a coroutine function).
MessageHandler = Callable[[simplefix.FixMessage], Awaitable[None] | None]


class SessionState(enum.Enum):
    """Where a :class:`FixSession` is."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    LOGGING_ON = "logging_on"
    ACTIVE = "active"
    LOGGING_OUT = "logging_out"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


#: What is told about each state change.
StateHandler = Callable[[SessionState], None]


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_sent: float
    last_received: float
    protocol: SessionProtocol | None = None
    parser: wire.FrameParser = field(default_factory=wire.FrameParser)
    test_request_id: str | None = None
    test_request_sent: float = 0.0
    pings: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    logon: asyncio.Future[None] = field(default_factory=asyncio.Future)
    closed: asyncio.Future[tuple[str, BaseException | None]] = field(
        default_factory=asyncio.Future)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _settle(future: asyncio.Future[Any] | None, error: BaseException | None = None) -> None:
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
        future.exception()  # marked retrieved: its waiter may be gone


class FixSession:
    """One FIX session as the initiator.

    Parameters
    ----------
    config : FixSessionConfig
    on_message : callable
        Called (and awaited when it returns an awaitable) with each application message of
        the counterparty, and each session-level Reject (35=3) of one of ours, in sequence
        order, once; an exception it raises is logged and the
        message counts as processed. Keep it short: nothing is read while it runs, and a
        handler that takes longer than two heartbeat intervals looks like a dead line.
    on_state : callable, optional
        Called with each new :class:`SessionState`; ``ACTIVE`` after a reconnection
        (``counters.logons > 1``) is the moment to reconcile orders.
    now_ns : callable, optional
        The clock of SendingTime; ``time.time_ns`` by default.
    rng : random.Random, optional
        The source of the reconnection jitter.

    Attributes
    ----------
    config : FixSessionConfig
    counters : SessionCounters
        Logons, reconnect attempts, heartbeats, resend requests both ways, gap fills...
    logged_on : asyncio.Event
        Set while the session is ``ACTIVE``.
    """

    def __init__(self, config: FixSessionConfig, on_message: MessageHandler, *,
                 on_state: StateHandler | None = None,
                 now_ns: Callable[[], int] = time.time_ns,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.counters = SessionCounters()
        self.logged_on = asyncio.Event()
        self._on_message = on_message
        self._on_state = on_state
        self._now_ns = now_ns
        self._rng = rng or random.Random()
        self._state = SessionState.DISCONNECTED
        self._store: FixSessionStore | None = None
        self._conn: _Connection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._failure: BaseException | None = None
        self._changed = asyncio.Event()
        self._password: SecretStr | None = None
        self._ids = itertools.count(1)

    # -- public API -------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """Where the session is now."""
        return self._state

    @property
    def failure(self) -> BaseException | None:
        """Why the session is ``FAILED`` (None otherwise)."""
        return self._failure

    @property
    def next_sender_seq(self) -> int:
        """The MsgSeqNum of the next message we send (from the store)."""
        if self._store is not None:
            return self._store.next_sender_seq
        with self._new_store() as store:
            return store.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        """The MsgSeqNum expected next from the counterparty (from the store)."""
        if self._store is not None:
            return self._store.next_target_seq
        with self._new_store() as store:
            return store.next_target_seq

    async def start(self) -> None:
        """Connect and log on; return once the session is ``ACTIVE``.

        Raises
        ------
        FixConnectError
            Refused connection, connect timeout or no Logon answer in time: retryable.
        FixLogonError
            The counterparty refused the Logon (answered with a Logout, or hung up).
        FixSequenceError
            The sequence numbers disagree beyond recovery (ours too low for the
            counterparty, or its too low for us).
        ConfigError
            The password's environment variable is unset.
        """
        if self._state not in (SessionState.DISCONNECTED, SessionState.FAILED):
            raise RuntimeError(f"FIX session {self.config.session_id} is {self._state.value}")
        self._password = self.config.resolved_password()
        self._stopping, self._failure = False, None
        if self._store is None:
            self._store = self._new_store()
        try:
            conn = await self._open_session()
        except FatalVenueError as exc:
            self._fail(exc)
            raise
        except BaseException:
            self._set_state(SessionState.DISCONNECTED)
            raise
        self._supervisor = asyncio.create_task(self._supervise(conn))

    async def stop(self, *, logout: bool = True, reason: str | None = None) -> None:
        """End the session (it does not reconnect afterwards) and close the store.

        Parameters
        ----------
        logout : bool, default True
            Send a Logout and wait (up to ``logout_timeout_s``) for the counterparty's;
            False drops the connection at once, as a crash would.
        reason : str, optional
            The Logout's Text (58).
        """
        self._stopping = True
        conn = self._conn
        if conn is not None and conn.protocol is not None and logout \
                and self._state is SessionState.ACTIVE:
            self._set_state(SessionState.LOGGING_OUT)
            conn.protocol.logging_out = True
            conn.protocol.send_logout(reason)
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed),
                                       self.config.logout_timeout_s)
            except TimeoutError:
                logger.warning("no Logout answer; closing the FIX connection",
                               extra={"fields": {"session": self.config.session_id}})
        if conn is not None:
            await self._close(conn, "stopped")
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._state is not SessionState.FAILED:
            self._set_state(SessionState.DISCONNECTED)
        if self._store is not None:
            self._store.close()
            self._store = None

    async def send(self, message: simplefix.FixMessage) -> int:
        """Send an application message: its header (8, 9, 34, 35, 49, 56, 52) and CheckSum
        are set here, and it is stored for resending before it is written.

        Parameters
        ----------
        message : simplefix.FixMessage
            MsgType (35) and body fields; header fields in it are replaced.

        Returns
        -------
        int
            Its MsgSeqNum.

        Raises
        ------
        ValueError
            No MsgType, or an admin MsgType (those belong to the session).
        FixNotLoggedOnError
            The session is not ``ACTIVE``: nothing was sent.
        FixSendError
            The connection failed while writing it: outcome unknown.
        """
        msg_type = wire.field(message, 35)
        if not msg_type or msg_type in wire.ADMIN_TYPES:
            raise ValueError(f"a FIX application message needs a non-admin MsgType (35), got "
                             f"{msg_type!r}")
        conn = self._conn
        if self._state is not SessionState.ACTIVE or conn is None or conn.protocol is None \
                or conn.closed.done():
            raise FixNotLoggedOnError(f"FIX session {self.config.session_id} is not logged on "
                                      f"({self._state.value}); {msg_type} not sent")
        seq = conn.protocol.send(msg_type, wire.body_pairs(message), keep=True)
        self.counters.app_messages_sent += 1
        try:
            await conn.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise FixSendError(f"FIX session {self.config.session_id}: connection failed while "
                               f"sending {msg_type} seq {seq}: {exc}", seq) from exc
        return seq

    async def ping(self, timeout_s: float | None = None) -> float:
        """Send a TestRequest and wait for its Heartbeat; returns the round trip in seconds.

        Raises
        ------
        FixNotLoggedOnError
            Not ``ACTIVE``, or the connection closed before the answer.
        TimeoutError
            No answer within ``timeout_s`` (default: the heartbeat interval plus grace).
        """
        conn = self._conn
        if self._state is not SessionState.ACTIVE or conn is None or conn.protocol is None:
            raise FixNotLoggedOnError(f"FIX session {self.config.session_id} is not logged on")
        loop = asyncio.get_running_loop()
        started = loop.time()
        ident = self._test_request_id()
        waiter = conn.pings.setdefault(ident, loop.create_future())
        conn.protocol.send_test_request(ident)
        limit = timeout_s if timeout_s is not None else \
            self.config.heartbeat_s + self.config.grace_s
        try:
            await asyncio.wait_for(waiter, limit)
        finally:
            conn.pings.pop(ident, None)
        return loop.time() - started

    async def wait_logged_on(self, timeout_s: float | None = None) -> None:
        """Wait until the session is ``ACTIVE`` (at once if it is).

        Raises
        ------
        TimeoutError
            Not logged on within ``timeout_s``.
        VenueError
            The session failed (its :attr:`failure`), or is stopped.
        """
        async def wait() -> None:
            while self._state is not SessionState.ACTIVE:
                if self._state is SessionState.FAILED and self._failure is not None:
                    raise self._failure
                idle = self._supervisor is None or self._supervisor.done()
                if self._stopping or (self._state is SessionState.DISCONNECTED and idle):
                    raise FixConnectError(f"FIX session {self.config.session_id} is stopped")
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout_s)

    # -- connection lifecycle ---------------------------------------------------------------

    def _new_store(self) -> FixSessionStore:
        return FixSessionStore.open(self.config.store_dir, self.config.store_name,
                                    self.config.session_id, now_ns=self._now_ns,
                                    sync=self.config.store_sync)

    async def _open_session(self) -> _Connection:
        config = self.config
        self._set_state(SessionState.CONNECTING)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(config.host, config.port), config.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise FixConnectError(f"FIX session {config.session_id}: cannot connect to "
                                  f"{config.host}:{config.port}: {reason}") from None
        now = asyncio.get_running_loop().time()
        conn = _Connection(reader, writer, last_sent=now, last_received=now)
        conn.protocol = self._protocol(conn)
        self._conn = conn
        self._set_state(SessionState.LOGGING_ON)
        conn.tasks.append(asyncio.create_task(self._read_loop(conn)))
        try:
            conn.protocol.send_logon(self._password)
            await asyncio.wait_for(asyncio.shield(conn.logon), config.logon_timeout_s)
        except TimeoutError:
            await self._close(conn, "no Logon answer")
            raise FixConnectError(f"FIX session {config.session_id}: no Logon answer from "
                                  f"{config.host}:{config.port} within "
                                  f"{config.logon_timeout_s:g} s") from None
        except BaseException:
            await self._close(conn, "logon failed")
            raise
        return conn

    def _protocol(self, conn: _Connection) -> SessionProtocol:
        assert self._store is not None

        def write(raw: bytes) -> None:
            conn.writer.write(raw)
            conn.last_sent = asyncio.get_running_loop().time()

        def logged_on() -> None:
            conn.tasks.append(asyncio.create_task(self._monitor(conn)))
            self._set_state(SessionState.ACTIVE)
            _settle(conn.logon)

        return SessionProtocol(
            self.config, self._store, self.counters, write=write, deliver=self._deliver,
            now_ns=self._now_ns, on_logon=logged_on,
            on_close=lambda reason, error: self._drop(conn, reason, error),
            on_heartbeat=lambda ident: _settle(conn.pings.get(ident)))

    async def _deliver(self, message: simplefix.FixMessage) -> None:
        result = self._on_message(message)
        if inspect.isawaitable(result):
            await result

    async def _supervise(self, conn: _Connection) -> None:
        current: _Connection | None = conn
        while current is not None:
            reason, error = await current.closed
            if self._stopping:
                return
            if isinstance(error, FatalVenueError):
                self._fail(error)
                return
            logger.warning("FIX connection lost", extra={"fields": {
                "session": self.config.session_id, "reason": reason}})
            if not self.config.reconnect.enabled:
                self._fail(FixConnectError(f"FIX session {self.config.session_id}: connection "
                                           f"lost ({reason}) and reconnecting is off"))
                return
            current = await self._reconnect()

    async def _reconnect(self) -> _Connection | None:
        policy = self.config.reconnect
        dropped_logons = 0
        for attempt in itertools.count(1):
            if self._stopping:
                return None
            if policy.max_attempts is not None and attempt > policy.max_attempts:
                self._fail(FixConnectError(f"FIX session {self.config.session_id}: gave up "
                                           f"after {policy.max_attempts} reconnect attempts"))
                return None
            self._set_state(SessionState.RECONNECTING)
            delay = policy.backoff_s(attempt, self._rng.random())
            logger.info("FIX session reconnecting", extra={"fields": {
                "session": self.config.session_id, "attempt": attempt,
                "delay_s": round(delay, 3)}})
            await asyncio.sleep(delay)
            if self._stopping:
                return None
            self.counters.reconnect_attempts += 1
            try:
                return await self._open_session()
            except FixLogonError as exc:
                dropped_logons += 1
                if exc.answered or dropped_logons >= policy.max_logon_disconnects:
                    self._fail(exc)
                    return None
                logger.warning("FIX Logon dropped", extra={"fields": {"error": str(exc)}})
            except FatalVenueError as exc:
                self._fail(exc)
                return None
            except RetryableVenueError as exc:
                logger.warning("FIX reconnect attempt failed", extra={"fields": {
                    "session": self.config.session_id, "attempt": attempt,
                    "error": str(exc)}})
        return None  # pragma: no cover - the loop ends by returning

    async def _close(self, conn: _Connection, reason: str) -> None:
        self._drop(conn, reason)
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current and not task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.writer.wait_closed(), 1.0)

    def _drop(self, conn: _Connection, reason: str, error: BaseException | None = None) -> None:
        if conn.closed.done():
            return
        conn.closed.set_result((reason, error))
        if conn.protocol is not None:
            conn.protocol.closed = True
        conn.writer.close()
        if self._conn is conn:
            self._conn = None
        _settle(conn.logon, error or FixLogonError(
            f"FIX session {self.config.session_id}: {self.config.host}:{self.config.port} "
            f"closed the connection without answering our Logon ({reason}): unknown "
            "CompIDs, bad credentials or a session already logged on?", answered=False))
        for waiter in conn.pings.values():
            _settle(waiter, FixNotLoggedOnError(f"FIX connection closed: {reason}"))
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current and not task.done():
                task.cancel()
        if self._state in (SessionState.ACTIVE, SessionState.LOGGING_OUT):
            self._set_state(SessionState.DISCONNECTED)

    def _fail(self, error: BaseException) -> None:
        self._failure = error
        logger.error("FIX session failed", extra={"fields": {
            "session": self.config.session_id, "error": str(error)}})
        self._set_state(SessionState.FAILED)

    def _set_state(self, state: SessionState) -> None:
        if state is self._state:
            return
        self._state = state
        if state is SessionState.ACTIVE:
            self.logged_on.set()
        else:
            self.logged_on.clear()
        self._changed.set()
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                logger.exception("FIX on_state handler raised")

    def _test_request_id(self) -> str:
        return f"TEST-{self._now_ns()}-{next(self._ids)}"

    # -- timers and reading -----------------------------------------------------------------

    async def _monitor(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        interval = float(self.config.heartbeat_s)
        patience = interval + self.config.grace_s
        protocol = conn.protocol
        assert protocol is not None
        while not conn.closed.done():
            now = loop.time()
            if conn.test_request_id is not None:
                if now - conn.test_request_sent >= patience:
                    logger.warning("FIX TestRequest unanswered", extra={"fields": {
                        "session": self.config.session_id, "id": conn.test_request_id}})
                    self._drop(conn, f"no answer to TestRequest {conn.test_request_id}")
                    return
                receive_due = conn.test_request_sent + patience
            elif now - conn.last_received >= patience:
                conn.test_request_id = self._test_request_id()
                conn.test_request_sent = now
                protocol.send_test_request(conn.test_request_id)
                receive_due = now + patience
            else:
                receive_due = conn.last_received + patience
            if now - conn.last_sent >= interval:
                protocol.send_heartbeat()
            await asyncio.sleep(max(0.01, min(conn.last_sent + interval, receive_due) - now))

    async def _read_loop(self, conn: _Connection) -> None:
        protocol = conn.protocol
        assert protocol is not None
        reason = "connection closed by the counterparty"
        try:
            while not conn.closed.done():
                data = await conn.reader.read(65536)
                if not data:
                    break
                conn.parser.append_buffer(data)
                while not conn.closed.done():
                    message = conn.parser.get_message()
                    if message is None:
                        break
                    conn.last_received = asyncio.get_running_loop().time()
                    conn.test_request_id = None  # the counterparty is alive
                    await protocol.receive(message)
                if len(conn.parser.get_buffer()) > self.config.max_message_bytes:
                    reason = f"an inbound message exceeds {self.config.max_message_bytes} bytes"
                    break
        except (ConnectionError, OSError) as exc:
            reason = f"connection error: {exc}"
        except Exception as exc:  # a stream simplefix cannot parse
            logger.exception("FIX read loop failed")
            reason = f"cannot read the stream: {exc}"
        finally:
            self._drop(conn, reason)


__all__ = [
    "FixConnectError",
    "FixLogonError",
    "FixNotLoggedOnError",
    "FixSendError",
    "FixSequenceError",
    "FixSession",
    "MessageHandler",
    "SessionCounters",
    "SessionState",
    "StateHandler",
]
