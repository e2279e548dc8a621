"""Webhook, Slack and Discord channels against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import clear_registered_secrets
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.notify.base import Alert, AlertKind, NotifyError, RetryLater, Severity
from tradeloop.notify.router import ChannelRoute, NotificationRouter
from tradeloop.notify.webhook import DISCORD_COLORS, WebhookNotifier

URL_TOKEN = "T000/B000/XyZ-url-token-9q8w7e"
SIGNING_SECRET = "signing-secret-4r5t6y"
CREATED = 1_704_186_000 * NANOS_PER_SECOND + 123_456_000
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # answer only once it is set


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Hook:
    """An HTTP server on a free 127.0.0.1 port that records POSTs and answers from a script
    (200 "ok" once the script is used up)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: list[Reply] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                hook.received.append(Received(self.path, dict(self.headers.items()), body))
                reply = hook.replies.pop(0) if hook.replies else Reply()
                if reply.hold is not None:
                    reply.hold.wait(30)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = SecretStr(f"{self.base}/hooks/{URL_TOKEN}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    clear_registered_secrets()


@pytest.fixture(autouse=True)
def _records_reach_caplog(monkeypatch: pytest.MonkeyPatch) -> None:
    # an earlier setup_logging() may have stopped the tradeloop logger propagating
    monkeypatch.setattr(logging.getLogger("tradeloop"), "propagate", True)


def fill_alert(image: bytes | None = None) -> Alert:
    return Alert(kind=AlertKind.FILL, severity=Severity.WARNING,
                 title="Filled: BUY 1000 EURUSD @ 1.0998", text="entry 1.0998\nstop 1.0950",
                 fields={"qty": "1000", "price": "1.0998", "note": "<b>&</b>"},
                 image=image, created_ns=CREATED)


def send(notifier: WebhookNotifier, alert: Alert) -> None:
    async def go() -> None:
        try:
            await notifier.send(alert)
        finally:
            await notifier.close()

    asyncio.run(go())


def send_error(notifier: WebhookNotifier, alert: Alert) -> NotifyError:
    with pytest.raises(NotifyError) as caught:
        send(notifier, alert)
    return caught.value


def test_json_body_is_signed_and_the_signature_verifies(hook: Hook) -> None:
    send(WebhookNotifier("ops", hook.url, secret=SecretStr(SIGNING_SECRET)),
         fill_alert(image=PNG))
    [request] = hook.received
    assert request.path == f"/hooks/{URL_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "kind": "fill", "severity": "warning", "title": "Filled: BUY 1000 EURUSD @ 1.0998",
        "text": "entry 1.0998\nstop 1.0950",
        "fields": {"qty": "1000", "price": "1.0998", "note": "<b>&</b>"},
        "created": "2024-01-02T09:00:00.123456Z"}
    # the receiver's side: HMAC-SHA256(secret, "<timestamp>.<raw body>"), constant-time compare
    timestamp = request.headers["X-Tradeloop-Timestamp"]
    assert timestamp.isdigit()
    expected = hmac.new(SIGNING_SECRET.encode(), f"{timestamp}.".encode() + request.body,
                        hashlib.sha256).hexdigest()
    signature = request.headers["X-Tradeloop-Signature"]
    assert signature.startswith("sha256=")
    assert hmac.compare_digest(signature.removeprefix("sha256="), expected)
    tampered = request.body.replace(b"1000", b"9000")
    forged = hmac.new(SIGNING_SECRET.encode(), f"{timestamp}.".encode() + tampered,
                      hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(signature.removeprefix("sha256="), forged)


def test_json_without_a_secret_is_not_signed(hook: Hook) -> None:
    send(WebhookNotifier("ops", hook.url), fill_alert())
    [request] = hook.received
    assert "X-Tradeloop-Signature" not in request.headers
    assert "X-Tradeloop-Timestamp" not in request.headers
    assert json.loads(request.body)["kind"] == "fill"


def test_slack_body_has_a_header_and_fields_and_no_image(hook: Hook) -> None:
    send(WebhookNotifier("team", hook.url, style="slack"), fill_alert(image=PNG))
    [request] = hook.received
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["text"] == "Filled: BUY 1000 EURUSD @ 1.0998\nentry 1.0998\nstop 1.0950"
    header, context, section = body["blocks"]
    assert header == {"type": "header", "text": {
        "type": "plain_text", "text": "Filled: BUY 1000 EURUSD @ 1.0998", "emoji": True}}
    assert "warning · fill" in context["elements"][0]["text"]
    assert section["text"] == {"type": "mrkdwn", "text": "entry 1.0998\nstop 1.0950"}
    assert section["fields"] == [
        {"type": "mrkdwn", "text": "*qty*\n1000"},
        {"type": "mrkdwn", "text": "*price*\n1.0998"},
        {"type": "mrkdwn", "text": "*note*\n&lt;b&gt;&amp;&lt;/b&gt;"}]
    assert b"PNG" not in request.body and b"image" not in request.body


def test_discord_body_without_an_image_is_json(hook: Hook) -> None:
    send(WebhookNotifier("guild", hook.url, style="discord"), fill_alert())
    [request] = hook.received
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["content"] == "Filled: BUY 1000 EURUSD @ 1.0998"
    [embed] = body["embeds"]
    assert embed["title"] == "Filled: BUY 1000 EURUSD @ 1.0998"
    assert embed["description"] == "entry 1.0998\nstop 1.0950"
    assert embed["color"] == DISCORD_COLORS[Severity.WARNING]
    assert embed["fields"][0] == {"name": "qty", "value": "1000", "inline": True}
    assert "image" not in embed and "attachments" not in body
    assert body["allowed_mentions"] == {"parse": []}


def test_discord_with_an_image_sends_multipart_with_the_png(hook: Hook) -> None:
    send(WebhookNotifier("guild", hook.url, style="discord"), fill_alert(image=PNG))
    [request] = hook.received
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
    parts = {part.get_param("name", header="content-disposition"): part
             for part in message.iter_parts()}
    assert set(parts) == {"payload_json", "files[0]"}
    payload = json.loads(parts["payload_json"].get_content())
    assert payload["embeds"][0]["image"] == {"url": "attachment://chart.png"}
    assert payload["attachments"] == [{"id": 0, "filename": "chart.png"}]
    assert payload["content"] == "Filled: BUY 1000 EURUSD @ 1.0998"
    chart = parts["files[0]"]
    assert chart.get_filename() == "chart.png"
    assert chart.get_content_type() == "image/png"
    assert chart.get_payload(decode=True) == PNG


def test_429_with_retry_after_asks_to_retry_after_that_delay(hook: Hook) -> None:
    hook.replies = [Reply(429, b"slow down", {"Retry-After": "7"})]
    error = send_error(WebhookNotifier("team", hook.url, style="slack"), fill_alert())
    assert isinstance(error, RetryLater) and error.after_s == 7.0
    assert "HTTP 429" in str(error)


def test_discord_429_takes_retry_after_from_its_json(hook: Hook) -> None:
    hook.replies = [Reply(429, json.dumps({"message": "You are being rate limited.",
                                           "retry_after": 0.25, "global": False}).encode(),
                          {"Retry-After": "1", "Content-Type": "application/json"})]
    error = send_error(WebhookNotifier("guild", hook.url, style="discord"), fill_alert())
    assert isinstance(error, RetryLater) and error.after_s == 0.25


def test_server_errors_and_unreachable_hosts_are_retried_without_a_delay(hook: Hook) -> None:
    hook.replies = [Reply(503, b"maintenance")]
    error = send_error(WebhookNotifier("ops", hook.url), fill_alert())
    assert isinstance(error, RetryLater) and error.after_s is None
    assert "HTTP 503 (maintenance)" in str(error)

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    error = send_error(WebhookNotifier(
        "ops", SecretStr(f"http://127.0.0.1:{port}/hooks/{URL_TOKEN}")), fill_alert())
    assert isinstance(error, RetryLater) and error.after_s is None
    assert "cannot reach" in str(error)


def test_a_timeout_is_retried(hook: Hook) -> None:
    release = threading.Event()
    hook.replies = [Reply(hold=release)]
    try:
        error = send_error(WebhookNotifier("ops", hook.url, timeout_s=0.05), fill_alert())
    finally:
        release.set()
    assert isinstance(error, RetryLater) and error.after_s is None
    assert "no answer" in str(error)


def test_other_client_errors_are_not_retried(hook: Hook) -> None:
    hook.replies = [Reply(404, b"no_service")]
    error = send_error(WebhookNotifier("team", hook.url, style="slack"), fill_alert())
    assert not isinstance(error, RetryLater)
    assert "HTTP 404 (no_service)" in str(error)


def test_no_url_or_secret_in_errors_logs_or_repr(hook: Hook,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    echo = f"invalid token {URL_TOKEN} for {hook.url.get_secret_value()}".encode()
    hook.replies = [Reply(400, echo), Reply(429, echo, {"Retry-After": "0"}), Reply(500, echo)]
    notifier = WebhookNotifier("ops", hook.url, secret=SecretStr(SIGNING_SECRET))
    errors = []
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            errors.append(send_error(WebhookNotifier(
                "ops", hook.url, secret=SecretStr(SIGNING_SECRET)), fill_alert()))
        errors.append(send_error(WebhookNotifier(
            "ops", SecretStr(f"http://127.0.0.1:1/hooks/{URL_TOKEN}")), fill_alert()))
    with pytest.raises(ConfigError) as bad:
        WebhookNotifier("ops", SecretStr(f"ftp://example.invalid/{URL_TOKEN}"))
    texts = [str(e) for e in errors] + [str(bad.value), repr(notifier)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [logging.Formatter().format(r) for r in caplog.records]
    assert len(errors) == 4
    for text in texts:
        assert URL_TOKEN not in text and SIGNING_SECRET not in text
        assert hook.url.get_secret_value() not in text
    assert "invalid token T000/B000/*** for ***" in str(errors[0])
    assert any("HTTP Request: POST ***" in r.getMessage() for r in caplog.records
               if r.name == "httpx")  # httpx's own line, masked


def test_constructor_checks() -> None:
    url = SecretStr("https://hooks.slack.com/services/T/B/x")
    with pytest.raises(ConfigError, match="http:// or https://"):
        WebhookNotifier("x", SecretStr("hooks.slack.com/services"))
    with pytest.raises(ConfigError, match="for style \"json\" only"):
        WebhookNotifier("x", url, style="slack", secret=SecretStr("s"))
    with pytest.raises(ConfigError, match="unknown webhook style"):
        WebhookNotifier("x", url, style="teams")  # type: ignore[arg-type]


def test_through_the_router_a_rate_limit_is_waited_out_in_order(hook: Hook) -> None:
    hook.replies = [Reply(429, b"{}", {"Retry-After": "0.01"}), Reply(502, b"bad gateway")]
    notifier = WebhookNotifier("ops", hook.url, secret=SecretStr(SIGNING_SECRET))
    router = NotificationRouter([ChannelRoute(notifier, frozenset(AlertKind.ALL),
                                              Severity.INFO)],
                                backoff_s=(0.01,))

    async def scenario() -> None:
        await router.start()
        for title in ("first", "second", "third"):
            router.publish(Alert(AlertKind.LIFECYCLE, Severity.INFO, title))
        await router.stop(timeout_s=30)

    asyncio.run(scenario())
    titles = [json.loads(r.body)["title"] for r in hook.received]
    assert titles == ["first", "first", "first", "second", "third"]
    stats = router.stats()["ops"]
    assert (stats.sent, stats.retried, stats.failed) == (3, 2, 0)
