"""Our encoder and frame parser against simplefix's: the same bytes out, the same messages in,
whatever the message and however the stream is cut into reads."""

from __future__ import annotations

import simplefix
from hypothesis import given, settings
from hypothesis import strategies as st
from simplefix.data import RAW_DATA

from tradeloop.brokers.fix import wire

HEADER = wire.Header("FIX.4.4", "CLIENT", "BROKER")
_RAW = {tag for pair in RAW_DATA for tag in pair}
_TAGS = st.integers(min_value=11, max_value=9999).filter(
    lambda t: t not in wire.HEADER_TAGS and t not in _RAW)
_VALUES = st.one_of(
    st.text(st.characters(codec="ascii", exclude_characters="\x01="), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=10**9),
    st.binary(min_size=1, max_size=8).filter(lambda b: b"\x01" not in b and b"=" not in b))
_BODIES = st.lists(st.tuples(_TAGS, _VALUES), max_size=15)


def _simplefix_encode(msg_type: str, seq: int, sending_ns: int, body, orig=None) -> bytes:
    message = simplefix.FixMessage()
    for tag, value in [(8, "FIX.4.4"), (35, msg_type), (49, "CLIENT"), (56, "BROKER"),
                       (34, seq)]:
        message.append_pair(tag, value)
    if orig is not None:
        message.append_pair(43, "Y")
        message.append_pair(122, wire.format_timestamp(orig))
    message.append_pair(52, wire.format_timestamp(sending_ns))
    for tag, value in body:
        message.append_pair(tag, value)
    return bytes(message.encode())


@given(body=_BODIES, seq=st.integers(min_value=1, max_value=10**7),
       poss_dup=st.booleans())
@settings(max_examples=150, deadline=None)
def test_encode_matches_simplefix(body, seq, poss_dup):
    orig = 1_700_000_000_123_000_000 if poss_dup else None
    ours = wire.encode(HEADER, "D", seq, 1_700_000_001_000_000_000, body, orig_sending_ns=orig)
    assert ours == _simplefix_encode("D", seq, 1_700_000_001_000_000_000, body, orig)
    assert wire.frame_problem(wire.parse_one(ours)) is None


@given(bodies=st.lists(_BODIES, min_size=1, max_size=5),
       cuts=st.lists(st.integers(min_value=1, max_value=60), max_size=30),
       garble=st.integers(min_value=-1, max_value=4))
@settings(max_examples=150, deadline=None)
def test_the_frame_parser_reads_what_simplefix_reads(bodies, cuts, garble):
    frames = [wire.encode(HEADER, "8", n + 1, 1_700_000_000_000_000_000, body)
              for n, body in enumerate(bodies)]
    if 0 <= garble < len(frames):  # a wrong CheckSum on one frame
        frame = frames[garble]
        frames[garble] = frame[:-4] + (b"%03d" % ((int(frame[-4:-1]) + 1) % 256)) + b"\x01"
    stream = b"".join(frames)
    ours, theirs = wire.FrameParser(), simplefix.FixParser()
    got: list[simplefix.FixMessage] = []
    expected: list[simplefix.FixMessage] = []
    at = 0
    for size in [*cuts, len(stream)]:
        chunk, at = stream[at:at + size], at + size
        ours.append_buffer(chunk)
        theirs.append_buffer(chunk)
        while (message := ours.get_message()) is not None:
            got.append(message)
        while (message := theirs.get_message()) is not None:
            expected.append(message)
    assert [m.pairs for m in got] == [m.pairs for m in expected]
    for mine, theirs_message in zip(got, expected, strict=True):
        for tag in {int(t) for t, _ in theirs_message.pairs} | {1, 9999}:
            assert mine.get(tag) == theirs_message.get(tag)
            assert mine.get(str(tag)) == theirs_message.get(tag)
    assert [wire.frame_problem(m) for m in got] == [wire.frame_problem(m) for m in expected]
    assert [wire.frame_problem(m) is not None for m in got] == [
        n == garble for n in range(len(frames))]
    assert ours.get_buffer() == b""


def test_a_frame_with_raw_data_is_read_whole_by_simplefix():
    raw = b"x\x0110=123\x01y"  # data that looks like a trailer
    frame = wire.encode(HEADER, "B", 1, 1_700_000_000_000_000_000,
                        [(148, "news"), (95, len(raw)), (96, raw)])
    parser = wire.FrameParser()
    parser.append_buffer(frame + frame[:10])
    message = parser.get_message()
    assert message is not None and message.get(96) == raw
    assert wire.frame_problem(message) is None
    assert parser.get_buffer() == frame[:10]
