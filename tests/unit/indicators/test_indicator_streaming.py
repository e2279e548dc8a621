"""Streaming contract of the indicators: warmup, ready, prev, reset, batch twin, arguments."""

from __future__ import annotations

import math
from collections.abc import Callable

import hypothesis.strategies as st
import numpy as np
import pytest
import talib
from hypothesis import HealthCheck, given, settings

import tradeloop.indicators as indicators_pkg
from tradeloop.indicators import (
    ADX,
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    WMA,
    BollingerBands,
    Donchian,
    Highest,
    Indicator,
    Lowest,
    Stochastic,
)
from tradeloop.model.data import Bar

Columns = dict[str, np.ndarray]
Factory = Callable[[], Indicator]

NS_PER_HOUR = 3_600_000_000_000

FACTORIES: list[Factory] = [
    lambda: SMA(1),
    lambda: SMA(7),
    lambda: EMA(1),
    lambda: EMA(9),
    lambda: WMA(1),
    lambda: WMA(6),
    lambda: RSI(2),
    lambda: RSI(14),
    lambda: ATR(1),
    lambda: ATR(14),
    BollingerBands,
    lambda: BollingerBands(3, 0.5),
    MACD,
    lambda: MACD(1, 2, 1),
    lambda: MACD(4, 9, 3),
    Stochastic,
    lambda: Stochastic(1, 1, 1),
    lambda: Stochastic(5, 3, 2),
    lambda: ADX(2),
    ADX,
    VWAP,
    lambda: VWAP(session=None),
    lambda: Highest(1),
    lambda: Highest(10),
    lambda: Lowest(1),
    lambda: Lowest(10),
    Donchian,
    lambda: Donchian(1),
]
IDS = [make().name for make in FACTORIES]


def columns_for(indicator: Indicator, data: Columns) -> list[np.ndarray]:
    return [data[field] for field in indicator.inputs]


def stream(indicator: Indicator, data: Columns) -> dict[str, np.ndarray]:
    """Feed every bar and collect value and extra outputs after each update."""
    names = ("value", *indicator.outputs)
    collected: dict[str, list[float]] = {name: [] for name in names}
    for row in zip(*(data[f].tolist() for f in indicator.inputs), strict=True):
        indicator.update(*row)
        for name in names:
            collected[name].append(getattr(indicator, name))
    return {name: np.array(values, dtype=np.float64) for name, values in collected.items()}


def assert_close(actual: np.ndarray, expected: np.ndarray, scale: float, what: str) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=what)
    np.testing.assert_allclose(
        actual, expected, rtol=1e-9, atol=1e-9 * scale, equal_nan=True, err_msg=what
    )


# --- interface -----------------------------------------------------------------------------


def test_public_names() -> None:
    assert sorted(indicators_pkg.__all__) == sorted(
        [
            "ADX",
            "ATR",
            "BollingerBands",
            "Donchian",
            "EMA",
            "Highest",
            "Indicator",
            "Lowest",
            "MACD",
            "RSI",
            "SMA",
            "Stochastic",
            "VWAP",
            "WMA",
        ]
    )
    for name in indicators_pkg.__all__:
        assert getattr(indicators_pkg, name).__doc__


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_interface_attributes(make: Factory) -> None:
    indicator = make()
    assert isinstance(indicator, Indicator)
    assert indicator.inputs
    assert set(indicator.inputs) <= {"open", "high", "low", "close", "volume", "ts"}
    assert "value" not in indicator.outputs
    assert isinstance(indicator.warmup, int) and indicator.warmup >= 1
    assert indicator.count == 0 and not indicator.ready
    assert math.isnan(indicator.value) and math.isnan(indicator.prev)
    for name in indicator.outputs:
        assert math.isnan(getattr(indicator, name))
    assert repr(indicator) == indicator.name
    assert not hasattr(indicator, "__dict__")  # __slots__ all the way down


def test_names_and_warmups() -> None:
    assert (SMA(10).name, SMA(10).warmup) == ("SMA(10)", 10)
    assert SMA(5, source="open").name == "SMA(5, source=open)"
    assert (EMA(20).name, EMA(20).warmup) == ("EMA(20)", 20)
    assert (WMA(4).name, WMA(4).warmup) == ("WMA(4)", 4)
    assert (RSI().name, RSI().warmup) == ("RSI(14)", 15)
    assert (ATR().name, ATR().warmup) == ("ATR(14)", 15)
    assert (BollingerBands().name, BollingerBands().warmup) == ("BollingerBands(20, 2)", 20)
    assert (MACD().name, MACD().warmup) == ("MACD(12, 26, 9)", 34)
    assert (Stochastic().name, Stochastic().warmup) == ("Stochastic(14, 3, 3)", 18)
    assert (ADX().name, ADX().warmup) == ("ADX(14)", 28)
    assert (Donchian().name, Donchian().warmup) == ("Donchian(20)", 20)
    assert (Highest(5).name, Lowest(5).name) == ("Highest(5)", "Lowest(5)")
    assert (VWAP().name, VWAP().warmup) == ("VWAP(day)", 1)
    assert VWAP().inputs == ("high", "low", "close", "volume", "ts")
    assert VWAP(session=None).inputs == ("high", "low", "close", "volume")
    assert MACD().outputs == ("signal", "histogram")
    assert BollingerBands().outputs == ("upper", "lower")
    assert ADX().outputs == ("plus_di", "minus_di")
    assert Stochastic().outputs == ("d",)
    assert Donchian().outputs == ("upper", "lower")
    assert SMA(3).outputs == ()


# --- warmup / ready / prev -----------------------------------------------------------------


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_batch_warmup_invariant(make: Factory, ohlcv: Columns) -> None:
    indicator = make()
    out = indicator.batch(*columns_for(indicator, ohlcv))
    assert set(out) == {"value", *indicator.outputs}
    w = indicator.warmup
    for name, array in out.items():
        assert array.shape == ohlcv["close"].shape, name
        assert np.isnan(array[: w - 1]).all(), name
        assert np.isfinite(array[w - 1 :]).all(), name


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_streaming_ready_and_prev(make: Factory, goog: Columns) -> None:
    indicator = make()
    rows = list(zip(*(goog[f][:60].tolist() for f in indicator.inputs), strict=True))
    previous = math.nan
    for i, row in enumerate(rows):
        indicator.update(*row)
        assert indicator.count == i + 1
        assert indicator.ready == (i + 1 >= indicator.warmup)
        assert indicator.prev == previous or (math.isnan(indicator.prev) and math.isnan(previous))
        assert math.isfinite(indicator.value) == indicator.ready
        for name in indicator.outputs:
            assert math.isfinite(getattr(indicator, name)) == indicator.ready
        previous = indicator.value


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_engine_replay_of_batch_outputs(make: Factory, goog: Columns) -> None:
    # The engine may copy batch outputs into the attributes bar by bar instead of updating.
    indicator = make()
    reference = make()
    columns = columns_for(indicator, goog)
    out = indicator.batch(*columns)
    rows = list(zip(*(c.tolist() for c in columns), strict=True))
    for i, row in enumerate(rows[:80]):
        indicator.prev = indicator.value
        indicator.value = float(out["value"][i])
        indicator.count = i + 1
        for name in indicator.outputs:
            setattr(indicator, name, float(out[name][i]))
        reference.update(*row)
        assert indicator.ready == reference.ready
        for name in ("value", "prev", *indicator.outputs):
            a, b = getattr(indicator, name), getattr(reference, name)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9)


# --- reset / update_bar / batch isolation --------------------------------------------------


def _state(indicator: Indicator) -> dict[str, object]:
    # repr of every slot, descending into the private rolling-window helpers.
    state: dict[str, object] = {}
    for cls in type(indicator).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            obj = getattr(indicator, slot)
            if hasattr(obj, "__slots__"):
                state[slot] = {s: repr(getattr(obj, s)) for s in obj.__slots__}
            else:
                state[slot] = repr(obj)
    return state


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_reset_restores_fresh_state(make: Factory, eurusd: Columns) -> None:
    indicator = make()
    fresh = _state(indicator)
    head = {f: eurusd[f][:300] for f in eurusd}
    first = stream(indicator, head)
    indicator.reset()
    assert indicator.count == 0 and not indicator.ready
    assert math.isnan(indicator.value) and math.isnan(indicator.prev)
    assert _state(indicator) == fresh
    second = stream(indicator, head)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_batch_does_not_touch_streaming_state(make: Factory, goog: Columns) -> None:
    indicator = make()
    stream(indicator, {f: goog[f][:50] for f in goog})
    before = _state(indicator)
    indicator.batch(*columns_for(indicator, goog))
    assert _state(indicator) == before


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
def test_update_bar_reads_named_fields(make: Factory, goog: Columns) -> None:
    by_bar, by_values = make(), make()
    for i in range(40):
        bar = Bar(
            symbol="GOOG",
            ts=int(goog["ts"][i]),
            open=float(goog["open"][i]),
            high=float(goog["high"][i]),
            low=float(goog["low"][i]),
            close=float(goog["close"][i]),
            volume=float(goog["volume"][i]),
        )
        by_bar.update_bar(bar)
        by_values.update(*(getattr(bar, f) for f in by_values.inputs))
    assert by_bar.count == 40
    for name in ("value", "prev", *by_bar.outputs):
        a, b = getattr(by_bar, name), getattr(by_values, name)
        assert a == b or (math.isnan(a) and math.isnan(b))


# --- TA-Lib edge-case semantics --------------------------------------------------------------


def test_flat_series_semantics() -> None:
    flat = np.full(60, 7.25)
    data = {"open": flat, "high": flat, "low": flat, "close": flat, "volume": flat}
    for indicator, expected in [
        (RSI(5), talib.RSI(flat, 5)),
        (Stochastic(5, 3, 3), talib.STOCH(flat, flat, flat, 5, 3, 0, 3, 0)[0]),
        (ADX(5), talib.ADX(flat, flat, flat, 5)),
    ]:
        out = indicator.batch(*columns_for(indicator, data))["value"]
        streamed = stream(indicator, data)["value"]
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(streamed, expected)
    bands = BollingerBands(5)
    streamed_bands = stream(bands, data)
    assert (streamed_bands["upper"][4:] == 7.25).all()
    assert (streamed_bands["lower"][4:] == 7.25).all()


def test_bollinger_flat_window_after_volatility_is_exact() -> None:
    # A running sum of squares would leave rounding noise of order sqrt(eps) * range here.
    rng = np.random.default_rng(11)
    x = np.r_[rng.uniform(500.0, 1500.0, 1000), np.full(40, 1234.5678)]
    bands = BollingerBands(10)
    out = stream(bands, {"close": x})
    assert (out["upper"][-30:] == out["value"][-30:]).all()
    np.testing.assert_allclose(out["value"][-30:], 1234.5678, rtol=1e-15)
    upper, middle, _ = talib.BBANDS(x, 10, 2.0, 2.0, 0)
    assert_close(out["upper"], upper, 1500.0, "upper")
    assert_close(out["value"], middle, 1500.0, "middle")


def test_adx_zero_true_range_holds_adx() -> None:
    rng = np.random.default_rng(5)
    close = 100 + rng.standard_normal(120).cumsum()
    high = close + rng.uniform(0.0, 1.0, 120)
    low = close - rng.uniform(0.0, 1.0, 120)
    high[:12] = low[:12] = close[:12] = 100.0  # TR and DMs are exactly 0 at first
    adx = ADX(4)
    out = adx.batch(high, low, close)
    streamed = stream(adx, {"high": high, "low": low, "close": close})
    for name, talib_out in [
        ("value", talib.ADX(high, low, close, 4)),
        ("plus_di", talib.PLUS_DI(high, low, close, 4)),
        ("minus_di", talib.MINUS_DI(high, low, close, 4)),
    ]:
        ref = talib_out.copy()
        ref[: adx.warmup - 1] = np.nan
        assert_close(out[name], ref, 100.0, name)
        assert_close(streamed[name], ref, 100.0, name)


# --- long-stream drift ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "reference"),
    [
        (lambda: SMA(20), lambda x: talib.SMA(x, 20)),
        (lambda: WMA(30), lambda x: talib.WMA(x, 30)),
        (lambda: BollingerBands(20, 2.0), lambda x: talib.BBANDS(x, 20, 2.0, 2.0, 0)[0]),
    ],
    ids=["SMA", "WMA", "BollingerBands.upper"],
)
def test_running_sums_do_not_drift(
    make: Callable[[], Indicator], reference: Callable[[np.ndarray], np.ndarray]
) -> None:
    # 60k bars of a high-priced, low-volatility random walk: the worst case for running sums.
    rng = np.random.default_rng(2024)
    x = 25_000.0 + np.cumsum(rng.standard_normal(60_000) * 0.01)
    indicator = make()
    name = "upper" if isinstance(indicator, BollingerBands) else "value"
    streamed = stream(indicator, {"close": x})[name]
    batched = indicator.batch(x)[name]
    expected = reference(x)
    assert_close(streamed, expected, 25_000.0, "streaming")
    assert_close(batched, expected, 25_000.0, "batch")
    exact = np.lib.stride_tricks.sliding_window_view(x, 20).mean(axis=1)
    if isinstance(indicator, SMA):
        np.testing.assert_allclose(streamed[19:], exact, rtol=1e-14)


# --- streaming == batch on random data -----------------------------------------------------


@st.composite
def bar_columns(draw: st.DrawFn) -> Columns:
    n = draw(st.integers(min_value=1, max_value=90))
    price = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False, allow_infinity=False)
    opens = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    closes = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    fraction = st.floats(min_value=0.0, max_value=0.2)
    up = np.array(draw(st.lists(fraction, min_size=n, max_size=n)))
    down = np.array(draw(st.lists(fraction, min_size=n, max_size=n)))
    volume = st.floats(min_value=1.0, max_value=1e7, allow_nan=False)
    steps = draw(st.lists(st.integers(min_value=1, max_value=30), min_size=n, max_size=n))
    body_high = np.maximum(opens, closes)
    body_low = np.minimum(opens, closes)
    return {
        "open": opens,
        "high": body_high * (1.0 + up),
        "low": body_low * (1.0 - down),
        "close": closes,
        "volume": np.array(draw(st.lists(volume, min_size=n, max_size=n))),
        "ts": 1_500_000_000 * 10**9 + np.cumsum(steps).astype(np.int64) * NS_PER_HOUR,
    }


@pytest.mark.parametrize("make", FACTORIES, ids=IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=bar_columns())
def test_streaming_equals_batch(make: Factory, data: Columns) -> None:
    indicator = make()
    streamed = stream(indicator, data)
    batched = indicator.batch(*columns_for(indicator, data))
    scale = max(100.0, float(np.max(data["high"])))
    for name, array in batched.items():
        assert_close(streamed[name], array, scale, f"{indicator.name} {name}")


# --- argument validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SMA(0), "SMA period must be a positive integer, got 0"),
        (lambda: SMA(-3), "SMA period must be a positive integer, got -3"),
        (lambda: SMA(2.5), "SMA period must be a positive integer, got 2.5"),
        (lambda: SMA(True), "SMA period must be a positive integer, got True"),
        (lambda: SMA("10"), "SMA period must be a positive integer, got '10'"),
        (lambda: SMA(10, source="price"), "SMA source must be one of"),
        (lambda: SMA(10, source="ts"), "SMA source must be one of"),
        (lambda: EMA(0), "EMA period must be a positive integer, got 0"),
        (lambda: WMA(None), "WMA period must be a positive integer, got None"),
        (lambda: RSI(1), "RSI period must be an integer >= 2, got 1"),
        (lambda: ATR(0), "ATR period must be a positive integer, got 0"),
        (lambda: BollingerBands(0), "BollingerBands period must be a positive integer"),
        (lambda: BollingerBands(20, -1.0), "BollingerBands k must be a finite non-negative"),
        (lambda: BollingerBands(20, math.nan), "BollingerBands k must be a finite non-negative"),
        (lambda: BollingerBands(20, math.inf), "BollingerBands k must be a finite non-negative"),
        (lambda: BollingerBands(20, "2"), "BollingerBands k must be a finite non-negative"),
        (lambda: MACD(0, 26, 9), "MACD fast period must be a positive integer, got 0"),
        (lambda: MACD(12, 1, 9), "MACD slow period must be an integer >= 2, got 1"),
        (lambda: MACD(12, 26, 0), "MACD signal period must be a positive integer, got 0"),
        (lambda: MACD(26, 12, 9), "MACD fast period must be smaller than slow period"),
        (lambda: MACD(12, 12, 9), "MACD fast period must be smaller than slow period"),
        (lambda: Stochastic(0), "Stochastic fastk_period must be a positive integer, got 0"),
        (lambda: Stochastic(14, 0), "Stochastic slowk_period must be a positive integer"),
        (lambda: Stochastic(14, 3, -1), "Stochastic slowd_period must be a positive integer"),
        (lambda: ADX(1), "ADX period must be an integer >= 2, got 1"),
        (lambda: Highest(0), "Highest period must be a positive integer, got 0"),
        (lambda: Lowest(0), "Lowest period must be a positive integer, got 0"),
        (lambda: Donchian(0), "Donchian period must be a positive integer, got 0"),
        (lambda: VWAP(session="week"), "VWAP session must be 'day' or None, got 'week'"),
    ],
)
def test_bad_arguments(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_numpy_integer_periods_are_accepted() -> None:
    assert SMA(np.int64(5)).period == 5  # type: ignore[arg-type]


def test_batch_rejects_bad_columns() -> None:
    with pytest.raises(ValueError, match=r"SMA\(3\)\.batch expects 1 arrays \(close\), got 2"):
        SMA(3).batch(np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="columns differ in length"):
        ATR(3).batch(np.ones(5), np.ones(5), np.ones(4))
    with pytest.raises(ValueError, match="must be 1-D"):
        SMA(3).batch(np.ones((5, 2)))


def test_batch_on_short_and_empty_input() -> None:
    for make in FACTORIES:
        indicator = make()
        for n in sorted({0, 1, indicator.warmup - 1} - {indicator.warmup}):
            columns = [
                np.ones(n, dtype=np.int64 if f == "ts" else np.float64) for f in indicator.inputs
            ]
            out = indicator.batch(*columns)
            for array in out.values():
                assert array.shape == (n,)
                assert np.isnan(array).all()
