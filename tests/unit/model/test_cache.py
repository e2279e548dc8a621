"""The cache's indexes: open orders and open positions by symbol."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.model.cache import Cache
from tradeloop.model.enums import OrderSide
from tradeloop.model.position import Position


def _position(pid: str, symbol: str, strategy: str = "S") -> Position:
    return Position(pid, symbol, strategy, "USD")


def test_open_positions_follow_fills_and_net_quantity_sums_them() -> None:
    cache = Cache()
    long_a = _position("A-1", "A")
    short_a = _position("A-2", "A", strategy="T")
    other = _position("B-1", "B")
    for p in (long_a, short_a, other):
        cache.add_position(p)
    assert cache.open_positions() == []
    long_a.apply_fill(OrderSide.BUY, Decimal(5), Decimal(10), Decimal(0), 1)
    short_a.apply_fill(OrderSide.SELL, Decimal(2), Decimal(10), Decimal(0), 1)
    other.apply_fill(OrderSide.BUY, Decimal(7), Decimal(10), Decimal(0), 1)
    for p in (long_a, short_a, other):
        cache.refresh_position(p)
    assert {p.position_id for p in cache.open_positions("A")} == {"A-1", "A-2"}
    assert cache.net_quantity("A") == 3
    assert cache.net_quantity("A", strategy_id="T") == -2
    assert cache.net_quantity("C") == 0
    long_a.apply_fill(OrderSide.SELL, Decimal(5), Decimal(11), Decimal(0), 2)
    cache.refresh_position(long_a)
    assert [p.position_id for p in cache.open_positions("A")] == ["A-2"]
    assert cache.net_quantity("A") == -2
    assert len(cache.open_positions()) == 2
    assert {p.position_id for p in cache.positions_for("A")} == {"A-1", "A-2"}


def test_a_position_id_is_added_once() -> None:
    cache = Cache()
    cache.add_position(_position("A-1", "A"))
    with pytest.raises(ValueError, match="duplicate position id A-1"):
        cache.add_position(_position("A-1", "A"))
