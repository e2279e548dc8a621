"""The protobuf wire codec of the cTrader adapter: bytes computed by hand, round trips of any
value (hypothesis), unknown fields skipped, malformed input refused, and the framing."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeloop.brokers.ctrader.messages import PT, SCHEMAS
from tradeloop.brokers.ctrader.wire import (
    Envelope,
    F,
    Schema,
    WireError,
    decode,
    decode_varint,
    encode,
    encode_varint,
    frame,
    read_frame,
    unzigzag,
    zigzag,
)

INNER = Schema("Inner", (F(1, "id", "int64"), F(2, "name", "string")))
EVERYTHING = Schema("Everything", (
    F(1, "i32", "int32"), F(2, "i64", "int64"), F(3, "u32", "uint32"), F(4, "u64", "uint64"),
    F(5, "s32", "sint32"), F(6, "s64", "sint64"), F(7, "flag", "bool"), F(8, "kind", "enum"),
    F(9, "dbl", "double"), F(10, "f64", "fixed64"), F(11, "sf64", "sfixed64"),
    F(12, "flt", "float"), F(13, "f32", "fixed32"), F(14, "sf32", "sfixed32"),
    F(15, "text", "string"), F(16, "blob", "bytes"), F(17, "ids", "int64", repeated=True),
    F(18, "packed", "sint64", repeated=True, packed=True),
    F(19, "inner", "message", message=INNER),
    F(20, "inners", "message", repeated=True, message=INNER),
))


@pytest.mark.parametrize(("value", "hex_bytes"), [
    (0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (2100, "b410"),
    (16_384, "808001"), (2**64 - 1, "ffffffffffffffffff01"),
])
def test_varints_match_hand_computed_bytes(value: int, hex_bytes: str) -> None:
    assert encode_varint(value).hex() == hex_bytes
    assert decode_varint(bytes.fromhex(hex_bytes), 0) == (value, len(hex_bytes) // 2)


@pytest.mark.parametrize(("signed", "unsigned"), [
    (0, 0), (-1, 1), (1, 2), (-2, 3), (2_147_483_647, 4_294_967_294),
    (-2_147_483_648, 4_294_967_295), (-(2**63), 2**64 - 1),
])
def test_zigzag_matches_the_protobuf_table(signed: int, unsigned: int) -> None:
    assert zigzag(signed) == unsigned
    assert unzigzag(unsigned) == signed


def test_an_application_auth_request_is_the_bytes_worked_out_by_hand() -> None:
    body = encode(SCHEMAS[PT.APPLICATION_AUTH_REQ],
                  {"payloadType": 2100, "clientId": "ab", "clientSecret": "c"})
    # field 1 varint 2100 (08 b4 10); field 2 "ab" (12 02 61 62); field 3 "c" (1a 01 63)
    assert body.hex() == "08b41012026162" + "1a0163"


def test_negative_int64_takes_ten_bytes_and_doubles_are_little_endian() -> None:
    body = encode(EVERYTHING, {"i64": -1, "dbl": 1.5})
    assert body.hex() == "10" + "ff" * 9 + "01" + "49" + struct.pack("<d", 1.5).hex()
    assert struct.pack("<d", 1.5).hex() == "000000000000f83f"
    assert decode(EVERYTHING, body) == {"i64": -1, "dbl": 1.5}


def test_a_negative_int32_decodes_back_from_its_sign_extension() -> None:
    body = encode(EVERYTHING, {"i32": -5})
    assert len(body) == 11
    assert decode(EVERYTHING, body) == {"i32": -5}


def test_a_spot_event_with_only_the_bid_decodes_without_the_ask() -> None:
    # 2131 = 0b1_0000_1010011: low seven bits 0x53 with the continuation bit, then 0x10
    raw = bytes.fromhex("08d310" "1002" "1801" "20") + encode_varint(108_505)
    assert decode(SCHEMAS[PT.SPOT_EVENT], raw) == {
        "payloadType": 2131, "ctidTraderAccountId": 2, "symbolId": 1, "bid": 108_505}


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    known = encode(INNER, {"id": 7, "name": "x"})
    extra = encode_varint(90 << 3) + encode_varint(12345)
    extra += encode_varint((91 << 3) | 1) + struct.pack("<d", 2.5)
    extra += encode_varint((92 << 3) | 2) + encode_varint(3) + b"abc"
    extra += encode_varint((93 << 3) | 5) + struct.pack("<f", 1.0)
    assert decode(INNER, extra + known + extra) == {"id": 7, "name": "x"}


def test_repeated_scalars_read_packed_or_not_and_the_last_singular_value_wins() -> None:
    unpacked = encode(EVERYTHING, {"ids": [1, 2, 300]})
    assert unpacked.hex() == "8801018801028801ac02"
    packed = encode_varint((17 << 3) | 2) + encode_varint(4) + bytes.fromhex("0102ac02")
    assert decode(EVERYTHING, packed) == {"ids": [1, 2, 300]}
    assert decode(EVERYTHING, unpacked + packed) == {"ids": [1, 2, 300, 1, 2, 300]}
    twice = encode(INNER, {"id": 1}) + encode(INNER, {"id": 2})
    assert decode(INNER, twice) == {"id": 2}


@pytest.mark.parametrize("raw", [
    "80",          # a varint that never ends
    "1205616263",  # a string shorter than its length
    "5900000000",  # an unknown double cut short
    "00",          # field number 0
    "0b",          # wire type 3 (groups) is not supported
    "0d00000000",  # field 1 (an int64) sent as a 32-bit value
    "0a0380",      # field 1 as a packed run whose varint never ends
])
def test_malformed_bytes_are_refused(raw: str) -> None:
    with pytest.raises(WireError):
        decode(INNER, bytes.fromhex(raw))


def test_values_a_field_cannot_hold_are_refused_when_encoding() -> None:
    with pytest.raises(WireError, match="no field 'nope'"):
        encode(INNER, {"nope": 1})
    with pytest.raises(WireError, match="out of range"):
        encode(EVERYTHING, {"u32": -1})
    with pytest.raises(WireError, match="out of range"):
        encode(EVERYTHING, {"i32": 2**31})
    with pytest.raises(WireError):
        encode(EVERYTHING, {"dbl": "not a number"})


def test_every_payload_type_has_a_table_and_tables_start_with_the_payload_type() -> None:
    for kind in PT:
        schema = SCHEMAS[kind]
        assert schema.by_number[1].name == "payloadType", schema.name
        assert schema.name.startswith("Proto")


def test_envelopes_and_frames() -> None:
    heartbeat = Envelope(PT.HEARTBEAT_EVENT, encode(SCHEMAS[51], {"payloadType": 51}))
    raw = heartbeat.to_bytes()
    assert raw.hex() == "0833" + "1202" + "0833"
    assert frame(raw).hex() == "00000006" + raw.hex()
    assert Envelope.from_bytes(raw) == heartbeat
    with_id = Envelope(2100, b"\x08\x01", "cm-1")
    assert Envelope.from_bytes(with_id.to_bytes()) == with_id
    with pytest.raises(WireError, match="payload type"):
        Envelope.from_bytes(b"")


def test_read_frame_reads_frames_in_order_and_refuses_oversized_ones() -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(frame(b"one") + frame(b"") + frame(b"three"))
        reader.feed_eof()
        assert [await read_frame(reader) for _ in range(3)] == [b"one", b"", b"three"]
        with pytest.raises(asyncio.IncompleteReadError):
            await read_frame(reader)
        big = asyncio.StreamReader()
        big.feed_data((1000).to_bytes(4, "big"))
        with pytest.raises(WireError, match="longer than 100"):
            await read_frame(big, max_size=100)

    asyncio.run(run())


_INNERS = st.fixed_dictionaries({}, optional={
    "id": st.integers(-(2**63), 2**63 - 1), "name": st.text(max_size=20)})
_VALUES: dict[str, Any] = {
    "i32": st.integers(-(2**31), 2**31 - 1), "i64": st.integers(-(2**63), 2**63 - 1),
    "u32": st.integers(0, 2**32 - 1), "u64": st.integers(0, 2**64 - 1),
    "s32": st.integers(-(2**31), 2**31 - 1), "s64": st.integers(-(2**63), 2**63 - 1),
    "flag": st.booleans(), "kind": st.integers(0, 2**31 - 1),
    "dbl": st.floats(allow_nan=False), "f64": st.integers(0, 2**64 - 1),
    "sf64": st.integers(-(2**63), 2**63 - 1), "flt": st.floats(width=32, allow_nan=False),
    "f32": st.integers(0, 2**32 - 1), "sf32": st.integers(-(2**31), 2**31 - 1),
    "text": st.text(max_size=40), "blob": st.binary(max_size=40),
    "ids": st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=6),
    "packed": st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=6),
    "inner": _INNERS, "inners": st.lists(_INNERS, min_size=1, max_size=3),
}


@given(st.fixed_dictionaries({}, optional=_VALUES))
def test_any_message_survives_a_round_trip(values: dict[str, Any]) -> None:
    assert decode(EVERYTHING, encode(EVERYTHING, values)) == values


@given(st.integers(0, 2**64 - 1))
def test_any_varint_survives_a_round_trip(value: int) -> None:
    raw = encode_varint(value)
    assert decode_varint(raw, 0) == (value, len(raw))
    assert len(raw) <= 10


@given(st.integers(-(2**63), 2**63 - 1))
def test_zigzag_inverts(value: int) -> None:
    assert unzigzag(zigzag(value)) == value and zigzag(value) >= 0


@given(st.binary(max_size=64))
def test_random_bytes_decode_or_raise_wire_error_only(raw: bytes) -> None:
    with contextlib.suppress(WireError):
        decode(EVERYTHING, raw)
