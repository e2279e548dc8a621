"""Notifications beside a running node: the companion ``tradeloop paper`` runs in the node's
event loop when the node's settings have ``[[notify.channels]]``.

It builds the channels and the router, turns the node's bus events into alerts
(:class:`~tradeloop.notify.events.AlertMaker`), turns ERROR log records into alerts, starts
the Telegram commands for every Telegram channel that names ``user_ids``, sends the daily
summary at its time, announces the node's start and stop, and on stop sends what it can within
a bounded time, then closes everything. Nothing here can stop or slow the node: alerts are
queued, a channel that is down only holds up its own queue.

A Telegram channel talks to ``https://api.telegram.org`` unless the environment variable
``TRADELOOP_TELEGRAM_BASE_URL`` names another Bot API server (a self-hosted one, or a test's).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradeloop.config.node import NodeConfig
from tradeloop.config.notify import ChannelConfig, NotifyConfig
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import redact_text
from tradeloop.notify.base import Alert, AlertKind, NotifyError, RetryLater, Severity
from tradeloop.notify.build import build_notifier, build_routes
from tradeloop.notify.events import AlertMaker
from tradeloop.notify.logs import AlertLogHandler
from tradeloop.notify.router import NotificationRouter
from tradeloop.notify.summary import run_daily_summary

if TYPE_CHECKING:
    from tradeloop.services.control import NodeControl

logger = logging.getLogger(__name__)

BASE_URL_ENV = "TRADELOOP_TELEGRAM_BASE_URL"
"""The environment variable naming another Telegram Bot API server."""
FLUSH_TIMEOUT_S = 5.0
"""How long the queues are flushed on stop (the node waits at most 10 s for a companion)."""


class NotificationService:
    """The notifications of one node, as a companion of ``run_paper``.

    Parameters
    ----------
    config : NodeConfig
        Its ``notify`` table, secrets resolved.
    telegram_base_url : str, optional
        Another Telegram Bot API server (default: ``$TRADELOOP_TELEGRAM_BASE_URL``, else
        Telegram's).
    chart : bool, default True
        Attach charts to fill and close alerts.
    flush_timeout_s : float, default 5
        How long :meth:`run` keeps sending queued alerts after :meth:`stop`.

    Raises
    ------
    ConfigError
        A channel's secret is missing or Telegram's extra is not installed (checked here,
        before the node starts).
    """

    def __init__(self, config: NodeConfig, *, telegram_base_url: str | None = None,
                 chart: bool = True, flush_timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        self._config = config
        self._base_url = telegram_base_url or os.environ.get(BASE_URL_ENV) or None
        self._chart = chart
        self._flush_timeout_s = flush_timeout_s
        self.router = NotificationRouter(
            build_routes(config.notify, telegram_base_url=self._base_url),
            dedupe_window_s=config.notify.dedupe_window_s)
        self._stop: asyncio.Event | None = None
        self._stop_requested = False

    def stop(self) -> None:
        """Finish soon: announce the stop, flush the queues (bounded), close the channels."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    async def run(self, control: NodeControl) -> None:
        """Run beside the node until :meth:`stop`."""
        self._stop = asyncio.Event()
        if self._stop_requested:
            self._stop.set()
        router = self.router
        await router.start()
        maker = AlertMaker(control, chart=self._chart)
        if control.node is not None:
            maker.attach(control.node.kernel.bus, router.publish)
        handler = AlertLogHandler(router)
        root = logging.getLogger("tradeloop")
        root.addHandler(handler)
        commands = await self._start_commands(control)
        summary = asyncio.create_task(
            run_daily_summary(self._config.notify.daily_summary, control, router),
            name="notify-daily-summary")
        router.publish(maker.lifecycle_alert("started", self._started_text(control)))
        try:
            await self._stop.wait()
        finally:
            maker.detach()
            root.removeHandler(handler)
            summary.cancel()
            await asyncio.gather(summary, return_exceptions=True)
            for bot in commands:
                await _quietly(bot.stop())
            await maker.flush(timeout_s=self._flush_timeout_s / 2)
            router.publish(maker.lifecycle_alert("stopped"))
            await router.stop(timeout_s=self._flush_timeout_s)

    async def _start_commands(self, control: NodeControl) -> list[Any]:
        started = []
        for channel in self._config.notify.channels:
            if channel.type != "telegram" or not channel.user_ids or not channel.chat_ids:
                continue
            from tradeloop.notify.telegram_commands import TelegramCommands

            assert channel.token is not None  # build_routes checked it
            bot = TelegramCommands(control, channel.token, chat_ids=channel.chat_ids,
                                   user_ids=channel.user_ids, base_url=self._base_url,
                                   confirm_timeout_s=channel.confirm_timeout_s)
            try:
                await bot.start()
            except NotifyError as exc:
                logger.error("telegram commands of channel %r not started: %s", channel.name,
                             exc)
                continue
            started.append(bot)
        return started

    def _started_text(self, control: NodeControl) -> str:
        status = control.status()
        strategies = ", ".join(status.strategies) or "none"
        return (f"Node {status.name} started ({status.mode}), strategies: {strategies}; "
                f"trading {status.trading_state}"
                + (", kill switch ENGAGED" if status.kill_engaged else ""))


# -- tradeloop notify test ---------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelCheck:
    """What happened to the test alert of one channel.

    Attributes
    ----------
    channel : str
    ok : bool
    reason : str
        Why it failed (never holding a secret); empty when it worked.
    """

    channel: str
    ok: bool
    reason: str = ""


def sample_alert(*, chart: bool = True) -> Alert:
    """The alert ``tradeloop notify test`` sends: a few numbers and, with ``chart``, candles
    of the last 100 bars of the bundled EURUSD data."""
    image = None
    if chart:
        try:
            from tradeloop.analytics.charts import candle_chart
            from tradeloop.data import bundled_path, load_bars

            bars = load_bars(bundled_path("EURUSD"), symbol="EURUSD").bars
            image = candle_chart(bars, last=100, title="EURUSD 1h (sample data)",
                                 size=(1000, 600))
        except Exception as exc:  # the test goes out without a chart
            logger.warning("test chart not drawn: %s: %s", type(exc).__name__, exc)
    return Alert(AlertKind.TEST, Severity.INFO, "Test alert from tradeloop",
                 "If you can read this, the channel works.",
                 {"sample": "EURUSD, last 100 hourly bars", "severity": "info"}, image=image,
                 dedupe_key=f"{AlertKind.TEST}|{time.time_ns()}")


async def check_channels(config: NotifyConfig, channel: str | None = None, *,
                         telegram_base_url: str | None = None, chart: bool = True,
                         timeout_s: float = 30.0, max_retry_wait_s: float = 5.0
                         ) -> list[ChannelCheck]:
    """Send the test alert through every configured channel (or the one named), each on its
    own, and say per channel whether it worked.

    Parameters
    ----------
    config : NotifyConfig
        Secrets resolved.
    channel : str, optional
        Only this channel.
    telegram_base_url : str, optional
        Another Telegram Bot API server (default ``$TRADELOOP_TELEGRAM_BASE_URL``).
    chart : bool, default True
    timeout_s : float, default 30
        Per channel.
    max_retry_wait_s : float, default 5
        A channel asking to retry within this is tried once more.

    Raises
    ------
    ConfigError
        ``channel`` is not configured, or no channel is.
    """
    selected = [config.channel(channel)] if channel else list(config.channels)
    if not selected:
        raise ConfigError("the node config has no [[notify.channels]]: add one (see "
                          "docs/notifications.md)")
    base_url = telegram_base_url or os.environ.get(BASE_URL_ENV) or None
    alert = await asyncio.to_thread(sample_alert, chart=chart)
    return list(await asyncio.gather(*(
        _check_one(spec, alert, base_url, timeout_s, max_retry_wait_s) for spec in selected)))


async def _check_one(spec: ChannelConfig, alert: Alert, base_url: str | None,
                     timeout_s: float, max_retry_wait_s: float) -> ChannelCheck:
    try:
        notifier = build_notifier(spec, telegram_base_url=base_url)
    except ConfigError as exc:
        return ChannelCheck(spec.name, False, redact_text(str(exc)))
    try:
        for attempt in range(2):
            try:
                await asyncio.wait_for(notifier.send(alert), timeout_s)
                return ChannelCheck(spec.name, True)
            except RetryLater as exc:
                wait = exc.after_s if exc.after_s is not None else 1.0
                if attempt or wait > max_retry_wait_s:
                    return ChannelCheck(spec.name, False, f"retry later: {redact_text(str(exc))}")
                await asyncio.sleep(wait)
            except TimeoutError:
                return ChannelCheck(spec.name, False, f"no answer within {timeout_s:g}s")
            except Exception as exc:
                return ChannelCheck(spec.name, False,
                                    f"{type(exc).__name__}: {redact_text(str(exc))}")
        return ChannelCheck(spec.name, False, "not sent")
    finally:
        await _quietly(notifier.close())


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception as exc:
        logger.warning("notify: a part did not stop cleanly: %s: %s", type(exc).__name__, exc)


__all__ = ["BASE_URL_ENV", "FLUSH_TIMEOUT_S", "ChannelCheck", "NotificationService",
           "check_channels", "sample_alert"]
