"""A Telegram outage during a paper run (``tradeloop paper NODE.toml --api`` in a subprocess):
orders still fill at once and the strategy keeps trading (its tick-to-order count grows) while
the Bot API server is down; when it comes back, every queued fill alert arrives as a photo
with its caption, unless it grew older than the channel's ``max_age_s``, in which case it is
dropped, not sent late. Neither the bot token nor any webhook secret appears in the node's
output or in any call the Telegram server received."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_node import PASSPHRASE, RunningNode, start_node

from support.telegram_server import TOKEN, FakeTelegram

CHAT = 424242
HOOK_SECRET = "sig-Zr7Wq1Nn4Bt8"
HOOK_PATH_TOKEN = "T00HOOKPATHtoken9"
STRATEGY = '''
from tradeloop.strategy import Strategy


class EveryFewTicks(Strategy):
    """Buys then sells 1000 every ``every`` ticks: orders caused by market data."""

    every: int = 60

    def on_start(self) -> None:
        self.seen = 0

    def on_tick(self, tick) -> None:
        self.seen += 1
        if self.seen % self.every == 0:
            if self.position().quantity > 0:
                self.sell(1000)
            else:
                self.buy(1000)
'''


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _extra(home: Path, max_age_s: float) -> str:
    strategy = home / "ticker.py"
    strategy.write_text(STRATEGY, encoding="utf-8")
    return f'''
[[strategies]]
strategy = "{strategy}:EveryFewTicks"
id = "ticker"
symbols = ["EURUSD"]
[notify]
dedupe_window_s = 0
[[notify.channels]]
name = "phone"
type = "telegram"
token_env = "OUTAGE_TELEGRAM_TOKEN"
chat_ids = [{CHAT}]
events = ["fill"]
max_age_s = {max_age_s}
[[notify.channels]]
name = "ops"
type = "webhook"
url_env = "OUTAGE_HOOK_URL"
secret_env = "OUTAGE_HOOK_SECRET"
events = ["fill", "lifecycle"]
'''


def _wait(read: Callable[[], Any], until: Callable[[Any], bool], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    value = read()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout_s} s")
        time.sleep(0.05)
        value = read()
    return value


def _tick_to_order_count(api: httpx.Client) -> float:
    text = api.get("/metrics").text
    return next((float(line.split()[-1]) for line in text.splitlines()
                 if line.startswith("tradeloop_tick_to_order_seconds_count")), 0.0)


def _buy(node: RunningNode) -> str:
    with node.client("trade") as api:
        placed = api.post("/api/v1/orders", json={"symbol": "EURUSD", "side": "buy",
                                                  "quantity": "1000"})
        assert placed.status_code == 202, placed.text
        order_id = str(placed.json()["client_order_id"])
        _wait(lambda: api.get(f"/api/v1/orders/{order_id}").json()["status"],
              lambda s: s == "FILLED")
    return order_id


def _alerted(telegram: FakeTelegram, order_id: str) -> list[Any]:
    return [c for c in telegram.calls_to("sendPhoto") + telegram.calls_to("sendMessage")
            if order_id in c.params.get("caption", c.params.get("text", ""))]


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Any:
    server = FakeTelegram()
    server.start()
    server.stop()  # its port is known; it is down until the test brings it back
    monkeypatch.setenv("OUTAGE_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("TRADELOOP_TELEGRAM_BASE_URL", server.base_url)
    monkeypatch.setenv("OUTAGE_HOOK_URL",
                       f"http://127.0.0.1:{_dead_port()}/hooks/{HOOK_PATH_TOKEN}")
    monkeypatch.setenv("OUTAGE_HOOK_SECRET", HOOK_SECRET)
    yield server
    server.stop()


def _no_secrets(node: RunningNode, telegram: FakeTelegram) -> None:
    output = "\n".join(node.log)
    calls = "\n".join(f"{c.method} {c.params}" for c in telegram.calls)
    for secret in (TOKEN, TOKEN.split(":", 1)[1], HOOK_SECRET, HOOK_PATH_TOKEN, PASSPHRASE):
        assert secret not in output
        assert secret not in calls


def test_an_outage_delays_no_order_and_loses_no_alert(tmp_path: Path,
                                                      telegram: FakeTelegram) -> None:
    node = start_node(tmp_path, extra=_extra(tmp_path, max_age_s=600))
    try:
        with node.client("read") as api:
            before = _tick_to_order_count(api)
            orders = [_buy(node) for _ in range(3)]  # filled while Telegram is down
            _wait(lambda: _tick_to_order_count(api), lambda n: n > before, timeout_s=60)
        assert telegram.calls == []
        telegram.start()
        for order_id in orders:
            _wait(lambda o=order_id: _alerted(telegram, o), bool, timeout_s=60)
        photos = [c for o in orders for c in _alerted(telegram, o)]
        for call in photos:
            assert call.method == "sendPhoto" and int(call.params["chat_id"]) == CHAT
            assert "Filled: BUY 1000 EURUSD @" in call.params["caption"]
            assert call.file("photo").startswith(b"\x89PNG")
    finally:
        node.stop()
    _no_secrets(node, telegram)


def test_alerts_older_than_max_age_are_dropped_not_sent_late(tmp_path: Path,
                                                             telegram: FakeTelegram) -> None:
    node = start_node(tmp_path, extra=_extra(tmp_path, max_age_s=2))
    try:
        stale = [_buy(node) for _ in range(2)]
        time.sleep(3)  # the outage outlasts the alerts' max age
        telegram.start()
        fresh = _buy(node)
        _wait(lambda: _alerted(telegram, fresh), bool, timeout_s=60)
        for order_id in stale:
            assert _alerted(telegram, order_id) == []
    finally:
        node.stop()
    _no_secrets(node, telegram)
