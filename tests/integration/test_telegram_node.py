"""Telegram commands on a running paper node (``tradeloop paper NODE.toml --api`` in a
subprocess, python-telegram-bot polling a local Bot API server): ``/kill`` from an allowed
user in the allowed group halts the node only once that user presses Confirm; the same command
from an unknown user in the group, or from an unknown chat, gets no answer."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from api_node import start_node

from support.telegram_server import TOKEN, Call, FakeTelegram

GROUP = -100200300
USER = 1001
STRANGER = 6666
STRANGE_CHAT = 777


def _extra() -> str:
    return f'''
[notify]
[[notify.channels]]
name = "phone"
type = "telegram"
token_env = "NODE_TELEGRAM_TOKEN"
chat_ids = [{GROUP}]
user_ids = [{USER}]
events = ["kill_switch", "risk_state"]
'''


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Any:
    with FakeTelegram() as server:
        monkeypatch.setenv("NODE_TELEGRAM_TOKEN", TOKEN)
        monkeypatch.setenv("TRADELOOP_TELEGRAM_BASE_URL", server.base_url)
        yield server


def _replies(server: FakeTelegram, chat_id: int) -> list[Call]:
    return [c for c in server.calls_to("sendMessage") if c.params.get("chat_id") == str(chat_id)]


def test_kill_from_telegram_halts_the_running_node_after_confirmation(
        tmp_path: Path, telegram: FakeTelegram) -> None:
    node = start_node(tmp_path, extra=_extra())
    try:
        async def wait(method: str, count: int) -> list[Call]:
            return await telegram.wait_for(method, count=count, timeout=30)

        asyncio.run(wait("getUpdates", 1))  # the node's bot is polling
        telegram.enqueue_message(GROUP, STRANGER, "/kill")
        telegram.enqueue_message(STRANGE_CHAT, STRANGE_CHAT, "/status")
        telegram.enqueue_message(GROUP, USER, "/kill drill")
        question = asyncio.run(wait("sendMessage", 1))[0]
        assert question.params["chat_id"] == str(GROUP)
        keys = {b["text"]: b["callback_data"] for row in json.loads(
            question.params["reply_markup"])["inline_keyboard"] for b in row}
        with node.client("read") as api:
            assert api.get("/api/v1/status").json()["trading_state"] == "ACTIVE"
            telegram.enqueue_callback(GROUP, USER, message_id=1, data=keys["Confirm"])
            asyncio.run(wait("editMessageText", 1))
            deadline = time.monotonic() + 20
            status = api.get("/api/v1/status").json()
            while status["trading_state"] != "HALTED" and time.monotonic() < deadline:
                time.sleep(0.05)
                status = api.get("/api/v1/status").json()
        assert status["trading_state"] == "HALTED"
        assert status["kill_engaged"] and status["kill_by"] == f"telegram:{USER}"
        assert _replies(telegram, STRANGE_CHAT) == []
        asked = [c for c in _replies(telegram, GROUP) if c.params.get("reply_markup")]
        assert asked == [question]  # the stranger's /kill was never answered
    finally:
        node.stop()
    log = "\n".join(node.log)
    assert str(STRANGER) in log and str(STRANGE_CHAT) in log  # the refused ones are logged
    assert TOKEN not in log and TOKEN.split(":", 1)[1] not in log
