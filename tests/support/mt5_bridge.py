"""The MetaTrader 5 bridge server (``deploy/mt5/mt5_bridge.py``) as a subprocess serving the
stand-in module (``--module support.mt5_standin``), for tests: started, killed, restarted on
the same port, its log kept in one file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tradeloop.brokers.mt5.bridge import BridgeModule

TESTS = Path(__file__).resolve().parents[1]
SCRIPT = TESTS.parent / "deploy" / "mt5" / "mt5_bridge.py"
TOKEN_ENV = "MT5_BRIDGE_TEST_TOKEN"
#: The shared token of the test bridges (made up here; never in the bridge's output).
TOKEN = "tl-bridge-test-9d41c7e2"
_LISTENING = re.compile(r"listening on (\S+):(\d+) ")


def bridge_env(**variables: str) -> dict[str, str]:
    """The environment of a bridge process: the stand-in importable, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["PYTHONPATH"] = str(TESTS)
    env.update(variables)
    return env


def run_bridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the bridge script to its end (for options it refuses): exit code and output."""
    return subprocess.run([sys.executable, str(SCRIPT), "--module", "support.mt5_standin",
                           *args], env=env or bridge_env(), capture_output=True, text=True,
                          timeout=60, check=False)


class BridgeProcess:
    """One bridge server on 127.0.0.1 over the stand-in, with ``token`` (None: without one).

    Parameters
    ----------
    workdir : Path
        Where its log (``bridge.log``, appended by each start) is written.
    token : str or None
    """

    def __init__(self, workdir: Path, token: str | None) -> None:
        self.workdir = workdir
        self.token = token
        self.port = 0
        self.log = workdir / "bridge.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._steering: BridgeModule | None = None

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, as the adapter's ``bridge`` setting."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> BridgeProcess:
        """Start it (on the port of the previous start, if any) and wait until it listens."""
        args = [sys.executable, str(SCRIPT), "--host", "127.0.0.1", "--port", str(self.port),
                "--module", "support.mt5_standin"]
        env = bridge_env()
        if self.token is not None:
            args += ["--token-env", TOKEN_ENV]
            env[TOKEN_ENV] = self.token
        self.workdir.mkdir(parents=True, exist_ok=True)
        seen = len(self.output())
        with self.log.open("ab") as sink:
            self._proc = subprocess.Popen(args, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                          stdout=sink, stderr=sink)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.output()[seen:])
            if found:
                self.port = int(found.group(2))
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the bridge did not start:\n{self.output()[seen:]}")

    def output(self) -> str:
        """Everything it logged, every start."""
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def steering(self) -> BridgeModule:
        """A connection of the test's own, to steer the stand-in in the bridge's process."""
        if self._steering is None:
            self._steering = BridgeModule("127.0.0.1", self.port, token=self.token)
        return self._steering

    def kill(self) -> None:
        """Kill it at once (SIGKILL: no goodbye to its clients)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(30)
        if self._steering is not None:
            self._steering.close()

    def stop(self) -> int | None:
        """Stop it (SIGTERM) and return its exit code."""
        if self._steering is not None:
            self._steering.close()
            self._steering = None
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        return proc.returncode
