"""The vectorised equity curve rebuilt from the fill book."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, OmsType, OrderSide
from tradeloop.model.instrument import Instrument
from tradeloop.portfolio.curve import equity_and_exposure, equity_curve, in_market
from tradeloop.portfolio.portfolio import BookEntry, Portfolio

NAN = np.nan
TIMELINE = np.array([10, 20, 30, 40, 50, 60], dtype=np.int64)


def ones(n: int = 6) -> np.ndarray:
    return np.ones(n)


def test_empty_book_is_flat_start_balance() -> None:
    curve = equity_curve(TIMELINE, 1000.0, [], {}, {}, {})
    assert curve.dtype == np.float64
    np.testing.assert_array_equal(curve, np.full(6, 1000.0))


def test_one_position_opened_and_closed() -> None:
    book = [
        BookEntry(20, "AAPL", "P", 10.0, 100.0, 999.0),  # bought 10 @ 100, paid 1 commission
        BookEntry(40, "AAPL", "P", 0.0, 100.0, 1049.0),  # sold 10 @ 105
    ]
    marks = {"AAPL": np.array([NAN, 100.0, 103.0, 105.0, 90.0, 80.0])}
    curve = equity_curve(TIMELINE, 1000.0, book, marks, {"AAPL": 1.0}, {"AAPL": ones()})
    np.testing.assert_array_equal(curve, [1000.0, 999.0, 1029.0, 1049.0, 1049.0, 1049.0])
    np.testing.assert_array_equal(in_market(TIMELINE, book), [0, 1, 1, 0, 0, 0])


def test_two_symbols_with_multiplier_and_conversion() -> None:
    book = [
        BookEntry(20, "AAPL", "A", 10.0, 100.0, 999.0),
        BookEntry(30, "MSFT", "M", -5.0, 50.0, 999.0),  # short 5, multiplier 2, quoted at 0.5
        BookEntry(40, "AAPL", "A", 0.0, 100.0, 1049.0),
        BookEntry(50, "AAPL", "A", 2.0, 110.0, 1049.0),  # reopened
    ]
    marks = {
        "AAPL": np.array([NAN, 100.0, 102.0, 106.0, 111.0, 115.0]),
        "MSFT": np.array([50.0, 50.0, 48.0, 49.0, 52.0, 47.0]),
    }
    to_account = {"AAPL": ones(), "MSFT": np.full(6, 0.5)}
    curve = equity_curve(TIMELINE, 1000.0, book, marks, {"AAPL": 1.0, "MSFT": 2.0}, to_account)
    # t=30: 999 + AAPL 2*10 + MSFT (48-50)*-5*2*0.5
    # t=40: 1049 + MSFT 5; t=50: 1049 + AAPL 1*2 + MSFT -10; t=60: 1049 + 10 + 15
    np.testing.assert_allclose(curve, [1000.0, 999.0, 1029.0, 1054.0, 1041.0, 1074.0], rtol=0,
                               atol=1e-9)
    np.testing.assert_array_equal(in_market(TIMELINE, book), [0, 1, 1, 1, 1, 1])


def test_fills_between_and_before_timeline_points() -> None:
    book = [
        BookEntry(5, "X", "P", 1.0, 10.0, 500.0),  # before the first point
        BookEntry(25, "X", "P", 3.0, 12.0, 500.0),  # between 20 and 30
        BookEntry(30, "X", "P", 1.0, 12.0, 504.0),  # exactly at 30: counted at 30
    ]
    marks = {"X": np.array([11.0, 11.0, 14.0, 14.0, 9.0, 12.0])}
    curve = equity_curve(TIMELINE, 400.0, book, marks, {"X": 1.0}, {"X": ones()})
    np.testing.assert_allclose(curve, [501.0, 501.0, 506.0, 506.0, 501.0, 504.0], atol=1e-12)


def test_several_entries_at_the_same_time_keep_the_last() -> None:
    book = [
        BookEntry(20, "X", "P", 5.0, 10.0, 100.0),
        BookEntry(20, "X", "P", 0.0, 10.0, 120.0),
        BookEntry(20, "X", "P", -2.0, 14.0, 120.0),
    ]
    marks = {"X": np.full(6, 13.0)}
    curve = equity_curve(TIMELINE, 100.0, book, marks, {"X": 1.0}, {"X": ones()})
    np.testing.assert_allclose(curve, [100.0, 122.0, 122.0, 122.0, 122.0, 122.0])


def test_no_mark_before_the_first_bar_contributes_nothing() -> None:
    book = [BookEntry(10, "X", "P", 4.0, 10.0, 100.0)]
    marks = {"X": np.array([NAN, NAN, 11.0, 11.5, 12.0, 12.0])}
    curve = equity_curve(TIMELINE, 100.0, book, marks, {"X": 1.0}, {"X": ones()})
    np.testing.assert_array_equal(curve, [100.0, 100.0, 104.0, 106.0, 108.0, 108.0])
    assert not np.isnan(curve).any()


def test_an_entry_out_of_time_order_counts_from_its_predecessor() -> None:
    # the portfolio books in time order; should an entry not be, the curve is still built
    book = [
        BookEntry(30, "X", "P", 2.0, 10.0, 100.0),
        BookEntry(20, "X", "P", 1.0, 10.0, 105.0),
    ]
    marks = {"X": np.full(6, 12.0)}
    curve, held = equity_and_exposure(TIMELINE, 100.0, book, marks, {"X": 1.0}, {"X": ones()})
    np.testing.assert_array_equal(curve, [100.0, 100.0, 107.0, 107.0, 107.0, 107.0])
    np.testing.assert_array_equal(held, [0, 0, 1, 1, 1, 1])


def test_hedged_legs_in_one_symbol() -> None:
    book = [
        BookEntry(10, "X", "O-1", 10.0, 100.0, 1000.0),
        BookEntry(30, "X", "O-2", -4.0, 104.0, 1000.0),
        BookEntry(50, "X", "O-1", 0.0, 100.0, 1060.0),
    ]
    marks = {"X": np.array([100.0, 101.0, 104.0, 102.0, 106.0, 110.0])}
    curve = equity_curve(TIMELINE, 1000.0, book, marks, {"X": 1.0}, {"X": ones()})
    expected = [1000.0, 1010.0, 1040.0, 1028.0, 1060.0 - 8.0, 1060.0 - 24.0]
    np.testing.assert_allclose(curve, expected)


@pytest.mark.parametrize("oms", [OmsType.NETTING, OmsType.HEDGING])
def test_curve_matches_a_portfolio_marked_at_every_point(oms: OmsType) -> None:
    aapl = Instrument("AAPL")
    es = Instrument("ES", tick_size=Decimal("0.25"), multiplier=Decimal(50))
    cache = Cache()
    cache.add_instrument(aapl)
    cache.add_instrument(es)
    portfolio = Portfolio(cache, Account("A", "USD", AccountType.MARGIN, Decimal(100_000)), oms)
    fills = [  # ts, symbol, order, side, qty, px, commission
        (12, "AAPL", "O-1", OrderSide.BUY, 100, "101.5", "1"),
        (20, "ES", "O-2", OrderSide.SELL, 2, "4000.25", "4.5"),
        (35, "AAPL", "O-3", OrderSide.SELL, 150, "99.25", "1.5"),
        (35, "ES", "O-4", OrderSide.BUY, 1, "3990", "2.25"),
        (55, "AAPL", "O-5", OrderSide.BUY, 50, "97", "0.5"),
    ]
    marks = {
        "AAPL": np.array([NAN, 102.0, 99.0, 98.5, 96.0, 100.0]),
        "ES": np.array([4001.0, 4000.0, 3995.5, 3990.0, 4010.25, 3980.0]),
    }
    expected = []
    pending = list(fills)
    for i, t in enumerate(TIMELINE):
        while pending and pending[0][0] <= t:
            ts, sym, order, side, qty, px, fee = pending.pop(0)
            portfolio.on_fill(
                ev.OrderFilled(
                    ts=ts, client_order_id=order, strategy_id="S", symbol=sym,
                    venue_order_id="V", trade_id=f"T{ts}{sym}", side=side,
                    last_qty=Decimal(qty), last_px=Decimal(px), commission=Decimal(fee),
                )
            )
        for sym, series in marks.items():
            if not np.isnan(series[i]):
                cache.last_prices[sym] = float(series[i])
        expected.append(float(portfolio.equity))
    curve = equity_curve(
        TIMELINE, 100_000.0, portfolio.book, marks, {"AAPL": 1.0, "ES": 50.0},
        {"AAPL": ones(), "ES": ones()},
    )
    np.testing.assert_allclose(curve, expected, rtol=1e-12)
    assert curve[-1] != curve[0]


def _valued_time_by_time(timeline: np.ndarray, start: float, book: list[BookEntry],
                         marks: dict[str, np.ndarray], mult: dict[str, float],
                         conv: dict[str, np.ndarray]) -> tuple[list[float], list[bool]]:
    equity, held = [], []
    for i, t in enumerate(timeline):
        seen = [e for e in book if e.ts <= t]
        balance = seen[-1].balance if seen else start
        latest = {e.position_id: e for e in seen}
        pnl = 0.0
        for e in latest.values():
            mark = marks[e.symbol][i]
            value = (mark - e.avg_px) * e.quantity * mult[e.symbol] * conv[e.symbol][i]
            pnl += value if e.quantity != 0 and not np.isnan(value) else 0.0
        equity.append(balance + pnl)
        held.append(any(e.quantity != 0 for e in latest.values()))
    return equity, held


@pytest.mark.parametrize("legs", [30, 1], ids=["hedged legs", "one netting position"])
@pytest.mark.parametrize("seed", range(8))
def test_many_positions_opening_and_closing_match_a_valuation_at_every_time(
    seed: int, legs: int
) -> None:
    # positions valued only over their own span: hedged legs that open and close at random
    # times, reopened ones, fills between, before and after the timeline's points; or one
    # position that every fill changes
    rng = np.random.default_rng(seed)
    timeline = np.sort(rng.choice(np.arange(0, 2000, 5), size=120, replace=False)).astype(np.int64)
    symbols = {"A": 1.0, "B": 50.0}
    marks = {s: np.where(rng.random(120) < 0.05, NAN, 100 + rng.normal(0, 3, 120))
             for s in symbols}
    conv = {"A": np.ones(120), "B": 0.5 + rng.random(120)}
    events = []
    for p in range(40):
        symbol = "AB"[p % 2] if legs > 1 else "B"
        times = np.sort(rng.integers(-20, 2040, size=rng.integers(1, 5)))
        qty = [float(rng.integers(-5, 6)) for _ in times]
        if rng.random() < 0.6:
            qty[-1] = 0.0  # closed for good
        for t, q in zip(times, qty, strict=True):
            events.append((int(t), symbol, f"P{p % legs}", q, float(rng.uniform(90, 110))))
    events.sort(key=lambda e: e[0])
    book = [BookEntry(t, s, p, q, a, 10_000.0 + k) for k, (t, s, p, q, a) in enumerate(events)]
    expected, held = _valued_time_by_time(timeline, 10_000.0, book, marks, symbols, conv)
    curve = equity_curve(timeline, 10_000.0, book, marks, symbols, conv)
    np.testing.assert_allclose(curve, expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(in_market(timeline, book), held)
    both = equity_and_exposure(timeline, 10_000.0, book, marks, symbols, conv)
    np.testing.assert_array_equal(both[0], curve)
    np.testing.assert_array_equal(both[1], held)
