"""FixSession's connection life against a scripted counterparty on 127.0.0.1: TestRequest on
silence, drop and reconnect, logon timeouts, refused connections, giving up."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import simplefix

from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.config import FixSessionConfig, ReconnectPolicy
from tradeloop.brokers.fix.protocol import FixConnectError, FixNotLoggedOnError
from tradeloop.brokers.fix.session import FixSession, SessionState

WAIT_S = 10.0
PEER = wire.Header("FIX.4.4", "BROKER", "CLIENT")


class ScriptedPeer:
    """A minimal acceptor: answers Logon, TestRequest and Logout as told, records the rest."""

    def __init__(self) -> None:
        self.answer_logon = True
        self.answer_test_requests = True
        self.received: list[simplefix.FixMessage] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self._seq = 1

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self, *, drop_clients: bool = True) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if drop_clients:
            for writer in self.writers:
                writer.close()

    def types(self) -> list[str | None]:
        return [wire.field(m, 35) for m in self.received]

    def send(self, writer: asyncio.StreamWriter, msg_type: str, *fields: tuple[int, str]) -> None:
        writer.write(wire.encode(PEER, msg_type, self._seq, 1_700_000_000_000_000_000,
                                 list(fields)))
        self._seq += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        parser = simplefix.FixParser()
        try:
            while data := await reader.read(4096):
                parser.append_buffer(data)
                while (message := parser.get_message()) is not None:
                    self._answer(writer, message)
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _answer(self, writer: asyncio.StreamWriter, message: simplefix.FixMessage) -> None:
        self.received.append(message)
        msg_type = wire.field(message, 35)
        if msg_type == "A" and self.answer_logon:
            self.send(writer, "A", (98, "0"), (108, wire.field(message, 108) or "30"))
        elif msg_type == "1" and self.answer_test_requests:
            self.send(writer, "0", (112, wire.field(message, 112) or ""))
        elif msg_type == "5":
            self.send(writer, "5")


def scenario(body: Callable[[ScriptedPeer], Coroutine[Any, Any, None]]) -> None:
    async def go() -> None:
        peer = ScriptedPeer()
        await peer.start()
        try:
            await body(peer)
        finally:
            await peer.close()
    asyncio.run(go())


def make_config(tmp_path: Path, port: int, **overrides: Any) -> FixSessionConfig:
    settings: dict[str, Any] = {
        "port": port, "sender_comp_id": "CLIENT", "target_comp_id": "BROKER",
        "store_dir": tmp_path, "heartbeat_s": 1, "heartbeat_grace_s": 0.2,
        "logon_timeout_s": 2.0, "logout_timeout_s": 1.0,
        "reconnect": ReconnectPolicy(initial_backoff_s=0.05, max_backoff_s=0.2)}
    settings.update(overrides)
    return FixSessionConfig(**settings)


async def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def order() -> simplefix.FixMessage:
    message = simplefix.FixMessage()
    message.append_pair(35, "D")
    message.append_pair(11, "ORD-1")
    return message


def test_a_silent_counterparty_gets_a_test_request_then_the_session_reconnects(tmp_path):
    async def body(peer: ScriptedPeer) -> None:
        states: list[SessionState] = []
        session = FixSession(make_config(tmp_path, peer.port), lambda m: None,
                             on_state=states.append)
        await session.start()
        peer.answer_test_requests = False  # the counterparty hangs
        try:
            await until(lambda: peer.connections >= 2 and session.logged_on.is_set(),
                        "a second logon")
            assert "1" in peer.types()  # our TestRequest went unanswered...
            assert session.counters.test_requests_sent >= 1
            assert session.counters.logons == 2  # ...so we dropped and came back
            assert states[:2] == [SessionState.CONNECTING, SessionState.LOGGING_ON]
            assert SessionState.RECONNECTING in states
            assert states[-1] is SessionState.ACTIVE
        finally:
            await session.stop()
        assert peer.types()[-1] == "5"

    scenario(body)


def test_idle_sessions_send_heartbeats(tmp_path):
    async def body(peer: ScriptedPeer) -> None:
        session = FixSession(make_config(tmp_path, peer.port), lambda m: None)
        await session.start()
        try:
            await until(lambda: peer.types().count("0") >= 2, "two heartbeats")
            assert await session.ping() >= 0
            assert session.counters.heartbeats_sent >= 2
            assert session.counters.reconnect_attempts == 0
        finally:
            await session.stop()

    scenario(body)


def test_sending_needs_a_logged_on_session_and_an_application_type(tmp_path):
    async def body(peer: ScriptedPeer) -> None:
        session = FixSession(make_config(tmp_path, peer.port), lambda m: None)
        with pytest.raises(FixNotLoggedOnError, match="not logged on"):
            await session.send(order())
        await session.start()
        try:
            heartbeat = simplefix.FixMessage()
            heartbeat.append_pair(35, "0")
            with pytest.raises(ValueError, match="non-admin MsgType"):
                await session.send(heartbeat)
            assert await session.send(order()) == 2
        finally:
            await session.stop()
        with pytest.raises(FixNotLoggedOnError):
            await session.send(order())
        assert session.next_sender_seq == 4  # Logon, order, Logout: persisted

    scenario(body)


def test_a_refused_connection_is_retryable(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens once the probe closes

    async def go() -> None:
        session = FixSession(make_config(tmp_path, port), lambda m: None)
        with pytest.raises(FixConnectError, match="cannot connect") as caught:
            await session.start()
        assert caught.value.retryable
        assert session.state is SessionState.DISCONNECTED
        await session.stop()

    asyncio.run(go())


def test_an_unanswered_logon_times_out(tmp_path):
    async def body(peer: ScriptedPeer) -> None:
        peer.answer_logon = False
        session = FixSession(make_config(tmp_path, peer.port, logon_timeout_s=0.3),
                             lambda m: None)
        with pytest.raises(FixConnectError, match="no Logon answer"):
            await session.start()
        assert session.state is SessionState.DISCONNECTED
        await session.stop()

    scenario(body)


def test_reconnecting_gives_up_after_max_attempts(tmp_path):
    async def body(peer: ScriptedPeer) -> None:
        policy = ReconnectPolicy(initial_backoff_s=0.05, max_backoff_s=0.1, max_attempts=3)
        session = FixSession(make_config(tmp_path, peer.port, reconnect=policy),
                             lambda m: None)
        await session.start()
        await peer.close()  # stop listening and drop the connection
        try:
            await until(lambda: session.state is SessionState.FAILED, "the session to fail")
            assert session.counters.reconnect_attempts == 3
            assert isinstance(session.failure, FixConnectError)
            with pytest.raises(FixConnectError, match="gave up after 3"):
                await session.wait_logged_on(1)
        finally:
            await session.stop()

    scenario(body)


def test_a_logout_from_the_counterparty_is_answered_and_followed_by_a_reconnect(tmp_path):
    async def body(peer: ScriptedPeer) -> None:
        session = FixSession(make_config(tmp_path, peer.port), lambda m: None)
        await session.start()
        try:
            peer.send(peer.writers[0], "5", (58, "maintenance"))
            await until(lambda: peer.connections == 2 and session.logged_on.is_set(),
                        "the next logon")
            assert peer.types()[:3] == ["A", "5", "A"]
        finally:
            await session.stop()

    scenario(body)


def test_stop_during_the_backoff_ends_everything(tmp_path):
    async def body(peer: ScriptedPeer) -> None:
        slow = ReconnectPolicy(initial_backoff_s=30, max_backoff_s=30)
        session = FixSession(make_config(tmp_path, peer.port, reconnect=slow), lambda m: None)
        await session.start()
        for writer in peer.writers:
            writer.close()
        await until(lambda: session.state is SessionState.RECONNECTING, "the backoff")
        await session.stop()
        assert session.state is SessionState.DISCONNECTED
        assert session.counters.reconnect_attempts == 0

    scenario(body)
