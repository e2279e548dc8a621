"""The ``[notify]`` settings: channels, events, the daily summary, secrets from the
environment only, and building the channels from them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError

from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.config.notify import (
    EVENT_KINDS,
    SEVERITY_LEVELS,
    ChannelConfig,
    DailySummaryConfig,
    NotifyConfig,
)
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import clear_registered_secrets, redact_text
from tradeloop.notify import build as build_module
from tradeloop.notify.base import AlertKind, Severity
from tradeloop.notify.build import build_notifier, build_router, build_routes
from tradeloop.notify.webhook import WebhookNotifier

NODE = """\
name = "eurusd-paper"
[data]
source = "replay"
files = ["EURUSD.csv"]
[[strategies]]
strategy = "sma_cross"
"""

NOTIFY = """\
[notify]
dedupe_window_s = 30

[[notify.channels]]
name = "phone"
type = "telegram"
token_env = "TL_BOT_TOKEN"
chat_ids = [111, -100222]
user_ids = [111]
confirm_timeout_s = 45
events = ["fill", "trade_closed", "kill_switch", "daily_summary"]

[[notify.channels]]
name = "ops"
type = "webhook"
url_env = "OPS_URL"
secret_env = "OPS_SECRET"
min_severity = "WARNING"
max_age_s = 600

[[notify.channels]]
name = "team"
type = "slack"
url_env = "SLACK_URL"

[[notify.channels]]
name = "guild"
type = "discord"
url_env = "DISCORD_URL"

[notify.daily_summary]
enabled = true
time = "17:05"
timezone = "America/New_York"
channels = ["phone"]
"""

TOKEN = "123456:AAE-bot-token-secret-value"
OPS_URL = "https://ops.example.invalid/hooks/ops-url-token-0987"
OPS_SECRET = "ops-signing-secret-5566"
SLACK_URL = "https://hooks.slack.com/services/T0/B0/slack-token-abcdef"
DISCORD_URL = "https://discord.com/api/webhooks/42/discord-token-xyz"
ENV = {"TL_BOT_TOKEN": TOKEN, "OPS_URL": OPS_URL, "OPS_SECRET": OPS_SECRET,
       "SLACK_URL": SLACK_URL, "DISCORD_URL": DISCORD_URL}
SECRETS = (TOKEN, OPS_URL, OPS_SECRET, SLACK_URL, DISCORD_URL)


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    clear_registered_secrets()


def load(tmp_path: Path, notify: str = NOTIFY, environ: dict[str, str] | None = None
         ) -> NodeConfig:
    path = tmp_path / "node.toml"
    path.write_text(NODE + notify, encoding="utf-8")
    return load_node_config(path, environ=ENV if environ is None else environ)


def load_error(tmp_path: Path, notify: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, notify, environ)
    return str(caught.value)


def channel(**values: Any) -> dict[str, Any]:
    return {"name": "c", "type": "webhook", "url_env": "C_URL", **values}


def test_the_kinds_and_severities_match_the_notifier_port() -> None:
    assert EVENT_KINDS == AlertKind.ALL
    assert {s.name.lower(): int(s) for s in Severity} == SEVERITY_LEVELS


def test_a_full_notify_table_loads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    config = load(tmp_path)
    notify = config.notify
    assert notify.dedupe_window_s == 30
    phone, ops, team, guild = notify.channels
    assert (phone.type, phone.chat_ids, phone.user_ids, phone.confirm_timeout_s) == (
        "telegram", [111, -100222], [111], 45)
    assert phone.events == ["fill", "trade_closed", "kill_switch", "daily_summary"]
    assert phone.token is not None and phone.token.get_secret_value() == TOKEN
    assert ops.url is not None and ops.url.get_secret_value() == OPS_URL
    assert ops.secret is not None and ops.secret.get_secret_value() == OPS_SECRET
    assert (ops.min_severity, ops.severity_level, ops.max_age_s) == ("warning", 30, 600)
    assert ops.events == list(AlertKind.ALL)  # the default: everything
    assert team.url is not None and team.url.get_secret_value() == SLACK_URL
    assert guild.url is not None and guild.url.get_secret_value() == DISCORD_URL
    summary = notify.daily_summary
    assert summary.local_time() == time(17, 5, tzinfo=ZoneInfo("America/New_York"))
    assert summary.channels == ["phone"]
    assert notify.channel("ops") is ops


def test_secrets_never_show(tmp_path: Path) -> None:
    config = load(tmp_path)
    shown = json.dumps(config.redacted(), default=str)
    texts = [shown, repr(config), str(config), repr(config.notify.channels[1])]
    for secret in SECRETS:
        assert all(secret not in text for text in texts)
        assert secret not in redact_text(f"failed with {secret}")  # registered for the logs
    redacted = config.redacted()["notify"]["channels"]
    assert [(c["url"], c["secret"], c["token"]) for c in redacted] == [
        (None, None, "***"), ("***", "***", None), ("***", None, None), ("***", None, None)]


def test_unset_secrets_stay_empty_until_the_channels_are_built(tmp_path: Path) -> None:
    config = load(tmp_path, environ={})
    assert all(c.url is None and c.token is None for c in config.notify.channels)
    with pytest.raises(ConfigError) as caught:
        build_routes(config.notify)
    assert str(caught.value).startswith("notify channel 'phone': environment variable "
                                        "TL_BOT_TOKEN is not set (the Telegram bot token)")
    only_ops = NotifyConfig.model_validate(
        {"channels": [config.notify.channels[1].model_dump()]})
    with pytest.raises(ConfigError, match="OPS_URL is not set"):
        build_routes(only_ops)
    half = only_ops.channels[0].model_copy(update={"url": SecretStr(OPS_URL)})
    with pytest.raises(ConfigError, match="OPS_SECRET is not set"):
        build_notifier(half)


def test_a_url_or_token_written_in_the_file_is_refused(tmp_path: Path) -> None:
    url_in_file = NOTIFY.replace('url_env = "SLACK_URL"', f'url = "{SLACK_URL}"')
    message = load_error(tmp_path, url_in_file)
    assert "notify.channels[2].url: a webhook URL holds a token" in message
    assert "url_env" in message and SLACK_URL not in message
    token_in_file = NOTIFY.replace('token_env = "TL_BOT_TOKEN"', f'token = "{TOKEN}"')
    message = load_error(tmp_path, token_in_file)
    assert "secrets must not be written in the file" in message and TOKEN not in message


def test_an_empty_url_in_the_file_counts_as_left_out(tmp_path: Path) -> None:
    config = load(tmp_path, NOTIFY.replace('url_env = "SLACK_URL"',
                                           'url_env = "SLACK_URL"\nurl = ""'))
    url = config.notify.channels[2].url
    assert url is not None and url.get_secret_value() == SLACK_URL


def test_the_environment_may_override_a_channel(tmp_path: Path) -> None:
    config = load(tmp_path, environ={**ENV, "TRADELOOP_NOTIFY__CHANNELS__1__MIN_SEVERITY":
                                     "critical",
                                     "TRADELOOP_NOTIFY__CHANNELS__2__URL": SLACK_URL + "2"})
    assert config.notify.channels[1].min_severity == "critical"
    url = config.notify.channels[2].url
    assert url is not None and url.get_secret_value() == SLACK_URL + "2"
    assert SLACK_URL + "2" not in redact_text(f"x {SLACK_URL}2 y")


def test_unknown_events_get_a_did_you_mean(tmp_path: Path) -> None:
    message = load_error(tmp_path, NOTIFY.replace('"trade_closed"', '"trade_close"'))
    assert message.endswith("notify.channels[0].events: unknown event 'trade_close'; did you "
                            "mean 'trade_closed'?")
    with pytest.raises(ValidationError, match="known: fill, trade_closed"):
        ChannelConfig.model_validate(channel(events=["zzz"]))
    with pytest.raises(ValidationError, match="an empty list sends nothing"):
        ChannelConfig.model_validate(channel(events=[]))
    assert ChannelConfig.model_validate(channel(events=["fill", "fill"])).events == ["fill"]


def test_unknown_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    message = load_error(tmp_path, NOTIFY.replace("max_age_s = 600", "max_age = 600"))
    assert "notify.channels[1].max_age: unknown key 'max_age'; did you mean 'max_age_s'?" \
        in message


@pytest.mark.parametrize(("values", "expected"), [
    ({"type": "telegram", "url_env": None, "chat_ids": [1]}, "needs token_env"),
    ({"type": "telegram", "url_env": None, "token_env": "T"}, "needs chat_ids"),
    ({"type": "telegram", "token_env": "T", "chat_ids": [1]}, "url_env and secret_env are"),
    ({"url_env": None}, "a webhook channel needs url_env"),
    ({"type": "discord", "chat_ids": [1]}, "are for telegram channels"),
    ({"type": "slack", "secret_env": "S"}, "secret_env signs generic webhooks"),
    ({"min_severity": "loud"}, "min_severity"),
    ({"max_age_s": 0}, "max_age_s"),
    ({"name": "has space"}, "name"),
    ({"type": "email"}, "type"),
])
def test_channel_settings_fit_their_type(values: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        ChannelConfig.model_validate(channel(**values))


def test_a_resolved_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="must start with http:// or https://") as caught:
        ChannelConfig.model_validate(channel(url=SecretStr("ftp://x/ftp-token-123")))
    assert "ftp-token-123" not in str(caught.value)


def test_daily_summary_settings_are_checked(tmp_path: Path) -> None:
    assert "daily_summary.time: must be a 24-hour \"HH:MM\"" in load_error(
        tmp_path, NOTIFY.replace('"17:05"', '"5pm"'))
    assert "daily_summary.timezone: must be an IANA time zone" in load_error(
        tmp_path, NOTIFY.replace("America/New_York", "Mars/Olympus"))
    assert "daily_summary.channels: no channel named 'phon'; did you mean 'phone'?" in \
        load_error(tmp_path, NOTIFY.replace('channels = ["phone"]', 'channels = ["phon"]'))
    assert "no channel takes daily_summary events" in load_error(
        tmp_path, NOTIFY.replace('channels = ["phone"]', 'channels = ["team"]').replace(
            'name = "team"\ntype = "slack"', 'name = "team"\ntype = "slack"\nevents = ["fill"]'))
    assert DailySummaryConfig(time="23:59").local_time() == time(23, 59, tzinfo=ZoneInfo("UTC"))
    with pytest.raises(ValidationError):
        DailySummaryConfig(time="24:00")


def test_channel_names_are_unique(tmp_path: Path) -> None:
    message = load_error(tmp_path, NOTIFY.replace('name = "team"', 'name = "ops"'))
    assert "channels[2]: a second channel named 'ops'" in message
    with pytest.raises(ConfigError, match="no notify channel named 'opz'; did you mean 'ops'"):
        load(tmp_path).notify.channel("opz")


def test_no_notify_table_means_no_channels(tmp_path: Path) -> None:
    config = load(tmp_path, notify="")
    assert config.notify == NotifyConfig()
    assert build_routes(config.notify) == []
    assert config.redacted()["notify"]["channels"] == []


# -- building the channels ----------------------------------------------------------------------


def webhook_config(tmp_path: Path) -> NotifyConfig:
    notify = load(tmp_path).notify
    return NotifyConfig(channels=notify.channels[1:], dedupe_window_s=5)


def test_build_routes_makes_webhook_slack_and_discord_channels(tmp_path: Path) -> None:
    routes = build_routes(webhook_config(tmp_path))
    assert [r.name for r in routes] == ["ops", "team", "guild"]
    styles = [r.notifier.style for r in routes if isinstance(r.notifier, WebhookNotifier)]
    assert styles == ["json", "slack", "discord"]
    ops = routes[0]
    assert (ops.min_severity, ops.max_age_s, ops.kinds) == (
        Severity.WARNING, 600, frozenset(AlertKind.ALL))
    router = build_router(webhook_config(tmp_path))
    assert router.channels == ["ops", "team", "guild"]


def test_a_telegram_channel_without_the_extra_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_telegram(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'telegram'", name="telegram")

    monkeypatch.setattr(build_module.importlib, "import_module", no_telegram)
    with pytest.raises(ConfigError) as caught:
        build_routes(load(tmp_path).notify)
    assert str(caught.value) == ("notify channel 'phone' is a Telegram channel, but "
                                 "python-telegram-bot is not installed: "
                                 "pip install 'tradeloop[telegram]'")
    assert TOKEN not in str(caught.value)


def test_a_telegram_channel_gets_its_token_chats_and_base_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[Any, ...]] = []

    class FakeTelegramNotifier:
        def __init__(self, name: str, token: SecretStr, chat_ids: list[int], *,
                     base_url: str | None = None) -> None:
            self.name = name
            made.append((name, token.get_secret_value(), chat_ids, base_url))

    class FakeModule:
        TelegramNotifier = FakeTelegramNotifier

    real_import = importlib.import_module
    monkeypatch.setattr(build_module.importlib, "import_module",
                        lambda name: FakeModule if name == "tradeloop.notify.telegram"
                        else real_import(name))
    notify = load(tmp_path).notify
    routes = build_routes(NotifyConfig(channels=notify.channels[:1]),
                          telegram_base_url="http://127.0.0.1:9/bot")
    assert made == [("phone", TOKEN, [111, -100222], "http://127.0.0.1:9/bot")]
    assert routes[0].kinds == frozenset({"fill", "trade_closed", "kill_switch",
                                         "daily_summary"})
