"""The ``[notify]`` table of a node: where alerts go, and the daily summary.

```toml
[notify]
dedupe_window_s = 60               # identical alerts within this window are sent once

[[notify.channels]]
name = "phone"
type = "telegram"                  # telegram | webhook | slack | discord
token_env = "TRADELOOP_TELEGRAM_TOKEN"
chat_ids = [123456789]             # where alerts go (a user or a group)
user_ids = [123456789]             # who may use the commands
confirm_timeout_s = 60             # /kill, /flatten and /resume buttons expire after this

[[notify.channels]]
name = "ops"
type = "webhook"
url_env = "OPS_WEBHOOK_URL"        # the variable holding the URL (it is a secret)
secret_env = "OPS_WEBHOOK_SECRET"  # optional: signs the body (HMAC-SHA256)
events = ["kill_switch", "risk_state", "error"]   # default: every kind
min_severity = "warning"           # info | warning | error | critical
max_age_s = 3600                   # alerts older than this are dropped, not sent

[[notify.channels]]
name = "team"
type = "slack"                     # or "discord"
url_env = "SLACK_WEBHOOK_URL"

[notify.daily_summary]
enabled = true
time = "17:05"                     # local time, 24 h
timezone = "America/New_York"
channels = ["phone"]               # default: every channel taking daily_summary
```

Secrets (the webhook URL, the signing secret, the bot token) come only from the environment
variables named by ``url_env``, ``secret_env`` and ``token_env``; :func:`resolve_notify_secrets`
fills ``url``, ``secret`` and ``token`` from them when the node's settings are loaded.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import time as dt_time
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret
from tradeloop.core.secrets import is_env_name, lookup_secret

ChannelType = Literal["telegram", "webhook", "slack", "discord"]
SeverityName = Literal["info", "warning", "error", "critical"]

#: The alert kinds a channel may take: ``tradeloop.notify.base.AlertKind.ALL``, spelled out
#: because ``config`` sits below ``notify`` (a test keeps the two equal).
EVENT_KINDS = ("fill", "trade_closed", "order_rejected", "order_denied", "risk_state",
               "kill_switch", "error", "lifecycle", "daily_summary", "test")
#: The severities by name, as in ``tradeloop.notify.base.Severity``.
SEVERITY_LEVELS = {"info": 20, "warning": 30, "error": 40, "critical": 50}
_DAILY_SUMMARY = "daily_summary"

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: The resolved secret of each ``*_env`` key.
SECRET_FIELDS = {"url_env": "url", "secret_env": "secret", "token_env": "token"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _did_you_mean(value: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    return f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"


class ChannelConfig(_Section):
    """One channel alerts go out through (see the module notes)."""

    name: str = Field(pattern=_NAME_PATTERN)
    type: ChannelType
    events: list[str] = Field(default_factory=lambda: list(EVENT_KINDS))
    min_severity: SeverityName = "info"
    max_age_s: float = Field(default=3600.0, gt=0, allow_inf_nan=False)
    url_env: str | None = None
    secret_env: str | None = None
    token_env: str | None = None
    chat_ids: list[int] = Field(default_factory=list)
    user_ids: list[int] = Field(default_factory=list)
    confirm_timeout_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    url: SecretStr | None = None  # from url_env only
    secret: SecretStr | None = None  # from secret_env only
    token: SecretStr | None = None  # from token_env only

    @field_validator("min_severity", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("an empty list sends nothing: list event kinds, or leave events "
                             "out for all of them")
        known = list(EVENT_KINDS)
        for event in value:
            if event not in known:
                raise ValueError(f"unknown event {event!r}{_did_you_mean(event, known)}")
        return list(dict.fromkeys(value))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        parts = urlsplit(value.get_secret_value()) if value is not None else None
        if parts is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ValueError("the URL from url_env must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> ChannelConfig:
        problems = []
        if self.type == "telegram":
            if not self.token_env:
                problems.append("a telegram channel needs token_env = \"...\" (the variable "
                                "holding the bot token)")
            if not self.chat_ids:
                problems.append("a telegram channel needs chat_ids = [...] (where alerts go)")
            if self.url_env or self.secret_env:
                problems.append("url_env and secret_env are for webhook, slack and discord "
                                "channels")
        else:
            if not self.url_env:
                problems.append(f"a {self.type} channel needs url_env = \"...\" (the variable "
                                "holding its URL)")
            if self.token_env or self.chat_ids or self.user_ids:
                problems.append("token_env, chat_ids and user_ids are for telegram channels")
            if self.secret_env and self.type != "webhook":
                problems.append(f"secret_env signs generic webhooks; a {self.type} URL "
                                "carries its own token")
        if problems:
            raise ValueError(f"channel {self.name!r}: " + "; ".join(problems))
        return self

    @property
    def severity_level(self) -> int:
        """``min_severity`` as a number (the value of ``tradeloop.notify.base.Severity``)."""
        return SEVERITY_LEVELS[self.min_severity]


class DailySummaryConfig(_Section):
    """The daily summary: when it is sent, and where."""

    enabled: bool = False
    time: str = "17:00"
    timezone: str = "UTC"
    channels: list[str] = Field(default_factory=list)

    @field_validator("time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError("must be a 24-hour \"HH:MM\" time such as \"17:05\"")
        return value

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as \"America/New_York\" or "
                             "\"UTC\"") from None
        return value

    def local_time(self) -> dt_time:
        """The configured time of day, with its time zone."""
        hour, minute = (int(part) for part in self.time.split(":"))
        return dt_time(hour, minute, tzinfo=ZoneInfo(self.timezone))


class NotifyConfig(_Section):
    """The ``[notify]`` table (see the module notes)."""

    channels: list[ChannelConfig] = Field(default_factory=list)
    dedupe_window_s: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    daily_summary: DailySummaryConfig = Field(default_factory=DailySummaryConfig)

    @model_validator(mode="after")
    def _consistent(self) -> NotifyConfig:
        problems = []
        names: list[str] = []
        for k, channel in enumerate(self.channels):
            if channel.name in names:
                problems.append(f"channels[{k}]: a second channel named {channel.name!r}: give "
                                "each channel its own name")
            names.append(channel.name)
        for name in self.daily_summary.channels:
            if name not in names:
                problems.append(f"daily_summary.channels: no channel named {name!r}"
                                + (_did_you_mean(name, names) if names else
                                   ": add a [[notify.channels]] table first"))
        summary = self.daily_summary
        if summary.enabled and not problems:
            targets = [c for c in self.channels
                       if (not summary.channels or c.name in summary.channels)
                       and _DAILY_SUMMARY in c.events]
            if not targets:
                problems.append("daily_summary.enabled: no channel takes daily_summary events "
                                "(add \"daily_summary\" to a channel's events)")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def channel(self, name: str) -> ChannelConfig:
        """The channel called ``name``.

        Raises
        ------
        ConfigError
            No such channel (with a did-you-mean).
        """
        for channel in self.channels:
            if channel.name == name:
                return channel
        names = [c.name for c in self.channels]
        raise ConfigError(f"no notify channel named {name!r}"
                          + (_did_you_mean(name, names) if names else
                             ": the node config has no [[notify.channels]]"))


def resolve_notify_secrets(raw: dict[str, Any], environ: Mapping[str, str],
                           origins: Mapping[tuple[str | int, ...], str] | None = None) -> None:
    """Fill each channel's ``url``, ``secret`` and ``token`` in a node's raw settings from
    the environment variables its ``*_env`` keys name.

    Parameters
    ----------
    raw : dict
        The node's settings as read from TOML (with environment overrides applied); changed
        in place.
    environ : mapping
        Where the variables are read (the secrets file of ``TRADELOOP_SECRETS_FILE`` too).
    origins : mapping, optional
        The environment variable behind each overridden key path: a ``url`` set by one is
        allowed, a ``url`` written in the file is not.

    Raises
    ------
    ConfigError
        A channel's URL written in the file (it holds a token: it belongs in the environment).
    """
    notify = raw.get("notify")
    channels = notify.get("channels") if isinstance(notify, dict) else None
    if not isinstance(channels, list):
        return
    for k, channel in enumerate(channels):
        if not isinstance(channel, dict):
            continue
        path = ("notify", "channels", k, "url")
        if channel.get("url") not in (None, "") and path not in (origins or {}):
            raise ConfigError(f"notify.channels[{k}].url: a webhook URL holds a token: keep it "
                              "out of the file, put it in an environment variable and name "
                              "that instead: url_env = \"MY_WEBHOOK_URL\"")
        for env_key, secret_key in SECRET_FIELDS.items():
            env_name = channel.get(env_key)
            value = channel.get(secret_key)
            if value == "":  # empty: as if left out
                del channel[secret_key]
                value = None
            elif isinstance(value, str):  # from a TRADELOOP_NOTIFY__CHANNELS__... variable
                register_secret(value)
                channel[secret_key] = SecretStr(value)
            if value is None and isinstance(env_name, str) and is_env_name(env_name):
                secret = lookup_secret(env_name, environ)
                if secret is not None and secret.get_secret_value():
                    channel[secret_key] = secret


__all__ = [
    "EVENT_KINDS",
    "SECRET_FIELDS",
    "SEVERITY_LEVELS",
    "ChannelConfig",
    "ChannelType",
    "DailySummaryConfig",
    "NotifyConfig",
    "SeverityName",
    "resolve_notify_secrets",
]
