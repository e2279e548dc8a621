"""Market data feeds: replay order and pacing, synthetic quotes."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_HOUR, NANOS_PER_MINUTE, NANOS_PER_SECOND
from tradeloop.data.feeds import (
    MarketData,
    MarketDataSource,
    ReplaySource,
    SyntheticQuotes,
    delivery_order,
)
from tradeloop.data.store import DataStore
from tradeloop.model.data import (
    Bar,
    BarSeries,
    MarketSeries,
    QuoteSeries,
    QuoteTick,
    TradeSeries,
    TradeTick,
)

T0 = 1_704_186_000_000_000_000  # 2024-01-02 09:00 UTC
MIN, HOUR, SEC = NANOS_PER_MINUTE, NANOS_PER_HOUR, NANOS_PER_SECOND


def bars(symbol: str, start: int, count: int, step: int, declared: int | None = None,
         base: float = 100.0) -> BarSeries:
    ts = start + np.arange(count, dtype=np.int64) * step
    close = base + np.arange(count, dtype=np.float64)
    return BarSeries(symbol, ts, close - 0.5, close + 1.0, close - 1.0, close,
                     np.full(count, 10.0), step if declared is None else declared, "test")


def quotes(symbol: str, times: list[int], bid: float = 1.1) -> QuoteSeries:
    n = len(times)
    b = bid + np.arange(n) * 0.0001
    return QuoteSeries(symbol, np.array(times, dtype=np.int64), b, b + 0.0002,
                       np.full(n, 5.0), np.full(n, 6.0))


def trades(symbol: str, times: list[int]) -> TradeSeries:
    n = len(times)
    return TradeSeries(symbol, np.array(times, dtype=np.int64), 50.0 + np.arange(n),
                       np.full(n, 2.0))


def collect(source: MarketDataSource) -> list[MarketData]:
    async def run() -> list[MarketData]:
        await source.start()
        out = [item async for item in source]
        await source.stop()
        return out

    return asyncio.run(run())


def key(item: MarketData) -> tuple[str, str, int]:
    if isinstance(item, Bar):
        return ("bar " + item.timeframe, item.symbol, item.ts)
    return ("quote" if isinstance(item, QuoteTick) else "trade", item.symbol, item.ts)


class FakeTime:
    """A monotonic clock that moves only when the code under test sleeps (or a test says)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- order --------------------------------------------------------------------------------------


def test_bars_come_at_their_close_shorter_first_then_ticks() -> None:
    minute = bars("EURUSD", T0 + 58 * MIN, 3, MIN)  # 09:58, 09:59, 10:00
    hour = bars("EURUSD", T0, 2, HOUR)  # 09:00 (closes 10:00), 10:00 (closes 11:00)
    ticks = quotes("EURUSD", [T0 + 59 * MIN + 30 * SEC, T0 + HOUR, T0 + HOUR + MIN])
    prints = trades("EURUSD", [T0 + HOUR])
    # input order: hour bars first, so that only the ordering rule puts minutes first
    items = collect(ReplaySource([hour, ticks, prints, minute]))
    assert [key(i) for i in items] == [
        ("bar 1m", "EURUSD", T0 + 58 * MIN),          # closes 09:59
        ("quote", "EURUSD", T0 + 59 * MIN + 30 * SEC),
        ("bar 1m", "EURUSD", T0 + 59 * MIN),          # closes 10:00, the shortest first
        ("bar 1h", "EURUSD", T0),                     # closes 10:00
        ("quote", "EURUSD", T0 + HOUR),               # ticks after bars, in input order
        ("trade", "EURUSD", T0 + HOUR),
        ("bar 1m", "EURUSD", T0 + HOUR),              # closes 10:01
        ("quote", "EURUSD", T0 + HOUR + MIN),
        ("bar 1h", "EURUSD", T0 + HOUR),              # closes 11:00
    ]


def test_two_hours_of_minute_and_hour_bars_with_ticks() -> None:
    minute = bars("EURUSD", T0, 120, MIN)
    hour = bars("EURUSD", T0, 2, HOUR)
    tick_times = [T0 + k * 7 * MIN for k in range(18)]  # some on a minute's close
    ticks = quotes("GBPUSD", tick_times)
    expected: list[tuple[str, str, int]] = [("quote", "GBPUSD", T0)]
    for m in range(120):
        close = T0 + (m + 1) * MIN
        expected.append(("bar 1m", "EURUSD", T0 + m * MIN))
        if (m + 1) % 60 == 0:
            expected.append(("bar 1h", "EURUSD", close - HOUR))
        expected += [("quote", "GBPUSD", t) for t in tick_times if close <= t < close + MIN]
    items = collect(ReplaySource([ticks, hour, minute]))
    assert [key(i) for i in items] == expected


def test_ties_keep_the_order_of_the_series() -> None:
    a, b = bars("AAA", T0, 3, MIN), bars("BBB", T0, 3, MIN)
    assert [i.symbol for i in collect(ReplaySource([a, b]))] == ["AAA", "BBB"] * 3
    assert [i.symbol for i in collect(ReplaySource([b, a]))] == ["BBB", "AAA"] * 3


def test_order_equals_the_backtest_merge() -> None:
    from tradeloop.engine.streams import make_stream, merged_rows

    rng = np.random.default_rng(3)
    tick_times = np.sort(T0 + rng.integers(0, 3 * HOUR, 400)).tolist()
    trade_times = np.sort(T0 + rng.integers(0, 3 * HOUR // MIN, 50) * MIN).tolist()
    series: list[MarketSeries] = [
        bars("EURUSD", T0, 3, HOUR), quotes("EURUSD", tick_times),
        bars("EURUSD", T0, 180, MIN), trades("ES", trade_times),
        bars("ES", T0, 36, 5 * MIN, declared=0),  # length inferred from the steps
    ]
    merged = merged_rows([make_stream(s) for s in series])
    index, rows, when = delivery_order(series)
    assert index.tolist() == merged.stream_ids.tolist()
    assert rows.tolist() == merged.rows.tolist()
    assert np.all(np.diff(when) >= 0)
    items = collect(ReplaySource(series))
    assert len(items) == sum(len(s) for s in series)
    five = [i for i in items if isinstance(i, Bar) and i.symbol == "ES"]
    assert {b.timeframe for b in five} == {"5m"}


def test_items_carry_the_series_values() -> None:
    series = bars("EURUSD", T0, 2, HOUR, base=1.5)
    q = quotes("EURUSD", [T0 + 10 * MIN])
    t = trades("ES", [T0 + 20 * MIN])
    items = collect(ReplaySource([series, q, t]))
    assert items == [
        QuoteTick("EURUSD", T0 + 10 * MIN, 1.1, 1.1 + 0.0002, 5.0, 6.0),
        TradeTick("ES", T0 + 20 * MIN, 50.0, 2.0),
        Bar("EURUSD", T0, 1.0, 2.5, 0.5, 1.5, 10.0, "1h"),
        Bar("EURUSD", T0 + HOUR, 2.0, 3.5, 1.5, 2.5, 10.0, "1h"),
    ]


def test_long_replays_are_built_in_chunks_without_losing_items() -> None:
    series = [bars("A", T0, 5000, MIN), quotes("B", list(range(T0, T0 + 9000 * SEC, SEC)))]
    items = collect(ReplaySource(series))
    assert len(items) == 14_000
    times = [i.ts + (MIN if isinstance(i, Bar) else 0) for i in items]
    assert times == sorted(times)
    assert sum(isinstance(i, Bar) for i in items) == 5000


# -- progress, stop, errors ---------------------------------------------------------------------


def test_progress_and_a_clean_finish() -> None:
    source = ReplaySource([bars("A", T0, 4, MIN)])
    assert isinstance(source, MarketDataSource)
    seen: list[float] = []

    async def run() -> None:
        await source.start()
        async for _ in source:
            seen.append(source.progress)
        assert await anext(aiter(source), None) is None  # stays finished
        await source.stop()

    asyncio.run(run())
    assert seen == [0.25, 0.5, 0.75, 1.0]
    assert source.finished and source.delivered == source.total == 4


def test_an_empty_replay_ends_at_once() -> None:
    source = ReplaySource([])
    assert collect(source) == []
    assert source.progress == 1.0 and source.finished


def test_stop_ends_the_iteration_at_the_next_item() -> None:
    source = ReplaySource([bars("A", T0, 10, MIN)])

    async def run() -> list[MarketData]:
        out = []
        async for item in source:
            out.append(item)
            if len(out) == 3:
                await source.stop()
        return out

    assert len(asyncio.run(run())) == 3
    assert source.delivered == 3 and not source.finished


def test_stop_interrupts_a_long_wait() -> None:
    async def forever(_: float) -> None:
        await asyncio.Event().wait()

    source = ReplaySource([bars("A", T0, 3, HOUR)], speed=1.0, sleep=forever)

    async def run() -> list[MarketData]:
        out = [await anext(source)]
        waiting = asyncio.create_task(anext(source, None))
        await asyncio.sleep(0)
        await source.stop()
        out.append(await waiting)  # type: ignore[arg-type]
        return out

    first, second = asyncio.run(run())
    assert isinstance(first, Bar) and second is None
    assert source.delivered == 1


def test_a_cancelled_pull_loses_nothing() -> None:
    fake = FakeTime()
    gate = asyncio.Event()

    async def slow(seconds: float) -> None:
        fake.sleeps.append(seconds)
        await gate.wait()
        fake.now += seconds

    source = ReplaySource([bars("A", T0, 3, MIN)], speed=60.0, clock=fake.clock, sleep=slow)

    async def run() -> list[MarketData]:
        out = [await anext(source)]
        pending = asyncio.create_task(anext(source))
        await asyncio.sleep(0)
        pending.cancel()  # what the node does when it is asked to stop
        with pytest.raises(asyncio.CancelledError):
            await pending
        gate.set()
        out += [item async for item in source]
        return out

    items = asyncio.run(run())
    assert [i.ts for i in items] == [T0, T0 + MIN, T0 + 2 * MIN]


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="speed must be 0 or more"):
        ReplaySource([], speed=-1)
    with pytest.raises(ConfigError, match="max_gap_s must be a positive number"):
        ReplaySource([], speed=1, max_gap_s=0)
    with pytest.raises(ConfigError, match="got list"):
        ReplaySource([[1, 2]])  # type: ignore[list-item]


# -- pacing -------------------------------------------------------------------------------------


def paced(series: list[MarketSeries], fake: FakeTime, **kw: object) -> ReplaySource:
    return ReplaySource(series, clock=fake.clock, sleep=fake.sleep, **kw)  # type: ignore[arg-type]


def test_as_fast_as_possible_never_sleeps() -> None:
    for speed in (None, 0):
        fake = FakeTime()
        assert len(collect(paced([bars("A", T0, 5, HOUR)], fake, speed=speed))) == 5
        assert fake.sleeps == []


def test_speed_scales_the_data_gaps() -> None:
    fake = FakeTime()
    collect(paced([bars("A", T0, 4, MIN)], fake, speed=60.0))
    assert fake.sleeps == pytest.approx([1.0, 1.0, 1.0])
    fake = FakeTime()
    collect(paced([quotes("A", [T0, T0 + 2 * SEC, T0 + 2 * SEC, T0 + 5 * SEC])], fake,
                  speed=1.0))
    assert fake.sleeps == pytest.approx([2.0, 3.0])  # equal times: no wait


def test_pacing_does_not_drift_when_the_consumer_is_slow() -> None:
    fake = FakeTime()
    source = paced([bars("A", T0, 6, MIN)], fake, speed=60.0)  # one item a second
    work = [0.25, 0.25, 2.5, 0.0, 0.0]  # seconds the consumer spends on items 0..4

    async def run() -> list[float]:
        due = []
        async for _ in source:
            due.append(fake.now)
            if len(due) <= len(work):
                fake.now += work[len(due) - 1]
        return due

    due = asyncio.run(run())
    # items are due at 0, 1, 2, 3, 4, 5 s; the 2.5 s spent on item 2 delays item 3 to 4.5 s,
    # and item 4 comes at once too (late), item 5 on time at 5 s
    assert [d - 1000.0 for d in due] == pytest.approx([0.0, 1.0, 2.0, 4.5, 4.5, 5.0])
    assert fake.sleeps == pytest.approx([0.75, 0.75, 0.5])


def test_max_gap_caps_long_waits_and_keeps_the_pace_after() -> None:
    friday = bars("A", T0, 2, HOUR)
    monday = bars("A", T0 + 3 * 24 * HOUR, 2, HOUR)
    series = BarSeries("A", np.concatenate([friday.ts, monday.ts]),
                       np.concatenate([friday.open, monday.open]),
                       np.concatenate([friday.high, monday.high]),
                       np.concatenate([friday.low, monday.low]),
                       np.concatenate([friday.close, monday.close]),
                       np.concatenate([friday.volume, monday.volume]), HOUR)
    fake = FakeTime()
    collect(paced([series], fake, speed=3600.0, max_gap_s=5.0))  # an hour a second
    assert fake.sleeps == pytest.approx([1.0, 5.0, 1.0])
    fake = FakeTime()
    collect(paced([series], fake, speed=3600.0))
    assert fake.sleeps == pytest.approx([1.0, 71.0, 1.0])


# -- files and the store ------------------------------------------------------------------------


def test_from_files_reads_bars_and_ticks(tmp_path: Path) -> None:
    bar_file = tmp_path / "eurusd.csv"
    bar_file.write_text("time,open,high,low,close,volume\n"
                        "2024-01-02T09:00:00Z,1.1,1.2,1.0,1.15,10\n"
                        "2024-01-02T09:01:00Z,1.15,1.25,1.1,1.2,12\n")
    quote_file = tmp_path / "ticks.csv"
    quote_file.write_text("time,bid,ask\n"
                          "2024-01-02T09:00:30Z,1.1,1.1002\n"
                          "2024-01-02T09:01:00Z,1.1001,1.1003\n")
    source = ReplaySource.from_files([quote_file, bar_file], symbols=["EURUSD", None])
    assert [key(i) for i in collect(source)] == [
        ("quote", "EURUSD", T0 + 30 * SEC),
        ("bar 1m", "EURUSD", T0),
        ("quote", "EURUSD", T0 + MIN),
        ("bar 1m", "EURUSD", T0 + MIN),
    ]
    with pytest.raises(ConfigError, match="2 files but 1 symbols"):
        ReplaySource.from_files([quote_file, bar_file], symbols=["X"])
    with pytest.raises(DataError, match=r"missing\.csv"):
        ReplaySource.from_files([tmp_path / "missing.csv"])


def test_from_store_reads_symbols_lengths_and_ticks(tmp_path: Path) -> None:
    store = DataStore(tmp_path / "store")
    store.write_bars(bars("EURUSD", T0, 120, MIN))
    store.write_bars(bars("EURUSD", T0, 2, HOUR))
    store.write_ticks(quotes("EURUSD", [T0 + 30 * SEC, T0 + 90 * SEC]))
    store.write_bars(bars("ES", T0, 2, HOUR), venue="CME")
    source = ReplaySource.from_store(store, ["EURUSD@1h", "EURUSD", "EURUSD@quotes",
                                             "CME/ES"])
    items = collect(source)
    kinds = {(k[0], k[1]) for k in map(key, items)}
    assert kinds == {("bar 1h", "EURUSD"), ("bar 1m", "EURUSD"), ("quote", "EURUSD"),
                     ("bar 1h", "ES")}
    assert len(items) == 2 + 120 + 2 + 2
    ranged = ReplaySource.from_store(store, ["EURUSD@1m"], start_ns=T0 + 10 * MIN,
                                     end_ns=T0 + 19 * MIN)
    assert ranged.total == 10
    with pytest.raises(DataError, match="nothing is stored for 'GBPUSD'"):
        ReplaySource.from_store(store, ["GBPUSD"])
    with pytest.raises(ConfigError, match="malformed"):
        ReplaySource.from_store(store, ["EURUSD@"])


# -- synthetic quotes ---------------------------------------------------------------------------


def take(source: SyntheticQuotes, n: int) -> list[QuoteTick]:
    async def run() -> list[QuoteTick]:
        out = []
        async for quote in source:
            out.append(quote)
            if len(out) == n:
                await source.stop()
        return out

    return asyncio.run(run())


def test_synthetic_quotes_are_deterministic_for_a_seed() -> None:
    def make(seed: int) -> SyntheticQuotes:
        return SyntheticQuotes(["EURUSD", "USDJPY"], seed=seed, rate_per_s=10, start_ns=T0,
                               start_prices={"EURUSD": 1.085, "USDJPY": 145.2})

    first, again, other = take(make(7), 500), take(make(7), 500), take(make(8), 500)
    assert first == again
    assert [q.bid for q in first] != [q.bid for q in other]
    assert [q.ts for q in first] == [q.ts for q in other]


def test_synthetic_quotes_stay_on_the_tick_grid_with_bid_below_ask() -> None:
    source = SyntheticQuotes(["EURUSD", "USDJPY", "ES"], seed=1, rate_per_s=100, start_ns=T0,
                             start_prices={"EURUSD": 1.085, "USDJPY": 145.2, "ES": 4800.0},
                             tick_sizes={"ES": 0.25}, spread_ticks=3, volatility=0.001)
    quotes_ = take(source, 6000)
    ticks = {"EURUSD": 0.00001, "USDJPY": 0.001, "ES": 0.25}
    moved = set()
    for q in quotes_:
        tick = ticks[q.symbol]
        assert 0 < q.bid < q.ask
        assert math.isclose(q.bid / tick, round(q.bid / tick), abs_tol=1e-6)
        assert math.isclose(q.ask / tick, round(q.ask / tick), abs_tol=1e-6)
        assert round((q.ask - q.bid) / tick) == 3
        assert q.bid_size >= 1 and q.ask_size >= 1
        if q.bid != quotes_[list(ticks).index(q.symbol)].bid:
            moved.add(q.symbol)
    assert moved == set(ticks)  # every symbol's price walks
    assert [q.symbol for q in quotes_[:6]] == ["EURUSD", "USDJPY", "ES"] * 2


def test_synthetic_first_quotes_straddle_the_start_price() -> None:
    q = take(SyntheticQuotes(["EURUSD"], start_ns=T0, start_prices={"EURUSD": 1.085}), 1)[0]
    assert (q.bid, q.ask) == (1.08499, 1.08501)


def test_synthetic_virtual_clock_advances_one_over_the_rate() -> None:
    out = take(SyntheticQuotes(["A", "B"], rate_per_s=4, start_ns=T0), 5)
    assert [q.ts for q in out] == [T0 + k * SEC // 4 for k in range(5)]
    thirds = take(SyntheticQuotes(["A"], rate_per_s=3, start_ns=T0), 4)
    assert [q.ts - T0 for q in thirds] == [0, 333_333_333, 666_666_666, SEC]


def test_synthetic_realtime_paces_on_the_clock_and_stamps_the_wall_time() -> None:
    fake = FakeTime()
    walls = iter(range(T0, T0 + 100 * SEC, SEC // 10))
    source = SyntheticQuotes(["A"], rate_per_s=10, realtime=True, limit=4, clock=fake.clock,
                             sleep=fake.sleep, wall_clock=lambda: next(walls))

    async def run() -> list[QuoteTick]:
        return [q async for q in source]

    out = asyncio.run(run())
    assert len(out) == 4 and source.delivered == 4
    assert fake.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert [q.ts for q in out] == [T0 + k * SEC // 10 for k in range(4)]


def test_synthetic_limit_and_default_start() -> None:
    source = SyntheticQuotes(["A"], limit=3, wall_clock=lambda: T0 + 123_456_789)
    assert [q.ts for q in collect(source)] == [T0, T0 + SEC // 10, T0 + 2 * SEC // 10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": []}, "distinct symbols"),
        ({"symbols": ["A", "A"]}, "distinct symbols"),
        ({"rate_per_s": 0}, "rate_per_s must be a positive number"),
        ({"spread_ticks": 0}, "spread_ticks must be a whole number"),
        ({"volatility": -0.1}, "volatility"),
        ({"start_prices": {"B": 1.0}}, "symbols not quoted"),
        ({"start_prices": {"A": -1.0}}, "start price of A"),
    ],
)
def test_synthetic_bad_settings(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"symbols": ["A"]} | kwargs
    with pytest.raises(ConfigError, match=message):
        SyntheticQuotes(**args)  # type: ignore[arg-type]


def test_sources_satisfy_the_protocol() -> None:
    sources: list[MarketDataSource] = [ReplaySource([]), SyntheticQuotes(["A"])]
    for source in sources:
        assert isinstance(source, MarketDataSource)
        assert isinstance(aiter(source), AsyncIterator)
