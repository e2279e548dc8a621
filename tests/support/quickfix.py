"""QuickFIX's example acceptors (``executor``, ``ordermatch``) as test counterparties.

Debian's ``libquickfix-doc`` ships them prebuilt and gzipped under
``/usr/share/doc/libquickfix-doc/examples``; they need ``libquickfix.so.17`` (``libquickfix17``).
:func:`quickfix_program` unpacks one into a cache folder (``$TRADELOOP_QUICKFIX_DIR``, else one
the caller gives), and :class:`QuickFixAcceptor` writes its settings file, runs it on a free
port of 127.0.0.1 and stops it; it restarts on the same port and store, for restart tests.

Without the programs or the library the tests skip, unless ``TRADELOOP_REQUIRE_QUICKFIX=1``
(CI), where they fail with the reason.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

import pytest

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


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class QuickFixAcceptor:
    """One QuickFIX example program accepting one session on 127.0.0.1.

    Attributes
    ----------
    program : Path
        The unpacked ``executor`` or ``ordermatch``.
    workdir : Path
        Holds ``acceptor.cfg``, the ``store`` and ``log`` folders and ``stdout.log``.
    begin_string, sender_comp_id, target_comp_id : str
        The acceptor's side: it is ``sender_comp_id`` and accepts ``target_comp_id``.
    port : int
    """

    program: Path
    workdir: Path
    begin_string: str = "FIX.4.4"
    sender_comp_id: str = "EXECUTOR"
    target_comp_id: str = "CLIENT"
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
            "[SESSION]",
            f"BeginString={self.begin_string}",
            f"SenderCompID={self.sender_comp_id}",
            f"TargetCompID={self.target_comp_id}",
            "",
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


__all__ = [
    "DIR_VARIABLE",
    "PROGRAMS",
    "REQUIRE_VARIABLE",
    "QuickFixAcceptor",
    "free_port",
    "quickfix_program",
    "unavailable",
]
