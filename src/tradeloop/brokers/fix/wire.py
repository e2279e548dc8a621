"""The FIX wire rules of the session layer, as pure functions: no socket, no clock, no store.

Encoding a message with its standard header, UTCTimestamps, checking a received frame's
BodyLength and CheckSum, classifying an inbound MsgSeqNum against the expected one, and
planning the answer to a ResendRequest (resend stored application messages, gap-fill the rest).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import simplefix
from simplefix.data import RAW_LEN_TAGS

from tradeloop.brokers.fix.store import SentMessage
from tradeloop.core.time import NANOS_PER_SECOND, dt_to_ns

SOH = b"\x01"

#: Admin (session-level) message types.
HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON = (
    "0", "1", "2", "3", "4", "5", "A")
ADMIN_TYPES = frozenset({HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET,
                         LOGOUT, LOGON})

#: Header tags the session sets itself; any the application puts in a message are dropped.
HEADER_TAGS = frozenset({8, 9, 10, 34, 35, 43, 49, 50, 52, 56, 57, 97, 122})
_HEADER_TAG_BYTES = frozenset(b"%d" % tag for tag in HEADER_TAGS)
PASSWORD_TAG = 554

_TIMESTAMP = re.compile(r"^(\d{8})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")
_PASSWORD_FIELD = re.compile(rb"(^|\x01)554=[^\x01]*")
#: Length fields of data fields that may hold any byte (RawDataLength, XmlDataLen, ...).
_RAW_LENGTH_TAGS = frozenset(b"%d" % tag for tag in RAW_LEN_TAGS)


@dataclass(frozen=True, slots=True)
class Header:
    """The standard header fields of one session."""

    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    sender_sub_id: str | None = None
    target_sub_id: str | None = None


@dataclass(frozen=True, slots=True)
class GapFill:
    """A SequenceReset-GapFill standing for ``seq`` up to ``new_seq - 1``."""

    seq: int
    new_seq: int


class SeqCheck(enum.Enum):
    """How an inbound MsgSeqNum compares with the one expected."""

    IN_ORDER = "in_order"
    TOO_HIGH = "too_high"
    DUPLICATE = "duplicate"
    TOO_LOW = "too_low"


def format_timestamp(ns: int) -> str:
    """A FIX UTCTimestamp with milliseconds (``20240102-13:45:06.789``) from UTC nanoseconds."""
    second, rest = divmod(ns, NANOS_PER_SECOND)
    return f"{_second_prefix(second)}{rest // 1_000_000:03d}"


@functools.lru_cache(maxsize=8)
def _second_prefix(second: int) -> str:
    return f"{datetime.fromtimestamp(second, tz=UTC):%Y%m%d-%H:%M:%S}."


def parse_timestamp(text: str | bytes) -> int:
    """UTC nanoseconds of a FIX UTCTimestamp (0 to 9 decimals).

    Raises
    ------
    ValueError
        ``text`` is not ``YYYYMMDD-HH:MM:SS[.fff...]``.
    """
    value = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    match = _TIMESTAMP.match(value)
    if match is None:
        raise ValueError(f"not a FIX UTCTimestamp: {value!r}")
    day, hour, minute, second, fraction = match.groups()
    moment = datetime.strptime(f"{day}{hour}{minute}{second}", "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    nanos = int((fraction or "").ljust(9, "0"))
    return dt_to_ns(moment) + nanos


def field(message: simplefix.FixMessage, tag: int) -> str | None:
    """The text of ``tag`` in ``message`` (first occurrence), or None."""
    if isinstance(message, ReceivedMessage):
        return message.texts().get(tag)
    value = message.get(tag)
    return None if value is None else bytes(value).decode("latin-1")


def int_field(message: simplefix.FixMessage, tag: int) -> int | None:
    """``tag`` as an integer; None when missing or not a number."""
    value = field(message, tag)
    if value is None or not value.isdigit():
        return None
    return int(value)


def body_pairs(message: simplefix.FixMessage) -> list[tuple[int, bytes]]:
    """The fields of ``message`` other than the header and trailer, in order."""
    return [(int(tag), value) for tag, value in message.pairs if tag not in _HEADER_TAG_BYTES]


def encode(header: Header, msg_type: str, seq: int, sending_ns: int,
           body: Iterable[tuple[int, str | bytes]], *,
           orig_sending_ns: int | None = None) -> bytes:
    """One message on the wire: 8, 9, 35, 49, 56, (50, 57), 34, (43, 122), 52, body, 10.

    Parameters
    ----------
    header : Header
    msg_type : str
        MsgType (35).
    seq : int
        MsgSeqNum (34).
    sending_ns : int
        SendingTime (52), UTC nanoseconds.
    body : iterable of (tag, value)
        The body fields; header tags among them are dropped.
    orig_sending_ns : int, optional
        Makes the message a possible duplicate: PossDupFlag (43=Y) and OrigSendingTime (122).
    """
    fields = [b"35=" + msg_type.encode(), b"49=" + header.sender_comp_id.encode(),
              b"56=" + header.target_comp_id.encode()]
    if header.sender_sub_id is not None:
        fields.append(b"50=" + header.sender_sub_id.encode())
    if header.target_sub_id is not None:
        fields.append(b"57=" + header.target_sub_id.encode())
    fields.append(b"34=%d" % seq)
    if orig_sending_ns is not None:
        fields.append(b"43=Y")
        fields.append(b"122=" + format_timestamp(orig_sending_ns).encode())
    fields.append(b"52=" + format_timestamp(sending_ns).encode())
    for tag, value in body:
        number = int(tag)
        if number not in HEADER_TAGS and value is not None:
            fields.append(b"%d=%s" % (number, _value(value)))
    text = SOH.join(fields) + SOH
    head = b"8=" + header.begin_string.encode() + b"\x019=%d\x01" % len(text)
    return b"%s%s10=%03d\x01" % (head, text, (sum(head) + sum(text)) % 256)


def _value(value: str | bytes | int) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else str(value).encode("ascii")


class ReceivedMessage(simplefix.FixMessage):  # type: ignore[misc]
    """A message as :class:`FrameParser` read it, with what is wrong with its frame."""

    problem: str | None = None
    _first: dict[bytes, bytes] | None = None
    _texts: dict[int, str] | None = None

    def texts(self) -> dict[int, str]:
        """Every field's text by tag (the first of a repeated tag), decoded once; read only."""
        texts = self._texts
        if texts is None:
            texts = self._texts = {int(tag): value.decode("latin-1")
                                   for tag, value in reversed(self.pairs) if tag.isdigit()}
        return texts

    def get(self, tag: int | str | bytes, nth: int = 1) -> bytes | None:
        """The ``nth`` value of ``tag`` (the first from a table built once)."""
        if nth != 1:
            return super().get(tag, nth)  # type: ignore[no-any-return]
        if self._first is None:
            self._first = {t: v for t, v in reversed(self.pairs)}
        key = b"%d" % tag if isinstance(tag, int) else simplefix.message.fix_tag(tag)
        return self._first.get(key)


class FrameParser:
    """Splits an inbound byte stream into messages (the drop-in for
    :class:`simplefix.FixParser` on the read path, several times faster).

    A frame runs from ``8=`` to its CheckSum field; its BodyLength and CheckSum are checked
    on the bytes as received (see :func:`frame_problem`). Frames holding length-prefixed data
    fields (RawData and the like, which may contain any byte) are left to simplefix's parser.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def append_buffer(self, data: bytes) -> None:
        """Add received bytes."""
        self._buffer += data

    def get_buffer(self) -> bytes:
        """The bytes not yet returned as messages."""
        return self._buffer

    def get_message(self) -> simplefix.FixMessage | None:
        """The next whole message, or None until more bytes arrive."""
        buffer = self._buffer
        start = buffer.find(b"8=")
        if start < 0:
            return None
        trailer = buffer.find(b"\x0110=", start)
        if trailer < 0:
            return None
        end = buffer.find(SOH, trailer + 4)
        if end < 0:
            return None
        frame = buffer[start:end + 1]
        pairs = [item.partition(b"=")[::2] for item in frame[:-1].split(SOH)]
        if not _RAW_LENGTH_TAGS.isdisjoint([tag for tag, _ in pairs]):
            return self._simplefix_message()  # a data field may hold SOH: simplefix splits it
        self._buffer = buffer[end + 1:]
        message = ReceivedMessage()
        message.pairs = pairs
        message.begin_string = pairs[0][1]
        message.message_type = next((v for t, v in pairs if t == b"35"), None)
        message.problem = _frame_problem(frame, trailer - start + 1)
        return message

    def _simplefix_message(self) -> simplefix.FixMessage | None:
        parser = simplefix.FixParser()
        parser.append_buffer(self._buffer)
        message = parser.get_message()
        self._buffer = bytes(parser.get_buffer())
        return message


def frame_problem(message: simplefix.FixMessage) -> str | None:
    """Why a received frame is garbled (bad BodyLength or CheckSum), or None when it is sound.

    The frame is rebuilt from the parsed fields in their received order, so this holds for
    any message :class:`simplefix.FixParser` returns.
    """
    if isinstance(message, ReceivedMessage):
        return message.problem
    raw = bytes(message.encode(raw=True))
    return _frame_problem(raw, raw.rfind(b"10="))


def _frame_problem(raw: bytes, trailer: int) -> str | None:
    if trailer <= 0 or not raw.endswith(SOH) or raw[trailer - 1:trailer] != SOH:
        return "no CheckSum (10) at the end"
    checksum = raw[trailer + 3:-1]
    if not checksum.isdigit() or int(checksum) != sum(raw[:trailer]) % 256:
        return f"CheckSum {checksum.decode('latin-1')!r} does not match the bytes"
    first = raw.find(SOH)
    second = raw.find(SOH, first + 1)
    length = raw[first + 3:second] if raw[first + 1:first + 3] == b"9=" else b""
    if not length.isdigit() or int(length) != trailer - second - 1:
        return f"BodyLength {length.decode('latin-1')!r} does not match the bytes"
    return None


def printable(raw: bytes) -> str:
    """``raw`` with ``|`` for SOH and the Logon password masked, for logs."""
    masked = _PASSWORD_FIELD.sub(rb"\g<1>554=***", raw)
    return masked.replace(SOH, b"|").decode("latin-1")


def check_seq(seq: int, expected: int, poss_dup: bool) -> SeqCheck:
    """Compare an inbound MsgSeqNum with the one expected.

    A number below the expected one is a duplicate when PossDupFlag is set (to be ignored)
    and a serious error otherwise (the FIX spec: log out and call a human).
    """
    if seq == expected:
        return SeqCheck.IN_ORDER
    if seq > expected:
        return SeqCheck.TOO_HIGH
    return SeqCheck.DUPLICATE if poss_dup else SeqCheck.TOO_LOW


def resend_end(begin: int, end: int, last_sent: int) -> int:
    """The last seq to answer for a ResendRequest ``begin..end`` (0 or 999999: no end)."""
    if end == 0 or end >= 999_999 or end > last_sent:
        return last_sent
    return max(end, begin - 1)


def plan_resend(stored: Sequence[SentMessage], begin: int, end: int,
                min_sent_ns: int | None = None) -> list[SentMessage | GapFill]:
    """What answers a ResendRequest for ``begin..end`` (both included).

    Parameters
    ----------
    stored : sequence of SentMessage
        The stored application messages in that range, in seq order.
    begin, end : int
        The range, ``end`` already resolved (see :func:`resend_end`).
    min_sent_ns : int, optional
        Messages first sent before this are gap-filled rather than resent.

    Returns
    -------
    list of SentMessage or GapFill
        In seq order, covering the whole range: each resendable message, and one gap fill
        for each run of seqs with nothing to resend (admin messages, stale or lost ones).
    """
    plan: list[SentMessage | GapFill] = []
    gap_start: int | None = None
    by_seq = {m.seq: m for m in stored if begin <= m.seq <= end}
    for seq in range(begin, end + 1):
        message = by_seq.get(seq)
        if message is not None and (min_sent_ns is None or message.sent_ns >= min_sent_ns):
            if gap_start is not None:
                plan.append(GapFill(gap_start, seq))
                gap_start = None
            plan.append(message)
        elif gap_start is None:
            gap_start = seq
    if gap_start is not None:
        plan.append(GapFill(gap_start, end + 1))
    return plan


def parse_one(raw: bytes) -> simplefix.FixMessage:
    """The message in ``raw`` (one whole frame).

    Raises
    ------
    ValueError
        ``raw`` does not hold a whole FIX message.
    """
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    message = parser.get_message()
    if message is None:
        raise ValueError("not a whole FIX message")
    return message


__all__ = [
    "ADMIN_TYPES",
    "FrameParser",
    "GapFill",
    "Header",
    "ReceivedMessage",
    "SeqCheck",
    "body_pairs",
    "check_seq",
    "encode",
    "field",
    "format_timestamp",
    "frame_problem",
    "int_field",
    "parse_one",
    "parse_timestamp",
    "plan_resend",
    "printable",
    "resend_end",
]
