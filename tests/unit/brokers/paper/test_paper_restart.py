"""``kill -9`` of a served paper venue loses nothing it acknowledged: restarted on the same
state file it has the same orders, fills, positions and balance, and its resting orders keep
filling from market data pushed after the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from paper_harness import bar, free_socket

LAUNCH = """
import sys
from pathlib import Path

from tradeloop.brokers.paper.config import PaperServerConfig
from tradeloop.brokers.paper.server import serve
from tradeloop.model.instrument import Instrument

config = PaperServerConfig(state_path=Path(sys.argv[1]), port=int(sys.argv[2]),
                           allow_admin=True, log_level="warning")
serve(config, instruments=[Instrument.equity("ABC")])
"""


class VenueProcess:
    """``serve()`` in a child process."""

    def __init__(self, state: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k != "TRADELOOP_PAPER_TOKEN"}
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(state), str(port)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=self.url, trust_env=False, timeout=2) as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"venue process died: {self.process.stderr.read()!r}")
                try:
                    if http.get("/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("venue process did not start")
                time.sleep(0.05)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def port() -> int:
    sock = free_socket()
    number = sock.getsockname()[1]
    sock.close()
    return int(number)


@pytest.fixture
def processes() -> Iterator[list[VenueProcess]]:
    started: list[VenueProcess] = []
    yield started
    for process in started:
        process.stop()


def _books(http: httpx.Client) -> dict[str, Any]:
    return {name: http.get(f"/v1/{name}").json()
            for name in ("orders", "fills", "positions", "account", "events")}


def _push(http: httpx.Client, item: Any) -> None:
    http.post("/v1/admin/market", json={
        "type": "bar", "symbol": item.symbol, "ts": item.ts, "open": item.open,
        "high": item.high, "low": item.low, "close": item.close, "volume": item.volume,
        "timeframe": item.timeframe}).raise_for_status()


def _submit(http: httpx.Client, cid: str, side: str, quantity: str, **fields: str) -> None:
    order_type = "LIMIT" if "price" in fields else "MARKET"
    answer = http.post("/v1/orders", json={"client_order_id": cid, "symbol": "ABC",
                                           "side": side, "order_type": order_type,
                                           "quantity": quantity, **fields})
    assert answer.status_code == 201, answer.text  # acknowledged


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path, port: int,
                                           processes: list[VenueProcess]) -> None:
    state = tmp_path / "paper.db"
    processes.append(VenueProcess(state, port))
    with httpx.Client(base_url=processes[-1].url, trust_env=False, timeout=10) as http:
        _submit(http, "A", "BUY", "10")
        _submit(http, "L", "BUY", "5", price="95")
        _push(http, bar(0, 100, 101, 99, 100.5))
        _submit(http, "S", "SELL", "3", price="150")  # acknowledged just before the kill
        before = _books(http)
    assert [f["client_order_id"] for f in before["fills"]] == ["A"]
    processes[-1].kill9()
    assert processes[-1].process.returncode == -signal.SIGKILL

    processes.append(VenueProcess(state, port))
    with httpx.Client(base_url=processes[-1].url, trust_env=False, timeout=10) as http:
        assert _books(http) == before
        assert http.get("/health").json()["market_ns"] == bar(1, 1, 1, 1, 1).ts
        _push(http, bar(1, 96, 97, 94, 95.5))  # after the restart: the resting limit fills
        fills = http.get("/v1/fills").json()
        assert [(f["client_order_id"], f["trade_id"], f["price"]) for f in fills] == [
            ("A", "PAPER-T1", "100"), ("L", "PAPER-T2", "95")]
        assert http.get("/v1/positions").json()[0]["quantity"] == "15"
        assert [o["client_order_id"] for o in http.get("/v1/orders?open=true").json()] == ["S"]
        seqs = [e["seq"] for e in http.get("/v1/events").json()["events"]]
        assert seqs == list(range(1, len(seqs) + 1))  # no gap, no reuse across the kill
        again = http.post("/v1/orders", json={"client_order_id": "A", "symbol": "ABC",
                                              "side": "BUY", "order_type": "MARKET",
                                              "quantity": "10"})
        assert again.status_code == 200 and again.json()["duplicate"] is True
