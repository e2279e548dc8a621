"""Fyers' request limits, kept by the adapter (:class:`RequestPacer`).

Fyers allows 10 requests a second, 200 a minute and 100 000 a day per app and user, answers
-429 beyond them, and blocks the user for the rest of the day once the minute limit has been
broken more than three times. The pacer holds each request until it breaks neither sliding
window (second, minute); the daily count, which restarts at midnight IST, refuses requests
outright once spent, since waiting would take until the next day.

A request takes its place in the windows when it starts and keeps it until a window's length
after it was answered: Fyers counts a request when it arrives, some time between the two, so
only the answer's time bounds it from above whatever the network's delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tradeloop.brokers.fyers.errors import FyersFatalError

IST = ZoneInfo("Asia/Kolkata")
_BUSY_WAIT_S = 0.02


@dataclass
class _Slot:
    start: float
    end: float | None = None


class RequestPacer:
    """Sliding-window limits on requests.

    Parameters
    ----------
    per_second, per_minute, per_day : int
    margin_s : float
        Added to every wait.
    """

    def __init__(self, per_second: int = 10, per_minute: int = 200, per_day: int = 100_000,
                 margin_s: float = 0.02, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.limits = ((per_second, 1.0), (per_minute, 60.0))
        self.per_day = per_day
        self.margin_s = margin_s
        self._monotonic = monotonic
        self._wall = wall
        self._sleep = sleep
        self._windows = (deque[_Slot](), deque[_Slot]())
        self._day = ""
        self.today = 0
        #: Seconds spent waiting so far (for logs and tests).
        self.waited_s = 0.0
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request's place from before it is sent until it is answered."""
        taken = await self.acquire()
        try:
            yield
        finally:
            taken.end = self._monotonic()

    async def acquire(self) -> _Slot:
        """Wait until one more request keeps within every limit; its place, to be marked
        answered (``end``) by the caller.

        Raises
        ------
        FyersFatalError
            The day's requests are spent.
        """
        async with self._lock:
            day = dt.datetime.fromtimestamp(self._wall(), IST).date().isoformat()
            if day != self._day:
                self._day, self.today = day, 0
            if self.today >= self.per_day:
                raise FyersFatalError(f"Fyers' limit of {self.per_day} requests a day is spent "
                                      "(it restarts at midnight IST)", -429)
            while True:
                now = self._monotonic()
                wait = 0.0
                for (limit, span), window in zip(self.limits, self._windows, strict=True):
                    while window and window[0].end is not None and \
                            window[0].end <= now - span:
                        window.popleft()
                    if len(window) >= limit:
                        head = window[0].end
                        wait = max(wait, _BUSY_WAIT_S if head is None else
                                   head + span - now + self.margin_s)
                if wait <= 0:
                    break
                self.waited_s += wait
                await self._sleep(wait)
            taken = _Slot(now)
            for window in self._windows:
                window.append(taken)
            self.today += 1
            return taken


__all__ = ["RequestPacer"]
