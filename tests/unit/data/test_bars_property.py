"""Property: streaming and batch bar building agree exactly on any sorted tick sequence."""

from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloop.core.time import NANOS_PER_HOUR, NANOS_PER_MINUTE, NANOS_PER_SECOND, dt_to_ns
from tradeloop.data.bars import (
    BarBuilder,
    BarSpec,
    TickBars,
    TimeBars,
    ValueBars,
    VolumeBars,
    build_bars,
)
from tradeloop.data.timeframes import UTC_MIDNIGHT, BucketAlignment
from tradeloop.model.data import Bar, QuoteSeries, TradeSeries

SEC = NANOS_PER_SECOND

# Starts just before daylight-saving changes (US spring and fall, EU fall) and a plain day.
STARTS = [
    dt_to_ns(datetime(2024, 3, 10, 6, 20, tzinfo=UTC)),
    dt_to_ns(datetime(2024, 11, 3, 4, 50, tzinfo=UTC)),
    dt_to_ns(datetime(2024, 10, 27, 0, 10, tzinfo=UTC)),
    dt_to_ns(datetime(2024, 5, 6, 23, 58, tzinfo=UTC)),
]
ALIGNMENTS = [
    UTC_MIDNIGHT,
    BucketAlignment("America/New_York", "09:30"),
    BucketAlignment("America/New_York", "17:00"),
    BucketAlignment("Europe/London", "01:15"),
]
# steps between ticks: duplicates, bursts, seconds, minutes, multi-hour gaps
STEPS = st.one_of(
    st.just(0),
    st.integers(1, 1_000),
    st.integers(1, 90) .map(lambda s: s * SEC),
    st.integers(1, 45).map(lambda m: m * NANOS_PER_MINUTE + 7),
    st.integers(1, 9).map(lambda h: h * NANOS_PER_HOUR),
)
PRICES = st.sampled_from([0.1, 0.2, 0.3, 0.7, 1.1, 99.95, 100.05, 1e-5, 12345.678])
SIZES = st.sampled_from([0.0, 0.1, 0.2, 0.3, 1.0, 2.5, 1e-3, 7.0, 1e6])

time_specs = st.builds(
    TimeBars,
    st.sampled_from(["1m", "5m", "7m", "30m", "1h", "90m", "4h", "1d"]),
    st.sampled_from(ALIGNMENTS),
    st.booleans(),
)
specs: st.SearchStrategy[BarSpec] = st.one_of(
    time_specs,
    st.builds(TickBars, st.integers(1, 12)),
    st.builds(VolumeBars, st.sampled_from([0.3, 1.0, 2.0, 5.5, 1e6])),
    st.builds(ValueBars, st.sampled_from([0.03, 1.0, 50.0, 1e4])),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(0, 60))
    start = draw(st.sampled_from(STARTS))
    steps = draw(st.lists(STEPS, min_size=n, max_size=n))
    ts = (start + np.cumsum(np.array(steps, dtype=np.int64))).tolist()
    first = draw(st.lists(PRICES, min_size=n, max_size=n))
    second = draw(st.lists(st.one_of(PRICES, SIZES), min_size=n, max_size=n))
    # before tick i, maybe read the clock at a moment between the previous tick and tick i
    clock = draw(st.lists(st.none() | st.floats(0.0, 1.0), min_size=n, max_size=n))
    tail = draw(st.none() | st.integers(0, 30 * NANOS_PER_HOUR))
    return {
        "ts": ts, "first": first, "second": second, "clock": clock,
        "quotes": draw(st.booleans()), "spec": draw(specs), "price": draw(
            st.sampled_from(["mid", "bid", "ask"])),
        "end_ns": None if tail is None or n == 0 else ts[-1] + tail,
        "partial": draw(st.booleans()),
    }


def stream(case: dict[str, object]) -> list[tuple[object, ...]]:
    ts: list[int] = case["ts"]  # type: ignore[assignment]
    first: list[float] = case["first"]  # type: ignore[assignment]
    second: list[float] = case["second"]  # type: ignore[assignment]
    clock: list[float | None] = case["clock"]  # type: ignore[assignment]
    builder = BarBuilder("X", case["spec"], case["price"])  # type: ignore[arg-type]
    on = builder.on_quote if case["quotes"] else builder.on_trade
    out: list[Bar] = []
    previous = ts[0] if ts else 0
    for t, a, b, c in zip(ts, first, second, clock, strict=True):
        if c is not None:
            out.extend(builder.on_time(previous + int((t - previous) * c)))
        # quotes: a is the bid and ask = bid + b (never crossed); trades: price a, size b
        out.extend(on(t, a, a + b) if case["quotes"] else on(t, a, b))
        previous = t
    if case["end_ns"] is not None:
        out.extend(builder.on_time(case["end_ns"]))  # type: ignore[arg-type]
    if case["partial"]:
        out.extend(builder.flush())
    assert builder.dropped_late == 0
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in out]


def batch(case: dict[str, object]) -> list[tuple[object, ...]]:
    ts = np.array(case["ts"], dtype=np.int64)
    first = np.array(case["first"], dtype=np.float64)
    second = np.array(case["second"], dtype=np.float64)
    if case["quotes"]:
        ticks: QuoteSeries | TradeSeries = QuoteSeries("X", ts, first, first + second,
                                                       np.ones(ts.shape[0]), np.ones(ts.shape[0]))
    else:
        ticks = TradeSeries("X", ts, first, second)
    bars = build_bars(ticks, case["spec"], case["price"],  # type: ignore[arg-type]
                      end_ns=case["end_ns"], include_partial=case["partial"])  # type: ignore[arg-type]
    return list(zip(bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(),
                    bars.close.tolist(), bars.volume.tolist(), strict=True))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_streaming_equals_batch(case: dict[str, object]) -> None:
    streamed = stream(case)
    assert streamed == batch(case)
    labels = [row[0] for row in streamed]
    if isinstance(case["spec"], TimeBars):
        assert labels == sorted(set(labels))  # one bar per bucket, in order
    else:
        assert labels == sorted(labels)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_clock_reads_never_change_the_bars(case: dict[str, object]) -> None:
    without = dict(case, clock=[None] * len(case["clock"]))  # type: ignore[arg-type]
    assert stream(case) == stream(without)
