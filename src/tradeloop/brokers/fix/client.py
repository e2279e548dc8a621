"""What sits between a FIX session and the adapter's clients.

:class:`FixClient` owns one :class:`~tradeloop.brokers.fix.session.FixSession` and may be shared
by the execution and the market data client (opened and closed by reference count). It routes
each inbound application message to the handler registered for its MsgType, matches a
BusinessMessageReject to the request it refuses (by RefSeqNum), waits for answers with
timeouts, and offers a *barrier*: a TestRequest whose Heartbeat is read only after everything
the counterparty sent before it, resent messages of a gap included. After a barrier the
adapter's book holds every report the venue had sent when the barrier was raised.

Handlers registered with :meth:`FixClient.on_logon` run after each logon, in a task, told
whether it is a reconnection (the time to reconcile and resubscribe).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import simplefix

from tradeloop.brokers.fix import parse, wire
from tradeloop.brokers.fix.config import FixSessionConfig
from tradeloop.brokers.fix.errors import (
    FixNoAnswerError,
    FixQueryTimeoutError,
    FixSessionRejectError,
    business_error,
)
from tradeloop.brokers.fix.protocol import FixConnectError, FixNotLoggedOnError
from tradeloop.brokers.fix.session import FixSession, SessionState

logger = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[simplefix.FixMessage], None]
LogonHandler = Callable[[bool], Awaitable[None]]
_RECENT_REJECTS = 256


class _Expired(Exception):
    pass


def _expire(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(_Expired())


class FixClient:
    """One FIX session as the adapter's clients use it.

    Parameters
    ----------
    config : FixSessionConfig
    logon_wait_s : float
        How long a request made while the session is not logged on waits for it before
        failing as retryable (nothing sent).
    request_timeout_s : float
        The default wait for an answer.
    now_ns : callable, optional
        The clock of SendingTime and TransactTime; ``time.time_ns`` by default.

    Attributes
    ----------
    session : FixSession
    """

    def __init__(self, config: FixSessionConfig, *, logon_wait_s: float = 2.0,
                 request_timeout_s: float = 5.0,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.logon_wait_s = logon_wait_s
        self.request_timeout_s = request_timeout_s
        self.now_ns = now_ns
        self.session = FixSession(config, self._on_message, on_state=self._on_state,
                                  now_ns=now_ns)
        self._routes: dict[str, Handler] = {}
        self._logon_handlers: list[LogonHandler] = []
        self._by_seq: dict[int, tuple[asyncio.Future[Any], str]] = {}
        # refusals read before ``send`` returned the seq they refer to: seq -> the error,
        # given the refused message's type
        self._rejects: OrderedDict[int, Callable[[str], Exception]] = OrderedDict()
        self._users = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._id_prefix = f"{now_ns() // 1_000_000:x}"

    # -- wiring -----------------------------------------------------------------------------

    def route(self, msg_type: str, handler: Handler) -> None:
        """Send inbound messages of ``msg_type`` to ``handler`` (called on the loop, in
        sequence order, once each; it must not block)."""
        self._routes[msg_type] = handler

    def on_logon(self, handler: LogonHandler) -> None:
        """Run ``handler(reconnected)`` in a task after each logon."""
        self._logon_handlers.append(handler)

    def new_id(self, prefix: str) -> str:
        """An id for a request (unique across restarts of this process's clock)."""
        return f"{prefix}{self._id_prefix}-{next(self._ids)}"

    @property
    def logged_on(self) -> bool:
        """True while the session is logged on."""
        return self.session.logged_on.is_set()

    # -- opening and closing ----------------------------------------------------------------

    async def open(self) -> None:
        """Start the session for one more user (log on when it is the first).

        Raises
        ------
        FixConnectError
            Unreachable or no Logon answer: retryable.
        FixLogonError, FixSequenceError
            Refused: fatal.
        """
        async with self._lock:
            if self._users == 0:
                await self.session.start()
            self._users += 1

    async def close(self) -> None:
        """One user fewer; the last one logs the session out."""
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.session.stop()

    # -- sending ----------------------------------------------------------------------------

    async def ready(self) -> None:
        """Return once the session is logged on, waiting up to ``logon_wait_s``.

        Raises
        ------
        FixNotLoggedOnError
            Still not logged on (reconnecting, or never opened): retryable.
        VenueError
            The session failed for good (its failure).
        """
        if self.session.logged_on.is_set():
            return
        if self._users == 0:
            raise FixNotLoggedOnError(f"FIX session {self.config.session_id} is not open")
        try:
            await self.session.wait_logged_on(self.logon_wait_s)
        except TimeoutError:
            raise FixNotLoggedOnError(
                f"FIX session {self.config.session_id} is {self.session.state.value}; not "
                f"logged on within {self.logon_wait_s:g} s, nothing sent") from None
        except FixConnectError as exc:
            raise FixNotLoggedOnError(str(exc)) from None

    async def send(self, message: simplefix.FixMessage) -> int:
        """Send an application message once the session is ready; its MsgSeqNum.

        Raises
        ------
        FixNotLoggedOnError
            Not logged on: nothing sent.
        FixSendError
            The connection failed while writing: outcome unknown.
        """
        await self.ready()
        return await self.session.send(message)

    async def request(self, message: simplefix.FixMessage, answer: asyncio.Future[T], *,
                      what: str, changes_state: bool, timeout_s: float | None = None) -> T:
        """Send ``message`` and wait for ``answer`` (which the caller's handlers resolve).

        A BusinessMessageReject or a session-level Reject of the message fails ``answer``
        with its error. ``answer`` belongs to this request: it is failed when the time is up
        and cancelled with the caller, so handlers resolve it only while it is not done.

        Raises
        ------
        FixNoAnswerError
            No answer in time to a state change: outcome unknown.
        FixQueryTimeoutError
            No answer in time to a query: retryable.
        FixBusyError, FixBusinessRejectError
            The venue's application refused the message.
        FixSessionRejectError
            The counterparty's FIX engine refused the message as malformed.
        """
        msg_type = wire.field(message, 35) or ""
        seq = await self.send(message)
        self._by_seq[seq] = (answer, msg_type)
        refused = self._rejects.pop(seq, None)
        if refused is not None:
            self._refuse(seq, refused)
        limit = timeout_s if timeout_s is not None else self.request_timeout_s
        # one timer on the answer itself (the handlers resolve only answers not yet done):
        # a timeout context and a shield would cost a task lookup and a second future
        timer = asyncio.get_running_loop().call_later(limit, _expire, answer)
        try:
            return await answer
        except _Expired:
            text = f"FIX session {self.config.session_id}: no answer to {what} within {limit:g} s"
            if changes_state:
                raise FixNoAnswerError(f"{text}; its outcome is unknown") from None
            raise FixQueryTimeoutError(text) from None
        finally:
            timer.cancel()
            self._by_seq.pop(seq, None)

    async def barrier(self, timeout_s: float | None = None) -> None:
        """Wait until everything the counterparty sent before now has been handled (a
        TestRequest answered after any resent messages).

        Raises
        ------
        FixNotLoggedOnError
            Not logged on, or the connection dropped before the answer.
        FixQueryTimeoutError
            No answer in time.
        """
        await self.ready()
        limit = timeout_s if timeout_s is not None else self.request_timeout_s
        try:
            await self.session.ping(limit)
        except TimeoutError:
            raise FixQueryTimeoutError(f"FIX session {self.config.session_id}: no Heartbeat "
                                       f"answering a TestRequest within {limit:g} s") from None

    def spawn(self, work: Awaitable[None], what: str) -> None:
        """Run ``work`` in a task tied to the session (cancelled when it closes)."""
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("FIX background task failed", extra={"fields": {
                    "session": self.config.session_id, "task": what, "error": str(exc)}})

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- receiving --------------------------------------------------------------------------

    def _on_message(self, message: simplefix.FixMessage) -> None:
        msg_type = wire.field(message, 35) or ""
        if msg_type == parse.BUSINESS_REJECT:
            self._business_reject(message)
            return
        if msg_type == wire.REJECT:
            self._session_reject(message)
            return
        handler = self._routes.get(msg_type)
        if handler is None:
            logger.info("FIX message without a handler", extra={"fields": {
                "session": self.config.session_id, "msg_type": msg_type}})
            return
        try:
            handler(message)
        except parse.FixParseError as exc:
            logger.error("FIX message not understood", extra={"fields": {
                "session": self.config.session_id, "msg_type": msg_type, "error": str(exc),
                "message": wire.printable(bytes(message.encode(raw=True)))}})

    def _business_reject(self, message: simplefix.FixMessage) -> None:
        refused = parse.business_reject(message)
        logger.warning("FIX BusinessMessageReject", extra={"fields": {
            "session": self.config.session_id, "ref_seq": refused.ref_seq,
            "ref_msg_type": refused.ref_msg_type, "reason": refused.reason_code,
            "text": refused.text}})
        self._fail_request(refused.ref_seq, lambda sent: business_error(
            refused.ref_msg_type or sent, refused.reason_code, refused.text))

    def _session_reject(self, message: simplefix.FixMessage) -> None:
        # the session layer logged and counted it; here the request it refers to fails
        refused = parse.session_reject(message)
        self._fail_request(refused.ref_seq, lambda sent: FixSessionRejectError(
            refused.ref_msg_type or sent, refused.reason_code, refused.ref_tag, refused.text))

    def _fail_request(self, ref_seq: int | None, error: Callable[[str], Exception]) -> None:
        if ref_seq is None:
            return
        if ref_seq in self._by_seq:
            self._refuse(ref_seq, error)
        else:  # the answer may be read before send() returned the seq
            self._rejects[ref_seq] = error
            while len(self._rejects) > _RECENT_REJECTS:
                self._rejects.popitem(last=False)

    def _refuse(self, seq: int, error: Callable[[str], Exception]) -> None:
        answer, msg_type = self._by_seq[seq]
        if not answer.done():
            answer.set_exception(error(msg_type))

    def _on_state(self, state: SessionState) -> None:
        if state is not SessionState.ACTIVE or not self._logon_handlers:
            return
        reconnected = self.session.counters.logons > 1
        for handler in self._logon_handlers:
            self.spawn(handler(reconnected), "after logon")


__all__ = ["FixClient", "Handler", "LogonHandler"]
