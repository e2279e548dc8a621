"""The binary protocol of Fyers' v3 market data socket (``wss://socket.fyers.in/hsm/v1-5/prod``),
the client's side, as Fyers' own SDK speaks it.

Frames start with a two-byte big-endian length and a one-byte type. The client authenticates
with the ``hsm_key`` claim of its access token (type 1), switches the channel to full mode
(type 12), and subscribes topics (type 4): ``sf|nse_cm|3045`` for a symbol's updates, made of
the segment of its fyToken (first four characters) and the exchange token (from the eleventh).
The server answers each request with ``"K"`` when it succeeded, and streams data frames
(type 6): a snapshot of a topic (``'S'``: topic id, name, 21 fields, multiplier, precision...)
and then updates (``'U'``: topic id and the fields). Prices are integers over
``10**precision * multiplier``; -2147483648 means "no value". When the authentication answer
asks for it, every n-th data frame is acknowledged (type 3) with its message number.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

AUTH, ACK, SUBSCRIBE, UNSUBSCRIBE, DATA, PAUSE, RESUME, MODE = 1, 3, 4, 5, 6, 7, 8, 12
SNAPSHOT, UPDATE, LITE = 83, 85, 76
NO_VALUE = -2_147_483_648
FULL_MODE = 70
CHANNEL = 11
SOURCE = "tradeloop"
PING = bytes([0, 1, 11])
#: The fields of a symbol update (``sf`` topics), in the order they travel.
FIELDS = ("ltp", "vol_traded_today", "last_traded_time", "exch_feed_time", "bid_size",
          "ask_size", "bid_price", "ask_price", "last_traded_qty", "tot_buy_qty",
          "tot_sell_qty", "avg_trade_price", "OI", "low_price", "high_price", "Yhigh", "Ylow",
          "lower_ckt", "upper_ckt", "open_price", "prev_close_price")
PRICES = frozenset({"ltp", "bid_price", "ask_price", "avg_trade_price", "low_price",
                    "high_price", "open_price", "prev_close_price"})
#: The segment of a fyToken's first four characters, as topics name it.
SEGMENTS = {"1010": "nse_cm", "1011": "nse_fo", "1012": "cde_fo", "1020": "nse_com",
            "1120": "mcx_fo", "1210": "bse_cm", "1211": "bse_fo", "1212": "bcs_fo"}


def topic_of(fytoken: str) -> str:
    """The ``sf`` topic of a symbol's fyToken.

    Raises
    ------
    ValueError
        A fyToken of a segment the socket does not know.
    """
    segment = SEGMENTS.get(fytoken[:4])
    if segment is None or len(fytoken) <= 10:
        raise ValueError(f"fyToken {fytoken!r} of an unknown segment")
    return f"sf|{segment}|{fytoken[10:]}"


def _field(field_id: int, value: bytes) -> bytes:
    return bytes([field_id]) + struct.pack(">H", len(value)) + value


def _request(kind: int, *fields: bytes) -> bytes:
    body = bytes([kind, len(fields)]) + b"".join(fields)
    return struct.pack(">H", len(body)) + body


def auth_request(hsm_key: str, source: str = SOURCE) -> bytes:
    """Authenticate with the token's ``hsm_key``."""
    return _request(AUTH, _field(1, hsm_key.encode()), _field(2, b"P"), _field(3, b"\x01"),
                    _field(4, source.encode()))


def mode_request(channel: int = CHANNEL) -> bytes:
    """Full mode (every field) on ``channel``."""
    return _request(MODE, _field(1, struct.pack(">Q", 1 << channel)),
                    _field(2, bytes([FULL_MODE])))


def _topics(topics: list[str]) -> bytes:
    out = bytearray(struct.pack(">H", len(topics)))
    for topic in topics:
        raw = topic.encode("ascii")
        out += bytes([len(raw)]) + raw
    return bytes(out)


def subscribe_request(topics: list[str], channel: int = CHANNEL) -> bytes:
    """Subscribe ``topics`` on ``channel``."""
    return _request(SUBSCRIBE, _field(1, _topics(topics)), _field(2, bytes([channel])))


def unsubscribe_request(topics: list[str], channel: int = CHANNEL) -> bytes:
    """Unsubscribe ``topics``."""
    return _request(UNSUBSCRIBE, _field(1, _topics(topics)), _field(2, bytes([channel])))


def ack_request(message_number: int) -> bytes:
    """Acknowledge the data frame ``message_number``."""
    return _request(ACK, _field(1, struct.pack(">I", message_number)))


@dataclass
class Answer:
    """The server's answer to a request: its type, success, and (authentication) how often to
    acknowledge data frames."""

    kind: int
    ok: bool
    ack_every: int = 0


@dataclass
class TopicState:
    """What a topic's snapshot said and its updates changed since."""

    name: str
    values: dict[str, float] = field(default_factory=dict)
    multiplier: int = 1
    precision: int = 2

    def value(self, name: str) -> float | None:
        """A field's current value (prices scaled back), None when it has none."""
        raw = self.values.get(name)
        if raw is None:
            return None
        if name in PRICES:
            scale: float = 10.0 ** self.precision * (self.multiplier or 1)
            return float(raw) / scale
        return float(raw)


@dataclass
class DataFrame:
    """A data frame: its number and the topics it changed."""

    number: int
    changed: list[TopicState]


class Decoder:
    """Turns the server's frames into answers and topic states (it keeps the topic ids its
    snapshots announced)."""

    def __init__(self) -> None:
        self.topics: dict[int, TopicState] = {}

    def reset(self) -> None:
        """Forget the topics (a new connection)."""
        self.topics.clear()

    def decode(self, frame: bytes) -> Answer | DataFrame | None:
        """An answer, a data frame, or None for anything else.

        Raises
        ------
        ValueError
            A malformed frame.
        """
        if len(frame) < 3:
            return None
        kind = frame[2]
        try:
            if kind == DATA:
                return self._data(frame)
            if kind in (AUTH, SUBSCRIBE, UNSUBSCRIBE, MODE, PAUSE, RESUME):
                return self._answer(kind, frame)
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed data socket frame of type {kind}: {exc}") from None
        return None

    @staticmethod
    def _answer(kind: int, frame: bytes) -> Answer:
        size = struct.unpack(">H", frame[5:7])[0]
        ok = frame[7:7 + size] == b"K"
        ack_every = 0
        offset = 7 + size
        if kind == AUTH and len(frame) >= offset + 7:
            ack_every = struct.unpack(">I", frame[offset + 3:offset + 7])[0]
        return Answer(kind, ok, ack_every)

    def _data(self, frame: bytes) -> DataFrame:
        number, count = struct.unpack(">IH", frame[3:9])
        offset = 9
        changed: list[TopicState] = []
        for _ in range(count):
            item = frame[offset]
            offset += 1
            if item == SNAPSHOT:
                topic_id, size = struct.unpack(">HB", frame[offset:offset + 3])
                offset += 3
                name = frame[offset:offset + size].decode("ascii")
                offset += size
                fields = frame[offset]
                offset += 1
                values = struct.unpack(f">{fields}i", frame[offset:offset + 4 * fields])
                offset += 4 * fields + 2
                multiplier, precision = struct.unpack(">HB", frame[offset:offset + 3])
                offset += 3
                for _ in range(3):  # exchange, exchange token, symbol
                    offset += 1 + frame[offset]
                state = TopicState(name, {}, multiplier, precision)
                _merge(state, values)
                self.topics[topic_id] = state
                changed.append(state)
            elif item == UPDATE:
                topic_id, fields = struct.unpack(">HB", frame[offset:offset + 3])
                offset += 3
                values = struct.unpack(f">{fields}i", frame[offset:offset + 4 * fields])
                offset += 4 * fields
                known = self.topics.get(topic_id)
                if known is not None:
                    _merge(known, values)
                    changed.append(known)
            elif item == LITE:
                topic_id, value = struct.unpack(">Hi", frame[offset:offset + 6])
                offset += 6
                lite = self.topics.get(topic_id)
                if lite is not None and value != NO_VALUE:
                    lite.values["ltp"] = value
                    changed.append(lite)
            else:
                raise ValueError(f"unknown data item {item}")
        return DataFrame(number, changed)


def _merge(state: TopicState, values: tuple[int, ...]) -> None:
    for name, value in zip(FIELDS, values, strict=False):
        if value != NO_VALUE:
            state.values[name] = value


__all__ = ["ACK", "AUTH", "DATA", "FIELDS", "MODE", "NO_VALUE", "PING", "SEGMENTS",
           "SUBSCRIBE", "UNSUBSCRIBE", "Answer", "DataFrame", "Decoder", "TopicState",
           "ack_request", "auth_request", "mode_request", "subscribe_request", "topic_of",
           "unsubscribe_request"]
