"""Clocks: a test clock that the backtest advances, and a live clock on the wall time.

Both fire time alerts in time order, so strategies that schedule work ("flat by 09:55 JST") run
the same way in every mode.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

AlertHandler = Callable[[str, int], None]
_NEVER = 2**63 - 1


class Clock(Protocol):
    """What every component sees of time."""

    def now_ns(self) -> int:
        """Return the current time in UTC nanoseconds."""
        ...

    def set_alert(self, name: str, at_ns: int, handler: AlertHandler) -> None:
        """Call ``handler(name, at_ns)`` once the clock reaches ``at_ns``."""
        ...

    def cancel_alert(self, name: str) -> None:
        """Forget a pending alert; unknown names are ignored."""
        ...


@dataclass(order=True)
class _Alert:
    at_ns: int
    seq: int
    name: str = field(compare=False)
    handler: AlertHandler = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class _AlertQueue:
    def __init__(self) -> None:
        self._heap: list[_Alert] = []
        self._by_name: dict[str, _Alert] = {}
        self._seq = itertools.count()

    def add(self, name: str, at_ns: int, handler: AlertHandler) -> None:
        self.cancel(name)
        alert = _Alert(at_ns, next(self._seq), name, handler)
        self._by_name[name] = alert
        heapq.heappush(self._heap, alert)

    def cancel(self, name: str) -> None:
        alert = self._by_name.pop(name, None)
        if alert is not None:
            alert.cancelled = True

    def next_due(self, now_ns: int) -> _Alert | None:
        heap = self._heap
        while heap and (heap[0].cancelled or heap[0].at_ns <= now_ns):
            alert = heapq.heappop(heap)
            if alert.cancelled:
                continue
            del self._by_name[alert.name]
            return alert
        return None

    def earliest(self) -> int:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].at_ns if self._heap else _NEVER

    def __len__(self) -> int:
        return len(self._by_name)


class TestClock:
    """A clock that moves only when told to; used by backtests and tests.

    Parameters
    ----------
    start_ns : int
        Initial time in UTC nanoseconds.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._alerts = _AlertQueue()
        #: When the earliest pending alert is due (the current time for one set in the past; a
        #: far-future sentinel when none), so a data loop can skip :meth:`advance_to` until then.
        self.next_alert_ns = _NEVER

    def now_ns(self) -> int:
        """Return the simulated time."""
        return self._now

    def set_alert(self, name: str, at_ns: int, handler: AlertHandler) -> None:
        """Schedule ``handler`` for when the clock is advanced to or past ``at_ns``."""
        self._alerts.add(name, at_ns, handler)
        self.next_alert_ns = min(self.next_alert_ns, max(at_ns, self._now))

    def cancel_alert(self, name: str) -> None:
        """Forget a pending alert."""
        self._alerts.cancel(name)
        self.next_alert_ns = max(self._alerts.earliest(), self._now)

    @property
    def has_alerts(self) -> bool:
        """True while any alert is pending."""
        return len(self._alerts) > 0

    def advance_to(self, ns: int) -> None:
        """Move time forward to ``ns``, firing due alerts at their own times, in order.

        Raises
        ------
        ValueError
            If ``ns`` lies before the current time.
        """
        if ns < self._now:
            raise ValueError(f"clock cannot go backwards: {ns} < {self._now}")
        if len(self._alerts):
            while (alert := self._alerts.next_due(ns)) is not None:
                self._now = max(self._now, alert.at_ns)
                alert.handler(alert.name, alert.at_ns)
        self.next_alert_ns = self._alerts.earliest()
        self._now = ns


class LiveClock:
    """The wall clock in UTC. Alerts fire when :meth:`poll` is called at or after their time."""

    def __init__(self) -> None:
        self._alerts = _AlertQueue()

    def now_ns(self) -> int:
        """Return the wall time in UTC nanoseconds."""
        return time.time_ns()

    def set_alert(self, name: str, at_ns: int, handler: AlertHandler) -> None:
        """Schedule ``handler`` for ``at_ns``; it fires on the first :meth:`poll` after that."""
        self._alerts.add(name, at_ns, handler)

    def cancel_alert(self, name: str) -> None:
        """Forget a pending alert."""
        self._alerts.cancel(name)

    def poll(self) -> int:
        """Fire every due alert and return how many fired."""
        fired = 0
        now = self.now_ns()
        while (alert := self._alerts.next_due(now)) is not None:
            alert.handler(alert.name, alert.at_ns)
            fired += 1
        return fired
