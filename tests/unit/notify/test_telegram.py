"""The Telegram channel against a fake Bot API server on 127.0.0.1: photos with captions to
every chat, long messages split, 429 and outages as RetryLater, and the token kept out of
logs and errors."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from support.telegram_server import TOKEN, FakeTelegram
from tradeloop.notify.base import Alert, AlertKind, NotifyError, RetryLater, Severity
from tradeloop.notify.telegram import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    TelegramNotifier,
    alert_html,
    html_chunks,
)

# python-telegram-bot warns about its own retry_after type migration
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

CHATS = [111222333, -1001234567890]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"\r\n--boundary-like--\r\n"
SECRET_PART = TOKEN.split(":", 1)[1]


@pytest.fixture
def server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _propagating(monkeypatch: pytest.MonkeyPatch) -> None:
    # caplog listens on the root logger; a CLI test may have detached tradeloop's logs
    monkeypatch.setattr(logging.getLogger("tradeloop"), "propagate", True)


def fill_alert(image: bytes | None = PNG, text: str = "Strategy sma: long 1000 from 1.0998"
               ) -> Alert:
    return Alert(AlertKind.FILL, Severity.INFO, "Filled: BUY 1000 EURUSD @ 1.0998 <sma>",
                 text, {"P&L": "+12.50 USD", "stop": "1.0950"}, image)


def notifier(server: FakeTelegram, chats: list[int] | None = None,
             token: str = TOKEN) -> TelegramNotifier:
    return TelegramNotifier("phone", SecretStr(token), chats or CHATS, base_url=server.base_url)


async def send_then_close(channel: TelegramNotifier, *alerts: Alert) -> None:
    try:
        for alert in alerts:
            await channel.send(alert)
    finally:
        await channel.close()


def test_an_alert_with_a_chart_goes_as_a_photo_with_its_caption_to_each_chat(
        server: FakeTelegram) -> None:
    asyncio.run(send_then_close(notifier(server), fill_alert()))

    photos = server.calls_to("sendPhoto")
    assert [int(c.params["chat_id"]) for c in photos] == CHATS
    expected = ("<b>Filled: BUY 1000 EURUSD @ 1.0998 &lt;sma&gt;</b>\n"
                "Strategy sma: long 1000 from 1.0998\n"
                "P&amp;L: +12.50 USD\n"
                "stop: 1.0950")
    for call in photos:
        assert call.params["caption"] == expected
        assert call.params["parse_mode"] == "HTML"
        assert call.file("photo") == PNG
    assert server.calls_to("sendMessage") == []


def test_an_alert_without_a_chart_goes_as_a_message(server: FakeTelegram) -> None:
    asyncio.run(send_then_close(notifier(server, [42]), fill_alert(image=None)))

    [message] = server.calls_to("sendMessage")
    assert message.params["chat_id"] == "42"
    assert message.params["text"].startswith("<b>Filled: BUY 1000 EURUSD")
    assert server.calls_to("sendPhoto") == []


def test_a_caption_longer_than_telegram_takes_continues_in_a_message(
        server: FakeTelegram) -> None:
    text = "\n".join(f"line {i}: {'x & y ' * 12}" for i in range(40))  # ~3000 characters
    asyncio.run(send_then_close(notifier(server, [42]), fill_alert(text=text)))

    [photo] = server.calls_to("sendPhoto")
    messages = server.calls_to("sendMessage")
    assert len(photo.params["caption"]) <= CAPTION_LIMIT
    assert messages and all(len(m.params["text"]) <= MESSAGE_LIMIT for m in messages)
    shown = "\n".join([photo.params["caption"], *(m.params["text"] for m in messages)])
    assert html.unescape(re.sub("<[^>]+>", "", shown)).splitlines()[1:41] == text.splitlines()


def test_html_chunks_never_cut_an_entity_or_a_tag() -> None:
    line = "<&>" * 1000  # 3000 characters, 12000 escaped
    chunks = html_chunks([("Title & more", True), (line, False)], 1024, 4096)

    assert chunks[0].startswith("<b>Title &amp; more</b>")
    assert len(chunks[0]) <= 1024 and all(len(c) <= 4096 for c in chunks)
    for chunk in chunks:
        assert re.fullmatch(r"(<b>|</b>|&lt;|&amp;|&gt;|[^<>&])*", chunk, re.DOTALL)
    assert html.unescape("".join(c.replace("<b>", "").replace("</b>", "").replace("\n", "")
                                 for c in chunks)) == "Title & more" + line


def test_the_caption_is_the_whole_message_when_it_fits() -> None:
    alert = fill_alert()
    assert alert_html(alert) == alert_html(fill_alert(image=None))
    assert len(alert_html(alert)) == 1


def test_a_429_raises_retry_later_with_the_servers_delay(server: FakeTelegram) -> None:
    server.fail_next(1, retry_after=7, methods=("sendPhoto",))

    with pytest.raises(RetryLater) as raised:
        asyncio.run(send_then_close(notifier(server), fill_alert()))

    assert raised.value.after_s == 7
    assert server.calls_to("sendPhoto") == []
    assert len(server.calls_to("sendPhoto", ok_only=False)) == 1


def test_a_retry_does_not_send_again_what_was_delivered(server: FakeTelegram) -> None:
    channel = notifier(server)
    alert = fill_alert(text="\n".join("y" * 100 for _ in range(12)))  # caption + a message

    async def scenario() -> None:
        server.fail_next(1, retry_after=1, methods=("sendMessage",))
        with pytest.raises(RetryLater):
            await channel.send(alert)  # photo to chat 1 went, its follow-up did not
        await send_then_close(channel, alert)

    asyncio.run(scenario())

    assert [int(c.params["chat_id"]) for c in server.calls_to("sendPhoto")] == CHATS
    assert [int(c.params["chat_id"]) for c in server.calls_to("sendMessage")] == CHATS


def test_a_chat_that_refuses_does_not_keep_the_alert_from_the_others(
        server: FakeTelegram) -> None:
    server.block_chat(CHATS[0])

    with pytest.raises(NotifyError) as raised:
        asyncio.run(send_then_close(notifier(server), fill_alert()))

    assert not isinstance(raised.value, RetryLater)
    assert f"chat {CHATS[0]}" in str(raised.value) and "blocked" in str(raised.value)
    assert [int(c.params["chat_id"]) for c in server.calls_to("sendPhoto")] == [CHATS[1]]


def test_through_the_router_a_429_is_retried_after_the_delay_and_delivered(
        server: FakeTelegram) -> None:
    router_module = pytest.importorskip("tradeloop.notify.router")
    channel = notifier(server, [42])
    route = router_module.ChannelRoute(channel, frozenset(AlertKind.ALL), Severity.INFO)
    router = router_module.NotificationRouter([route], backoff_s=(30,))
    server.fail_next(1, retry_after=1, methods=("sendPhoto",))

    async def scenario() -> None:
        await router.start()
        router.publish(fill_alert())
        await server.wait_for("sendPhoto")
        await router.stop(timeout_s=5)

    asyncio.run(scenario())

    attempts = server.calls_to("sendPhoto", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    stats = router.stats()["phone"]
    assert (stats.sent, stats.retried, stats.failed) == (1, 1, 0)


def test_a_refused_token_is_a_notify_error_without_the_token(
        server: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "987654321:ZZwrongTOKENthatTelegramDoesNotKnow_xyz"

    with pytest.raises(NotifyError) as raised:
        asyncio.run(send_then_close(notifier(server, token=bad), fill_alert()))

    assert not isinstance(raised.value, RetryLater)
    assert "rejected the bot token" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    for secret in (bad, bad.split(":")[1]):
        assert secret not in str(raised.value)
        assert secret not in caplog.text


def test_an_outage_is_retry_later_and_the_token_stays_out_of_logs_and_errors(
        server: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = notifier(server, [42])
    errors: list[Exception] = []

    async def scenario() -> None:
        await channel.send(fill_alert())
        server.stop()
        try:
            await channel.send(fill_alert(text="during the outage"))
        except RetryLater as exc:
            errors.append(exc)
        server.start()
        await send_then_close(channel, fill_alert(text="during the outage"))

    asyncio.run(scenario())

    [outage] = errors
    assert isinstance(outage, RetryLater) and outage.after_s is None
    assert len(server.calls_to("sendPhoto")) == 2
    # the library and httpx did log the URLs, masked
    assert "/bot***/sendPhoto" in caplog.text
    for text in (caplog.text, str(outage), *(r.getMessage() for r in caplog.records)):
        assert TOKEN not in text
        assert SECRET_PART not in text


def test_no_chat_or_no_token_is_a_config_error() -> None:
    from tradeloop.core.errors import ConfigError

    with pytest.raises(ConfigError, match="chat id"):
        TelegramNotifier("phone", SecretStr(TOKEN), [])
    with pytest.raises(ConfigError, match="token is empty"):
        TelegramNotifier("phone", SecretStr("  "), [1])
