"""From the ``[notify]`` settings to channels and a router.

Webhook, Slack and Discord channels are built here; Telegram channels come from
:mod:`tradeloop.notify.telegram`, imported only when one is configured, since
python-telegram-bot is an optional extra (``pip install 'tradeloop[telegram]'``).
"""

from __future__ import annotations

import importlib
from typing import Any

import httpx

from tradeloop.config.notify import ChannelConfig, NotifyConfig
from tradeloop.core.errors import ConfigError
from tradeloop.notify.base import Notifier, Severity
from tradeloop.notify.router import ChannelRoute, NotificationRouter
from tradeloop.notify.webhook import WebhookNotifier, WebhookStyle

_STYLE: dict[str, WebhookStyle] = {"webhook": "json", "slack": "slack", "discord": "discord"}
_TELEGRAM_EXTRA = "pip install 'tradeloop[telegram]'"


def _missing(channel: ChannelConfig, env_name: str | None, what: str) -> ConfigError:
    return ConfigError(f"notify channel {channel.name!r}: environment variable {env_name} is "
                       f"not set ({what}): export it, or add it to the file named by "
                       "TRADELOOP_SECRETS_FILE")


def _telegram_module(channel: ChannelConfig) -> Any:
    try:
        return importlib.import_module("tradeloop.notify.telegram")
    except ModuleNotFoundError as exc:
        if exc.name == "telegram" or (exc.name or "").startswith("telegram."):
            raise ConfigError(f"notify channel {channel.name!r} is a Telegram channel, but "
                              f"python-telegram-bot is not installed: {_TELEGRAM_EXTRA}"
                              ) from None
        raise


def _check(channel: ChannelConfig) -> None:
    if channel.type == "telegram":
        if channel.token is None:
            raise _missing(channel, channel.token_env, "the Telegram bot token")
        _telegram_module(channel)
        return
    if channel.url is None:
        raise _missing(channel, channel.url_env, f"the {channel.type} URL")
    if channel.secret_env and channel.secret is None:
        raise _missing(channel, channel.secret_env, "the webhook signing secret")


def build_notifier(channel: ChannelConfig, *, telegram_base_url: str | None = None,
                   client: httpx.AsyncClient | None = None) -> Notifier:
    """The notifier of one configured channel.

    Parameters
    ----------
    channel : ChannelConfig
        Its secrets resolved (as :func:`tradeloop.config.node.load_node_config` does).
    telegram_base_url : str, optional
        Another Telegram Bot API server (tests point it at a local one).
    client : httpx.AsyncClient, optional
        Shared by webhook channels (each opens its own otherwise).

    Raises
    ------
    ConfigError
        The channel's secret is not set, or Telegram's extra is not installed.
    """
    _check(channel)
    if channel.type == "telegram":
        notifier: Notifier = _telegram_module(channel).TelegramNotifier(
            channel.name, channel.token, list(channel.chat_ids), base_url=telegram_base_url)
        return notifier
    assert channel.url is not None  # checked
    return WebhookNotifier(channel.name, channel.url, secret=channel.secret,
                           style=_STYLE[channel.type], client=client)


def build_routes(config: NotifyConfig, *, telegram_base_url: str | None = None,
                 client: httpx.AsyncClient | None = None) -> list[ChannelRoute]:
    """One route per configured channel, in the order written.

    Parameters
    ----------
    config : NotifyConfig
        The ``[notify]`` settings, secrets resolved.
    telegram_base_url : str, optional
        Another Telegram Bot API server for every Telegram channel.
    client : httpx.AsyncClient, optional
        Shared by the webhook channels.

    Returns
    -------
    list of ChannelRoute
        Empty when no channel is configured.

    Raises
    ------
    ConfigError
        Two channels with one name, a channel whose secret is not set, or a Telegram channel
        without python-telegram-bot installed; every channel is checked before any is
        built.
    """
    names = [channel.name for channel in config.channels]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"notify channels named more than once: {', '.join(twice)}")
    for channel in config.channels:
        _check(channel)
    routes = []
    for channel in config.channels:
        notifier = build_notifier(channel, telegram_base_url=telegram_base_url, client=client)
        routes.append(ChannelRoute(notifier, frozenset(channel.events),
                                   Severity(channel.severity_level),
                                   max_age_s=channel.max_age_s))
    return routes


def build_router(config: NotifyConfig, *, telegram_base_url: str | None = None,
                 client: httpx.AsyncClient | None = None) -> NotificationRouter:
    """A :class:`~tradeloop.notify.router.NotificationRouter` over :func:`build_routes`,
    with the configured de-duplication window (not started)."""
    return NotificationRouter(build_routes(config, telegram_base_url=telegram_base_url,
                                           client=client),
                              dedupe_window_s=config.dedupe_window_s)


__all__ = ["build_notifier", "build_router", "build_routes"]
