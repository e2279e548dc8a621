"""IB's historical-data pacing kept by the adapter (on a fake clock), and how a range is split
into requests IB accepts."""

from __future__ import annotations

import asyncio

import pytest

from tradeloop.brokers.ibkr.data import BAR_SIZES, chunk_seconds, chunks, duration
from tradeloop.brokers.ibkr.pacing import HistoryPacer

DAY = 86_400
NS = 10**9


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(clock: FakeClock) -> HistoryPacer:
    return HistoryPacer(identical_s=15, per_contract=5, per_contract_s=2, max_requests=60,
                        window_s=600, margin_s=0.05, monotonic=clock.monotonic,
                        sleep=clock.sleep)


def sent(clock: FakeClock, p: HistoryPacer, requests: list[tuple[tuple[str, str, str], str]]
         ) -> list[float]:
    times = []

    async def run() -> None:
        for key, request in requests:
            await p.acquire(key, request)
            times.append(clock.now)

    asyncio.run(run())
    return times


def broken(times: list[float], limit: int, window: float) -> bool:
    return any(sum(1 for u in times if t - window < u <= t) > limit for t in times)


def test_five_per_contract_within_two_seconds() -> None:
    clock = FakeClock()
    p = pacer(clock)
    key = ("265598", "SMART", "TRADES")
    times = sent(clock, p, [(key, f"r{i}") for i in range(12)])
    assert times[:5] == [1000.0] * 5  # a burst of five goes at once
    assert times[5] == pytest.approx(1002.05)
    assert not broken(times, 5, 2.0)
    assert p.requests == 12 and p.waited_s == pytest.approx(sum(clock.slept))


def test_other_contracts_are_not_held_by_one_contract_s_burst() -> None:
    clock = FakeClock()
    p = pacer(clock)
    requests = [(("A", "SMART", "TRADES"), f"a{i}") for i in range(5)]
    requests += [(("B", "SMART", "TRADES"), "b0"), (("A", "SMART", "MIDPOINT"), "m0")]
    assert sent(clock, p, requests) == [1000.0] * 7


def test_an_identical_request_waits_fifteen_seconds() -> None:
    clock = FakeClock()
    p = pacer(clock)
    key = ("A", "SMART", "TRADES")
    times = sent(clock, p, [(key, "same"), (key, "same")])
    assert times[1] - times[0] == pytest.approx(15.05)


def test_at_most_sixty_within_ten_minutes() -> None:
    clock = FakeClock()
    p = pacer(clock)
    requests = [((f"C{i % 20}", "SMART", "TRADES"), f"r{i}") for i in range(130)]
    times = sent(clock, p, requests)
    assert not broken(times, 60, 600.0)
    assert times[59] - times[0] < 10  # the first sixty are not slowed by the long rule
    assert times[60] - times[0] == pytest.approx(600.05)
    assert times[120] - times[0] == pytest.approx(1200.1)


def test_delay_is_zero_when_nothing_was_sent() -> None:
    clock = FakeClock()
    assert pacer(clock).delay(("A", "X", "TRADES"), "r") == 0.0


@pytest.mark.parametrize(("bar_s", "span"), [
    (1, 1800), (5, 3600), (30, 28_800), (60, DAY), (180, 2 * DAY), (300, 7 * DAY),
    (3600, 30 * DAY), (DAY, 364 * DAY)])
def test_each_bar_size_has_a_span_ib_accepts(bar_s: int, span: int) -> None:
    assert chunk_seconds(bar_s) == span
    assert span // bar_s <= 8760  # never an oversized answer


def test_durations() -> None:
    assert duration(1800) == "1800 S" and duration(DAY) == "86400 S"
    assert duration(DAY + 1) == "2 D" and duration(364 * DAY) == "364 D"
    assert duration(0) == "1 S"


def test_a_range_in_chunks() -> None:
    start = 1_767_225_600 * NS
    parts = chunks(start, start + int(2.5 * DAY) * NS, 60)
    assert parts == [(start, start + DAY * NS), (start + DAY * NS, start + 2 * DAY * NS),
                     (start + 2 * DAY * NS, start + int(2.5 * DAY) * NS)]
    assert chunks(start, start, 60) == []


def test_bar_sizes_cover_the_usual_timeframes() -> None:
    assert BAR_SIZES[60] == "1 min" and BAR_SIZES[3600] == "1 hour"
    assert BAR_SIZES[DAY] == "1 day"
