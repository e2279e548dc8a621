"""The notification router: routing, isolation, retries, age limit, de-duplication, full
queues, and the logging handler."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import clear_registered_secrets, register_secret
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.notify.base import Alert, AlertKind, NotifyError, RetryLater, Severity
from tradeloop.notify.logs import AlertLogHandler
from tradeloop.notify.router import ChannelRoute, NotificationRouter

ALL = frozenset(AlertKind.ALL)
T0 = 1_700_000_000 * NANOS_PER_SECOND


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    clear_registered_secrets()


@pytest.fixture(autouse=True)
def _records_reach_caplog(monkeypatch: pytest.MonkeyPatch) -> None:
    # an earlier setup_logging() may have stopped the tradeloop logger propagating
    monkeypatch.setattr(logging.getLogger("tradeloop"), "propagate", True)


class Channel:
    """A notifier that records what it delivers; ``outcomes`` scripts its next calls (an
    exception to raise, or a coroutine function to await first)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Alert] = []
        self.attempts: list[str] = []
        self.outcomes: list[BaseException | Callable[[], object]] = []
        self.closed = False

    async def send(self, alert: Alert) -> None:
        self.attempts.append(alert.title)
        if self.outcomes:
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            await outcome()  # type: ignore[misc]
        self.sent.append(alert)

    async def close(self) -> None:
        self.closed = True


def alert(title: str, kind: str = AlertKind.FILL, severity: Severity = Severity.INFO,
          created_ns: int = T0, **kwargs: object) -> Alert:
    return Alert(kind=kind, severity=severity, title=title, created_ns=created_ns,
                 **kwargs)  # type: ignore[arg-type]


async def until(condition: Callable[[], bool]) -> None:
    """Let the workers run until ``condition`` holds (a safety net, not a timed assertion)."""
    for _ in range(20_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


def fixed_clock(now: list[int]) -> Callable[[], int]:
    return lambda: now[0]


def test_alerts_go_to_the_channels_that_take_their_kind_and_severity() -> None:
    fills = Channel("fills")
    risk = Channel("risk")
    router = NotificationRouter(
        [ChannelRoute(fills, frozenset({AlertKind.FILL, AlertKind.TRADE_CLOSED}),
                      Severity.INFO),
         ChannelRoute(risk, frozenset({AlertKind.KILL_SWITCH, AlertKind.ERROR}),
                      Severity.WARNING)],
        clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        router.publish(alert("filled"))
        router.publish(alert("kill", AlertKind.KILL_SWITCH, Severity.CRITICAL))
        router.publish(alert("minor error", AlertKind.ERROR, Severity.INFO))  # below WARNING
        router.publish(alert("warned", AlertKind.ERROR, Severity.WARNING))
        router.publish(alert("lifecycle", AlertKind.LIFECYCLE))  # nobody takes it
        router.publish(alert("test", AlertKind.TEST))  # test alerts go everywhere
        router.publish(alert("only risk", AlertKind.TEST), channels=["risk"])
        await router.stop(timeout_s=10)

    asyncio.run(scenario())
    assert [a.title for a in fills.sent] == ["filled", "test"]
    assert [a.title for a in risk.sent] == ["kill", "warned", "test", "only risk"]
    assert fills.closed and risk.closed
    assert router.stats()["fills"].sent == 2
    assert router.stats()["risk"].sent == 4


def test_a_hanging_or_raising_channel_does_not_hold_up_another(
        caplog: pytest.LogCaptureFixture) -> None:
    hanging = Channel("hanging")
    broken = Channel("broken")
    healthy = Channel("healthy")
    released = threading.Event()  # never set: the hanging channel never answers

    async def hang() -> None:
        while not released.is_set():
            await asyncio.sleep(0.01)

    hanging.outcomes = [hang]
    broken.outcomes = [ValueError("bad chat id")] * 3
    router = NotificationRouter([ChannelRoute(c, ALL, Severity.INFO)
                                 for c in (hanging, broken, healthy)],
                                clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        for k in range(3):
            router.publish(alert(f"fill {k}"))
        await until(lambda: len(healthy.sent) == 3 and len(broken.attempts) == 3)
        # the hanging channel is still inside its first send while the others are done
        assert hanging.attempts == ["fill 0"] and hanging.sent == []
        await router.stop(timeout_s=0)

    with caplog.at_level(logging.INFO, logger="tradeloop.notify"):
        asyncio.run(scenario())
    assert [a.title for a in healthy.sent] == ["fill 0", "fill 1", "fill 2"]
    stats = router.stats()
    assert stats["broken"].failed == 3 and stats["broken"].sent == 0
    assert stats["healthy"].sent == 3
    assert stats["hanging"].sent == 0
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 3
    assert all("ValueError: bad chat id" in r.getMessage() for r in failures)
    assert all(r.fields["channel"] == "broken" for r in failures)  # type: ignore[attr-defined]
    unsent = [r for r in caplog.records if "unsent" in r.getMessage()]
    assert [r.fields for r in unsent] == [  # type: ignore[attr-defined]
        {"channel": "hanging", "unsent": 3}]
    assert hanging.closed


def test_retry_later_is_honoured_and_the_order_is_kept(
        caplog: pytest.LogCaptureFixture) -> None:
    channel = Channel("flaky")
    channel.outcomes = [RetryLater("down"), RetryLater("rate limited", after_s=0.02),
                        RetryLater("down")]
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)],
                                backoff_s=(0.01, 0.03), clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        for title in ("a", "b", "c"):
            router.publish(alert(title))
        await until(lambda: len(channel.sent) == 3)
        await router.stop()

    with caplog.at_level(logging.INFO, logger="tradeloop.notify"):
        asyncio.run(scenario())
    assert channel.attempts == ["a", "a", "a", "a", "b", "c"]
    assert [a.title for a in channel.sent] == ["a", "b", "c"]
    waits = [r.fields["retry_in_s"] for r in caplog.records  # type: ignore[attr-defined]
             if "retry" in r.getMessage()]
    assert waits == [0.01, 0.02, 0.03]  # backoff, the delay asked for, backoff again
    assert router.stats()["flaky"].retried == 3


def test_the_backoff_repeats_its_last_step_and_a_retry_is_counted() -> None:
    channel = Channel("down")
    channel.outcomes = [RetryLater("down")] * 4
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)],
                                backoff_s=(0.001,), clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        router.publish(alert("x"))
        await until(lambda: len(channel.sent) == 1)
        await router.stop()

    asyncio.run(scenario())
    assert router.stats()["down"].retried == 4 and router.stats()["down"].sent == 1


def test_alerts_older_than_the_age_limit_are_dropped_even_while_retrying() -> None:
    now = [T0]
    channel = Channel("slow")
    route = ChannelRoute(channel, ALL, Severity.INFO, max_age_s=60)
    router = NotificationRouter([route], backoff_s=(0.001,), clock=fixed_clock(now))

    async def outage_ends_too_late() -> None:
        now[0] += 61 * NANOS_PER_SECOND  # while this send fails, a minute passes
        raise RetryLater("down")

    channel.outcomes = [RetryLater("down"), outage_ends_too_late]

    async def scenario() -> None:
        await router.start()
        router.publish(alert("stale", created_ns=T0 - 3600 * NANOS_PER_SECOND))
        router.publish(alert("retried too long"))
        router.publish(alert("fresh", created_ns=T0 + 61 * NANOS_PER_SECOND))
        await until(lambda: len(channel.sent) == 1)
        await router.stop()

    asyncio.run(scenario())
    assert channel.attempts == ["retried too long", "retried too long", "fresh"]
    assert [a.title for a in channel.sent] == ["fresh"]
    stats = router.stats()["slow"]
    assert stats.dropped_old == 2 and stats.retried == 2 and stats.sent == 1


def test_identical_alerts_within_the_window_are_sent_once_per_channel() -> None:
    first = Channel("first")
    second = Channel("second")
    router = NotificationRouter([ChannelRoute(first, ALL, Severity.INFO),
                                 ChannelRoute(second, ALL, Severity.INFO)],
                                dedupe_window_s=60, clock=fixed_clock([T0]))
    second_s = NANOS_PER_SECOND

    async def scenario() -> None:
        await router.start()
        router.publish(alert("disk full", AlertKind.ERROR, Severity.ERROR))
        router.publish(alert("disk full", AlertKind.ERROR, Severity.ERROR,
                             created_ns=T0 + 10 * second_s))  # queued duplicate
        await until(lambda: len(first.sent) == 1 and len(second.sent) == 1)
        router.publish(alert("disk full", AlertKind.ERROR, Severity.ERROR,
                             created_ns=T0 + 59 * second_s))  # already sent
        router.publish(alert("disk full", AlertKind.ERROR, Severity.ERROR,
                             created_ns=T0 + 61 * second_s))  # outside the window
        router.publish(alert("other", AlertKind.ERROR, Severity.ERROR,
                             dedupe_key="disk"))
        router.publish(alert("other again", AlertKind.ERROR, Severity.ERROR,
                             dedupe_key="disk"))  # same explicit key
        await until(lambda: len(first.sent) == 3 and len(second.sent) == 3)
        await router.stop()

    asyncio.run(scenario())
    for channel in (first, second):
        assert [(a.title, a.created_ns) for a in channel.sent] == [
            ("disk full", T0), ("disk full", T0 + 61 * second_s), ("other", T0)]
        assert router.stats()[channel.name].deduplicated == 3


def test_a_failed_alert_does_not_suppress_its_next_duplicate() -> None:
    channel = Channel("c")
    channel.outcomes = [NotifyError("bad request")]
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)],
                                clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        router.publish(alert("x"))
        await until(lambda: router.stats()["c"].failed == 1)
        router.publish(alert("x", created_ns=T0 + 1))
        await until(lambda: len(channel.sent) == 1)
        await router.stop()

    asyncio.run(scenario())
    assert router.stats()["c"].deduplicated == 0


def test_dedupe_window_zero_sends_every_copy() -> None:
    channel = Channel("c")
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)],
                                dedupe_window_s=0, clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        for _ in range(3):
            router.publish(alert("same"))
        await router.stop(timeout_s=10)

    asyncio.run(scenario())
    assert len(channel.sent) == 3


def test_a_full_queue_drops_its_oldest_alert_and_counts_it(
        caplog: pytest.LogCaptureFixture) -> None:
    channel = Channel("small")
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO, queue_size=3)],
                                clock=fixed_clock([T0]))
    for k in range(5):  # before start: they wait in the queue
        router.publish(alert(f"a{k}"))
    assert router.stats()["small"].queued == 3
    assert router.stats()["small"].dropped_full == 2

    async def scenario() -> None:
        await router.start()
        await router.stop(timeout_s=10)

    asyncio.run(scenario())
    assert [a.title for a in channel.sent] == ["a2", "a3", "a4"]
    stats = router.stats()["small"]
    assert (stats.sent, stats.dropped_full, stats.queued) == (3, 2, 0)
    assert any("queue full" in r.getMessage() for r in caplog.records)


def test_stop_sends_what_is_queued_then_closes_the_channels() -> None:
    channel = Channel("c")
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)],
                                clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        assert router.running
        for k in range(20):
            router.publish(alert(f"a{k}"))
        await router.stop(timeout_s=30)
        assert not router.running

    asyncio.run(scenario())
    assert len(channel.sent) == 20 and channel.closed


def test_publish_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenAlert(Alert):
        @property
        def key(self) -> str:
            raise RuntimeError("no key")

    channel = Channel("c")
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)])
    router.publish(BrokenAlert(AlertKind.FILL, Severity.INFO, "x"))
    assert any("could not queue" in r.getMessage() for r in caplog.records)


def test_publish_threadsafe_from_another_thread() -> None:
    channel = Channel("c")
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)],
                                clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        threads = [threading.Thread(target=router.publish_threadsafe,
                                    args=(alert(f"t{k}"),)) for k in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        await until(lambda: len(channel.sent) == 5)
        await router.stop()

    asyncio.run(scenario())
    assert sorted(a.title for a in channel.sent) == [f"t{k}" for k in range(5)]


def test_routes_are_checked() -> None:
    channel = Channel("c")
    with pytest.raises(ConfigError, match="unknown alert kinds fils"):
        ChannelRoute(channel, frozenset({"fils"}), Severity.INFO)
    with pytest.raises(ConfigError, match="configured twice"):
        NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO),
                            ChannelRoute(channel, ALL, Severity.INFO)])
    with pytest.raises(ConfigError, match="backoff_s"):
        NotificationRouter([], backoff_s=())


def test_failure_logs_mask_secrets(caplog: pytest.LogCaptureFixture) -> None:
    secret = "hook-token-5f2a9c"
    register_secret(secret)
    channel = Channel("c")
    channel.outcomes = [RetryLater(f"down at https://example.invalid/{secret}", after_s=0),
                        RuntimeError(f"refused https://example.invalid/{secret}")]
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)],
                                clock=fixed_clock([T0]))

    async def scenario() -> None:
        await router.start()
        router.publish(alert("x"))
        await until(lambda: router.stats()["c"].failed == 1)
        await router.stop()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert any("RuntimeError: refused" in m for m in messages)
    assert all(secret not in m for m in messages)


# -- the logging handler ------------------------------------------------------------------------


def test_error_logs_become_alerts_but_not_the_notify_packages_own() -> None:
    register_secret("db-pass-77")
    channel = Channel("ops")
    router = NotificationRouter([ChannelRoute(channel, frozenset({AlertKind.ERROR}),
                                              Severity.INFO)])
    handler = AlertLogHandler(router)
    root = logging.getLogger("tradeloop")
    root.addHandler(handler)
    engine = logging.getLogger("tradeloop.engine.test")

    async def scenario() -> None:
        await router.start()
        engine.warning("only a warning")
        engine.error("order book stale for %s", "EURUSD")
        logging.getLogger("tradeloop.notify.router").error("channel failed")  # ignored
        logging.getLogger("tradeloop.notify.telegram").critical("bot down")  # ignored
        try:
            raise ConnectionError("login with db-pass-77 refused")
        except ConnectionError:
            engine.critical("broker lost", exc_info=True)
        worker = threading.Thread(target=engine.error, args=("from a thread",))
        worker.start()
        worker.join()
        await until(lambda: len(channel.sent) == 3)
        await router.stop()

    try:
        asyncio.run(scenario())
    finally:
        root.removeHandler(handler)
    by_title = {a.title: a for a in channel.sent}
    assert set(by_title) == {"Error: order book stale for EURUSD", "Critical: broker lost",
                             "Error: from a thread"}
    stale = by_title["Error: order book stale for EURUSD"]
    assert stale.kind == AlertKind.ERROR and stale.severity is Severity.ERROR
    assert stale.fields == {"logger": "tradeloop.engine.test", "level": "ERROR"}
    lost = by_title["Critical: broker lost"]
    assert lost.severity is Severity.CRITICAL
    assert "ConnectionError: login with *** refused" in lost.text
    assert "db-pass-77" not in lost.text and lost.fields["error"] == "ConnectionError"


def test_the_log_handler_respects_its_level() -> None:
    channel = Channel("ops")
    router = NotificationRouter([ChannelRoute(channel, ALL, Severity.INFO)])
    handler = AlertLogHandler(router, level=logging.CRITICAL)
    log = logging.getLogger("tradeloop.engine.level")
    log.addHandler(handler)
    try:
        log.error("not enough")
        log.critical("enough")
    finally:
        log.removeHandler(handler)
    assert router.stats()["ops"].queued == 1  # queued before start
