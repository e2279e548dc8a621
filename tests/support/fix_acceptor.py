"""The scripted FIX 4.4 acceptor (``tests/support/fix_acceptor/``, C++ on the QuickFIX engine)
for tests: build it on demand, run it as a subprocess, steer it through its CONTROL channel.

The binary is compiled with one ``g++`` run into a cache directory (``$TRADELOOP_FIX_ACCEPTOR_DIR``,
else the pytest cache, else the system temp dir) under a name keyed by a hash of the sources and
flags, behind a file lock so parallel test processes build it once. When the compiler, the
QuickFIX headers or ``libquickfix.so`` are missing, :func:`acceptor_binary_or_skip` skips the
test with the reason, or fails it when ``TRADELOOP_REQUIRE_QUICKFIX=1`` (CI).

:class:`FixAcceptor` writes a QuickFIX acceptor config (FIX.4.4, one session per initiator
CompID, file store and logs in its work directory so a restart keeps sequence numbers), starts
the program on free ports, waits until the FIX and CONTROL ports accept, stops, kills and
restarts it on the same ports and store. :class:`AcceptorControl` has one method per CONTROL
command (README.md in the source directory documents the protocol).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from support.ports import free_port

SOURCE_DIR = Path(__file__).with_name("fix_acceptor")
"""The C++ sources (``*.cpp``, ``*.h``) and README.md."""
CACHE_DIR_ENV = "TRADELOOP_FIX_ACCEPTOR_DIR"
REQUIRE_ENV = "TRADELOOP_REQUIRE_QUICKFIX"
HOST = "127.0.0.1"
READY_LINE = b" ready\n"
"""What the program logs once both of its ports listen."""
CXX_FLAGS = ("-std=c++14", "-O1", "-pthread", "-Wno-deprecated", "-Wno-deprecated-declarations")
"""QuickFIX 1.15 headers use dynamic exception specifications: C++14 at the latest."""
LINK_FLAGS = ("-lquickfix", "-lpthread")
_INCLUDE_DIRS = (Path("/usr/include"), Path("/usr/local/include"))
_LIBRARY_GLOBS = ("/usr/lib/libquickfix.so", "/usr/lib/*/libquickfix.so",
                  "/usr/local/lib/libquickfix.so", "/usr/lib64/libquickfix.so")


class AcceptorUnavailable(RuntimeError):
    """The toolchain to build the acceptor is missing here (the message says what)."""


class AcceptorBuildError(RuntimeError):
    """The compiler rejected the acceptor's sources (its output is in the message)."""


class AcceptorStartError(RuntimeError):
    """The acceptor process exited or did not open its ports in time."""


class ControlError(RuntimeError):
    """The acceptor answered a CONTROL command with ``error <why>``."""


# ------------------------------------------------------------------------------------ build


def toolchain_problem() -> str | None:
    """Why the acceptor cannot be built here, or None when compiler, headers and library exist."""
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        return f"C++ compiler {compiler!r} not found (set CXX or install g++)"
    if not any((folder / "quickfix" / "ThreadedSocketAcceptor.h").is_file()
               for folder in _INCLUDE_DIRS):
        return "QuickFIX headers not found in /usr/include/quickfix (install libquickfix-dev)"
    if not any(Path("/").glob(pattern.lstrip("/")) for pattern in _LIBRARY_GLOBS):
        return "libquickfix.so not found (install libquickfix-dev)"
    return None


def source_files() -> list[Path]:
    """The acceptor's C++ sources, sorted (headers are hashed, .cpp files compiled)."""
    return sorted(p for p in SOURCE_DIR.iterdir() if p.suffix in {".cpp", ".h"})


def source_digest() -> str:
    """A hash of the sources, the compiler and its flags: the cached binary's key."""
    digest = hashlib.sha256()
    digest.update(os.environ.get("CXX", "g++").encode())
    digest.update(" ".join(CXX_FLAGS + LINK_FLAGS).encode())
    for path in source_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_acceptor(cache_dir: Path) -> Path:
    """The acceptor binary for the current sources, compiled into ``cache_dir`` if not there yet.

    Raises
    ------
    AcceptorUnavailable
        When compiler, headers or library are missing.
    AcceptorBuildError
        When compilation fails.
    """
    problem = toolchain_problem()
    if problem is not None:
        raise AcceptorUnavailable(problem)
    cache_dir.mkdir(parents=True, exist_ok=True)
    binary = cache_dir / f"fix_acceptor-{source_digest()}"
    if os.access(binary, os.X_OK):
        return binary
    with open(cache_dir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(binary, os.X_OK):  # another process built it while we waited
            return binary
        partial = cache_dir / f".{binary.name}.{os.getpid()}.tmp"
        command = [os.environ.get("CXX", "g++"), *CXX_FLAGS, "-o", str(partial),
                   *(str(p) for p in source_files() if p.suffix == ".cpp"), *LINK_FLAGS]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                check=False)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise AcceptorBuildError(
                f"building the FIX acceptor failed ({result.returncode}): {' '.join(command)}\n"
                f"{result.stderr[-4000:]}")
        os.replace(partial, binary)
    return binary


def default_cache_dir(config: pytest.Config | None = None) -> Path:
    """``$TRADELOOP_FIX_ACCEPTOR_DIR``, else ``fix_acceptor`` in the pytest cache, else a
    folder in the system temp dir."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    if config is not None and getattr(config, "cache", None) is not None:
        return Path(config.cache.mkdir("fix_acceptor"))
    return Path(tempfile.gettempdir()) / "tradeloop-fix-acceptor"


def acceptor_binary_or_skip(config: pytest.Config | None = None) -> Path:
    """The built acceptor; skips the test when the toolchain is missing, or fails it when
    ``TRADELOOP_REQUIRE_QUICKFIX=1``. Build errors always fail."""
    try:
        return build_acceptor(default_cache_dir(config))
    except AcceptorUnavailable as exc:
        reason = f"scripted FIX acceptor unavailable: {exc}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


# ------------------------------------------------------------------------------------ control


@dataclass(frozen=True)
class OpenOrder:
    """One open order as the CONTROL command ``orders`` lists it."""

    clordid: str
    side: str
    """``"buy"`` or ``"sell"``."""
    qty: float
    leaves: float
    status: str
    """``"new"`` or ``"partially_filled"``."""


@dataclass(frozen=True)
class PositionLine:
    """One non-flat position as the CONTROL command ``positions`` lists it."""

    symbol: str
    net: float
    """Positive long, negative short."""
    avg_px: float


def _items(text: str) -> list[list[str]]:
    return [item.split(":") for item in text.split(",")] if text else []


class AcceptorControl:
    """A client of the acceptor's CONTROL channel: one method per command.

    Parameters
    ----------
    port : int
    host : str
    timeout : float
        Seconds to wait for a connection and for each reply.
    """

    def __init__(self, port: int, host: str = HOST, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._socket: socket.socket | None = None
        self._buffer = b""

    def command(self, line: str) -> str:
        """Send one command line; the reply without its leading ``ok``.

        Raises
        ------
        ControlError
            When the acceptor answers ``error <why>``.
        """
        if self._socket is None:
            self._socket = socket.create_connection((self.host, self.port), self.timeout)
            self._socket.settimeout(self.timeout)
        self._socket.sendall(line.encode() + b"\n")
        while b"\n" not in self._buffer:
            chunk = self._socket.recv(65536)
            if not chunk:
                self.close()
                raise ControlError(f"control channel closed while waiting for {line!r}")
            self._buffer += chunk
        reply, _, self._buffer = self._buffer.partition(b"\n")
        text = reply.decode()
        if text.startswith("error"):
            raise ControlError(f"{line!r}: {text[6:]}")
        return text[3:] if text.startswith("ok ") else ""

    def price(self, symbol: str, bid: float, ask: float,
              bid_size: float | None = None, ask_size: float | None = None) -> None:
        """Set the market of ``symbol`` (creating the instrument with the default tick and lot)."""
        sizes = "" if bid_size is None or ask_size is None else f" {bid_size} {ask_size}"
        self.command(f"price {symbol} {bid} {ask}{sizes}")

    def instrument(self, symbol: str, tick: float, lot: float) -> None:
        """Define or change ``symbol``'s tick size and lot."""
        self.command(f"instrument {symbol} {tick} {lot}")

    def fill(self, clordid: str, qty: float, px: float | None = None) -> None:
        """Fill ``qty`` of an open order now (at ``px``, else its limit or the touch)."""
        self.command(f"fill {clordid} {qty}" + ("" if px is None else f" {px}"))

    def next_order(self, mode: str, qty: float | None = None) -> None:
        """Script the next NewOrderSingle: ``reject_fatal``, ``silent``, ``duplicate``,
        ``out_of_order`` or ``partial`` (with ``qty``). Several calls combine."""
        self.command(f"next {mode}" + ("" if qty is None else f" {qty}"))

    def count(self, clordid: str) -> int:
        """How many NewOrderSingle messages with ``clordid`` arrived."""
        return int(self.command(f"count {clordid}"))

    def orders(self) -> list[OpenOrder]:
        """The open orders, in arrival order."""
        return [OpenOrder(c, s, float(q), float(lv), st)
                for c, s, q, lv, st in _items(self.command("orders"))]

    def positions(self) -> dict[str, PositionLine]:
        """The non-flat positions by symbol."""
        return {s: PositionLine(s, float(n), float(a))
                for s, n, a in _items(self.command("positions"))}

    def balance(self) -> float:
        """The cash balance."""
        return float(self.command("balance"))

    def cash(self, amount: float) -> None:
        """Set the cash balance."""
        self.command(f"cash {amount}")

    def disconnect(self) -> int:
        """Drop every FIX connection now; how many sessions were logged on."""
        return int(self.command("disconnect"))

    def reset(self) -> None:
        """Forget orders, positions, ClOrdID counts, subscriptions and pending ``next`` modes;
        cash back to the starting balance. Prices, instruments and sequence numbers stay."""
        self.command("reset")

    def sessions(self) -> dict[str, bool]:
        """Logged-on state by initiator CompID."""
        return {c: state == "on" for c, state in _items(self.command("sessions"))}

    def ping(self) -> None:
        """A no-op round trip."""
        self.command("ping")

    def quit(self) -> None:
        """Ask the acceptor to log every session out and exit."""
        self.command("quit")

    def close(self) -> None:
        """Close the connection (the next command opens a new one)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
        self._socket = None
        self._buffer = b""


# ------------------------------------------------------------------------------------ process


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class FixAcceptor:
    """The scripted acceptor as a subprocess.

    Parameters
    ----------
    binary : Path
        From :func:`build_acceptor` or :func:`acceptor_binary_or_skip`.
    work_dir : Path
        Config, QuickFIX store (sequence numbers), logs and the program's output go here.
    sender_comp_id : str
        The acceptor's CompID.
    target_comp_ids : str or sequence of str
        The initiators' CompIDs: one FIX.4.4 session each.
    fix_port, control_port : int, optional
        Free ports are picked when not given; they stay the same across restarts.
    starting_cash, lot, tick, account, currency
        The broker's account and the defaults of instruments created by ``price``.
    username, password : str, optional
        When set, a Logon must carry them in 553/554 or is rejected.
    """

    def __init__(self, binary: Path, work_dir: Path, *, sender_comp_id: str = "BROKER",
                 target_comp_ids: str | Sequence[str] = ("CLIENT",),
                 fix_port: int | None = None, control_port: int | None = None,
                 starting_cash: float = 1_000_000.0, lot: float = 1.0, tick: float = 0.01,
                 account: str = "ACC1", currency: str = "USD",
                 username: str | None = None, password: str | None = None) -> None:
        self.binary = binary
        self.work_dir = work_dir
        self.sender_comp_id = sender_comp_id
        self.target_comp_ids = ((target_comp_ids,) if isinstance(target_comp_ids, str)
                                else tuple(target_comp_ids))
        self.fix_port = fix_port or free_port()
        self.control_port = control_port or free_port()
        self.config_path = work_dir / "acceptor.cfg"
        self.output_path = work_dir / "acceptor.out"
        self._options = ["--cash", str(starting_cash), "--lot", str(lot), "--tick", str(tick),
                         "--account", account, "--currency", currency]
        if username is not None:
            self._options += ["--username", username, "--password", password or ""]
        # Ports we picked may be taken by someone else before the program binds them: until
        # the first successful start, such a start is retried on fresh ports.
        self._may_repick = (fix_port is None, control_port is None)
        self._process: subprocess.Popen[bytes] | None = None
        self._control: AcceptorControl | None = None

    def config_text(self) -> str:
        """The QuickFIX settings file (HeartBtInt comes from each initiator's Logon).

        QuickFIX 1.15 ignores SocketAcceptAddress (it listens on every interface); later
        versions bind to 127.0.0.1 as asked.
        """
        lines = ["[DEFAULT]", "ConnectionType=acceptor", f"SocketAcceptAddress={HOST}",
                 f"SocketAcceptPort={self.fix_port}", "SocketReuseAddress=Y",
                 "BeginString=FIX.4.4", f"SenderCompID={self.sender_comp_id}",
                 f"FileStorePath={self.work_dir / 'store'}", f"FileLogPath={self.work_dir / 'log'}",
                 "StartTime=00:00:00", "EndTime=00:00:00", "UseDataDictionary=N",
                 "ValidateUserDefinedFields=N", "PersistMessages=Y"]
        for target in self.target_comp_ids:
            lines += ["", "[SESSION]", f"TargetCompID={target}"]
        return "\n".join(lines) + "\n"

    @property
    def host(self) -> str:
        """Where both ports listen."""
        return HOST

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def control(self) -> AcceptorControl:
        """The CONTROL client (reconnects after a restart)."""
        if self._control is None:
            self._control = AcceptorControl(self.control_port)
        return self._control

    def output(self) -> str:
        """What the program wrote (its event log) so far."""
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 20.0) -> FixAcceptor:
        """Start the program and return once both ports accept connections.

        Raises
        ------
        AcceptorStartError
            When it exits early or the ports do not open within ``timeout`` seconds.
        """
        if self.running:
            raise AcceptorStartError("the acceptor is already running")
        attempts = 3 if any(self._may_repick) else 1
        for attempt in range(1, attempts + 1):
            returncode = self._launch(timeout)
            if returncode is None:
                self._may_repick = (False, False)
                return self
            if attempt == attempts:
                raise AcceptorStartError(f"the acceptor exited with {returncode}:\n"
                                         f"{self.output()[-3000:]}")
            if self._may_repick[0]:
                self.fix_port = free_port()
            if self._may_repick[1]:
                self.control_port = free_port()
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, timeout: float) -> int | None:
        """Run the program until it reports both ports listening (None) or exits (its code)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        with open(self.output_path, "ab") as output:
            offset = output.tell()
            self._process = subprocess.Popen(
                [str(self.binary), str(self.config_path), "--control-port",
                 str(self.control_port), *self._options],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                cwd=self.work_dir)
        deadline = time.monotonic() + timeout
        # The program logs "ready" once the FIX acceptor and the CONTROL server both listen;
        # probing the ports alone could be fooled by another process holding one of them.
        while READY_LINE not in self.output_path.read_bytes()[offset:]:
            returncode = self._process.poll()
            if returncode is not None:
                self._forget_process()
                return returncode
            if time.monotonic() > deadline:
                self.kill()
                raise AcceptorStartError(f"not ready after {timeout} s:\n{self.output()[-3000:]}")
            time.sleep(0.02)
        closed = [port for port in (self.fix_port, self.control_port) if not _port_accepts(port)]
        if closed:
            self.kill()
            raise AcceptorStartError(f"ready but ports {closed} do not accept:\n"
                                     f"{self.output()[-3000:]}")
        return None

    def stop(self, timeout: float = 15.0, *, graceful: bool = False) -> None:
        """Stop the program: SIGTERM drops the connections at once; ``graceful`` sends
        ``quit`` instead (Logout to every session, waiting up to 10 s for the answers).
        Killed when still alive after ``timeout`` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            if graceful:
                with contextlib.suppress(OSError, ControlError):
                    self.control.quit()
            else:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget_process()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or logged out."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._forget_process()

    def restart(self, timeout: float = 20.0) -> FixAcceptor:
        """Stop (if running) and start again on the same ports and store."""
        self.stop()
        return self.start(timeout)

    def _forget_process(self) -> None:
        if self._control is not None:
            self._control.close()
        self._control = None
        self._process = None

    def __enter__(self) -> FixAcceptor:
        if not self.running:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def running_acceptor(config: pytest.Config | None, work_dir: Path, **options: Any
                     ) -> Iterator[FixAcceptor]:
    """A started :class:`FixAcceptor` (built or skipped as :func:`acceptor_binary_or_skip`
    decides), stopped on exit. ``options`` go to :class:`FixAcceptor`."""
    acceptor = FixAcceptor(acceptor_binary_or_skip(config), work_dir, **options)
    with acceptor:
        yield acceptor
