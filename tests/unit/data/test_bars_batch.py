"""The batch bar builder, and its identity with the streaming builder on a hard tick file."""

import copy
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_MINUTE, NANOS_PER_SECOND, dt_to_ns
from tradeloop.data.bars import (
    BarBuilder,
    BarSpec,
    TickBars,
    TimeBars,
    ValueBars,
    VolumeBars,
    build_bars,
)
from tradeloop.data.timeframes import BucketAlignment
from tradeloop.model.data import Bar, BarSeries, QuoteSeries, TradeSeries

MIN = NANOS_PER_MINUTE
SEC = NANOS_PER_SECOND
T0 = dt_to_ns(datetime(2024, 5, 6, 10, 0, tzinfo=UTC))
NEW_YORK_SESSION = BucketAlignment("America/New_York", "09:30")
NEW_YORK_FX_DAY = BucketAlignment("America/New_York", "17:00")
LONDON = BucketAlignment("Europe/London", "08:00")


def utc(*args: int) -> int:
    return dt_to_ns(datetime(*args, tzinfo=UTC))


# --- the tick fixture: two daylight-saving changes, multi-hour gaps, bursts --------------------

def _window(rng: np.random.Generator, start: int, end: int, mean_step_ns: float) -> np.ndarray:
    steps = rng.exponential(mean_step_ns, int((end - start) / mean_step_ns * 1.2)).astype(np.int64)
    ts = start + np.cumsum(steps)
    return ts[ts < end]


@pytest.fixture(scope="module")
def dst_quotes(tmp_path_factory: pytest.TempPathFactory) -> QuoteSeries:
    return dst_quote_file(tmp_path_factory.mktemp("ticks"))


def dst_quote_file(tmp_path: Path) -> QuoteSeries:
    """EURUSD quotes written to and read back from a CSV file.

    Around the US change of 2024-03-10 (07:00 UTC) and the EU change of 2024-10-27 (01:00 UTC),
    with multi-hour gaps (one straddles the EU change), bursts of hundreds of quotes sharing one
    timestamp, and a weekend.
    """
    rng = np.random.default_rng(20240310)
    pieces = [
        _window(rng, utc(2024, 3, 8, 20), utc(2024, 3, 9, 2), 4 * SEC),
        _window(rng, utc(2024, 3, 9, 23), utc(2024, 3, 10, 9), 2 * SEC),  # across 07:00 UTC
        _window(rng, utc(2024, 3, 10, 13, 17), utc(2024, 3, 11, 1), 3 * SEC),
        _window(rng, utc(2024, 10, 26, 19), utc(2024, 10, 26, 23, 40), 2 * SEC),
        _window(rng, utc(2024, 10, 27, 3, 5), utc(2024, 10, 27, 16), 2 * SEC),  # gap over 01:00
        _window(rng, utc(2024, 10, 27, 16, 30), utc(2024, 10, 28, 4), 5 * SEC),
    ]
    ts = np.concatenate(pieces)
    bursts = rng.choice(ts, 12, replace=False)
    ts = np.sort(np.concatenate([ts, np.repeat(bursts, rng.integers(100, 400, 12))]))
    mid = 1.08 + np.cumsum(rng.normal(0.0, 0.00003, ts.shape[0]))
    spread = rng.integers(1, 4, ts.shape[0]) * 0.00001
    frame = pd.DataFrame({
        "time": pd.to_datetime(ts, utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "bid": np.round(mid - spread / 2, 6), "ask": np.round(mid + spread / 2, 6),
    })
    path = tmp_path / "EURUSD_ticks.csv"
    frame.to_csv(path, index=False)
    back = pd.read_csv(path)
    read_ts = pd.to_datetime(back["time"], utc=True).dt.as_unit("ns")
    ones = np.ones(len(back))
    return QuoteSeries("EURUSD", read_ts.astype("int64").to_numpy(), back["bid"].to_numpy(),
                       back["ask"].to_numpy(), ones, ones, str(path))


def as_trades(quotes: QuoteSeries) -> TradeSeries:
    rng = np.random.default_rng(7)
    size = rng.integers(1, 40, len(quotes)) * 0.1  # fractional: summation order shows
    return TradeSeries(quotes.symbol, quotes.ts, quotes.bid, size, quotes.source)


def streamed(ticks: QuoteSeries | TradeSeries, spec: BarSpec, *, clock_every: int = 0,
             end_ns: int | None = None) -> dict[tuple[bool, bool], list[Bar]]:
    """Bars out of one pass, by how the data ends: (on_time(end_ns) called, flush() called)."""
    builder = BarBuilder(ticks.symbol, spec)
    out: list[Bar] = []
    if isinstance(ticks, QuoteSeries):
        rows = zip(ticks.ts.tolist(), ticks.bid.tolist(), ticks.ask.tolist(), strict=True)
        on = builder.on_quote
    else:
        rows = zip(ticks.ts.tolist(), ticks.price.tolist(), ticks.size.tolist(), strict=True)
        on = builder.on_trade
    for i, (ts, a, b) in enumerate(rows):
        if clock_every and i % clock_every == 0:
            out.extend(builder.on_time(ts))  # the clock never runs ahead of the next tick
        out.extend(on(ts, a, b))
    assert builder.dropped_late == 0
    endings: dict[tuple[bool, bool], list[Bar]] = {}
    for clock in (False, True):
        for flush in (False, True):
            copy_of = copy.copy(builder)
            tail = list(copy_of.on_time(end_ns)) if clock and end_ns is not None else []
            tail += copy_of.flush() if flush else ()
            endings[clock, flush] = out + tail
    return endings


def rows_of(bars: BarSeries | list[Bar]) -> list[tuple[int, float, float, float, float, float]]:
    if isinstance(bars, BarSeries):
        return list(zip(bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(),
                        bars.low.tolist(), bars.close.tolist(), bars.volume.tolist(), strict=True))
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars]


FIXTURE_SPECS = [
    TimeBars("1m", NEW_YORK_SESSION),
    TimeBars("5m", NEW_YORK_SESSION, carry_forward=True),
    TimeBars("30m", NEW_YORK_SESSION),
    TimeBars("1h", NEW_YORK_SESSION, carry_forward=True),
    TimeBars("4h", NEW_YORK_SESSION),
    TimeBars("1d", NEW_YORK_FX_DAY, carry_forward=True),
    TimeBars("15m", LONDON, carry_forward=True),
    TimeBars("1m"),
    TickBars(250),
    VolumeBars(333),
    ValueBars(1500.0),
]


@pytest.mark.parametrize("spec", FIXTURE_SPECS, ids=lambda s: f"{s.label}")
@pytest.mark.parametrize("kind", ["quotes", "trades"])
def test_streaming_and_batch_give_identical_bars_on_the_dst_tick_file(
    dst_quotes: QuoteSeries, spec: BarSpec, kind: str
) -> None:
    ticks: QuoteSeries | TradeSeries = dst_quotes if kind == "quotes" else as_trades(dst_quotes)
    end = int(dst_quotes.ts[-1]) + 3 * 3_600 * SEC
    plain = streamed(ticks, spec, end_ns=end)
    clocked = streamed(ticks, spec, clock_every=7, end_ns=end)
    for clock in (False, True):
        for partial in (False, True):
            batch = build_bars(ticks, spec, end_ns=end if clock else None,
                               include_partial=partial)
            assert rows_of(batch) == rows_of(plain[clock, partial])
            assert rows_of(batch) == rows_of(clocked[clock, partial])
            assert {b.timeframe for b in plain[clock, partial]} == {spec.label}
    assert len(batch) > 10
    assert batch.timeframe_ns == (spec.timeframe.ns if isinstance(spec, TimeBars) else 0)
    if isinstance(spec, TimeBars):
        assert (np.diff(batch.ts) > 0).all()


def test_the_fixture_has_bursts_gaps_and_both_changes(dst_quotes: QuoteSeries) -> None:
    ts = dst_quotes.ts
    _, repeats = np.unique(ts, return_counts=True)
    assert repeats.max() >= 100
    assert np.diff(ts).max() > 3 * 3_600 * SEC
    assert dst_quotes.source.endswith("EURUSD_ticks.csv")
    for change in (utc(2024, 3, 10, 7), utc(2024, 10, 27, 1)):
        assert ts[0] < change < ts[-1]
    bars = build_bars(dst_quotes, TimeBars("1h", NEW_YORK_SESSION))
    labels = set(bars.ts.tolist())
    # 01:30 EST (06:30 UTC) runs to 03:00 EDT (07:00 UTC); then 03:00 EDT, 03:30 EDT
    assert {utc(2024, 3, 10, 6, 30), utc(2024, 3, 10, 7), utc(2024, 3, 10, 7, 30)} <= labels


def test_ohlcv_of_one_minute_bars() -> None:
    ticks = TradeSeries(
        "ES",
        np.array([T0, T0 + SEC, T0 + 2 * SEC, T0 + MIN, T0 + MIN + 1, T0 + 3 * MIN]),
        np.array([10.0, 12.0, 9.0, 11.0, 11.5, 13.0]),
        np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        "es.parquet",
    )
    bars = build_bars(ticks, TimeBars("1m"), end_ns=T0 + 4 * MIN)
    assert rows_of(bars) == [
        (T0, 10.0, 12.0, 9.0, 9.0, 6.0),
        (T0 + MIN, 11.0, 11.5, 11.0, 11.5, 9.0),
        (T0 + 3 * MIN, 13.0, 13.0, 13.0, 13.0, 6.0),
    ]
    assert (bars.symbol, bars.timeframe_ns, bars.source) == ("ES", MIN, "es.parquet")


def test_the_last_time_bar_needs_the_data_end_to_be_complete() -> None:
    ticks = TradeSeries("ES", np.array([T0, T0 + MIN + SEC]), np.array([1.0, 2.0]),
                        np.array([1.0, 1.0]))
    assert build_bars(ticks, TimeBars("1m")).ts.tolist() == [T0]
    assert build_bars(ticks, TimeBars("1m"), end_ns=T0 + 2 * MIN - 1).ts.tolist() == [T0]
    assert build_bars(ticks, TimeBars("1m"), end_ns=T0 + 2 * MIN).ts.tolist() == [T0, T0 + MIN]
    assert build_bars(ticks, TimeBars("1m"), include_partial=True).ts.tolist() == [T0, T0 + MIN]


def test_carry_forward_fills_gaps_and_the_clock_up_to_the_data_end() -> None:
    ticks = TradeSeries("ES", np.array([T0, T0 + 3 * MIN]), np.array([1.0, 2.0]),
                        np.array([1.0, 1.0]))
    spec = TimeBars("1m", carry_forward=True)
    bars = build_bars(ticks, spec, end_ns=T0 + 6 * MIN + 30 * SEC)
    assert rows_of(bars) == [
        (T0, 1.0, 1.0, 1.0, 1.0, 1.0),
        (T0 + MIN, 1.0, 1.0, 1.0, 1.0, 0.0),
        (T0 + 2 * MIN, 1.0, 1.0, 1.0, 1.0, 0.0),
        (T0 + 3 * MIN, 2.0, 2.0, 2.0, 2.0, 1.0),
        (T0 + 4 * MIN, 2.0, 2.0, 2.0, 2.0, 0.0),
        (T0 + 5 * MIN, 2.0, 2.0, 2.0, 2.0, 0.0),
    ]
    assert len(build_bars(ticks, spec)) == 3  # the last bar is open: nothing after it


def test_tick_and_threshold_bars_drop_the_unfinished_last_bar_by_default() -> None:
    ts = T0 + np.arange(7, dtype=np.int64) * SEC
    ticks = TradeSeries("ES", ts, 100.0 + np.arange(7.0), np.full(7, 2.0))
    assert len(build_bars(ticks, TickBars(3))) == 2
    assert len(build_bars(ticks, TickBars(3), include_partial=True)) == 3
    assert len(build_bars(ticks, TickBars(7))) == 1
    assert build_bars(ticks, VolumeBars(4)).volume.tolist() == [4.0, 4.0, 4.0]
    assert build_bars(ticks, VolumeBars(4), include_partial=True).volume.tolist()[-1] == 2.0


def test_trade_volume_is_the_running_total_not_a_pairwise_sum() -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    size = rng.random(n) * 7.3
    ticks = TradeSeries("ES", np.full(n, T0, dtype=np.int64), np.full(n, 1.0), size)
    (volume,) = build_bars(ticks, TimeBars("1m"), include_partial=True).volume.tolist()
    total = 0.0
    for value in size.tolist():
        total += value
    assert volume == total


def test_volume_thresholds_compare_the_running_total_of_the_stream() -> None:
    # 0.1 + 0.1 + 0.1 = 0.30000000000000004 >= 0.3 closes the first bar after 3 ticks; the next
    # target is 0.30000000000000004 + 0.3 = 0.6000000000000001 and the running total after six
    # ticks is 0.6, so the second bar needs a fourth tick.
    ticks = TradeSeries("ES", T0 + np.arange(12, dtype=np.int64), np.full(12, 5.0),
                        np.full(12, 0.1))
    bars = build_bars(ticks, VolumeBars(0.3))
    assert (bars.ts - T0).tolist() == [0, 3, 7]
    assert rows_of(bars) == rows_of(streamed(ticks, VolumeBars(0.3))[False, False])


def test_empty_ticks_give_empty_bars() -> None:
    empty = np.empty(0)
    ticks = QuoteSeries("EURUSD", np.empty(0, dtype=np.int64), empty, empty, empty, empty)
    bars = build_bars(ticks, TimeBars("1h", carry_forward=True), end_ns=T0)
    assert len(bars) == 0 and bars.timeframe_ns == 3_600 * SEC


def test_ticks_going_back_in_time_raise_data_error_naming_the_tick() -> None:
    ticks = TradeSeries("ES", np.array([T0, T0 + 2, T0 + 1]), np.ones(3), np.ones(3), "es.csv")
    with pytest.raises(DataError, match=r"^es\.csv: tick 2 at 2024-05-06T10:00:00Z: time goes "
                                        r"back"):
        build_bars(ticks, TickBars(2))


@pytest.mark.parametrize(
    ("bid", "ask", "price", "message"),
    [
        (1.0, math.nan, "mid", "tick 1 at 2024-05-06T10:00:00Z: mid nan is not a positive"),
        (-1.0, 1.0, "bid", "tick 1 at 2024-05-06T10:00:00Z: bid -1.0 is not a positive"),
        (1.0, math.inf, "ask", "tick 1 at 2024-05-06T10:00:00Z: ask inf is not a positive"),
    ],
)
def test_a_bad_quote_raises_data_error(bid: float, ask: float, price: str, message: str) -> None:
    ones = np.ones(2)
    ticks = QuoteSeries("EURUSD", np.array([T0, T0]), np.array([1.0, bid]), np.array([1.0, ask]),
                        ones, ones)
    with pytest.raises(DataError, match=f"^EURUSD: {message}"):
        build_bars(ticks, TimeBars("1m"), price=price)  # type: ignore[arg-type]


def test_a_negative_size_raises_data_error() -> None:
    ticks = TradeSeries("ES", np.array([T0, T0]), np.ones(2), np.array([1.0, -2.0]))
    with pytest.raises(DataError, match=r"tick 1 at .*: size -2\.0 is not a non-negative"):
        build_bars(ticks, VolumeBars(3))


def test_an_end_before_the_last_tick_is_a_config_error() -> None:
    ticks = TradeSeries("ES", np.array([T0, T0 + MIN]), np.ones(2), np.ones(2))
    with pytest.raises(ConfigError, match="before the last tick"):
        build_bars(ticks, TimeBars("1m"), end_ns=T0 + 1)


def test_only_tick_series_are_accepted() -> None:
    ones = np.ones(1)
    bars = BarSeries("ES", np.array([T0]), ones, ones, ones, ones, ones, MIN)
    with pytest.raises(ConfigError, match="QuoteSeries or a TradeSeries, got BarSeries"):
        build_bars(bars, TimeBars("1m"))  # type: ignore[arg-type]
