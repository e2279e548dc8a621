"""The Telegram commands against a fake Bot API server on 127.0.0.1, over a NodeControl on a
stored database (no node running): answers with the key numbers, silence and a log line for
strangers, and confirmation buttons that expire before the kill switch is engaged."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from support.nodes import synthetic_node_config
from support.telegram_server import TOKEN, Call, FakeTelegram
from tradeloop.config.node import NodeConfig
from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.model import events as ev
from tradeloop.model.data import Bar
from tradeloop.notify.base import NotifyError
from tradeloop.notify.telegram_commands import TelegramCommands
from tradeloop.notify.telegram_replies import COMMANDS
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl, pnl_period_start
from tradeloop.services.market_bars import MarketBars

# python-telegram-bot warns about its own retry_after type migration
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

USER = 1001  # allowed; in a private chat the chat id is the user id
OTHER_USER = 1002  # allowed too
STRANGER = 2002
GROUP = -1001234567890


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _propagating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger("tradeloop"), "propagate", True)


def node_config(tmp_path: Path) -> NodeConfig:
    return synthetic_node_config(tmp_path, name="tg-node")


@pytest.fixture
def control(tmp_path: Path, tradeloop_home: Path) -> Iterator[NodeControl]:
    database = open_database(None, tradeloop_home)
    store = AuditStore(database)
    now = time.time_ns()
    for ts, equity in ((pnl_period_start("month", now) - NANOS_PER_DAY, "99000"),
                       (now - 1_000_000_000, "100250.5")):
        store.record_snapshot(ev.AccountState(
            ts=ts, account_id="tg-node", currency="USD", balance=Decimal("100000"),
            equity=Decimal(equity), margin_used=Decimal(0)))
    yield NodeControl(node_config(tmp_path), store, home=tradeloop_home)
    database.close()


@asynccontextmanager
async def running_bot(server: FakeTelegram, control: NodeControl,
                      **options: Any) -> AsyncIterator[TelegramCommands]:
    bot = TelegramCommands(control, SecretStr(TOKEN), chat_ids=[USER, GROUP],
                           user_ids=[USER, OTHER_USER], base_url=server.base_url, **options)
    await bot.start()
    try:
        assert bot.running
        yield bot
    finally:
        await bot.stop()


def to_chat(chat_id: int, containing: str = "") -> Callable[[Call], bool]:
    return lambda c: c.params["chat_id"] == str(chat_id) and containing in c.params["text"]


async def ask(server: FakeTelegram, chat_id: int, user_id: int, text: str,
              containing: str = "") -> Call:
    """Send ``text`` and wait for the next answer in the chat containing ``containing``."""
    match = to_chat(chat_id, containing)
    before = len([c for c in server.calls_to("sendMessage") if match(c)])
    server.enqueue_message(chat_id, user_id, text)
    calls = await server.wait_for("sendMessage", match, count=before + 1)
    return calls[before]


def buttons(call: Call) -> dict[str, str]:
    markup = json.loads(call.params["reply_markup"])
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def press(server: FakeTelegram, chat_id: int, user_id: int, data: str) -> Call:
    count = len(server.calls_to("answerCallbackQuery"))
    server.enqueue_callback(chat_id, user_id, message_id=1, data=data)
    answers = await server.wait_for("answerCallbackQuery", count=count + 1)
    return answers[count]


def test_status_from_an_allowed_user_is_answered_with_the_account_numbers(
        server: FakeTelegram, control: NodeControl) -> None:
    async def scenario() -> Call:
        async with running_bot(server, control):
            return await ask(server, USER, USER, "/status")

    reply = asyncio.run(scenario())

    text = reply.params["text"]
    assert reply.params["parse_mode"] == "HTML"
    assert "<b>tg-node</b> \u00b7 paper" in text
    assert "Kill switch: off" in text
    assert "Balance: 100,000.00" in text
    assert "Equity: 100,250.50" in text
    assert "Drawdown: 0.00%" in text
    assert "Daily PnL: +" in text
    menu = json.loads(server.calls_to("setMyCommands")[0].params["commands"])
    assert [c["command"] for c in menu] == [name for name, _ in COMMANDS]


def test_an_unknown_chat_and_an_unknown_user_in_the_group_get_no_answer_and_are_logged(
        server: FakeTelegram, control: NodeControl, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    async def scenario() -> None:
        async with running_bot(server, control):
            server.enqueue_message(555, USER, "/status")  # allowed user, unknown chat
            server.enqueue_message(GROUP, STRANGER, "/status")  # allowed group, unknown user
            server.enqueue_message(GROUP, STRANGER, "/kill now")
            # updates are handled in order: once this is answered, the others were handled
            await ask(server, GROUP, USER, "/help", "Commands")

    asyncio.run(scenario())

    answered = {c.params["chat_id"] for c in server.calls_to("sendMessage")}
    assert answered == {str(GROUP)}
    assert len(server.calls_to("sendMessage")) == 1
    refused = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
               and "ignored" in r.getMessage()]
    assert len(refused) == 3
    assert "/status" in refused[0] and "user 1001" in refused[0] and "chat 555" in refused[0]
    assert "/status" in refused[1] and f"user {STRANGER}" in refused[1]
    assert f"chat {GROUP}" in refused[1]
    assert "/kill" in refused[2]
    assert TOKEN not in caplog.text


def test_kill_waits_for_the_confirmation_of_the_user_who_asked_then_halts_the_node(
        server: FakeTelegram, control: NodeControl) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with running_bot(server, control):
            question = await ask(server, GROUP, USER, "/kill going home", "kill switch")
            keys = buttons(question)
            assert set(keys) == {"Confirm", "Cancel"}
            seen["before"] = control.status().kill_engaged
            other = await press(server, GROUP, OTHER_USER, keys["Confirm"])
            seen["other"] = other.params.get("text")
            seen["after_other"] = control.status().kill_engaged
            await press(server, GROUP, USER, keys["Confirm"])
            [edit] = await server.wait_for("editMessageText")
            seen["edit"] = edit.params["text"]
            replay = await press(server, GROUP, USER, keys["Confirm"])
            seen["replay"] = replay.params.get("text")

    asyncio.run(scenario())

    assert seen["before"] is False
    assert seen["other"] == "Only the user who asked can answer this."
    assert seen["after_other"] is False
    status = control.status()
    assert status.kill_engaged is True
    assert status.kill_by == f"telegram:{USER}"
    assert status.kill_reason == "going home"
    assert "Kill switch engaged" in seen["edit"] and f"telegram:{USER}" in seen["edit"]
    assert seen["replay"] == "expired"
    assert len(server.calls_to("editMessageText")) == 1


def test_an_expired_confirmation_does_nothing(server: FakeTelegram,
                                             control: NodeControl) -> None:
    clock = FakeClock()
    answers: list[str] = []

    async def scenario() -> None:
        async with running_bot(server, control, confirm_timeout_s=60, clock=clock):
            question = await ask(server, USER, USER, "/kill", "kill switch")
            clock.now += 60.5
            answer = await press(server, USER, USER, buttons(question)["Confirm"])
            answers.append(answer.params["text"])

    asyncio.run(scenario())

    assert answers == ["expired"]
    assert control.status().kill_engaged is False
    assert server.calls_to("editMessageText") == []


def test_cancel_leaves_the_node_alone(server: FakeTelegram, control: NodeControl) -> None:
    async def scenario() -> None:
        async with running_bot(server, control):
            question = await ask(server, USER, USER, "/flatten EURUSD", "EURUSD")
            await press(server, USER, USER, buttons(question)["Cancel"])
            await server.wait_for("editMessageText")

    asyncio.run(scenario())

    [edit] = server.calls_to("editMessageText")
    assert edit.params["text"] == "Cancelled: /flatten"
    assert control.status().kill_engaged is False


def test_resume_after_a_kill_rearms_the_switch_once_confirmed(
        server: FakeTelegram, control: NodeControl) -> None:
    control.kill("test", "engaged before")

    async def scenario() -> str:
        async with running_bot(server, control):
            question = await ask(server, USER, USER, "/resume back to work", "Re-arm")
            assert control.status().kill_engaged is True
            await press(server, USER, USER, buttons(question)["Confirm"])
            [edit] = await server.wait_for("editMessageText")
            return edit.params["text"]

    outcome = asyncio.run(scenario())

    assert "kill switch re-armed" in outcome
    assert control.status().kill_engaged is False


def test_pnl_week_and_month_come_from_the_recorded_snapshots(
        server: FakeTelegram, control: NodeControl) -> None:
    async def scenario() -> list[str]:
        async with running_bot(server, control):
            month = await ask(server, USER, USER, "/pnl month", "PnL this month")
            bad = await ask(server, USER, USER, "/pnl year", "period")
            return [month.params["text"], bad.params["text"]]

    month, bad = asyncio.run(scenario())

    assert "Start equity: 99,000.00" in month
    assert "Equity: 100,250.50" in month
    assert "PnL: <b>+1,250.50</b> (+1.26%)" in month
    assert bad.startswith("\u26a0\ufe0f period 'year': use one of day, week, month")
    view = control.pnl("week")
    assert view.since_ns == pnl_period_start("week", time.time_ns())
    assert view.equity == Decimal("100250.5")


def test_commands_needing_the_node_answer_one_line(server: FakeTelegram,
                                                  control: NodeControl) -> None:
    async def scenario() -> list[str]:
        async with running_bot(server, control):
            pause = await ask(server, USER, USER, "/pause", "node must run")
            usage = await ask(server, USER, USER, "/chart", "Usage")
            unknown = await ask(server, USER, USER, "/fly", "Unknown command")
            return [c.params["text"] for c in (pause, usage, unknown)]

    pause, usage, unknown = asyncio.run(scenario())

    assert pause.startswith("\u26a0\ufe0f to pause, the node must run in this process")
    assert usage.startswith("Usage: /chart SYMBOL")
    assert unknown == "Unknown command /fly: see /help"


class ChartingControl(NodeControl):
    """A stored node that has seen some EURUSD bars."""

    def bars(self, symbol: str | None, timeframe: str, limit: int = 500) -> MarketBars:
        start = 1_700_000_000 * 10**9
        step = 3_600 * 10**9
        bars = [Bar("EURUSD", start + i * step, 1.1 + i * 1e-4, 1.1 + i * 1e-4 + 5e-4,
                    1.1 + i * 1e-4 - 5e-4, 1.1 + (i + 1) * 1e-4, 10.0, "1h") for i in range(60)]
        return MarketBars(symbol or "EURUSD", timeframe, bars[-limit:])


def test_chart_sends_the_candles_as_a_photo(server: FakeTelegram, control: NodeControl) -> None:
    charting = ChartingControl(control.config, control.store, home=control.home)

    async def scenario() -> Call:
        async with running_bot(server, charting):
            server.enqueue_message(USER, USER, "/chart EURUSD 1h")
            [photo] = await server.wait_for("sendPhoto")
            return photo

    photo = asyncio.run(scenario())

    assert photo.file("photo").startswith(b"\x89PNG")
    assert photo.params["caption"].startswith("<b>EURUSD</b> 1h \u00b7 60 bars")


def test_daily_sends_the_summary_with_the_equity_chart(server: FakeTelegram,
                                                        control: NodeControl) -> None:
    now = time.time_ns()
    for days, equity in ((3, "99500"), (2, "99800")):
        control.store.record_snapshot(ev.AccountState(
            ts=now - days * NANOS_PER_DAY, account_id="tg-node", currency="USD",
            balance=Decimal("100000"), equity=Decimal(equity), margin_used=Decimal(0)))

    async def scenario() -> None:
        async with running_bot(server, control):
            server.enqueue_message(USER, USER, "/daily")
            await server.wait_for("sendPhoto")

    asyncio.run(scenario())

    [photo] = server.calls_to("sendPhoto")
    assert photo.params["chat_id"] == str(USER)
    assert photo.file("photo").startswith(b"\x89PNG")
    assert photo.params["caption"].startswith("<b>Daily summary tg-node ")
    assert "100,250.50 USD" in photo.params["caption"]


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        await asyncio.sleep(0.02)


def test_polling_survives_an_outage(server: FakeTelegram, control: NodeControl,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    def polling_failed() -> bool:
        return any("polling failed" in r.getMessage() for r in caplog.records)

    async def scenario() -> Call:
        async with running_bot(server, control):
            server.stop()
            await until(polling_failed)
            server.start()
            return await ask(server, USER, USER, "/status", "Balance")

    reply = asyncio.run(scenario())

    assert "Equity: 100,250.50" in reply.params["text"]
    assert TOKEN not in caplog.text


def test_a_bot_started_during_an_outage_connects_when_telegram_returns(
        server: FakeTelegram, control: NodeControl) -> None:
    bot = TelegramCommands(control, SecretStr(TOKEN), chat_ids=[USER], user_ids=[USER],
                           base_url=server.base_url)

    async def scenario() -> Call:
        server.stop()
        await bot.start()  # does not raise: keeps trying in the background
        try:
            assert not bot.running
            server.start()
            await until(lambda: bot.running)
            return await ask(server, USER, USER, "/help", "Commands")
        finally:
            await bot.stop()

    reply = asyncio.run(scenario())

    assert "/kill" in reply.params["text"]


def test_a_refused_token_stops_the_start_without_showing_it(
        server: FakeTelegram, control: NodeControl, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "987654321:ZZwrongTOKENforTheCommandsBot_abc"
    bot = TelegramCommands(control, SecretStr(bad), chat_ids=[USER], user_ids=[USER],
                           base_url=server.base_url)

    with pytest.raises(NotifyError) as raised:
        asyncio.run(bot.start())

    assert "rejected the bot token" in str(raised.value)
    assert not bot.running
    for secret in (bad, bad.split(":")[1]):
        assert secret not in str(raised.value)
        assert secret not in caplog.text


def test_the_token_never_reaches_the_logs(server: FakeTelegram, control: NodeControl,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with running_bot(server, control):
            await ask(server, USER, USER, "/status")
            server.enqueue_message(STRANGER, STRANGER, f"/status {TOKEN}")
            await ask(server, USER, USER, "/risk", "Trading state")

    asyncio.run(scenario())

    assert "getUpdates" in caplog.text  # the library logged its requests...
    assert TOKEN not in caplog.text  # ...with the token masked
    assert TOKEN.split(":")[1] not in caplog.text
