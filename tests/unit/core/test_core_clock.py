"""TestClock and LiveClock: alerts fire once, in time order, each at its own time."""

from __future__ import annotations

import time

import pytest

from tradeloop.core.clock import LiveClock, TestClock

NEVER = 2**63 - 1


class Recorder:
    """An alert handler that notes the name, the alert time and the clock time it ran at."""

    def __init__(self, clock: TestClock | LiveClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, name: str, at_ns: int) -> None:
        self.calls.append((name, at_ns, self.clock.now_ns()))


def test_starts_at_the_given_time_without_alerts() -> None:
    clock = TestClock(1_000)
    assert clock.now_ns() == 1_000
    assert not clock.has_alerts
    assert clock.next_alert_ns == NEVER


def test_alerts_fire_in_time_order_at_their_own_times() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_alert("c", 300, rec)
    clock.set_alert("a", 100, rec)
    clock.set_alert("b", 200, rec)
    assert clock.next_alert_ns == 100
    clock.advance_to(250)
    assert rec.calls == [("a", 100, 100), ("b", 200, 200)]
    assert clock.now_ns() == 250
    assert clock.next_alert_ns == 300
    clock.advance_to(300)  # an alert exactly at the target time fires
    assert rec.calls[-1] == ("c", 300, 300)
    assert clock.next_alert_ns == NEVER
    assert not clock.has_alerts


def test_alerts_at_the_same_time_fire_in_the_order_they_were_set() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    for name in ("x", "y", "z"):
        clock.set_alert(name, 50, rec)
    clock.advance_to(60)
    assert [c[0] for c in rec.calls] == ["x", "y", "z"]


def test_an_alert_fires_once() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_alert("once", 10, rec)
    clock.advance_to(20)
    clock.advance_to(30)
    assert len(rec.calls) == 1


def test_setting_an_alert_again_under_the_same_name_replaces_it() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_alert("x", 10, rec)
    clock.set_alert("x", 40, rec)
    clock.advance_to(30)
    assert rec.calls == []
    clock.advance_to(40)
    assert rec.calls == [("x", 40, 40)]


def test_cancel_alert_forgets_it_and_ignores_unknown_names() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_alert("keep", 20, rec)
    clock.set_alert("drop", 10, rec)
    clock.cancel_alert("drop")
    clock.cancel_alert("never-set")
    clock.advance_to(100)
    assert rec.calls == [("keep", 20, 20)]


def test_cancelling_the_last_alert_restores_the_sentinel() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_alert("a", 10, rec)
    clock.set_alert("b", 30, rec)
    clock.cancel_alert("a")
    assert clock.next_alert_ns == 30
    clock.cancel_alert("b")
    assert not clock.has_alerts
    assert clock.next_alert_ns == NEVER


def test_a_handler_may_schedule_the_next_alert_inside_the_same_advance() -> None:
    clock = TestClock(0)
    fired: list[tuple[int, int]] = []

    def every_ten(name: str, at_ns: int) -> None:
        fired.append((at_ns, clock.now_ns()))
        if at_ns < 40:
            clock.set_alert(name, at_ns + 10, every_ten)

    clock.set_alert("tick", 10, every_ten)
    clock.advance_to(35)
    assert fired == [(10, 10), (20, 20), (30, 30)]
    assert clock.next_alert_ns == 40
    clock.advance_to(100)
    assert fired[-1] == (40, 40)
    assert clock.next_alert_ns == NEVER


def test_an_alert_in_the_past_fires_on_the_next_advance_at_the_current_time() -> None:
    clock = TestClock(100)
    rec = Recorder(clock)
    clock.set_alert("late", 50, rec)
    assert clock.next_alert_ns == 100  # due now: a loop must not advance to 50, in the past
    clock.set_alert("later", 70, rec)
    clock.set_alert("future", 500, rec)
    clock.cancel_alert("later")
    assert clock.next_alert_ns == 100
    clock.advance_to(100)
    assert rec.calls == [("late", 50, 100)]
    assert clock.next_alert_ns == 500


def test_cannot_go_backwards() -> None:
    clock = TestClock(100)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance_to(99)
    assert clock.now_ns() == 100
    clock.advance_to(100)  # standing still is fine
    assert clock.now_ns() == 100


def test_live_clock_reads_the_wall_time() -> None:
    clock = LiveClock()
    before = time.time_ns()
    now = clock.now_ns()
    assert before <= now <= time.time_ns()


def test_live_clock_poll_fires_due_alerts_only() -> None:
    clock = LiveClock()
    rec = Recorder(clock)
    now = clock.now_ns()
    hour = 3_600 * 10**9
    clock.set_alert("due-2", now - 10, rec)
    clock.set_alert("due-1", now - 20, rec)
    clock.set_alert("future", now + hour, rec)
    clock.set_alert("cancelled", now - 30, rec)
    clock.cancel_alert("cancelled")
    assert clock.poll() == 2
    assert [c[0] for c in rec.calls] == ["due-1", "due-2"]
    assert [c[1] for c in rec.calls] == [now - 20, now - 10]
    assert clock.poll() == 0  # fired alerts are gone; the future one waits
    assert len(rec.calls) == 2
