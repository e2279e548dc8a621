"""A paper node with its API, run as ``tradeloop paper NODE.toml --api`` in a subprocess on
127.0.0.1: synthetic EURUSD quotes in real time, the in-process paper venue, the TradingView
webhook on, and one token of each scope. For the API's integration tests and benchmarks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PASSPHRASE = "kT9-vQ2xLm7Rw4Zp"  # a test secret of the webhook (16+ characters, no example word)
_LISTENING = re.compile(r"api on http://127\.0\.0\.1:(\d+)")
LOOPBACK_ONLY = ("127.0.0.1",)


def node_toml(home: Path, *, rate_per_s: float = 20.0, extra: str = "",
              allowed_ips: Sequence[str] = LOOPBACK_ONLY) -> Path:
    """The node's settings file in ``home`` (``allowed_ips``: the webhook's sources)."""
    path = home / "node.toml"
    path.write_text(f'''
mode = "paper"
name = "api-node"
[account]
cash = "100000"
[data]
source = "synthetic"
[data.synthetic]
symbols = ["EURUSD"]
seed = 7
rate_per_s = {rate_per_s}
start_prices = {{ EURUSD = 1.1 }}
tick_sizes = {{ EURUSD = 0.00001 }}
[logging]
level = "WARNING"
file = ""
[api]
host = "127.0.0.1"
port = 0
[api.webhook]
enabled = true
check_ip = true
allowed_ips = {json.dumps(list(allowed_ips))}
strategy = "tv"
[[strategies]]
strategy = "sma_cross"
id = "sma"
symbols = ["EURUSD"]
{extra}
''', encoding="utf-8")
    return path


@dataclass
class RunningNode:
    """A node process and how to talk to it."""

    process: subprocess.Popen[str]
    url: str
    tokens: dict[str, str]
    home: Path
    log: list[str] = field(default_factory=list)

    def client(self, scope: str = "admin", **kwargs: Any) -> httpx.Client:
        """An HTTP client with the token of ``scope``."""
        return httpx.Client(base_url=self.url, timeout=10,
                            headers={"Authorization": f"Bearer {self.tokens[scope]}"}, **kwargs)

    def stop(self, timeout_s: float = 20) -> int:
        """SIGINT, then wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)


def environment(home: Path) -> dict[str, str]:
    """The node's environment: its home, the webhook passphrase, no outside database."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TRADELOOP_DATABASE")}
    env.update(TRADELOOP_HOME=str(home), TRADELOOP_WEBHOOK_PASSPHRASE=PASSPHRASE)
    return env


def create_tokens(home: Path) -> dict[str, str]:
    """A token of each scope in ``home``'s database (``read``, ``trade``, ``admin``)."""
    from tradeloop.services.tokens import create_token

    previous = os.environ.get("TRADELOOP_HOME")
    os.environ["TRADELOOP_HOME"] = str(home)
    try:
        return {scope: create_token(f"{scope}-token", [scope], expires_in=None,
                                    by="test").token for scope in ("read", "trade", "admin")}
    finally:
        if previous is None:
            os.environ.pop("TRADELOOP_HOME", None)
        else:
            os.environ["TRADELOOP_HOME"] = previous


def start_node(home: Path, *, rate_per_s: float = 20.0, extra: str = "",
               allowed_ips: Sequence[str] = LOOPBACK_ONLY, tokens: dict[str, str] | None = None,
               timeout_s: float = 60) -> RunningNode:
    """Start the node and wait until its API answers ``/health``. ``tokens``: those of an
    earlier node on the same home (a restart: token names stay taken), else new ones."""
    home.mkdir(parents=True, exist_ok=True)
    tokens = tokens or create_tokens(home)
    config = node_toml(home, rate_per_s=rate_per_s, extra=extra, allowed_ips=allowed_ips)
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeloop", "paper", str(config), "--api"],
        env=environment(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    port = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        found = _LISTENING.search(line)
        if found:
            port = int(found.group(1))
            break
    if port is None:
        process.kill()
        raise RuntimeError("the node did not start its API:\n" + "\n".join(lines))
    node = RunningNode(process, f"http://127.0.0.1:{port}", tokens, home, lines)
    # keep reading its output into node.log: a full pipe would block the node's logging
    threading.Thread(target=_drain, args=(process, lines), daemon=True).start()
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{node.url}/health", timeout=2).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    node.stop()
    raise RuntimeError("the node's API never answered /health")


def restart_node(node: RunningNode, **settings: Any) -> RunningNode:
    """Stop ``node`` and start another on its home (same audit database, same tokens);
    ``settings`` as for :func:`start_node`."""
    node.stop()
    return start_node(node.home, tokens=node.tokens, **settings)


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
