"""Positions: average price, realised and unrealised PnL, flips, multipliers; and accounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide
from tradeloop.model.position import Position

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def pos(multiplier: str = "1") -> Position:
    return Position("P-1", "AAPL", "S-1", "USD", D(multiplier))


def test_new_position_is_flat() -> None:
    p = pos()
    assert p.is_flat and not p.is_long and not p.is_short
    assert p.unrealized_pnl(D(100)) == 0
    assert p.market_value(D(100)) == 0


def test_long_open_add_and_unrealized() -> None:
    p = pos()
    assert p.apply_fill(BUY, D(10), D(100), D(1), ts=5) == 0
    assert (p.quantity, p.avg_px, p.ts_opened, p.entry_side) == (10, 100, 5, BUY)
    assert p.is_long
    assert p.apply_fill(BUY, D(30), D(104), D(2), ts=6) == 0
    assert p.quantity == 40
    assert p.avg_px == D(103)
    assert p.ts_opened == 5
    assert p.commissions == D(3)
    assert p.unrealized_pnl(D(105)) == D(80)
    assert p.unrealized_pnl(D(100)) == D(-120)
    assert p.market_value(D(105)) == D(4200)


def test_short_open_add_and_unrealized() -> None:
    p = pos()
    p.apply_fill(SELL, D(10), D(50), D(0), ts=1)
    assert p.is_short and p.quantity == -10
    assert p.entry_side is SELL
    p.apply_fill(SELL, D(10), D(60), D(0), ts=2)
    assert p.quantity == -20
    assert p.avg_px == D(55)
    assert p.unrealized_pnl(D(50)) == D(100)
    assert p.unrealized_pnl(D(60)) == D(-100)
    assert p.market_value(D(50)) == D(-1000)


def test_partial_close_long_realizes_pnl_and_keeps_avg() -> None:
    p = pos()
    p.apply_fill(BUY, D(10), D(100), D(0), ts=1)
    realized = p.apply_fill(SELL, D(4), D(110), D(0), ts=2)
    assert realized == D(40)
    assert p.realized_pnl == D(40)
    assert p.quantity == 6
    assert p.avg_px == D(100)
    assert p.ts_closed is None
    assert p.unrealized_pnl(D(110)) == D(60)
    realized = p.apply_fill(SELL, D(6), D(95), D(0), ts=3)
    assert realized == D(-30)
    assert p.realized_pnl == D(10)
    assert p.is_flat
    assert p.ts_closed == 3
    assert p.unrealized_pnl(D(1000)) == 0


def test_partial_close_short_realizes_pnl() -> None:
    p = pos()
    p.apply_fill(SELL, D(10), D(100), D(0), ts=1)
    assert p.apply_fill(BUY, D(3), D(90), D(0), ts=2) == D(30)
    assert p.quantity == -7
    assert p.apply_fill(BUY, D(7), D(105), D(0), ts=3) == D(-35)
    assert p.realized_pnl == D(-5)
    assert p.is_flat


def test_flip_long_to_short_through_zero() -> None:
    p = pos()
    p.apply_fill(BUY, D(10), D(100), D(0), ts=1)
    realized = p.apply_fill(SELL, D(25), D(120), D(0), ts=2)
    assert realized == D(200)  # only the 10 held were closed
    assert p.quantity == -15
    assert p.avg_px == D(120)  # the rest opened at the fill price
    assert p.entry_side is SELL
    assert p.ts_opened == 2
    assert p.unrealized_pnl(D(110)) == D(150)


def test_flip_short_to_long_through_zero() -> None:
    p = pos()
    p.apply_fill(SELL, D(5), D(20), D(0), ts=1)
    assert p.apply_fill(BUY, D(8), D(18), D(0), ts=7) == D(10)
    assert p.quantity == 3
    assert p.avg_px == D(18)
    assert p.entry_side is BUY
    assert p.ts_opened == 7


def test_reopen_after_close_resets_open_fields() -> None:
    p = pos()
    p.apply_fill(BUY, D(1), D(10), D(0), ts=1)
    p.apply_fill(SELL, D(1), D(12), D(0), ts=2)
    assert p.ts_closed == 2
    p.apply_fill(SELL, D(2), D(11), D(0), ts=3)
    assert (p.quantity, p.avg_px, p.ts_opened, p.ts_closed, p.entry_side) == (-2, 11, 3, None, SELL)
    assert p.realized_pnl == D(2)


def test_multiplier_scales_realized_unrealized_and_value() -> None:
    p = pos("50")
    p.apply_fill(BUY, D(2), D("4000.25"), D(0), ts=1)
    assert p.unrealized_pnl(D("4001.25")) == D(100)
    assert p.market_value(D(4000)) == D(400000)
    assert p.apply_fill(SELL, D(1), D("3999.75"), D(0), ts=2) == D(-25)
    assert p.quantity == 1
    assert p.unrealized_pnl(D("4000.25")) == 0


def test_fractional_quantities() -> None:
    p = pos()
    p.apply_fill(BUY, D("0.5"), D("30000"), D(0), ts=1)
    p.apply_fill(BUY, D("0.25"), D("33000"), D(0), ts=2)
    assert p.avg_px == D(31000)
    assert p.apply_fill(SELL, D("0.75"), D("32000"), D(0), ts=3) == D(750)
    assert p.is_flat


@pytest.mark.parametrize("qty", [D(0), D(-1)])
def test_non_positive_fill_raises(qty: Decimal) -> None:
    p = pos()
    with pytest.raises(ValueError, match="must be positive"):
        p.apply_fill(BUY, qty, D(1), D(0), ts=1)
    assert p.is_flat


def test_round_trip_total_pnl_matches_cash_flows() -> None:
    """Whatever the path, realised + unrealised equals the signed cash flows plus value."""
    fills = [(BUY, 7, 10), (BUY, 3, 12), (SELL, 12, 15), (SELL, 4, 9), (BUY, 20, 11)]
    p = pos("3")
    cash = D(0)
    for side, qty, px in fills:
        p.apply_fill(side, D(qty), D(px), D(0), ts=1)
        cash -= side.sign * D(qty) * D(px) * 3
    mark = D(13)
    assert p.realized_pnl + p.unrealized_pnl(mark) == cash + p.market_value(mark)


# --- accounts ----------------------------------------------------------------------------------


def test_account_books_pnl_and_commission() -> None:
    acc = Account("A-1", "USD", AccountType.MARGIN, D(1000), leverage=D(2))
    assert acc.starting_balance == D(1000)
    acc.apply(D(50), D(2))
    acc.apply(D(-20), D(1))
    assert acc.balance == D(1027)
    assert acc.commissions == D(3)
    assert acc.starting_balance == D(1000)


def test_account_validation() -> None:
    with pytest.raises(ValueError, match="leverage must be positive"):
        Account("A", "USD", AccountType.MARGIN, D(1), leverage=D(0))
    with pytest.raises(ValueError, match="cash account cannot use leverage"):
        Account("A", "USD", AccountType.CASH, D(1), leverage=D(2))
    explicit = Account("A", "USD", AccountType.CASH, D(5), starting_balance=D(7))
    assert explicit.starting_balance == D(7)
