"""The FIX session against QuickFIX's real example acceptors, on 127.0.0.1.

``executor`` (FIX 4.4) fills every limit order at once at its limit price; ``ordermatch``
(FIX 4.2) matches orders. Both keep their sequence numbers in a file store, so restarts, gaps
and resends are QuickFIX's own behaviour, not a script's. Heartbeats are 1 s here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import simplefix

from support.quickfix import QuickFixAcceptor
from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.client import FixClient
from tradeloop.brokers.fix.config import FixSessionConfig, ReconnectPolicy
from tradeloop.brokers.fix.errors import (
    FixNoAnswerError,
    FixQueryTimeoutError,
    FixSessionRejectError,
)
from tradeloop.brokers.fix.protocol import FixLogonError, FixSequenceError
from tradeloop.brokers.fix.session import FixSession, SessionState
from tradeloop.brokers.fix.store import FixSessionStore

WAIT_S = 15.0


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


def config_for(acceptor: QuickFixAcceptor, store_dir: Path, **overrides: Any) -> FixSessionConfig:
    settings: dict[str, Any] = {
        "port": acceptor.port, "begin_string": acceptor.begin_string,
        "sender_comp_id": acceptor.target_comp_id, "target_comp_id": acceptor.sender_comp_id,
        "heartbeat_s": 1, "store_dir": store_dir, "logon_timeout_s": 5.0,
        "reconnect": ReconnectPolicy(initial_backoff_s=0.1, max_backoff_s=0.5),
    }
    settings.update(overrides)
    return FixSessionConfig(**settings)


def limit_order(cl_ord_id: str, price: str = "1.25", quantity: str = "100",
                side: str = "1", symbol: str = "EURUSD") -> simplefix.FixMessage:
    message = simplefix.FixMessage()
    for tag, value in ((35, "D"), (11, cl_ord_id), (21, "1"), (55, symbol), (54, side),
                       (60, wire.format_timestamp(time.time_ns())), (38, quantity),
                       (40, "2"), (44, price)):
        message.append_pair(tag, value)
    return message


class Inbox:
    """Collects what on_message receives."""

    def __init__(self) -> None:
        self.messages: list[simplefix.FixMessage] = []
        self._changed = asyncio.Event()

    def __call__(self, message: simplefix.FixMessage) -> None:
        self.messages.append(message)
        self._changed.set()

    def values(self, tag: int) -> list[str | None]:
        return [wire.field(m, tag) for m in self.messages]

    async def wait_for(self, count: int) -> list[simplefix.FixMessage]:
        async def wait() -> None:
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), WAIT_S)
        return self.messages


async def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_logon_heartbeats_test_request_order_and_logout(quickfix_executor, tmp_path,
                                                        monkeypatch, caplog):
    executor = quickfix_executor()
    monkeypatch.setenv("FIX_TEST_PASSWORD", "pa55-w0rd-xyz")
    config = config_for(executor, tmp_path / "store", username="trader",
                        password_env="FIX_TEST_PASSWORD")
    caplog.set_level(logging.DEBUG, logger="tradeloop.brokers.fix")

    async def scenario() -> None:
        inbox = Inbox()
        session = FixSession(config, inbox)
        await session.start()
        try:
            assert session.state is SessionState.ACTIVE and session.logged_on.is_set()
            seq = await session.send(limit_order("ORD-1", price="1.2345"))
            assert seq == 2  # the Logon was 1
            (report,) = await inbox.wait_for(1)
            assert wire.field(report, 35) == "8"
            assert wire.field(report, 11) == "ORD-1"
            assert wire.field(report, 39) == "2"  # filled
            assert wire.field(report, 31) == "1.2345"
            assert await session.ping() >= 0
            assert session.counters.test_requests_answered == 1
            await until(lambda: session.counters.heartbeats_received >= 3
                        and session.counters.heartbeats_sent >= 2, "idle heartbeats")
        finally:
            await session.stop(reason="done")
        assert session.state is SessionState.DISCONNECTED
        assert session.counters.logons == 1 and session.counters.reconnect_attempts == 0

    run(scenario())
    output = executor.output()
    assert "Received logon request" in output and "Received logout request" in output
    assert "553=trader" in output and "554=pa55-w0rd-xyz" in output  # sent on the wire
    assert "FIX out: " in caplog.text and "554=***" in caplog.text
    assert "pa55-w0rd-xyz" not in caplog.text  # never in our logs


def test_restart_resumes_sequence_numbers_from_the_store(quickfix_executor, tmp_path):
    executor = quickfix_executor()
    config = config_for(executor, tmp_path / "store")

    async def scenario() -> None:
        first = FixSession(config, Inbox())
        await first.start()
        await first.send(limit_order("ORD-1"))
        await until(lambda: first.counters.app_messages_received == 1, "the first report")
        await first.stop()
        sender, target = first.next_sender_seq, first.next_target_seq
        assert sender > 3 and target > 3

        inbox = Inbox()
        second = FixSession(config, inbox)
        await second.start()  # Logon with `sender`: QuickFIX accepts it, no resend needed
        try:
            assert second.next_target_seq == target + 1
            assert await second.send(limit_order("ORD-2")) == sender + 1
            (report,) = await inbox.wait_for(1)
            assert wire.field(report, 11) == "ORD-2" and wire.field(report, 43) is None
            assert second.counters.resend_requests_sent == 0
            assert second.counters.resend_requests_received == 0
        finally:
            await second.stop()

        with FixSessionStore.open(config.store_dir, config.store_name,
                                  config.session_id) as store:
            store.set_next_sender_seq(2)  # as if the store had been lost
        third = FixSession(config, Inbox())
        with pytest.raises(FixSequenceError, match="MsgSeqNum too low"):
            await third.start()
        assert third.state is SessionState.FAILED
        await third.stop()

    run(scenario())


def test_inbound_gap_is_recovered_with_a_resend_request(quickfix_executor, tmp_path):
    executor = quickfix_executor()
    config = config_for(executor, tmp_path / "store")

    async def scenario() -> None:
        first = FixSession(config, Inbox())
        await first.start()
        for n in (1, 2, 3):
            await first.send(limit_order(f"ORD-{n}"))
        await until(lambda: first.counters.app_messages_received == 3, "three reports")
        await first.stop(logout=False)  # a crash: no Logout
        # ...and the last three inbound sequence numbers never reached the disk
        with FixSessionStore.open(config.store_dir, config.store_name,
                                  config.session_id) as store:
            store.set_next_target_seq(store.next_target_seq - 3)

        inbox = Inbox()
        second = FixSession(config, inbox)
        await second.start()  # QuickFIX's Logon is 3 too high: ResendRequest
        try:
            resent = await inbox.wait_for(3)
            assert [wire.field(m, 11) for m in resent] == ["ORD-1", "ORD-2", "ORD-3"]
            assert all(wire.field(m, 43) == "Y" and wire.field(m, 122) for m in resent)
            seqs = [wire.int_field(m, 34) for m in resent]
            assert seqs == sorted(seqs)
            await session_sends_and_gets(second, inbox, "ORD-4", total=4)
            assert second.counters.resend_requests_sent == 1
            # QuickFIX gap-fills over its Logon, which we had already queued and consumed
            assert second.counters.duplicates_dropped == 1
            assert inbox.values(11) == ["ORD-1", "ORD-2", "ORD-3", "ORD-4"]  # each once
        finally:
            await second.stop()

    run(scenario())


async def session_sends_and_gets(session: FixSession, inbox: Inbox, cl_ord_id: str,
                                 total: int) -> None:
    await session.send(limit_order(cl_ord_id))
    messages = await inbox.wait_for(total)
    assert wire.field(messages[-1], 11) == cl_ord_id


def test_counterparty_resend_request_is_answered(quickfix_executor, tmp_path):
    executor = quickfix_executor()
    config = config_for(executor, tmp_path / "store")
    lost_order = limit_order("ORD-LOST", price="1.5")

    async def scenario() -> None:
        first = FixSession(config, Inbox())
        await first.start()
        await first.send(limit_order("ORD-1"))
        await until(lambda: first.counters.app_messages_received == 1, "the first report")
        await first.stop(logout=False)
        # Two numbers skipped, then an order stored but never written: the crash came
        # between the store and the socket.
        with FixSessionStore.open(config.store_dir, config.store_name,
                                  config.session_id) as store:
            skipped = store.next_sender_seq
            store.set_next_sender_seq(skipped + 2)
            header = wire.Header(config.begin_string, config.sender_comp_id,
                                 config.target_comp_id)
            now = time.time_ns()
            raw = wire.encode(header, "D", skipped + 2, now, wire.body_pairs(lost_order))
            store.record_sent(skipped + 2, "D", raw, now, keep=True)

        inbox = Inbox()
        second = FixSession(config, inbox)
        await second.start()  # our Logon is 3 too high for QuickFIX: it asks for them
        try:
            (filled,) = await inbox.wait_for(1)
            assert wire.field(filled, 11) == "ORD-LOST" and wire.field(filled, 31) == "1.5"
            assert second.counters.resend_requests_received >= 1
            assert second.counters.messages_resent == 1
            assert second.counters.gap_fills_sent >= 1
            await session_sends_and_gets(second, inbox, "ORD-2", total=2)
            assert await second.ping() >= 0
            assert second.state is SessionState.ACTIVE
        finally:
            await second.stop()

    run(scenario())
    output = executor.output()
    assert "35=2" in output  # QuickFIX's ResendRequest
    assert "11=ORD-LOST" in output and "43=Y" in output


def test_dropped_connection_reconnects_with_backoff(quickfix_executor, tmp_path):
    executor = quickfix_executor()
    config = config_for(executor, tmp_path / "store")
    states: list[SessionState] = []

    async def scenario() -> None:
        inbox = Inbox()
        session = FixSession(config, inbox, on_state=states.append)
        await session.start()
        try:
            await session.send(limit_order("ORD-1"))
            await inbox.wait_for(1)
            executor.kill()
            await until(lambda: session.counters.reconnect_attempts >= 2,
                        "refused reconnect attempts")
            assert session.state in (SessionState.RECONNECTING, SessionState.CONNECTING)
            assert not session.logged_on.is_set()
            executor.start()  # same port, same store
            await session.wait_logged_on(WAIT_S)
            assert session.logged_on.is_set()
            assert session.counters.logons == 2
            assert states.count(SessionState.ACTIVE) == 2
            assert SessionState.RECONNECTING in states
            await session_sends_and_gets(session, inbox, "ORD-2", total=2)
            assert session.counters.resend_requests_sent == 0  # nothing was lost
        finally:
            await session.stop()

    run(scenario())


def test_unknown_comp_id_fails_at_once(quickfix_executor, tmp_path):
    executor = quickfix_executor()
    config = config_for(executor, tmp_path / "store", sender_comp_id="INTRUDER")

    async def scenario() -> None:
        session = FixSession(config, Inbox())
        with pytest.raises(FixLogonError, match="closed the connection without answering"):
            await session.start()
        assert session.state is SessionState.FAILED
        assert isinstance(session.failure, FixLogonError)
        assert session.counters.reconnect_attempts == 0
        await session.stop()

    run(scenario())


def test_logon_refused_after_a_drop_stops_reconnecting(quickfix_executor, tmp_path):
    executor = quickfix_executor()
    config = config_for(executor, tmp_path / "store")

    async def scenario() -> None:
        session = FixSession(config, Inbox())
        await session.start()
        try:
            executor.stop()
            executor.target_comp_id = "SOMEONE-ELSE"  # our CompID is no longer known
            executor.start()
            await until(lambda: session.state is SessionState.FAILED, "the session to fail")
            assert isinstance(session.failure, FixLogonError)
            assert session.counters.reconnect_attempts == \
                config.reconnect.max_logon_disconnects
            with pytest.raises(FixLogonError):
                await session.wait_logged_on(1)
        finally:
            await session.stop()

    run(scenario())


def test_ordermatch_speaks_fix42(quickfix_ordermatch, tmp_path):
    ordermatch = quickfix_ordermatch()
    config = config_for(ordermatch, tmp_path / "store")

    async def scenario() -> None:
        inbox = Inbox()
        session = FixSession(config, inbox)
        await session.start()
        try:
            await session.send(limit_order("BUY-1", price="10", side="1", symbol="MSFT"))
            await session.send(limit_order("SELL-1", price="10", side="2", symbol="MSFT"))
            await inbox.wait_for(4)  # two acknowledgements, two fills
            by_status = {(wire.field(m, 11), wire.field(m, 39)) for m in inbox.messages}
            assert {("BUY-1", "0"), ("SELL-1", "0"), ("BUY-1", "2"), ("SELL-1", "2")} \
                <= by_status
            assert all(wire.field(m, 8) == "FIX.4.2" for m in inbox.messages)
        finally:
            await session.stop()

    run(scenario())


def test_reset_seq_on_logon_starts_both_sides_over(quickfix_executor, tmp_path):
    executor = quickfix_executor()
    config = config_for(executor, tmp_path / "store", reset_seq_on_logon=True)

    async def scenario() -> None:
        for attempt in (1, 2):
            inbox = Inbox()
            session = FixSession(config, inbox)
            await session.start()
            try:
                assert session.next_target_seq == 2  # QuickFIX's Logon was 1 as well
                assert await session.send(limit_order(f"ORD-{attempt}")) == 2
                (filled,) = await inbox.wait_for(1)
                assert wire.field(filled, 11) == f"ORD-{attempt}"
            finally:
                await session.stop()

    run(scenario())
    assert executor.output().count("141=Y") >= 4  # both Logons, both answers


def test_a_session_reject_reaches_the_application_and_fails_the_request(quickfix_executor,
                                                                        tmp_path):
    executor = quickfix_executor()

    async def scenario() -> None:
        inbox = Inbox()
        session = FixSession(config_for(executor, tmp_path / "store"), inbox)
        await session.start()
        try:
            seq = await session.send(limit_order("BAD-1", quantity="lots"))
            (reject,) = await inbox.wait_for(1)
            assert wire.field(reject, 35) == "3" and wire.field(reject, 45) == str(seq)
            assert wire.field(reject, 371) == "38" and session.counters.rejects_received == 1
        finally:
            await session.stop(reason="done")

        client = FixClient(config_for(executor, tmp_path / "store"), request_timeout_s=WAIT_S)
        await client.open()
        try:
            answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            started = time.monotonic()
            with pytest.raises(FixSessionRejectError) as refused:
                await client.request(limit_order("BAD-2", quantity="lots"), answer,
                                     what="NewOrderSingle BAD-2", changes_state=True)
            assert time.monotonic() - started < WAIT_S / 2  # failed by the Reject, no timeout
            assert refused.value.tag == 38 and refused.value.msg_type == "D"
            assert "FIX session refused a D message (tag 38): 6 incorrect data format" in str(
                refused.value)
        finally:
            await client.close()

    run(scenario())


def test_a_request_without_an_answer_times_out_and_a_cancelled_one_lets_go(quickfix_executor,
                                                                          tmp_path):
    # the executor fills these orders, but no handler of this bare client resolves the
    # answers: the client's own timer has to end the wait
    executor = quickfix_executor()

    async def scenario() -> None:
        client = FixClient(config_for(executor, tmp_path / "store"), request_timeout_s=WAIT_S)
        await client.open()
        loop = asyncio.get_running_loop()
        try:
            for changes_state, error, outcome in (
                    (True, FixNoAnswerError, "its outcome is unknown"),
                    (False, FixQueryTimeoutError, "within 0.3 s")):
                answer: asyncio.Future[object] = loop.create_future()
                with pytest.raises(error, match=f"no answer to probe.*{outcome}"):
                    await client.request(limit_order(f"T-{changes_state}"), answer,
                                         what="probe", changes_state=changes_state,
                                         timeout_s=0.3)
                assert answer.done() and client._by_seq == {}
            # the caller gives up: the answer goes with it, and nothing is left waiting
            answer = loop.create_future()
            waiting = asyncio.ensure_future(client.request(
                limit_order("T-cancel"), answer, what="probe", changes_state=True))
            await until(lambda: bool(client._by_seq), "the request is sent")
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert answer.cancelled() and client._by_seq == {}
            assert not [h for h in loop._scheduled if not h.cancelled()  # type: ignore[attr-defined]
                        and h._callback.__name__ == "_expire"]  # type: ignore[attr-defined]
        finally:
            await client.close()

    run(scenario())
