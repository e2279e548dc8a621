"""IB's pacing rules for historical data, kept by the adapter (:class:`HistoryPacer`).

IB answers a request that breaks one of these with error 162 "pacing violation" and no data:

* an identical request within 15 seconds;
* six or more requests for the same contract, exchange and tick type within 2 seconds;
* more than 60 requests within any 10 minutes.

The pacer holds each request until it breaks none of them. These are sliding windows, not a
token bucket: a bucket small enough never to exceed "5 in 2 s" and "60 in 10 min" at once would
throttle every request to one per ten seconds, where the windows allow bursts of five.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

#: Requests recorded as these keys: (contract, exchange, tick type) for the burst rule, the
#: whole request for the identical-request rule.
BurstKey = tuple[str, str, str]


class HistoryPacer:
    """Sliding-window limits on historical data requests.

    Parameters
    ----------
    identical_s : float
        No identical request within this many seconds.
    per_contract : int
        At most this many requests of one (contract, exchange, tick type)...
    per_contract_s : float
        ...within this many seconds.
    max_requests : int
        At most this many requests in all...
    window_s : float
        ...within this many seconds.
    margin_s : float
        Added to every wait (clocks at IB and here differ a little).
    """

    def __init__(self, identical_s: float = 15.0, per_contract: int = 5,
                 per_contract_s: float = 2.0, max_requests: int = 60, window_s: float = 600.0,
                 margin_s: float = 0.05, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.identical_s = identical_s
        self.per_contract = per_contract
        self.per_contract_s = per_contract_s
        self.max_requests = max_requests
        self.window_s = window_s
        self.margin_s = margin_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._all: deque[float] = deque()
        self._by_key: dict[BurstKey, deque[float]] = {}
        self._identical: dict[Hashable, float] = {}
        self._lock = asyncio.Lock()
        #: Requests let through, and the seconds spent waiting for the rules.
        self.requests = 0
        self.waited_s = 0.0

    def delay(self, key: BurstKey, request: Hashable, now: float | None = None) -> float:
        """Seconds until a request may go without breaking a rule (0: now)."""
        at = self._monotonic() if now is None else now
        wait = 0.0
        last = self._identical.get(request)
        if last is not None:
            wait = max(wait, last + self.identical_s + self.margin_s - at)
        burst = self._by_key.get(key)
        if burst is not None:
            wait = max(wait, _window_wait(burst, self.per_contract, self.per_contract_s,
                                          self.margin_s, at))
        wait = max(wait, _window_wait(self._all, self.max_requests, self.window_s,
                                      self.margin_s, at))
        return max(0.0, wait)

    async def acquire(self, key: BurstKey, request: Hashable) -> None:
        """Wait until the request may go, and count it as sent."""
        async with self._lock:
            while True:
                wait = self.delay(key, request)
                if wait <= 0:
                    break
                self.waited_s += wait
                await self._sleep(wait)
            self.record(key, request)

    def record(self, key: BurstKey, request: Hashable, now: float | None = None) -> None:
        """Count a request as sent at ``now``."""
        at = self._monotonic() if now is None else now
        self.requests += 1
        self._all.append(at)
        self._by_key.setdefault(key, deque()).append(at)
        self._identical[request] = at
        horizon = at - max(self.identical_s, self.window_s, self.per_contract_s) - 1
        while self._all and self._all[0] < horizon:
            self._all.popleft()
        for burst in self._by_key.values():
            while burst and burst[0] < horizon:
                burst.popleft()
        for old in [r for r, t in self._identical.items() if t < horizon]:
            del self._identical[old]


def _window_wait(times: deque[float], limit: int, window: float, margin: float,
                 now: float) -> float:
    """How long until fewer than ``limit`` of ``times`` lie within ``window`` before now."""
    inside = [t for t in times if t > now - window - margin]
    if len(inside) < limit:
        return 0.0
    return inside[len(inside) - limit] + window + margin - now


__all__ = ["BurstKey", "HistoryPacer"]
