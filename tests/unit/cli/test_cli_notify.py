"""``tradeloop notify test``: a test alert with a chart through every configured channel (a
generic webhook on a real local HTTP server, Telegram on the fake Bot API server), "ok" or the
reason per channel, exit 1 when any failed, ``--channel`` for one; no secret is printed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from support.nodes import synthetic_node_toml
from support.telegram_server import TOKEN, FakeTelegram
from tradeloop.cli.app import app
from tradeloop.core.errors import ConfigError

SECRET = "whsec-Hq8vN2pLx5"
PNG = b"\x89PNG\r\n\x1a\n"


class _Hooks(ThreadingHTTPServer):
    received: list[tuple[str, dict[str, str], bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: _Hooks

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append((self.path, dict(self.headers.items()), body))
        self.send_response(200 if self.path.startswith("/ok") else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[_Hooks]:
    server = _Hooks(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def _config(tmp_path: Path) -> Path:
    return synthetic_node_toml(tmp_path, name="notify-node", extra='''
[[notify.channels]]
name = "phone"
type = "telegram"
token_env = "TEST_TELEGRAM_TOKEN"
chat_ids = [1001, -1002]
[[notify.channels]]
name = "ops"
type = "webhook"
url_env = "TEST_OPS_URL"
secret_env = "TEST_OPS_SECRET"
[[notify.channels]]
name = "broken"
type = "webhook"
url_env = "TEST_BROKEN_URL"
''')


def _invoke(path: Path, hooks: _Hooks, telegram: FakeTelegram, *extra: str
            ) -> tuple[int, str]:
    port = hooks.server_address[1]
    env = {"COLUMNS": "200", "TEST_TELEGRAM_TOKEN": TOKEN,
           "TEST_OPS_URL": f"http://127.0.0.1:{port}/ok/hook-token-abc",
           "TEST_OPS_SECRET": SECRET,
           "TEST_BROKEN_URL": f"http://127.0.0.1:{port}/gone/hook-token-xyz",
           "TRADELOOP_TELEGRAM_BASE_URL": telegram.base_url}
    result = CliRunner().invoke(app, ["notify", "test", str(path), *extra], env=env)
    if isinstance(result.exception, ConfigError):  # main() prints it as one line, exit 2
        return 2, f"error: {result.exception}"
    return result.exit_code, result.output


def test_every_channel_is_tried_and_reported(tmp_path: Path, hooks: _Hooks,
                                             telegram: FakeTelegram) -> None:
    code, out = _invoke(_config(tmp_path), hooks, telegram)
    assert code == 1, out
    lines = {line.split()[1].rstrip(":"): line for line in out.splitlines() if line.strip()}
    assert lines["phone"].startswith("ok") and lines["ops"].startswith("ok")
    assert lines["broken"].startswith("FAIL") and "404" in lines["broken"]
    # Telegram: a photo with the caption to each chat
    photos = telegram.calls_to("sendPhoto")
    assert sorted(int(c.params["chat_id"]) for c in photos) == [-1002, 1001]
    for call in photos:
        assert call.file("photo").startswith(PNG)
        assert "Test alert from tradeloop" in call.params["caption"]
    # the webhook: the JSON body, signed with the secret
    (_path, headers, body), = [r for r in hooks.received if r[0].startswith("/ok")]
    sent = json.loads(body)
    assert sent["kind"] == "test" and sent["title"] == "Test alert from tradeloop"
    stamp = headers["X-Tradeloop-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Tradeloop-Signature"] == f"sha256={expected.hexdigest()}"
    for secret in (TOKEN, SECRET, "hook-token-abc", "hook-token-xyz"):
        assert secret not in out


def test_one_channel_by_name(tmp_path: Path, hooks: _Hooks, telegram: FakeTelegram) -> None:
    code, out = _invoke(_config(tmp_path), hooks, telegram, "--channel", "ops",
                        "--no-chart")
    assert code == 0, out
    assert out.split() == ["ok", "ops"]
    assert telegram.calls_to("sendPhoto") == [] and len(hooks.received) == 1
    code, out = _invoke(_config(tmp_path), hooks, telegram, "--channel", "opz")
    assert code == 2 and "no notify channel named 'opz'; did you mean 'ops'" in out


def test_a_telegram_server_that_is_down_is_a_failure(tmp_path: Path, hooks: _Hooks,
                                                     telegram: FakeTelegram) -> None:
    telegram.stop()
    code, out = _invoke(_config(tmp_path), hooks, telegram, "--channel", "phone",
                        "--no-chart")
    assert code == 1 and out.startswith("FAIL phone:"), out
    assert TOKEN not in out
