"""The API of a running paper node, over real HTTP and WebSocket on 127.0.0.1: orders placed,
bracketed, modified and cancelled through the risk gate; pause, resume, kill, re-arm, flatten
and stop; the event stream and the metrics see what happened."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from api_node import RunningNode, start_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(Path(tmp_path_factory.mktemp("api-node")))
    try:
        yield running
    finally:
        running.stop()


def _wait(read: Callable[[], Any], until: Callable[[Any], bool], timeout_s: float = 10) -> Any:
    deadline = time.monotonic() + timeout_s
    value = read()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout_s} s")
        time.sleep(0.05)
        value = read()
    return value


def _position(api: httpx.Client, strategy: str = "API") -> Decimal:
    found = [p for p in api.get("/api/v1/positions").json()
             if p["symbol"] == "EURUSD" and p["strategy_id"] == strategy]
    return Decimal(found[0]["quantity"]) if found else Decimal(0)


def _order(api: httpx.Client, client_order_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/orders/{client_order_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_orders_fill_and_are_visible_everywhere(node: RunningNode) -> None:
    with node.client("trade") as api:
        before = _position(api)
        placed = api.post("/api/v1/orders", json={"symbol": "EURUSD", "side": "buy",
                                                  "quantity": "1000"})
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["client_order_id"]
        filled = _wait(lambda: _order(api, order_id), lambda o: o["status"] == "FILLED")
        assert filled["filled_quantity"] == "1000" and filled["tags"] == ["api:trade-token"]
        assert _position(api) == before + 1000
        fills = api.get("/api/v1/fills").json()
        assert any(f["client_order_id"] == order_id for f in fills)
        account = api.get("/api/v1/account").json()
        assert Decimal(account["equity"]) > 0 and account["currency"] == "USD"
        again = api.post("/api/v1/orders", json={
            "symbol": "EURUSD", "side": "buy", "quantity": "1000", "client_order_id": order_id})
        assert again.status_code == 422 and "is taken" in again.json()["detail"]
        unknown = api.post("/api/v1/orders", json={"symbol": "GBPUSD", "side": "buy",
                                                   "quantity": "1"})
        assert unknown.status_code == 422 and "trades EURUSD" in unknown.json()["detail"]


def test_a_resting_order_is_modified_then_cancelled(node: RunningNode) -> None:
    with node.client("trade") as api:
        placed = api.post("/api/v1/orders", json={"symbol": "EURUSD", "side": "buy",
                                                  "quantity": "1000", "limit_price": "0.5"})
        order_id = placed.json()["client_order_id"]
        _wait(lambda: _order(api, order_id), lambda o: o["status"] == "ACCEPTED")
        changed = api.patch(f"/api/v1/orders/{order_id}", json={"limit_price": "0.6"})
        assert changed.status_code == 202, changed.text
        _wait(lambda: _order(api, order_id), lambda o: Decimal(o["price"]) == Decimal("0.6"))
        assert api.delete(f"/api/v1/orders/{order_id}").status_code == 202
        _wait(lambda: _order(api, order_id), lambda o: o["status"] == "CANCELED")
        late = api.delete(f"/api/v1/orders/{order_id}")
        assert late.status_code == 422 and "nothing to cancel" in late.json()["detail"]
        assert api.delete("/api/v1/orders/API-nope").status_code == 404
        assert order_id not in {o["client_order_id"] for o in api.get(
            "/api/v1/orders", params={"open_only": "true"}).json()}


def test_a_bracket_leaves_a_stop_and_a_target_working(node: RunningNode) -> None:
    with node.client("trade") as api:
        price = Decimal(api.get("/api/v1/positions").json()[0]["last_price"])
        placed = api.post("/api/v1/orders", json={
            "symbol": "EURUSD", "side": "buy", "quantity": "1000",
            "stop_loss": str(price - Decimal("0.05")), "take_profit": str(price + Decimal("0.05"))})
        assert placed.status_code == 202, placed.text
        entry = placed.json()["client_order_id"]
        _wait(lambda: _order(api, entry), lambda o: o["status"] == "FILLED")
        legs = _wait(lambda: [o for o in api.get("/api/v1/orders", params={
            "open_only": "true"}).json() if {"stop_loss", "take_profit"} & set(o["tags"])],
            lambda found: len(found) == 2)
        assert sorted((o["type"], o["side"]) for o in legs) == [("LIMIT", "SELL"),
                                                               ("STOP", "SELL")]
        for leg in legs:
            api.delete(f"/api/v1/orders/{leg['client_order_id']}")


def test_pause_lets_only_reducing_orders_through_until_resumed(node: RunningNode) -> None:
    with node.client("trade") as api:
        held = _position(api)
        assert held > 0
        paused = api.post("/api/v1/control/pause", json={"reason": "lunch"}).json()
        assert paused["state"] == "REDUCING" and "paused by token:trade-token" in paused["reason"]
        denied = api.post("/api/v1/orders", json={"symbol": "EURUSD", "side": "buy",
                                                  "quantity": "1000"}).json()
        _wait(lambda: _order(api, denied["client_order_id"]), lambda o: o["status"] == "DENIED")
        reduced = api.post("/api/v1/orders", json={"symbol": "EURUSD", "side": "sell",
                                                   "quantity": "1000"}).json()
        _wait(lambda: _order(api, reduced["client_order_id"]), lambda o: o["status"] == "FILLED")
        resumed = api.post("/api/v1/control/resume", json={"reason": "back"}).json()
        assert resumed["state"] == "ACTIVE"
        events = api.get("/api/v1/risk/events").json()
        assert [e["decision"] for e in events if e["rule"] == "PAUSE"][:2] == ["RESUMED",
                                                                            "REDUCING"]


def test_the_stream_carries_fills_and_positions(node: RunningNode) -> None:
    async def run() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        url = node.url.replace("http://", "ws://") + "/api/v1/ws"
        headers = {"Authorization": f"Bearer {node.tokens['read']}"}
        async with websockets.connect(url, additional_headers=headers) as socket:
            async with httpx.AsyncClient(base_url=node.url, headers={
                    "Authorization": f"Bearer {node.tokens['trade']}"}) as api:
                placed = await api.post("/api/v1/orders", json={
                    "symbol": "EURUSD", "side": "buy", "quantity": "1000"})
                order_id = placed.json()["client_order_id"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                seen.append(message)
                kinds = {m["type"] for m in seen}
                if {"fill", "position", "equity"} <= kinds:
                    break
        assert any(m["type"] == "fill" and m["data"]["client_order_id"] == order_id
                   for m in seen)
        return seen

    seen = asyncio.run(run())
    fill = next(m for m in seen if m["type"] == "fill")
    assert fill["data"]["last_qty"] == "1000" and isinstance(fill["ts"], int)
    equity = next(m for m in seen if m["type"] == "equity")
    assert Decimal(equity["data"]["equity"]) > 0


def test_kill_halts_until_rearmed_and_flatten_closes(node: RunningNode) -> None:
    with node.client("trade") as api, node.client("admin") as admin:
        assert _position(api) > 0
        killed = api.post("/api/v1/control/kill", json={"reason": "drill"}).json()
        assert killed["state"] == "HALTED" and killed["reason"] == "kill switch: drill"
        status = api.get("/api/v1/status").json()
        assert status["kill_engaged"] and status["kill_by"] == "token:trade-token"
        denied = api.post("/api/v1/orders", json={"symbol": "EURUSD", "side": "buy",
                                                  "quantity": "1000"}).json()
        _wait(lambda: _order(api, denied["client_order_id"]), lambda o: o["status"] == "DENIED")
        assert api.post("/api/v1/control/rearm", json={"reason": "x"}).status_code == 401
        rearmed = admin.post("/api/v1/control/rearm", json={"reason": "drill over"}).json()
        assert rearmed["state"] == "ACTIVE"
        sent = api.post("/api/v1/control/flatten", json={"symbol": "EURUSD"}).json()
        assert sent["client_order_ids"]
        _wait(lambda: _position(api), lambda q: q == 0)


def test_metrics_count_what_happened(node: RunningNode) -> None:
    with node.client("read") as api:
        text = api.get("/metrics").text
    assert 'tradeloop_orders{status="FILLED"}' in text
    fills = next(float(line.split()[-1]) for line in text.splitlines()
                 if line.startswith("tradeloop_fills_total"))
    assert fills >= 4
    assert 'tradeloop_order_denials_total{code="KILL_SWITCH"}' in text
    assert "tradeloop_event_loop_lag_seconds" in text


def test_stop_ends_the_node(tmp_path: Path) -> None:
    running = start_node(tmp_path / "short")
    try:
        with running.client("trade") as trader:
            assert trader.post("/api/v1/control/stop", json={}).status_code == 401
        with running.client("admin") as admin:
            assert admin.post("/api/v1/control/stop", json={"reason": "done"}).status_code \
                == 202
        running.process.wait(20)
        assert running.process.returncode == 0
    finally:
        running.stop()
