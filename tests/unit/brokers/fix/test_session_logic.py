"""The FIX session rules without a counterparty: wire format, settings, and the sequence logic
of :class:`SessionProtocol` fed message by message (no socket)."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any

import pytest
import simplefix
from pydantic import SecretStr, ValidationError

from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.config import FixSessionConfig, ReconnectPolicy
from tradeloop.brokers.fix.protocol import (
    FixLogonError,
    FixSequenceError,
    SessionCounters,
    SessionProtocol,
)
from tradeloop.brokers.fix.store import FixSessionStore, SentMessage
from tradeloop.core.errors import ConfigError

NOW = 1_700_000_000_123_000_000  # 2023-11-14 22:13:20.123 UTC
PEER = wire.Header("FIX.4.4", "BROKER", "CLIENT")


def make_config(tmp_path: Path, **overrides: Any) -> FixSessionConfig:
    settings: dict[str, Any] = {"port": 9876, "sender_comp_id": "CLIENT",
                                "target_comp_id": "BROKER", "store_dir": tmp_path}
    settings.update(overrides)
    return FixSessionConfig(**settings)


def peer_message(msg_type: str, seq: int, *fields: tuple[int, str], sending_ns: int = NOW,
                 orig_sending_ns: int | None = None,
                 header: wire.Header = PEER) -> simplefix.FixMessage:
    raw = wire.encode(header, msg_type, seq, sending_ns, list(fields),
                      orig_sending_ns=orig_sending_ns)
    return wire.parse_one(raw)


def report(seq: int, exec_id: str, **kwargs: Any) -> simplefix.FixMessage:
    return peer_message("8", seq, (17, exec_id), (39, "2"), **kwargs)


# -- wire -------------------------------------------------------------------------------------


def test_timestamps_round_trip_at_millisecond_precision():
    assert wire.format_timestamp(NOW) == "20231114-22:13:20.123"
    assert wire.parse_timestamp("20231114-22:13:20.123") == NOW
    assert wire.parse_timestamp(b"20231114-22:13:20") == NOW - 123_000_000
    assert wire.parse_timestamp("20231114-22:13:20.123456789") == NOW + 456_789
    with pytest.raises(ValueError, match="not a FIX UTCTimestamp"):
        wire.parse_timestamp("2023-11-14T22:13:20Z")


def test_encode_sets_the_header_in_order_and_a_sound_trailer():
    body = [(11, "ORD-1"), (34, "999"), (49, "SPOOF"), (55, "EURUSD")]
    raw = wire.encode(wire.Header("FIX.4.4", "CLIENT", "BROKER", "DESK", None), "D", 7, NOW,
                      body)
    text = wire.printable(raw)
    assert text.startswith("8=FIX.4.4|9=")
    assert "|35=D|49=CLIENT|56=BROKER|50=DESK|34=7|52=20231114-22:13:20.123|11=ORD-1|55=EURUSD|" \
        in text  # the body's own 34 and 49 are dropped
    assert wire.frame_problem(wire.parse_one(raw)) is None


def test_encode_marks_possible_duplicates():
    raw = wire.encode(PEER, "8", 3, NOW, [(17, "X")], orig_sending_ns=NOW - 1_000_000_000)
    message = wire.parse_one(raw)
    assert wire.field(message, 43) == "Y"
    assert wire.field(message, 122) == "20231114-22:13:19.123"


def test_garbled_frames_are_detected():
    good = wire.encode(PEER, "0", 1, NOW, [])
    bad_checksum = good[:-4] + b"000\x01" if not good.endswith(b"=000\x01") else \
        good[:-4] + b"001\x01"
    assert "CheckSum" in (wire.frame_problem(wire.parse_one(bad_checksum)) or "")
    length = wire.int_field(wire.parse_one(good), 9)
    bad_length = good.replace(f"9={length}\x01".encode(), f"9={length + 1}\x01".encode())
    assert bad_length != good
    problem = wire.frame_problem(wire.parse_one(bad_length))
    assert problem is not None and ("BodyLength" in problem or "CheckSum" in problem)


def test_printable_masks_the_password():
    raw = wire.encode(PEER, "A", 1, NOW, [(553, "trader"), (554, "s3cret!")])
    text = wire.printable(raw)
    assert "554=***" in text and "s3cret" not in text and "553=trader" in text


@pytest.mark.parametrize(("seq", "expected", "poss_dup", "check"), [
    (5, 5, False, wire.SeqCheck.IN_ORDER),
    (5, 5, True, wire.SeqCheck.IN_ORDER),
    (9, 5, False, wire.SeqCheck.TOO_HIGH),
    (3, 5, True, wire.SeqCheck.DUPLICATE),
    (3, 5, False, wire.SeqCheck.TOO_LOW),
])
def test_sequence_checks(seq, expected, poss_dup, check):
    assert wire.check_seq(seq, expected, poss_dup) is check


def test_resend_end_resolves_infinity_and_overshoot():
    assert wire.resend_end(3, 0, 10) == 10
    assert wire.resend_end(3, 999_999, 10) == 10
    assert wire.resend_end(3, 50, 10) == 10
    assert wire.resend_end(3, 6, 10) == 6


def test_resend_plan_resends_application_messages_and_gap_fills_the_rest():
    stored = [SentMessage(3, "D", 100, b"a"), SentMessage(4, "D", 100, b"b"),
              SentMessage(7, "F", 50, b"c"), SentMessage(9, "D", 100, b"d")]
    plan = wire.plan_resend(stored, 2, 10)
    assert plan == [wire.GapFill(2, 3), stored[0], stored[1], wire.GapFill(5, 7), stored[2],
                    wire.GapFill(8, 9), stored[3], wire.GapFill(10, 11)]
    stale_dropped = wire.plan_resend(stored, 3, 9, min_sent_ns=80)
    assert stale_dropped == [stored[0], stored[1], wire.GapFill(5, 9), stored[3]]
    assert wire.plan_resend([], 4, 4) == [wire.GapFill(4, 5)]
    assert wire.plan_resend([], 5, 4) == []


# -- settings ---------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_maximum_and_jitter_shortens_it():
    policy = ReconnectPolicy(initial_backoff_s=0.5, max_backoff_s=3.0, jitter=0.5)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff_s(2, random_fraction=0.5) == pytest.approx(0.75)
    assert policy.backoff_s(10_000) == 3.0
    with pytest.raises(ValidationError, match="max_backoff_s must be at least"):
        ReconnectPolicy(initial_backoff_s=5, max_backoff_s=1)


def test_config_names_and_defaults(tmp_path):
    config = make_config(tmp_path, heartbeat_s=10)
    assert config.session_id == "FIX.4.4:CLIENT->BROKER"
    assert config.store_name == "FIX.4.4-CLIENT-BROKER"
    assert config.grace_s == 2.0
    assert make_config(tmp_path, heartbeat_s=1).grace_s == 0.5
    assert config.reconnect.max_attempts is None
    with pytest.raises(ValidationError, match="extra"):
        make_config(tmp_path, heartbeat=5)
    with pytest.raises(ValidationError, match="printable ASCII"):
        make_config(tmp_path, sender_comp_id="BAD\x01ID")
    with pytest.raises(ValidationError, match="begin_string"):
        make_config(tmp_path, begin_string="FIX.5.0")


def test_the_password_comes_from_the_environment(tmp_path):
    config = make_config(tmp_path, password_env="FIX_PASSWORD")
    secret = config.resolved_password({"FIX_PASSWORD": "hunter2"})
    assert isinstance(secret, SecretStr) and secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(config)
    with pytest.raises(ConfigError, match="FIX_PASSWORD is not set"):
        config.resolved_password({})
    with pytest.raises(ConfigError, match="FIX_PASSWORD is empty"):
        config.resolved_password({"FIX_PASSWORD": ""})
    assert make_config(tmp_path).resolved_password({}) is None
    direct = make_config(tmp_path, password="given", password_env="FIX_PASSWORD")
    assert direct.resolved_password({}) == SecretStr("given")
    with pytest.raises(ValidationError, match="not an environment variable name"):
        make_config(tmp_path, password_env="not a name")


def test_the_password_may_come_from_the_secrets_file(tmp_path):
    secrets = tmp_path / "secrets.env"
    secrets.write_text("FIX_PASSWORD='from the file'\n", encoding="utf-8")
    secrets.chmod(0o600)
    config = make_config(tmp_path, password_env="FIX_PASSWORD")
    found = config.resolved_password({"TRADELOOP_SECRETS_FILE": str(secrets)})
    assert found is not None and found.get_secret_value() == "from the file"


# -- the protocol, fed by hand ----------------------------------------------------------------


class Harness:
    """A SessionProtocol with its writes, deliveries and callbacks recorded."""

    def __init__(self, tmp_path: Path, *, fail_on: str | None = None, **overrides: Any) -> None:
        self.config = make_config(tmp_path, **overrides)
        self.store = FixSessionStore.open(tmp_path, self.config.store_name,
                                          self.config.session_id)
        self.counters = SessionCounters()
        self.written: list[simplefix.FixMessage] = []
        self.delivered: list[simplefix.FixMessage] = []
        self.closed: list[tuple[str, BaseException | None]] = []
        self.logons = 0
        self.heartbeats: list[str] = []
        self.fail_on = fail_on
        self.protocol = self.new_protocol()

    def new_protocol(self) -> SessionProtocol:
        def on_logon() -> None:
            self.logons += 1

        return SessionProtocol(
            self.config, self.store, self.counters,
            write=lambda raw: self.written.append(wire.parse_one(raw)), deliver=self.deliver,
            now_ns=lambda: NOW, on_logon=on_logon,
            on_close=lambda reason, error: self.closed.append((reason, error)),
            on_heartbeat=self.heartbeats.append)

    async def deliver(self, message: simplefix.FixMessage) -> None:
        if wire.field(message, 17) == self.fail_on:
            raise RuntimeError("handler bug")
        self.delivered.append(message)

    def feed(self, *messages: simplefix.FixMessage) -> None:
        async def go() -> None:
            for message in messages:
                await self.protocol.receive(message)
        asyncio.run(go())

    def logon(self, peer_seq: int = 1) -> None:
        self.protocol.send_logon(None)
        self.feed(peer_message("A", peer_seq, (98, "0"), (108, "30")))

    def exec_ids(self) -> list[str | None]:
        return [wire.field(m, 17) for m in self.delivered]

    def sent(self, msg_type: str) -> list[simplefix.FixMessage]:
        return [m for m in self.written if wire.field(m, 35) == msg_type]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_logon_in_order(h):
    h.logon()
    (logon,) = h.written
    assert wire.field(logon, 35) == "A" and wire.field(logon, 108) == "30"
    assert wire.field(logon, 141) is None and wire.field(logon, 554) is None
    assert h.logons == 1 and not h.protocol.logging_on
    assert (h.store.next_sender_seq, h.store.next_target_seq) == (2, 2)
    h.feed(report(2, "E1"), report(3, "E2"))
    assert h.exec_ids() == ["E1", "E2"]
    assert h.store.next_target_seq == 4


def test_logon_carries_credentials_and_reset_flag(tmp_path):
    h = Harness(tmp_path, username="trader", reset_seq_on_logon=True)
    h.store.set_next_sender_seq(40)
    h.store.set_next_target_seq(30)
    h.protocol.send_logon(SecretStr("pw"))
    (logon,) = h.written
    assert wire.field(logon, 34) == "1"  # the store started over
    assert (wire.field(logon, 141), wire.field(logon, 553), wire.field(logon, 554)) == (
        "Y", "trader", "pw")
    h.feed(peer_message("A", 1, (98, "0"), (108, "30"), (141, "Y")))
    assert h.logons == 1 and h.store.next_target_seq == 2


def test_a_gap_on_logon_is_requested_and_filled_in_order(h):
    h.store.set_next_target_seq(5)
    h.logon(peer_seq=9)  # 5..8 missed
    assert h.logons == 1
    (request,) = h.sent("2")
    assert (wire.field(request, 7), wire.field(request, 16)) == ("5", "0")
    live = report(10, "E10")  # arrives before the resend: held back
    h.feed(live)
    assert h.delivered == [] and len(h.sent("2")) == 1  # no second request
    h.feed(report(5, "E5", orig_sending_ns=NOW - 10), report(6, "E6", orig_sending_ns=NOW - 10),
           peer_message("4", 7, (123, "Y"), (36, "9"), orig_sending_ns=NOW),
           report(10, "E10", orig_sending_ns=NOW - 5))  # the resend goes on past the gap
    assert h.exec_ids() == ["E5", "E6", "E10"]  # once each, in order
    assert h.counters.gap_fills_received == 1 and h.counters.duplicates_dropped == 1
    assert h.store.next_target_seq == 11 and not h.protocol.resend_pending


def test_a_gap_mid_session_holds_later_messages_until_it_is_filled(h):
    h.logon()
    h.feed(report(2, "E2"), report(5, "E5"), report(6, "E6"))
    assert h.exec_ids() == ["E2"]
    (request,) = h.sent("2")
    assert wire.field(request, 7) == "3"
    assert h.counters.resend_requests_sent == 1
    h.feed(report(3, "E3", orig_sending_ns=NOW), report(4, "E4", orig_sending_ns=NOW))
    assert h.exec_ids() == ["E2", "E3", "E4", "E5", "E6"]
    h.feed(report(5, "E5", orig_sending_ns=NOW), report(6, "E6", orig_sending_ns=NOW))
    assert h.exec_ids() == ["E2", "E3", "E4", "E5", "E6"]  # duplicates dropped
    assert h.counters.duplicates_dropped == 2 and h.store.next_target_seq == 7


def test_too_low_without_poss_dup_logs_out_and_is_fatal(h):
    h.logon()
    h.feed(report(2, "E2"), report(2, "E2-again"))
    (logout,) = h.sent("5")
    assert wire.field(logout, 58) == "MsgSeqNum too low, expecting 3 but received 2"
    ((reason, error),) = h.closed
    assert "too low" in reason and isinstance(error, FixSequenceError)
    assert h.exec_ids() == ["E2"]
    h.feed(report(3, "E3"))  # nothing more once closed
    assert h.exec_ids() == ["E2"]


def test_poss_dup_with_a_late_orig_sending_time_is_rejected_not_delivered(h):
    h.logon()
    h.feed(report(2, "E2", orig_sending_ns=NOW + 1_000_000_000))
    (reject,) = h.sent("3")
    assert (wire.field(reject, 45), wire.field(reject, 373)) == ("2", "10")
    assert h.delivered == [] and h.store.next_target_seq == 3
    no_orig = simplefix.FixMessage()  # PossDup without OrigSendingTime
    for tag, value in ((8, "FIX.4.4"), (35, "8"), (49, "BROKER"), (56, "CLIENT"), (34, "3"),
                       (43, "Y"), (52, wire.format_timestamp(NOW)), (17, "E3")):
        no_orig.append_pair(tag, value)
    h.feed(wire.parse_one(no_orig.encode()))
    assert wire.field(h.sent("3")[-1], 373) == "1"
    assert h.delivered == [] and h.store.next_target_seq == 4


def test_test_requests_are_answered_and_heartbeats_reported(h):
    h.logon()
    h.feed(peer_message("1", 2, (112, "PING-7")), peer_message("0", 3, (112, "MINE-1")))
    (heartbeat,) = h.sent("0")
    assert wire.field(heartbeat, 112) == "PING-7"
    assert h.heartbeats == ["MINE-1"]
    assert h.counters.test_requests_received == 1 and h.counters.test_requests_answered == 1


def test_a_resend_request_resends_stored_messages_and_gap_fills_admin_ones(h):
    h.logon()
    order = simplefix.FixMessage()
    order.append_pair(35, "D")
    order.append_pair(11, "ORD-2")
    h.protocol.send("D", wire.body_pairs(order), keep=True)  # seq 2
    h.protocol.send_heartbeat()  # seq 3
    h.protocol.send("D", [(11, "ORD-4")], keep=True)  # seq 4
    h.written.clear()
    h.feed(peer_message("2", 2, (7, "1"), (16, "0")))
    assert [(wire.field(m, 35), wire.field(m, 34), wire.field(m, 36)) for m in h.written] == [
        ("4", "1", "2"), ("D", "2", None), ("4", "3", "4"), ("D", "4", None)]
    assert all(wire.field(m, 43) == "Y" for m in h.written)
    resent = h.written[1]
    assert wire.field(resent, 11) == "ORD-2" and wire.field(resent, 122) is not None
    assert h.store.next_sender_seq == 5  # resends reuse their numbers
    assert h.counters.messages_resent == 2 and h.counters.gap_fills_sent == 2


def test_a_resend_request_with_a_high_seq_is_answered_at_once(h):
    h.logon()
    h.protocol.send("D", [(11, "ORD-2")], keep=True)
    h.written.clear()
    h.feed(peer_message("2", 5, (7, "2"), (16, "2")))  # we also missed 2..4
    assert [wire.field(m, 35) for m in h.written] == ["D", "2"]
    h.feed(report(2, "E2"), report(3, "E3"), report(4, "E4"))
    assert h.exec_ids() == ["E2", "E3", "E4"]
    assert h.store.next_target_seq == 6  # the queued request counted, not answered twice
    assert h.counters.resend_requests_received == 1


def test_sequence_reset_mode_moves_the_expected_number_up_only(h):
    h.logon()
    h.feed(peer_message("4", 1, (36, "20")))  # reset mode ignores its own MsgSeqNum
    assert h.store.next_target_seq == 20 and h.counters.sequence_resets_received == 1
    h.feed(peer_message("4", 20, (36, "10")))
    assert wire.field(h.sent("3")[-1], 373) == "5"
    assert h.store.next_target_seq == 20
    h.feed(report(20, "E20"))
    assert h.exec_ids() == ["E20"]


def test_gap_fill_with_a_backwards_new_seq_is_rejected(h):
    h.logon()
    h.feed(peer_message("4", 2, (123, "Y"), (36, "2")))
    assert wire.field(h.sent("3")[-1], 373) == "5"
    assert h.store.next_target_seq == 3


def test_counterparty_logout_is_answered(h):
    h.logon()
    h.feed(peer_message("5", 2, (58, "end of day")))
    assert len(h.sent("5")) == 1
    ((reason, error),) = h.closed
    assert "end of day" in reason and error is None
    assert h.store.next_target_seq == 3


def test_logout_answering_ours_closes_quietly(h):
    h.logon()
    h.protocol.logging_out = True
    h.protocol.send_logout("bye")
    h.feed(peer_message("5", 2))
    assert len(h.sent("5")) == 1  # ours only
    assert h.closed == [("Logout answered", None)]


def test_logon_answered_by_logout_is_refused(tmp_path):
    h = Harness(tmp_path)
    h.protocol.send_logon(None)
    h.feed(peer_message("5", 1, (58, "Invalid password")))
    ((_, error),) = h.closed
    assert isinstance(error, FixLogonError) and error.answered
    assert "Invalid password" in str(error)
    h2 = Harness(tmp_path / "two")
    h2.protocol.send_logon(None)
    h2.feed(peer_message("5", 1, (58, "MsgSeqNum too low, expecting 9 but received 1")))
    assert isinstance(h2.closed[0][1], FixSequenceError)


def test_counterparty_logon_below_the_expected_number_is_fatal(h):
    h.store.set_next_target_seq(10)
    h.logon(peer_seq=4)
    assert h.logons == 0
    assert "expecting 10 but received 4" in (wire.field(h.sent("5")[0], 58) or "")
    assert isinstance(h.closed[0][1], FixSequenceError)


def test_wrong_comp_ids_end_the_session(h):
    h.logon()
    h.feed(peer_message("8", 2, (17, "E2"), header=wire.Header("FIX.4.4", "MALLORY", "CLIENT")))
    assert h.delivered == []
    assert "CompID problem" in (wire.field(h.sent("5")[0], 58) or "")
    assert isinstance(h.closed[0][1], FixSequenceError)


def test_garbled_messages_are_ignored_and_recovered_by_the_sequence_check(h):
    h.logon()
    good = wire.encode(PEER, "8", 2, NOW, [(17, "E2")])
    garbled = wire.parse_one(good.replace(b"17=E2", b"17=E9"))  # checksum now wrong
    h.feed(garbled)
    assert h.delivered == [] and h.counters.garbled_dropped == 1
    assert h.store.next_target_seq == 2
    h.feed(report(3, "E3"))
    assert wire.field(h.sent("2")[0], 7) == "2"


def test_a_failing_handler_is_logged_and_the_session_goes_on(tmp_path, caplog):
    h = Harness(tmp_path, fail_on="E2")
    h.logon()
    with caplog.at_level(logging.ERROR, logger="tradeloop.brokers.fix"):
        h.feed(report(2, "E2"), report(3, "E3"))
    assert h.exec_ids() == ["E3"]
    assert "on_message handler raised" in caplog.text
    assert h.store.next_target_seq == 4


def test_jittered_backoff_uses_the_given_random_source():
    policy = ReconnectPolicy(initial_backoff_s=1.0, max_backoff_s=8.0, jitter=0.25)
    rng = random.Random(7)
    waits = [policy.backoff_s(n, rng.random()) for n in (1, 2, 3, 4)]
    assert all(0.75 * base <= wait <= base for wait, base in zip(waits, (1, 2, 4, 8),
                                                                 strict=True))
