"""Both twins of every indicator agree with TA-Lib (VWAP: with pandas) on the sample data."""

from __future__ import annotations

from collections.abc import Callable

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import HealthCheck, given, settings

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

Columns = dict[str, np.ndarray]
Reference = Callable[[Columns], dict[str, np.ndarray]]

RTOL = 1e-9


def _bbands(period: int, k: float) -> Reference:
    def ref(d: Columns) -> dict[str, np.ndarray]:
        upper, middle, lower = talib.BBANDS(d["close"], period, k, k, 0)
        return {"value": middle, "upper": upper, "lower": lower}

    return ref


def _macd(fast: int, slow: int, signal: int) -> Reference:
    def ref(d: Columns) -> dict[str, np.ndarray]:
        macd, sig, hist = talib.MACD(d["close"], fast, slow, signal)
        return {"value": macd, "signal": sig, "histogram": hist}

    return ref


def _stoch(fastk: int, slowk: int, slowd: int) -> Reference:
    def ref(d: Columns) -> dict[str, np.ndarray]:
        k, dd = talib.STOCH(d["high"], d["low"], d["close"], fastk, slowk, 0, slowd, 0)
        return {"value": k, "d": dd}

    return ref


def _adx(period: int) -> Reference:
    def ref(d: Columns) -> dict[str, np.ndarray]:
        hlc = (d["high"], d["low"], d["close"])
        return {
            "value": talib.ADX(*hlc, period),
            "plus_di": talib.PLUS_DI(*hlc, period),
            "minus_di": talib.MINUS_DI(*hlc, period),
        }

    return ref


def _donchian(period: int) -> Reference:
    def ref(d: Columns) -> dict[str, np.ndarray]:
        upper = talib.MAX(d["high"], period)
        lower = talib.MIN(d["low"], period)
        return {"value": (upper + lower) / 2.0, "upper": upper, "lower": lower}

    return ref


CASES: list[tuple[Callable[[], Indicator], Reference]] = [
    (lambda: SMA(1), lambda d: {"value": talib.SMA(d["close"], 1)}),
    (lambda: SMA(10), lambda d: {"value": talib.SMA(d["close"], 10)}),
    (lambda: SMA(200), lambda d: {"value": talib.SMA(d["close"], 200)}),
    (lambda: SMA(30, source="volume"), lambda d: {"value": talib.SMA(d["volume"], 30)}),
    (lambda: EMA(1), lambda d: {"value": talib.EMA(d["close"], 1)}),
    (lambda: EMA(2), lambda d: {"value": talib.EMA(d["close"], 2)}),
    (lambda: EMA(20), lambda d: {"value": talib.EMA(d["close"], 20)}),
    (lambda: EMA(200, source="open"), lambda d: {"value": talib.EMA(d["open"], 200)}),
    (lambda: WMA(1), lambda d: {"value": talib.WMA(d["close"], 1)}),
    (lambda: WMA(15), lambda d: {"value": talib.WMA(d["close"], 15)}),
    (lambda: WMA(100), lambda d: {"value": talib.WMA(d["close"], 100)}),
    (lambda: RSI(2), lambda d: {"value": talib.RSI(d["close"], 2)}),
    (lambda: RSI(14), lambda d: {"value": talib.RSI(d["close"], 14)}),
    (lambda: RSI(50, source="high"), lambda d: {"value": talib.RSI(d["high"], 50)}),
    (lambda: ATR(1), lambda d: {"value": talib.ATR(d["high"], d["low"], d["close"], 1)}),
    (lambda: ATR(14), lambda d: {"value": talib.ATR(d["high"], d["low"], d["close"], 14)}),
    (lambda: ATR(100), lambda d: {"value": talib.ATR(d["high"], d["low"], d["close"], 100)}),
    (BollingerBands, _bbands(20, 2.0)),
    (lambda: BollingerBands(5, 1.5), _bbands(5, 1.5)),
    (lambda: BollingerBands(50, 1.0), _bbands(50, 1.0)),
    (MACD, _macd(12, 26, 9)),
    (lambda: MACD(3, 10, 1), _macd(3, 10, 1)),
    (lambda: MACD(2, 50, 20), _macd(2, 50, 20)),
    (Stochastic, _stoch(14, 3, 3)),
    (lambda: Stochastic(5, 1, 1), _stoch(5, 1, 1)),
    (lambda: Stochastic(1, 4, 2), _stoch(1, 4, 2)),
    (lambda: ADX(2), _adx(2)),
    (ADX, _adx(14)),
    (lambda: ADX(30), _adx(30)),
    (lambda: Highest(2), lambda d: {"value": talib.MAX(d["high"], 2)}),
    (lambda: Highest(20), lambda d: {"value": talib.MAX(d["high"], 20)}),
    (lambda: Highest(55, source="close"), lambda d: {"value": talib.MAX(d["close"], 55)}),
    (lambda: Lowest(2), lambda d: {"value": talib.MIN(d["low"], 2)}),
    (lambda: Lowest(20), lambda d: {"value": talib.MIN(d["low"], 20)}),
    (Donchian, _donchian(20)),
    (lambda: Donchian(3), _donchian(3)),
]
CASE_IDS = [make().name for make, _ in CASES]


def stream(indicator: Indicator, data: Columns) -> dict[str, np.ndarray]:
    """Feed every bar to ``indicator`` and collect value and extra outputs after each one."""
    names = ("value", *indicator.outputs)
    collected: dict[str, list[float]] = {name: [] for name in names}
    rows = zip(*(data[field].tolist() for field in indicator.inputs), strict=True)
    for row in rows:
        indicator.update(*row)
        for name in names:
            collected[name].append(getattr(indicator, name))
    return {name: np.array(values, dtype=np.float64) for name, values in collected.items()}


def expected_outputs(
    indicator: Indicator, reference: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    # Our extra outputs share the warmup of ``value`` (e.g. TA-Lib's PLUS_DI starts earlier
    # than ADX), so the reference is blanked before it.
    out = {}
    for name, array in reference.items():
        blanked = np.array(array, dtype=np.float64)
        blanked[: indicator.warmup - 1] = np.nan
        out[name] = blanked
    return out


def assert_matches(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: NaNs")
    finite = expected[~np.isnan(expected)]
    scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    np.testing.assert_allclose(
        actual, expected, rtol=RTOL, atol=RTOL * scale, equal_nan=True, err_msg=what
    )


@pytest.mark.parametrize(("make", "reference"), CASES, ids=CASE_IDS)
def test_streaming_matches_talib(
    make: Callable[[], Indicator], reference: Reference, ohlcv: Columns
) -> None:
    indicator = make()
    expected = expected_outputs(indicator, reference(ohlcv))
    assert set(expected) == {"value", *indicator.outputs}
    actual = stream(indicator, ohlcv)
    for name, array in expected.items():
        assert_matches(actual[name], array, f"{indicator.name} streaming {name}")


@pytest.mark.parametrize(("make", "reference"), CASES, ids=CASE_IDS)
def test_batch_matches_talib(
    make: Callable[[], Indicator], reference: Reference, ohlcv: Columns
) -> None:
    indicator = make()
    expected = expected_outputs(indicator, reference(ohlcv))
    actual = indicator.batch(*(ohlcv[field] for field in indicator.inputs))
    assert set(actual) == set(expected)
    for name, array in expected.items():
        assert actual[name].dtype == np.float64
        assert_matches(actual[name], array, f"{indicator.name} batch {name}")


def test_adx_directional_indicators_match_talib_from_bar_2p(ohlcv: Columns) -> None:
    # Where both are defined, the DIs equal TA-Lib's even though TA-Lib publishes them earlier.
    period = 14
    hlc = (ohlcv["high"], ohlcv["low"], ohlcv["close"])
    out = ADX(period).batch(*hlc)
    start = 2 * period - 1
    assert_matches(out["plus_di"][start:], talib.PLUS_DI(*hlc, period)[start:], "plus_di")
    assert_matches(out["minus_di"][start:], talib.MINUS_DI(*hlc, period)[start:], "minus_di")


def test_macd_reproduces_talib_fast_ema_seeding(goog: Columns) -> None:
    # TA-Lib seeds the fast EMA with the mean of the ``fast`` closes ending at bar ``slow``,
    # not at bar ``fast`` as a standalone EMA would; the two differ measurably on GOOG.
    close = goog["close"]
    macd = MACD(12, 26, 9).batch(close)["value"]
    naive = talib.EMA(close, 12) - talib.EMA(close, 26)
    start = 26 + 9 - 2
    assert not np.allclose(macd[start : start + 20], naive[start : start + 20], rtol=1e-6)
    assert_matches(macd, talib.MACD(close, 12, 26, 9)[0], "MACD line")


def _vwap_reference(data: Columns, by_day: bool) -> np.ndarray:
    frame = pd.DataFrame(
        {
            "pv": (data["high"] + data["low"] + data["close"]) / 3.0 * data["volume"],
            "volume": data["volume"],
            "day": pd.to_datetime(data["ts"], unit="ns", utc=True).date if by_day else 0,
        }
    )
    sums = frame.groupby("day", sort=False)[["pv", "volume"]].cumsum()
    return (sums["pv"] / sums["volume"]).to_numpy(dtype=np.float64)


@pytest.mark.parametrize("session", ["day", None])
def test_vwap_matches_pandas_groupby(session: str | None, ohlcv: Columns) -> None:
    indicator = VWAP(session=session)
    expected = _vwap_reference(ohlcv, by_day=session == "day")
    assert_matches(stream(indicator, ohlcv)["value"], expected, f"{indicator.name} streaming")
    columns = [ohlcv[field] for field in indicator.inputs]
    assert_matches(indicator.batch(*columns)["value"], expected, f"{indicator.name} batch")


def test_vwap_resets_at_utc_midnight(eurusd: Columns) -> None:
    vwap = VWAP()
    ts = eurusd["ts"]
    day = ts // 86_400_000_000_000
    first_of_day = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    assert first_of_day.size > 100
    out = vwap.batch(*(eurusd[f] for f in vwap.inputs))["value"]
    typical = (eurusd["high"] + eurusd["low"] + eurusd["close"]) / 3.0
    np.testing.assert_allclose(out[first_of_day], typical[first_of_day], rtol=1e-14)


def test_vwap_sessions_without_padding_fall_back_to_offsets() -> None:
    # One long session and many one-bar sessions make the padded layout too large.
    ns_day = 86_400_000_000_000
    ts = np.r_[np.arange(3000) * 10**9, ns_day * (np.arange(1, 2000) + 1)]
    rng = np.random.default_rng(3)
    close = 100.0 + rng.standard_normal(ts.size).cumsum() * 0.1
    data = {
        "high": close + 0.5,
        "low": close - 0.5,
        "close": close,
        "volume": rng.uniform(1.0, 1000.0, ts.size),
        "ts": ts,
    }
    vwap = VWAP()
    out = vwap.batch(*(data[f] for f in vwap.inputs))["value"]
    assert_matches(out, _vwap_reference(data, by_day=True), "VWAP fallback")


@st.composite
def random_bars(draw: st.DrawFn) -> Columns:
    """Random positive OHLC bars, with repeated prices likely (ties and flat stretches)."""
    n = draw(st.integers(min_value=2, max_value=80))
    price = st.one_of(
        st.floats(min_value=1.0, max_value=1000.0, allow_nan=False, allow_infinity=False),
        st.sampled_from([1.0, 2.0, 50.0]),
    )
    close = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    spread = st.sampled_from([0.0, 0.001, 0.01, 0.1])
    high = close * (1.0 + np.array(draw(st.lists(spread, min_size=n, max_size=n))))
    low = close * (1.0 - np.array(draw(st.lists(spread, min_size=n, max_size=n))))
    return {"open": close, "high": high, "low": low, "close": close, "volume": close}


SMALL_CASES = [(make, ref) for make, ref in CASES if make().warmup <= 40]


@pytest.mark.parametrize(
    ("make", "reference"), SMALL_CASES, ids=[make().name for make, _ in SMALL_CASES]
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=random_bars())
def test_both_twins_match_talib_on_random_bars(
    make: Callable[[], Indicator], reference: Reference, data: Columns
) -> None:
    indicator = make()
    expected = expected_outputs(indicator, reference(data))
    batched = indicator.batch(*(data[field] for field in indicator.inputs))
    streamed = stream(indicator, data)
    scale = max(100.0, float(np.max(data["high"])))
    for name, array in expected.items():
        for twin, actual in (("batch", batched[name]), ("streaming", streamed[name])):
            np.testing.assert_array_equal(np.isnan(actual), np.isnan(array), err_msg=name)
            np.testing.assert_allclose(
                actual, array, rtol=RTOL, atol=RTOL * scale, equal_nan=True, err_msg=twin
            )
