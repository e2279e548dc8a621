"""The binary protocol of Fyers' v3 data socket (``/hsm/v1-5/prod``), the server's side.

Every frame starts with a two-byte big-endian length and a one-byte type. Requests carry a
field count and fields of ``id (1 byte), length (2 bytes), value``:

* 1 authenticate: the ``hsm_key`` of the access token, the mode ``"P"``, a flag, the source;
* 12 full/lite mode: a channel bit mask and 70 (full) or 76 (lite);
* 4 subscribe, 5 unsubscribe: a topic list (``sf|nse_cm|3045``: two-byte count, then each
  topic with a one-byte length) and the channel;
* 3 acknowledge a data message; and the three bytes ``00 01 0b`` as a ping.

Answers to requests carry ``"K"`` when they succeeded. Data frames (type 6) carry a message
number, a count, and items: a snapshot (``'S'`` = 83: topic id, topic name, 21 fields of signed
32-bit integers, multiplier, precision, exchange, exchange token, symbol) the first time, then
updates (``'U'`` = 85: topic id and the fields). Prices are integers: divide by
``10**precision * multiplier``; a field that has no value is -2147483648.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

AUTH, ACK, SUBSCRIBE, UNSUBSCRIBE, DATA, MODE, PING = 1, 3, 4, 5, 6, 12, 11
SNAPSHOT, UPDATE = 83, 85
NO_VALUE = -2_147_483_648
#: The 21 fields of a symbol update, in the order they travel.
FIELDS = ("ltp", "vol_traded_today", "last_traded_time", "exch_feed_time", "bid_size",
          "ask_size", "bid_price", "ask_price", "last_traded_qty", "tot_buy_qty",
          "tot_sell_qty", "avg_trade_price", "OI", "low_price", "high_price", "Yhigh", "Ylow",
          "lower_ckt", "upper_ckt", "open_price", "prev_close_price")
PRICE_FIELDS = frozenset({"ltp", "bid_price", "ask_price", "avg_trade_price", "low_price",
                          "high_price", "open_price", "prev_close_price", "lower_ckt",
                          "upper_ckt", "Yhigh", "Ylow"})


@dataclass
class Request:
    """A client frame, decoded."""

    kind: int
    fields: dict[int, bytes] = field(default_factory=dict)

    def topics(self) -> list[str]:
        """The topics of a subscribe or unsubscribe request."""
        raw = self.fields.get(1, b"")
        if len(raw) < 2:
            return []
        count = struct.unpack(">H", raw[:2])[0]
        out, offset = [], 2
        for _ in range(count):
            size = raw[offset]
            out.append(raw[offset + 1:offset + 1 + size].decode("ascii"))
            offset += 1 + size
        return out


def decode_request(frame: bytes) -> Request:
    """A client frame (raises ValueError when it is not one)."""
    if len(frame) < 3:
        raise ValueError("frame too short")
    kind = frame[2]
    if kind == PING and len(frame) == 3:
        return Request(PING)
    if len(frame) < 4:
        raise ValueError("frame without fields")
    count, offset, fields = frame[3], 4, {}
    for _ in range(count):
        field_id = frame[offset]
        size = struct.unpack(">H", frame[offset + 1:offset + 3])[0]
        fields[field_id] = frame[offset + 3:offset + 3 + size]
        offset += 3 + size
    if offset > len(frame):
        raise ValueError("truncated frame")
    return Request(kind, fields)


def _frame(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


def answer(kind: int, ok: bool, ack_every: int = 0) -> bytes:
    """The answer to an authenticate, mode, subscribe or unsubscribe request."""
    value = b"K" if ok else b"E"
    body = bytes([kind, 2 if kind == AUTH else 1, 1]) + struct.pack(">H", 1) + value
    if kind == AUTH:
        body += bytes([2]) + struct.pack(">HI", 4, ack_every)
    return _frame(body)


@dataclass
class Topic:
    """One subscribed topic of a connection."""

    topic_id: int
    name: str
    symbol: str
    exchange: str
    token: str
    multiplier: int = 1
    precision: int = 2
    sent: bool = False

    def scaled(self, name: str, value: float | int | None) -> int:
        """A field as it travels."""
        if value is None:
            return NO_VALUE
        if name in PRICE_FIELDS:
            return round(float(value) * 10 ** self.precision * self.multiplier)
        return int(value)


def data_frame(number: int, items: list[tuple[Topic, dict[str, float | int | None]]]) -> bytes:
    """A data message: a snapshot for each topic not sent yet, an update otherwise."""
    body = bytearray([DATA])
    body += struct.pack(">IH", number, len(items))
    for topic, values in items:
        ints = [topic.scaled(name, values.get(name)) for name in FIELDS]
        if not topic.sent:
            name = topic.name.encode("ascii")
            body += bytes([SNAPSHOT]) + struct.pack(">HB", topic.topic_id, len(name)) + name
            body += bytes([len(ints)]) + struct.pack(f">{len(ints)}i", *ints)
            body += b"\x00\x00" + struct.pack(">HB", topic.multiplier, topic.precision)
            for text in (topic.exchange, topic.token, topic.symbol):
                raw = text.encode("utf-8")
                body += bytes([len(raw)]) + raw
            topic.sent = True
        else:
            body += bytes([UPDATE]) + struct.pack(">HB", topic.topic_id, len(ints))
            body += struct.pack(f">{len(ints)}i", *ints)
    return _frame(bytes(body))


__all__ = ["ACK", "AUTH", "DATA", "FIELDS", "MODE", "NO_VALUE", "PING", "SNAPSHOT",
           "SUBSCRIBE", "UNSUBSCRIBE", "UPDATE", "Request", "Topic", "answer", "data_frame",
           "decode_request"]
