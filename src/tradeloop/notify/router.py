"""The notification router: every alert to the channels that take it, each channel on its own.

The node calls :meth:`NotificationRouter.publish` from its event loop; publishing only puts the
alert on the queue of every route whose kinds and minimum severity match, so it never waits
for the network and never raises. One worker task per route then sends what its queue holds,
in order:

- an alert older than the route's ``max_age_s`` is dropped (stale news helps nobody);
- an alert whose :attr:`~tradeloop.notify.base.Alert.key` was already sent (or is already
  queued) for an alert created less than ``dedupe_window_s`` apart is dropped as a duplicate;
- :class:`~tradeloop.notify.base.RetryLater` makes the worker wait (the delay the service
  asked for, else the next step of the backoff) and try the SAME alert again, so the order is
  kept, until it succeeds or grows too old;
- any other exception is logged (channel, error type and message, secrets masked) and the
  alert dropped.

A slow, failing or hanging channel only holds up its own queue: trading and the other channels
go on. A full queue drops its oldest alert to make room. Alerts of kind ``test`` go to every
channel whatever its kinds and minimum severity, so that ``tradeloop notify test`` tests them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import redact_text
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.notify.base import Alert, AlertKind, Notifier, RetryLater, Severity

logger = logging.getLogger(__name__)

_PRUNE_AT = 512  # remembered keys per route before old ones are forgotten


@dataclass(frozen=True)
class ChannelRoute:
    """A channel and the alerts it takes.

    Parameters
    ----------
    notifier : Notifier
        The channel; its ``name`` names the route.
    kinds : frozenset of str
        The :class:`~tradeloop.notify.base.AlertKind` values it takes.
    min_severity : Severity
        Alerts below this are not sent to it.
    max_age_s : float, default 3600
        Alerts older than this (from their ``created_ns``) are dropped instead of sent.
    queue_size : int, default 1000
        Alerts waiting at most; when full, the oldest is dropped.
    send_timeout_s : float, default 60
        One ``send`` taking longer than this is abandoned and retried like a
        :class:`~tradeloop.notify.base.RetryLater`, so a hung connection cannot stop the
        channel for good.
    """

    notifier: Notifier
    kinds: frozenset[str]
    min_severity: Severity
    max_age_s: float = 3600.0
    queue_size: int = 1000
    send_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(AlertKind.ALL))
        if unknown:
            raise ConfigError(f"notify channel {self.name!r}: unknown alert kinds "
                              f"{', '.join(unknown)} (known: {', '.join(AlertKind.ALL)})")
        if self.max_age_s <= 0 or self.queue_size < 1 or self.send_timeout_s <= 0:
            raise ConfigError(f"notify channel {self.name!r}: max_age_s and send_timeout_s "
                              "must be positive and queue_size at least 1")

    @property
    def name(self) -> str:
        """The channel's name."""
        return self.notifier.name

    def takes(self, alert: Alert) -> bool:
        """Tell whether this route sends ``alert`` (test alerts go everywhere)."""
        if alert.kind == AlertKind.TEST:
            return True
        return alert.kind in self.kinds and alert.severity >= self.min_severity


@dataclass
class RouteStats:
    """What happened to the alerts of one route.

    Attributes
    ----------
    sent : int
        Delivered.
    dropped_old : int
        Dropped for being older than the route's ``max_age_s``.
    dropped_full : int
        Dropped (the oldest waiting) because the queue was full.
    failed : int
        Dropped after an error that retrying would not fix.
    retried : int
        Retries after a :class:`~tradeloop.notify.base.RetryLater` or a timeout.
    deduplicated : int
        Not sent because an identical alert was sent or queued within the window.
    queued : int
        Waiting now.
    """

    sent: int = 0
    dropped_old: int = 0
    dropped_full: int = 0
    failed: int = 0
    retried: int = 0
    deduplicated: int = 0
    queued: int = 0


@dataclass
class _RouteState:
    route: ChannelRoute
    queue: deque[Alert] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    stats: RouteStats = field(default_factory=RouteStats)
    queued_keys: dict[str, int] = field(default_factory=dict)  # key -> newest queued created_ns
    sent_keys: dict[str, int] = field(default_factory=dict)  # key -> last sent created_ns
    in_flight: Alert | None = None
    task: asyncio.Task[None] | None = None


class NotificationRouter:
    """Sends each alert to the channels configured for it, each channel in its own task.

    Parameters
    ----------
    routes : iterable of ChannelRoute
        One per channel; channel names must be unique.
    dedupe_window_s : float, default 60
        Identical alerts (same :attr:`~tradeloop.notify.base.Alert.key`) created less than
        this apart are sent once per channel; 0 turns de-duplication off.
    backoff_s : sequence of float, default (1, 2, 4, 8, 16, 30, 60)
        Waits between retries when the channel gives no delay; the last one repeats.
    clock : callable, default time.time_ns
        Wall-clock nanoseconds, compared with the alerts' ``created_ns``.

    Raises
    ------
    ConfigError
        Two routes with the same channel name, a negative window or an empty backoff.

    Examples
    --------
    Inside the node's event loop::

        router = NotificationRouter(build_routes(config.notify), dedupe_window_s=60)
        await router.start()
        router.publish(Alert(AlertKind.LIFECYCLE, Severity.INFO, "Node started"))
        ...
        await router.stop(timeout_s=5)
    """

    def __init__(self, routes: Iterable[ChannelRoute], *, dedupe_window_s: float = 60.0,
                 backoff_s: Sequence[float] = (1, 2, 4, 8, 16, 30, 60),
                 clock: Callable[[], int] = time.time_ns) -> None:
        self._states: dict[str, _RouteState] = {}
        for route in routes:
            if route.name in self._states:
                raise ConfigError(f"notify channel {route.name!r} is configured twice: give "
                                  "each channel its own name")
            self._states[route.name] = _RouteState(route)
        if dedupe_window_s < 0 or not backoff_s or any(b < 0 for b in backoff_s):
            raise ConfigError("dedupe_window_s must be >= 0 and backoff_s a non-empty list of "
                              "waits >= 0")
        self._window_ns = int(dedupe_window_s * NANOS_PER_SECOND)
        self._backoff_s = tuple(float(b) for b in backoff_s)
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    @property
    def channels(self) -> list[str]:
        """The channel names, in the order given."""
        return list(self._states)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._loop is not None and not self._stopping

    # -- publishing ------------------------------------------------------------------------------

    def publish(self, alert: Alert, *, channels: Collection[str] | None = None) -> None:
        """Queue ``alert`` on every route that takes it; never blocks, never raises.

        Parameters
        ----------
        alert : Alert
        channels : collection of str, optional
            Only these channels (by name), if they take the alert; default all.

        Notes
        -----
        Call it from the event loop the router was started on (or before :meth:`start`);
        from any other thread, use :meth:`publish_threadsafe`.
        """
        try:
            for name, state in self._states.items():
                if (channels is None or name in channels) and state.route.takes(alert):
                    self._enqueue(state, alert)
        except Exception as exc:  # publishing must never hurt the caller
            logger.error("could not queue an alert: %s: %s", type(exc).__name__,
                         redact_text(str(exc)))

    def publish_threadsafe(self, alert: Alert, *,
                           channels: Collection[str] | None = None) -> None:
        """:meth:`publish` from any thread (a logging handler, a worker thread).

        Before :meth:`start` the alert is queued directly; after the router's loop has closed
        it is dropped. Never raises.
        """
        loop = self._loop
        if loop is None:
            self.publish(alert, channels=channels)
            return
        try:
            loop.call_soon_threadsafe(lambda: self.publish(alert, channels=channels))
        except RuntimeError:  # the loop is closed: nothing will send it any more
            logger.debug("alert dropped: the notification loop has closed")

    def _enqueue(self, state: _RouteState, alert: Alert) -> None:
        if self._is_duplicate(state, alert, queued=True):
            state.stats.deduplicated += 1
            return
        if len(state.queue) >= state.route.queue_size:
            oldest = state.queue.popleft()
            self._forget_queued(state, oldest)
            state.stats.dropped_full += 1
            logger.warning("notify channel queue full: dropped its oldest alert",
                           extra={"fields": {"channel": state.route.name, "kind": oldest.kind}})
        state.queue.append(alert)
        if self._window_ns:
            state.queued_keys[alert.key] = alert.created_ns
        state.wakeup.set()

    # -- de-duplication --------------------------------------------------------------------------

    def _is_duplicate(self, state: _RouteState, alert: Alert, *, queued: bool) -> bool:
        if not self._window_ns:
            return False
        key = alert.key
        seen = [state.sent_keys.get(key)]
        if queued:
            seen.append(state.queued_keys.get(key))
        return any(ns is not None and abs(alert.created_ns - ns) < self._window_ns
                   for ns in seen)

    def _forget_queued(self, state: _RouteState, alert: Alert) -> None:
        if state.queued_keys.get(alert.key) == alert.created_ns:
            del state.queued_keys[alert.key]

    def _remember_sent(self, state: _RouteState, alert: Alert) -> None:
        if not self._window_ns:
            return
        state.sent_keys[alert.key] = alert.created_ns
        if len(state.sent_keys) > _PRUNE_AT:
            horizon = self._clock() - self._window_ns
            state.sent_keys = {k: ns for k, ns in state.sent_keys.items() if ns >= horizon}

    # -- workers ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start one worker task per route on the running event loop.

        Raises
        ------
        RuntimeError
            Started twice.
        """
        if self._loop is not None:
            raise RuntimeError("the notification router is already started")
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        for name, state in self._states.items():
            state.wakeup = asyncio.Event()  # bound to this loop
            if state.queue:
                state.wakeup.set()
            state.task = asyncio.create_task(self._work(state), name=f"notify:{name}")
        logger.info("notifications started", extra={"fields": {"channels": self.channels}})

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Send what can be sent within ``timeout_s``, cancel the rest, close the channels.

        Parameters
        ----------
        timeout_s : float, default 5
            How long to keep flushing the queues (a channel waiting to retry is not waited
            for beyond this).
        """
        self._stopping = True
        tasks = [s.task for s in self._states.values() if s.task is not None]
        for state in self._states.values():
            state.wakeup.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(timeout_s, 0.0))
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for state in self._states.values():
            state.task = None
            unsent = len(state.queue) + (state.in_flight is not None)
            state.in_flight = None
            if unsent:
                logger.warning("notify channel stopped with alerts unsent",
                               extra={"fields": {"channel": state.route.name,
                                                 "unsent": unsent}})
            try:
                await state.route.notifier.close()
            except Exception as exc:
                logger.warning("notify channel did not close cleanly: %s: %s",
                               type(exc).__name__, redact_text(str(exc)),
                               extra={"fields": {"channel": state.route.name}})
        self._loop = None

    def stats(self) -> dict[str, RouteStats]:
        """What happened so far, per channel name (copies: later alerts do not change them)."""
        return {name: replace(state.stats, queued=len(state.queue))
                for name, state in self._states.items()}

    async def _work(self, state: _RouteState) -> None:
        while True:
            while not state.queue:
                if self._stopping:
                    return
                state.wakeup.clear()
                await state.wakeup.wait()
            alert = state.queue.popleft()  # in flight: a full queue can no longer drop it
            state.in_flight = alert  # stays set if the task is cancelled mid-send
            await self._deliver(state, alert)
            state.in_flight = None
            self._forget_queued(state, alert)

    def _too_old(self, state: _RouteState, alert: Alert) -> bool:
        return self._clock() - alert.created_ns > state.route.max_age_s * NANOS_PER_SECOND

    async def _deliver(self, state: _RouteState, alert: Alert) -> None:
        route = state.route
        fields = {"channel": route.name, "kind": alert.kind}
        attempt = 0
        while True:
            if self._too_old(state, alert):
                state.stats.dropped_old += 1
                logger.warning("alert dropped: older than the channel's max_age_s",
                               extra={"fields": {**fields, "max_age_s": route.max_age_s}})
                return
            if self._is_duplicate(state, alert, queued=False):
                state.stats.deduplicated += 1
                return
            try:
                await asyncio.wait_for(route.notifier.send(alert), route.send_timeout_s)
            except asyncio.CancelledError:
                raise
            except (RetryLater, TimeoutError) as exc:
                if isinstance(exc, RetryLater) and exc.after_s is not None:
                    wait_s = max(float(exc.after_s), 0.0)
                else:
                    wait_s = self._backoff_s[min(attempt, len(self._backoff_s) - 1)]
                reason = (redact_text(str(exc)) if isinstance(exc, RetryLater)
                          else f"no answer within {route.send_timeout_s:g}s")
                logger.info("notify channel asked to retry: %s", reason,
                            extra={"fields": {**fields, "retry_in_s": wait_s}})
                attempt += 1
                state.stats.retried += 1
                await asyncio.sleep(wait_s)
            except Exception as exc:
                state.stats.failed += 1
                logger.warning("notify channel failed: %s: %s", type(exc).__name__,
                               redact_text(str(exc)), extra={"fields": fields})
                return
            else:
                state.stats.sent += 1
                self._remember_sent(state, alert)
                return


__all__ = ["ChannelRoute", "NotificationRouter", "RouteStats"]
