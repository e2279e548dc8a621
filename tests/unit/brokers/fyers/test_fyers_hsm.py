"""The binary protocol of Fyers' data socket: our requests decode as the protocol lays them out,
and the local Fyers' frames decode into prices and sizes."""

from __future__ import annotations

import struct

import pytest

from support.fyers import hsm as server
from tradeloop.brokers.fyers import hsm


def test_the_authentication_request_carries_the_hsm_key_and_mode() -> None:
    frame = hsm.auth_request("k3y", source="src")
    assert struct.unpack(">H", frame[:2])[0] == len(frame) - 2
    decoded = server.decode_request(frame)
    assert decoded.kind == hsm.AUTH
    assert decoded.fields == {1: b"k3y", 2: b"P", 3: b"\x01", 4: b"src"}


def test_subscribing_names_the_topics_and_the_channel() -> None:
    frame = hsm.subscribe_request(["sf|nse_cm|3045", "sf|mcx_fo|436574"])
    decoded = server.decode_request(frame)
    assert decoded.kind == hsm.SUBSCRIBE and decoded.fields[2] == bytes([hsm.CHANNEL])
    assert decoded.topics() == ["sf|nse_cm|3045", "sf|mcx_fo|436574"]
    mode = server.decode_request(hsm.mode_request())
    assert mode.kind == hsm.MODE and mode.fields == {1: struct.pack(">Q", 1 << 11), 2: b"F"}
    ack = server.decode_request(hsm.ack_request(42))
    assert ack.kind == hsm.ACK and ack.fields == {1: struct.pack(">I", 42)}
    assert server.decode_request(hsm.PING).kind == server.PING == 11


def test_answers_say_whether_a_request_succeeded() -> None:
    decoder = hsm.Decoder()
    assert decoder.decode(server.answer(hsm.AUTH, True, ack_every=5)) == hsm.Answer(
        hsm.AUTH, True, 5)
    assert decoder.decode(server.answer(hsm.SUBSCRIBE, False)) == hsm.Answer(hsm.SUBSCRIBE,
                                                                            False, 0)


def test_a_snapshot_then_updates_become_scaled_values() -> None:
    topic = server.Topic(3, "sf|nse_cm|3045", "NSE:SBIN-EQ", "NSE", "3045")
    decoder = hsm.Decoder()
    first = decoder.decode(server.data_frame(1, [(topic, {
        "ltp": 800.05, "bid_price": 800.0, "ask_price": 800.1, "vol_traded_today": 1200,
        "exch_feed_time": 1_700_000_000, "OI": None})]))
    assert isinstance(first, hsm.DataFrame) and first.number == 1
    (state,) = first.changed
    assert state.name == "sf|nse_cm|3045"
    assert (state.value("ltp"), state.value("bid_price"), state.value("ask_price")) == (
        800.05, 800.0, 800.1)
    assert state.value("vol_traded_today") == 1200 and state.value("OI") is None
    update = decoder.decode(server.data_frame(2, [(topic, {"bid_price": 801.0,
                                                           "ask_price": None})]))
    assert isinstance(update, hsm.DataFrame) and update.changed == [state]
    assert state.value("bid_price") == 801.0 and state.value("ask_price") == 800.1  # kept


def test_topics_come_from_the_fytoken() -> None:
    assert hsm.topic_of("10100000003045") == "sf|nse_cm|3045"
    assert hsm.topic_of("101124122635002") == "sf|nse_fo|35002"
    assert hsm.topic_of("1120241219436574") == "sf|mcx_fo|436574"
    assert hsm.topic_of("1210000000500112") == "sf|bse_cm|500112"
    with pytest.raises(ValueError, match="unknown segment"):
        hsm.topic_of("9999000000123")


def test_a_broken_frame_is_an_error_not_a_crash() -> None:
    broken = struct.pack(">H", 9) + bytes([hsm.DATA]) + struct.pack(">IH", 1, 1) + b"\x53\x00"
    with pytest.raises(ValueError, match="malformed data socket frame"):
        hsm.Decoder().decode(broken)
    assert hsm.Decoder().decode(b"\x00") is None
