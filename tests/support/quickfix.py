"""QuickFIX's example acceptors (``executor``, ``ordermatch``) as test counterparties.

Debian's ``libquickfix-doc`` ships them prebuilt and gzipped under
``/usr/share/doc/libquickfix-doc/examples``; they need ``libquickfix.so.17`` (``libquickfix17``).
:func:`quickfix_program` unpacks one into a cache folder (``$TRADELOOP_QUICKFIX_DIR``, else one
the caller gives), and :class:`QuickFixAcceptor` writes its settings file, runs it on a free
port of 127.0.0.1 and stops it; it restarts on the same port and store, for restart tests.

Without the programs or the library the tests skip, unless ``TRADELOOP_REQUIRE_QUICKFIX=1``
(CI), where they fail with the reason.

Two helpers steer a counterparty that has no control channel of its own:

* :class:`FixProxy`: a TCP relay between an initiator and the acceptor that can cut the
  connections (the acceptor stays up), swallow the next answer to an order and close the line
  (the answer then comes back only through the session's resend recovery), and that counts the
  NewOrderSingles passing through by ClOrdID.
* :class:`MakerSession`: a second FIX session on its own thread and event loop, posting and
  cancelling limit orders (a liquidity provider: resting orders for ``ordermatch`` to match).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import pytest
import simplefix

from support.ports import free_port
from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.config import FixSessionConfig, ReconnectPolicy
from tradeloop.brokers.fix.session import FixSession

T = TypeVar("T")

REQUIRE_VARIABLE = "TRADELOOP_REQUIRE_QUICKFIX"
DIR_VARIABLE = "TRADELOOP_QUICKFIX_DIR"
EXAMPLES = Path("/usr/share/doc/libquickfix-doc/examples")
PROGRAMS = {
    "executor": EXAMPLES / "executor" / "C++" / ".libs" / "executor.gz",
    "ordermatch": EXAMPLES / "ordermatch" / ".libs" / "ordermatch.gz",
}
#: How long a starting acceptor may take to open its port.
START_TIMEOUT_S = 15.0


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when ``TRADELOOP_REQUIRE_QUICKFIX=1``."""
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but QuickFIX is unusable: {reason}")
    pytest.skip(f"QuickFIX examples unavailable: {reason}")


def quickfix_program(name: str, cache_dir: Path | None = None) -> Path:
    """The unpacked, executable example program ``name`` (``executor`` or ``ordermatch``).

    Unpacked once into ``$TRADELOOP_QUICKFIX_DIR`` if set, else ``cache_dir``; a program
    already there is reused. Skips (or fails, see :func:`unavailable`) when the gzipped
    program is missing or cannot run (``libquickfix.so.17`` missing).
    """
    folder = Path(os.environ.get(DIR_VARIABLE) or cache_dir or tempfile.gettempdir())
    target = folder / name
    if not target.exists():
        source = PROGRAMS[name]
        if not source.exists():
            unavailable(f"{source} is missing (apt-get install libquickfix-doc)")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}-", delete=False) as out, \
                gzip.open(source) as packed:
            shutil.copyfileobj(packed, out)
        Path(out.name).chmod(0o755)
        os.replace(out.name, target)
    try:  # without a settings file the program prints its usage and exits 0
        probe = subprocess.run([str(target)], capture_output=True, timeout=30, check=False)
    except OSError as exc:
        unavailable(f"{target} does not run: {exc}")
    if probe.returncode != 0:
        detail = (probe.stderr or probe.stdout).decode(errors="replace").strip()
        unavailable(f"{target} does not run (apt-get install libquickfix17?): {detail}")
    return target


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class QuickFixAcceptor:
    """One QuickFIX example program accepting one or more sessions on 127.0.0.1.

    Attributes
    ----------
    program : Path
        The unpacked ``executor`` or ``ordermatch``.
    workdir : Path
        Holds ``acceptor.cfg``, the ``store`` and ``log`` folders and ``stdout.log``.
    begin_string, sender_comp_id, target_comp_id : str
        The acceptor's side: it is ``sender_comp_id`` and accepts ``target_comp_id``.
    extra_target_comp_ids : tuple of str
        More initiators it accepts, each its own session (a liquidity provider's, say).
    port : int
    """

    program: Path
    workdir: Path
    begin_string: str = "FIX.4.4"
    sender_comp_id: str = "EXECUTOR"
    target_comp_id: str = "CLIENT"
    extra_target_comp_ids: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _output: IO[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        """The QuickFIX settings file."""
        return self.workdir / "acceptor.cfg"

    @property
    def store_dir(self) -> Path:
        """QuickFIX's FileStorePath: its sequence numbers and sent messages."""
        return self.workdir / "store"

    @property
    def output_path(self) -> Path:
        """What the program printed (its screen log: every message in and out)."""
        return self.workdir / "stdout.log"

    @property
    def running(self) -> bool:
        """True while the program runs."""
        return self._process is not None and self._process.poll() is None

    def settings(self) -> str:
        """The QuickFIX settings: an always-on acceptor session, no data dictionary.

        QuickFIX 1.15 listens on every interface (it has no SocketAcceptAddress); the
        setting is written for newer versions that honour it.
        """
        sessions = []
        for target in (self.target_comp_id, *self.extra_target_comp_ids):
            sessions += ["[SESSION]", f"BeginString={self.begin_string}",
                         f"SenderCompID={self.sender_comp_id}", f"TargetCompID={target}", ""]
        return "\n".join([
            "[DEFAULT]",
            "ConnectionType=acceptor",
            f"SocketAcceptPort={self.port}",
            "SocketAcceptAddress=127.0.0.1",
            "SocketReuseAddress=Y",
            "SocketNodelay=Y",
            f"FileStorePath={self.store_dir}",
            f"FileLogPath={self.workdir / 'log'}",
            "StartTime=00:00:00",
            "EndTime=00:00:00",
            "UseDataDictionary=N",
            "ResetOnLogon=N",
            "ResetOnLogout=N",
            "ResetOnDisconnect=N",
            "PersistMessages=Y",
            "ScreenLogShowIncoming=Y",
            "ScreenLogShowOutgoing=Y",
            "ScreenLogShowEvents=Y",
            "",
            *sessions,
        ])

    def start(self) -> None:
        """Run the program and wait until its port accepts connections."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(exist_ok=True)
        (self.workdir / "log").mkdir(exist_ok=True)
        self.config_path.write_text(self.settings(), encoding="utf-8")
        self._output = self.output_path.open("ab")
        # ordermatch reads commands from stdin and spins on a closed one: keep a pipe open
        self._process = subprocess.Popen(
            [str(self.program), str(self.config_path)], cwd=self.workdir,
            stdin=subprocess.PIPE, stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts(self.port):
            if self._process.poll() is not None:
                self._release()
                pytest.fail(f"{self.program.name} exited with {self._process.returncode}: "
                            f"{self.output()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.program.name} did not open port {self.port} within "
                            f"{START_TIMEOUT_S:g} s: {self.output()[-2000:]}")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the program (kill it if it lingers)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        self._release()

    def kill(self) -> None:
        """Kill the program at once (SIGKILL), as a crash would; its store stays."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)
        self._release()

    def restart(self) -> None:
        """Stop, then start again on the same port and store."""
        self.stop()
        self.start()

    def output(self) -> str:
        """What the program printed so far."""
        try:
            return self.output_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _release(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        if self._output is not None:
            self._output.close()
            self._output = None


# -- a relay that can drop the line -----------------------------------------------------------


class FixProxy:
    """A TCP relay on 127.0.0.1 from ``port`` to ``target_port``, one thread per direction.

    Attributes
    ----------
    port : int
        Where initiators connect.
    orders : dict
        ClOrdID -> the NewOrderSingle's fields (55, 54, 38, 44) as text, as relayed.
    submits : Counter
        NewOrderSingles relayed, by ClOrdID.
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.orders: dict[str, dict[int, str]] = {}
        self.submits: Counter[str] = Counter()
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lose_next_answer = False
        self._order_seen = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def drop(self) -> int:
        """Cut every relayed connection now; how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        return len(pairs)

    def lose_next_answer(self) -> None:
        """Relay the next NewOrderSingle, then swallow the acceptor's next ExecutionReport and
        cut the line instead of delivering it."""
        self._order_seen.clear()
        self._lose_next_answer = True

    def close(self) -> None:
        """Stop accepting and cut everything."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.host, self.target_port), 5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        parser = simplefix.FixParser()
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                parser.append_buffer(data)
                messages = []
                while (message := parser.get_message()) is not None:
                    messages.append(message)
                if outbound:
                    self._saw_outbound(messages)
                elif self._lose_next_answer and self._order_seen.is_set() and any(
                        wire.field(m, 35) == "8" for m in messages):
                    self._lose_next_answer = False
                    self.drop()
                    return
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def _saw_outbound(self, messages: list[simplefix.FixMessage]) -> None:
        for message in messages:
            if wire.field(message, 35) != "D":
                continue
            cl_ord_id = wire.field(message, 11) or ""
            self.submits[cl_ord_id] += 1
            self.orders[cl_ord_id] = {tag: wire.field(message, tag) or ""
                                      for tag in (55, 54, 38, 44)}
            self._order_seen.set()


# -- a second session that provides liquidity ----------------------------------------------------


class MakerSession:
    """A FIX session of its own (its thread, its event loop) that rests limit orders.

    Parameters
    ----------
    config : FixSessionConfig
    time_in_force : str
        TimeInForce (59) of its orders: ``"0"`` (DAY) for ``ordermatch``.

    Attributes
    ----------
    reports : list
        Every ExecutionReport it received, in order.
    """

    def __init__(self, config: FixSessionConfig, time_in_force: str = "0") -> None:
        self.config = config
        self.time_in_force = time_in_force
        self.reports: list[simplefix.FixMessage] = []
        self._ids = itertools.count(1)
        self._prefix = f"MM{time.time_ns() % 10**9:x}"
        self._resting: dict[str, tuple[str, str]] = {}  # ClOrdID -> (symbol, side)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._waiters: dict[str, asyncio.Future[simplefix.FixMessage]] = {}
        self._session = self.run(self._make())

    async def _make(self) -> FixSession:
        return FixSession(self.config, self._on_message)

    def run(self, work: Coroutine[Any, Any, T], timeout_s: float = 15.0) -> T:
        """Run ``work`` on the session's loop and wait for it (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout_s)

    def start(self) -> MakerSession:
        """Log on."""
        self.run(self._session.start())
        return self

    def stop(self) -> None:
        """Log out and end the thread."""
        with contextlib.suppress(Exception):
            self.run(self._session.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def place(self, symbol: str, side: str, quantity: Decimal | int, price: Decimal) -> str:
        """Rest a limit order (side ``"1"`` buy, ``"2"`` sell); its ClOrdID, once answered."""
        cl_ord_id = f"{self._prefix}-{next(self._ids)}"
        message = simplefix.FixMessage()
        for tag, value in ((35, "D"), (11, cl_ord_id), (21, "1"), (55, symbol), (54, side),
                           (60, wire.format_timestamp(time.time_ns())), (38, str(quantity)),
                           (40, "2"), (44, str(price)), (59, self.time_in_force)):
            message.append_pair(tag, value)
        self.run(self._request(cl_ord_id, message))
        self._resting[cl_ord_id] = (symbol, side)
        return cl_ord_id

    def cancel_all(self) -> None:
        """Cancel every order it rested (those already gone get no answer and are forgotten)."""
        for cl_ord_id, (symbol, side) in list(self._resting.items()):
            message = simplefix.FixMessage()
            for tag, value in ((35, "F"), (41, cl_ord_id), (11, f"{cl_ord_id}-X"),
                               (55, symbol), (54, side),
                               (60, wire.format_timestamp(time.time_ns()))):
                message.append_pair(tag, value)
            with contextlib.suppress(TimeoutError):
                self.run(self._request(cl_ord_id, message, timeout_s=0.5))
            del self._resting[cl_ord_id]

    async def _request(self, cl_ord_id: str, message: simplefix.FixMessage,
                       timeout_s: float = 10.0) -> simplefix.FixMessage:
        waiter = self._waiters[cl_ord_id] = self._loop.create_future()
        try:
            await self._session.wait_logged_on(timeout_s)
            await self._session.send(message)
            return await asyncio.wait_for(waiter, timeout_s)
        finally:
            self._waiters.pop(cl_ord_id, None)

    def _on_message(self, message: simplefix.FixMessage) -> None:
        if wire.field(message, 35) != "8":
            return
        self.reports.append(message)
        waiter = self._waiters.get(wire.field(message, 11) or "")
        if waiter is not None and not waiter.done():
            waiter.set_result(message)


def session_config(acceptor: QuickFixAcceptor, sender_comp_id: str, store_dir: Path,
                   port: int | None = None, **overrides: Any) -> FixSessionConfig:
    """The initiator settings of ``sender_comp_id`` at ``acceptor`` (through ``port`` when a
    proxy stands between)."""
    settings: dict[str, Any] = {
        "port": port or acceptor.port, "begin_string": acceptor.begin_string,
        "sender_comp_id": sender_comp_id, "target_comp_id": acceptor.sender_comp_id,
        "heartbeat_s": 2, "store_dir": store_dir,
        "reconnect": ReconnectPolicy(initial_backoff_s=0.2, max_backoff_s=1.0, jitter=0)}
    settings.update(overrides)
    return FixSessionConfig(**settings)


__all__ = [
    "DIR_VARIABLE",
    "PROGRAMS",
    "REQUIRE_VARIABLE",
    "FixProxy",
    "MakerSession",
    "QuickFixAcceptor",
    "free_port",
    "quickfix_program",
    "session_config",
    "unavailable",
]
