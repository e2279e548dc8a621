"""``tradeloop serve`` beside a node running in another process: it reads the node's audit
database, and its kill switch and flatten requests reach the running node."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from api_node import create_tokens, environment, node_toml

from support.ports import free_port


def _wait_health(url: str, process: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server never answered /health")


def test_serve_reads_the_database_and_its_kill_switch_halts_the_node(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    tokens = create_tokens(home)
    config = node_toml(home)
    env = environment(home)
    node = subprocess.Popen([sys.executable, "-m", "tradeloop", "paper", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tradeloop", "serve", str(config),
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_health(url, server)
        trade = {"Authorization": f"Bearer {tokens['trade']}"}
        status = httpx.get(f"{url}/api/v1/status", headers=trade).json()
        assert status["running"] is False and status["name"] == "api-node"
        assert status["trading_state"] == "ACTIVE"
        refused = httpx.post(f"{url}/api/v1/orders", headers=trade, json={
            "symbol": "EURUSD", "side": "buy", "quantity": "1"})
        assert refused.status_code == 409 and "tradeloop paper" in refused.json()["detail"]
        killed = httpx.post(f"{url}/api/v1/control/kill", headers=trade,
                            json={"reason": "from serve"}).json()
        assert killed["state"] == "HALTED" and killed["reason"] == "kill switch: from serve"
        flat = httpx.post(f"{url}/api/v1/control/flatten", headers=trade, json={},
                          timeout=30)
        assert flat.status_code == 200 and flat.json() == {"client_order_ids": []}
    finally:
        server.terminate()
        server.wait(20)
        node.terminate()
        _, errors = node.communicate(timeout=30)
    assert node.returncode == 0, errors[-2000:]
    assert "kill switch engaged: trading halted" in errors
    assert "from serve" in errors
