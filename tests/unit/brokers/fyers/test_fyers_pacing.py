"""Fyers' request limits kept by the adapter, on a virtual clock."""

from __future__ import annotations

import asyncio

import pytest

from tradeloop.brokers.fyers.errors import FyersFatalError
from tradeloop.brokers.fyers.pacing import RequestPacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.wall = 1_700_000_000.0

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds
        await asyncio.sleep(0)  # let others run, as a real sleep does


def _pacer(clock: Clock, **limits: int) -> RequestPacer:
    return RequestPacer(margin_s=0.0, monotonic=lambda: clock.now, wall=lambda: clock.wall,
                        sleep=clock.sleep, **limits)


def test_the_eleventh_request_waits_a_second_after_the_first_was_answered() -> None:
    clock = Clock()
    pacer = _pacer(clock)

    async def run() -> list[float]:
        starts = []
        for _ in range(11):
            async with pacer.slot():
                starts.append(clock.now)
                clock.now += 0.05  # the answer takes 50 ms
        return starts

    starts = asyncio.run(run())
    assert starts[:10] == pytest.approx([0.05 * k for k in range(10)])
    assert starts[10] == pytest.approx(1.05)  # the first was answered at 0.05


def test_the_minute_limit_holds_a_burst() -> None:
    clock = Clock()
    pacer = _pacer(clock, per_second=100, per_minute=5)

    async def run() -> float:
        for _ in range(5):
            (await pacer.acquire()).end = clock.now
        await pacer.acquire()
        return clock.now

    assert asyncio.run(run()) == pytest.approx(60.0)


def test_an_unanswered_request_keeps_its_place() -> None:
    clock = Clock()
    pacer = _pacer(clock, per_second=1)

    async def run() -> float:
        first = await pacer.acquire()
        waiting = asyncio.ensure_future(pacer.acquire())
        await asyncio.sleep(0)
        while True:
            await asyncio.sleep(0)
            if clock.now > 0.5:
                first.end = clock.now  # answered after a while
                break
        await waiting
        return clock.now

    assert asyncio.run(run()) >= 1.5


def test_the_days_requests_run_out_with_a_clear_refusal() -> None:
    clock = Clock()
    pacer = _pacer(clock, per_second=100, per_minute=1000, per_day=3)

    async def run() -> None:
        for _ in range(3):
            (await pacer.acquire()).end = clock.now
        with pytest.raises(FyersFatalError, match="limit of 3 requests a day is spent"):
            await pacer.acquire()
        clock.wall += 86_400  # the next day
        await pacer.acquire()

    asyncio.run(run())
