"""The socket-free half of a FIX session: sequence numbers, admin messages, gap recovery.

A :class:`SessionProtocol` lives for one connection. It is fed each parsed inbound message
(:meth:`SessionProtocol.receive`) and writes what the session answers through a ``write``
callable, after recording each sequence number in the :class:`FixSessionStore`. What needs the
connection (timers, closing the socket, state changes) goes back to the owner through the
``on_logon``, ``on_close`` and ``on_heartbeat`` callables. :class:`~tradeloop.brokers.fix.
session.FixSession` is that owner; tests drive the protocol directly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import simplefix
from pydantic import SecretStr

from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.config import FixSessionConfig
from tradeloop.brokers.fix.store import FixSessionStore
from tradeloop.brokers.fix.wire import SeqCheck
from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError

logger = logging.getLogger(__name__)

_TOO_LOW = "MsgSeqNum too low"


class FixConnectError(RetryableVenueError):
    """The connection could not be opened, or the Logon got no answer in time."""


class FixNotLoggedOnError(RetryableVenueError):
    """A message was to be sent while the session is not logged on; nothing was sent."""


class FixLogonError(FatalVenueError):
    """The counterparty refused our Logon.

    Attributes
    ----------
    answered : bool
        True when it answered with a Logout; False when it closed the connection instead
        (what QuickFIX does with unknown CompIDs).
    """

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered


class FixSequenceError(FatalVenueError):
    """The two sides' sequence numbers (or CompIDs) disagree in a way only a person can fix."""


class FixSendError(OutcomeUnknownError):
    """The connection failed while an application message was written.

    Attributes
    ----------
    seq : int
        The message's MsgSeqNum; it is stored, and is resent if the counterparty asks.
    """

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


@dataclass
class SessionCounters:
    """What a session did, for tests and metrics."""

    logons: int = 0
    reconnect_attempts: int = 0
    heartbeats_sent: int = 0
    heartbeats_received: int = 0
    test_requests_sent: int = 0
    test_requests_received: int = 0
    test_requests_answered: int = 0
    resend_requests_sent: int = 0
    resend_requests_received: int = 0
    messages_resent: int = 0
    gap_fills_sent: int = 0
    gap_fills_received: int = 0
    sequence_resets_received: int = 0
    duplicates_dropped: int = 0
    garbled_dropped: int = 0
    rejects_sent: int = 0
    rejects_received: int = 0
    app_messages_sent: int = 0
    app_messages_received: int = 0


class SessionProtocol:
    """The FIX session rules for one connection, without the socket.

    Parameters
    ----------
    config : FixSessionConfig
    store : FixSessionStore
        The session's sequence numbers and sent messages (shared across connections).
    counters : SessionCounters
        Updated as messages go and come (shared across connections).
    write : callable
        Puts bytes on the wire; called only after the store holds their sequence number.
    deliver : callable
        Awaited with each application message of the counterparty, in order, once, and with
        each session-level Reject (after it is logged), so that what it refused can fail.
    now_ns : callable
        The clock of SendingTime.
    on_logon : callable
        Called once the counterparty's Logon is accepted, before anything after it is read.
    on_close : callable
        Called with a reason and an error (None for an ordinary end) when the connection
        must go: a Logout, a protocol violation, a refused Logon.
    on_heartbeat : callable, optional
        Called with the TestReqID of each Heartbeat that answers a TestRequest.

    Attributes
    ----------
    logging_on, logging_out, closed : bool
        Where this connection is.
    resend_pending : bool
        A ResendRequest of ours is being answered.
    """

    def __init__(self, config: FixSessionConfig, store: FixSessionStore,
                 counters: SessionCounters, *, write: Callable[[bytes], None],
                 deliver: Callable[[simplefix.FixMessage], Awaitable[None]],
                 now_ns: Callable[[], int], on_logon: Callable[[], None],
                 on_close: Callable[[str, BaseException | None], None],
                 on_heartbeat: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.counters = counters
        self.header = wire.Header(config.begin_string, config.sender_comp_id,
                                  config.target_comp_id, config.sender_sub_id,
                                  config.target_sub_id)
        self._write, self._deliver, self._now_ns = write, deliver, now_ns
        self._on_logon, self._on_close, self._on_heartbeat = on_logon, on_close, on_heartbeat
        self.logging_on = True
        self.logging_out = False
        self.closed = False
        self.resend_pending = False
        self._queue: dict[int, tuple[simplefix.FixMessage, bool]] = {}

    # -- sending ----------------------------------------------------------------------------

    def send(self, msg_type: str, body: Sequence[tuple[int, str | bytes | None]], *,
             keep: bool) -> int:
        """Number, record and write one message; returns its MsgSeqNum (0 once closed).

        ``keep`` stores it for resending (application messages). The sequence number is on
        disk before the bytes are written.
        """
        if self.closed:
            return 0
        seq = self.store.next_sender_seq
        now = self._now_ns()
        pairs = [(tag, value) for tag, value in body if value is not None]
        raw = wire.encode(self.header, msg_type, seq, now, pairs)
        self.store.record_sent(seq, msg_type, raw, now, keep=keep)
        self._write(raw)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("FIX out: %s", wire.printable(raw))
        return seq

    def send_logon(self, password: SecretStr | None) -> int:
        """Our Logon: EncryptMethod 0, HeartBtInt, ResetSeqNumFlag (then the store starts
        over), Username and Password when configured."""
        if self.config.reset_seq_on_logon:
            self.store.reset()
        body: list[tuple[int, str | None]] = [(98, "0"), (108, str(self.config.heartbeat_s))]
        if self.config.reset_seq_on_logon:
            body.append((141, "Y"))
        body.append((553, self.config.username))
        body.append((554, None if password is None else password.get_secret_value()))
        return self.send(wire.LOGON, body, keep=False)

    def send_heartbeat(self, test_request_id: str | None = None) -> None:
        """A Heartbeat, answering ``test_request_id`` when given."""
        self.send(wire.HEARTBEAT, [(112, test_request_id)], keep=False)
        self.counters.heartbeats_sent += 1

    def send_test_request(self, ident: str) -> None:
        """A TestRequest with TestReqID ``ident``."""
        self.send(wire.TEST_REQUEST, [(112, ident)], keep=False)
        self.counters.test_requests_sent += 1

    def send_logout(self, text: str | None = None) -> None:
        """A Logout, with ``text`` in Text (58)."""
        self.send(wire.LOGOUT, [(58, text)], keep=False)

    def _send_resend_request(self) -> None:
        begin = self.store.next_target_seq
        self.send(wire.RESEND_REQUEST, [(7, str(begin)), (16, "0")], keep=False)
        self.resend_pending = True
        self.counters.resend_requests_sent += 1
        logger.info("FIX gap: ResendRequest sent", extra={"fields": {
            "session": self.config.session_id, "begin": begin}})

    def _send_reject(self, ref_seq: int, msg_type: str | None, reason: int, text: str) -> None:
        self.send(wire.REJECT, [(45, str(ref_seq)), (372, msg_type), (373, str(reason)),
                                (58, text)], keep=False)
        self.counters.rejects_sent += 1
        logger.warning("FIX Reject sent", extra={"fields": {
            "session": self.config.session_id, "ref_seq": ref_seq, "reason": text}})

    def _answer_resend_request(self, begin: int, end: int) -> None:
        self.counters.resend_requests_received += 1
        last = wire.resend_end(begin, end, self.store.next_sender_seq - 1)
        now = self._now_ns()
        max_age = self.config.resend_max_age_s
        min_sent = None if max_age is None else now - int(max_age * 1e9)
        plan = wire.plan_resend(self.store.sent_messages(begin, last), begin, last, min_sent)
        for item in plan:
            if isinstance(item, wire.GapFill):
                raw = wire.encode(self.header, wire.SEQUENCE_RESET, item.seq, now,
                                  [(123, "Y"), (36, str(item.new_seq))], orig_sending_ns=now)
                self.counters.gap_fills_sent += 1
            else:
                raw = wire.encode(self.header, item.msg_type, item.seq, now,
                                  wire.body_pairs(wire.parse_one(item.raw)),
                                  orig_sending_ns=item.sent_ns)
                self.counters.messages_resent += 1
            self._write(raw)
        logger.info("FIX ResendRequest answered", extra={"fields": {
            "session": self.config.session_id, "begin": begin, "end": last,
            "resent": sum(not isinstance(i, wire.GapFill) for i in plan)}})

    def _close(self, reason: str, error: BaseException | None = None, *,
               logout: str | None = None) -> None:
        if self.closed:
            return
        if logout is not None:
            logger.error("FIX session protocol error", extra={"fields": {
                "session": self.config.session_id, "reason": logout}})
            self.send_logout(logout)
        self.closed = True
        self._on_close(reason, error)

    # -- receiving --------------------------------------------------------------------------

    async def receive(self, message: simplefix.FixMessage) -> None:
        """Handle one inbound message: check it, answer admin messages, deliver application
        ones in sequence order, and move the expected sequence number."""
        if self.closed:
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("FIX in: %s", wire.printable(bytes(message.encode(raw=True))))
        problem = wire.frame_problem(message)
        if problem is not None:  # garbled: ignored; the sequence check recovers it
            self.counters.garbled_dropped += 1
            logger.warning("FIX garbled message ignored", extra={"fields": {"reason": problem}})
            return
        msg_type = wire.field(message, 35) or ""
        seq = wire.int_field(message, 34)
        problem = self._header_problem(message, seq)
        if problem is not None or seq is None:
            text = problem or "no MsgSeqNum"
            self._close(text, FixSequenceError(f"FIX session {self.config.session_id}: {text}"),
                        logout=text)
            return
        if self.logging_on:
            self._receive_logon(message, msg_type, seq)
            return
        if msg_type == wire.SEQUENCE_RESET and wire.field(message, 123) != "Y":
            self._sequence_reset(message, seq)
            return
        expected = self.store.next_target_seq
        check = wire.check_seq(seq, expected, wire.field(message, 43) == "Y")
        if check is SeqCheck.TOO_LOW:
            text = f"{_TOO_LOW}, expecting {expected} but received {seq}"
            self._close(text, FixSequenceError(f"FIX session {self.config.session_id}: {text}"),
                        logout=text)
        elif check is SeqCheck.DUPLICATE:
            self.counters.duplicates_dropped += 1
            self._orig_sending_time_ok(message, msg_type, seq, reject=False)
        elif check is SeqCheck.TOO_HIGH:
            if msg_type == wire.LOGOUT:  # the gap is recovered after the next Logon
                self._receive_logout(message)
                return
            handled = msg_type == wire.RESEND_REQUEST
            if handled:  # answered at once, or both sides could wait for each other
                self._resend_request(message)
            self._queue.setdefault(seq, (message, handled))
            if not self.resend_pending:
                self._send_resend_request()
        else:
            await self._in_order(message, msg_type, seq)

    async def _in_order(self, message: simplefix.FixMessage, msg_type: str, seq: int) -> None:
        await self._process(message, msg_type, seq, handled=False)
        while self._queue and not self.closed:
            expected = self.store.next_target_seq
            for stale in [s for s in self._queue if s < expected]:
                del self._queue[stale]
            if expected not in self._queue:
                break
            queued, handled = self._queue.pop(expected)
            await self._process(queued, wire.field(queued, 35) or "", expected, handled=handled)
        if not self._queue and self.resend_pending:
            self.resend_pending = False
            logger.info("FIX gap filled", extra={"fields": {
                "session": self.config.session_id, "next_target_seq": self.store.next_target_seq}})

    async def _process(self, message: simplefix.FixMessage, msg_type: str, seq: int, *,
                       handled: bool) -> None:
        if handled or not self._orig_sending_time_ok(message, msg_type, seq, reject=True):
            self.store.set_next_target_seq(seq + 1)
        else:
            await self._dispatch(message, msg_type, seq)

    async def _dispatch(self, message: simplefix.FixMessage, msg_type: str, seq: int) -> None:
        next_seq = seq + 1
        if msg_type == wire.HEARTBEAT:
            self.counters.heartbeats_received += 1
            ident = wire.field(message, 112)
            if ident is not None:
                self.counters.test_requests_answered += 1
                if self._on_heartbeat is not None:
                    self._on_heartbeat(ident)
        elif msg_type == wire.TEST_REQUEST:
            self.counters.test_requests_received += 1
            self.send_heartbeat(wire.field(message, 112))
        elif msg_type == wire.RESEND_REQUEST:
            self._resend_request(message)
        elif msg_type == wire.REJECT:
            self.counters.rejects_received += 1
            logger.warning("FIX Reject received", extra={"fields": {
                "session": self.config.session_id, "ref_seq": wire.field(message, 45),
                "reason": wire.field(message, 373), "text": wire.field(message, 58)}})
            await self._deliver_guarded(message, msg_type, seq)  # to fail what it refused
        elif msg_type == wire.SEQUENCE_RESET:  # gap fill; reset mode never gets here
            new_seq = wire.int_field(message, 36)
            if new_seq is None or new_seq <= seq:
                self._send_reject(seq, msg_type, 5,
                                  f"GapFill NewSeqNo {new_seq} must exceed MsgSeqNum {seq}")
            else:
                self.counters.gap_fills_received += 1
                next_seq = new_seq
        elif msg_type == wire.LOGOUT:
            self.store.set_next_target_seq(max(next_seq, self.store.next_target_seq))
            self._receive_logout(message)
            return
        elif msg_type == wire.LOGON:
            logger.warning("FIX Logon received while logged on: ignored")
        else:
            self.counters.app_messages_received += 1
            await self._deliver_guarded(message, msg_type, seq)
        self.store.set_next_target_seq(max(next_seq, self.store.next_target_seq))

    async def _deliver_guarded(self, message: simplefix.FixMessage, msg_type: str,
                               seq: int) -> None:
        try:
            await self._deliver(message)
        except Exception:
            logger.exception("FIX on_message handler raised", extra={"fields": {
                "session": self.config.session_id, "seq": seq, "msg_type": msg_type}})

    def _resend_request(self, message: simplefix.FixMessage) -> None:
        begin, end = wire.int_field(message, 7), wire.int_field(message, 16)
        if begin is None or end is None or begin < 1:
            self._send_reject(wire.int_field(message, 34) or 0, wire.RESEND_REQUEST, 1,
                              "ResendRequest needs BeginSeqNo (7) and EndSeqNo (16)")
            return
        self._answer_resend_request(begin, end)

    def _receive_logon(self, message: simplefix.FixMessage, msg_type: str, seq: int) -> None:
        session = self.config.session_id
        if msg_type == wire.LOGOUT:
            text = wire.field(message, 58) or "no reason given"
            error: FatalVenueError = FixLogonError(
                f"FIX session {session}: Logon refused by the counterparty: {text}",
                answered=True)
            if _TOO_LOW in text:
                error = FixSequenceError(f"FIX session {session}: Logon refused: {text}; our "
                                         "MsgSeqNum is below what the counterparty expects "
                                         "(store lost or rolled back?)")
            self._close(f"Logon refused: {text}", error)
            return
        if msg_type != wire.LOGON:
            text = f"expected a Logon, got MsgType {msg_type}"
            self._close(text, FixLogonError(f"FIX session {session}: {text}", answered=True),
                        logout=text)
            return
        if wire.field(message, 141) == "Y" and not self.config.reset_seq_on_logon:
            logger.warning("FIX counterparty reset the sequence numbers on Logon")
            self.store.set_next_target_seq(1)
        expected = self.store.next_target_seq
        check = wire.check_seq(seq, expected, wire.field(message, 43) == "Y")
        if check in (SeqCheck.TOO_LOW, SeqCheck.DUPLICATE):
            text = f"{_TOO_LOW}, expecting {expected} but received {seq}"
            self._close(text, FixSequenceError(f"FIX session {session}: {text} on the "
                                               "counterparty's Logon"), logout=text)
            return
        if check is SeqCheck.IN_ORDER:
            self.store.set_next_target_seq(seq + 1)
        self.logging_on = False
        self.counters.logons += 1
        logger.info("FIX session logged on", extra={"fields": {
            "session": session, "next_sender_seq": self.store.next_sender_seq,
            "next_target_seq": self.store.next_target_seq, "logon_seq": seq}})
        self._on_logon()
        if check is SeqCheck.TOO_HIGH:
            self._queue[seq] = (message, True)
            self._send_resend_request()

    def _receive_logout(self, message: simplefix.FixMessage) -> None:
        text = wire.field(message, 58) or ""
        if self.logging_out:
            self._close("Logout answered")
            return
        self.send_logout()
        error = None
        if _TOO_LOW in text:
            error = FixSequenceError(f"FIX session {self.config.session_id}: logged out by the "
                                     f"counterparty: {text}")
        self._close(f"logged out by the counterparty: {text or 'no reason given'}", error)

    def _sequence_reset(self, message: simplefix.FixMessage, seq: int) -> None:
        new_seq = wire.int_field(message, 36)
        expected = self.store.next_target_seq
        self.counters.sequence_resets_received += 1
        if new_seq is None or new_seq < expected:
            self._send_reject(seq, wire.SEQUENCE_RESET, 5, f"SequenceReset NewSeqNo {new_seq} "
                              f"is below the expected MsgSeqNum {expected}")
            return
        logger.warning("FIX counterparty reset its sequence number", extra={"fields": {
            "session": self.config.session_id, "from": expected, "to": new_seq}})
        self.store.set_next_target_seq(new_seq)
        for stale in [s for s in self._queue if s < new_seq]:
            del self._queue[stale]

    def _header_problem(self, message: simplefix.FixMessage, seq: int | None) -> str | None:
        begin = wire.field(message, 8)
        if begin != self.config.begin_string:
            return f"BeginString {begin!r}, expected {self.config.begin_string!r}"
        if seq is None or seq < 1:
            return "a message without a valid MsgSeqNum (34)"
        if self.config.check_comp_ids:
            sender, target = wire.field(message, 49), wire.field(message, 56)
            if sender != self.config.target_comp_id or target != self.config.sender_comp_id:
                return (f"CompID problem: message from {sender!r} to {target!r}, expected from "
                        f"{self.config.target_comp_id!r} to {self.config.sender_comp_id!r}")
        return None

    def _orig_sending_time_ok(self, message: simplefix.FixMessage, msg_type: str, seq: int, *,
                              reject: bool) -> bool:
        if wire.field(message, 43) != "Y":
            return True
        orig, sending = wire.field(message, 122), wire.field(message, 52)
        problem = None
        if orig is None:
            if msg_type != wire.SEQUENCE_RESET:
                problem = (1, "PossDupFlag=Y without OrigSendingTime (122)")
        else:
            try:
                if sending is None or wire.parse_timestamp(orig) > wire.parse_timestamp(sending):
                    problem = (10, "OrigSendingTime (122) after SendingTime (52)")
            except ValueError:
                problem = (10, "OrigSendingTime (122) or SendingTime (52) is not a timestamp")
        if problem is None:
            return True
        if reject:
            self._send_reject(seq, msg_type, *problem)
        else:
            logger.warning("FIX possible duplicate with a bad OrigSendingTime", extra={
                "fields": {"seq": seq, "reason": problem[1]}})
        return False


__all__ = [
    "FixConnectError",
    "FixLogonError",
    "FixNotLoggedOnError",
    "FixSendError",
    "FixSequenceError",
    "SessionCounters",
    "SessionProtocol",
]
