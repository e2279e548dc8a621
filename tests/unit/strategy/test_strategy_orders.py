"""The order API of a strategy, driven through a real backtest on hand-made bars."""

from __future__ import annotations

from decimal import Decimal

import pytest
from strategy_harness import DAY, T0, Scripted, bars, flat_bars, run

from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.position import Position

D = Decimal


def orders_sent_on_first_bar(action, **run_options) -> tuple[Scripted, object]:
    s = Scripted({0: action})
    run(s, flat_bars(100, 100, 100), **run_options)
    return s, s.results[0]


@pytest.mark.parametrize(
    ("side", "options", "kind", "price", "trigger"),
    [
        ("buy", {}, OrderType.MARKET, None, None),
        ("buy", {"limit": 99}, OrderType.LIMIT, D("99"), None),
        ("sell", {"stop": 95}, OrderType.STOP, None, D("95")),
        ("sell", {"stop": 95, "limit": 94.5}, OrderType.STOP_LIMIT, D("94.5"), D("95")),
        ("buy", {"touch": 97.25}, OrderType.MARKET_IF_TOUCHED, None, D("97.25")),
        ("sell", {"trail": 2}, OrderType.TRAILING_STOP, None, None),
    ],
)
def test_order_type_follows_from_the_prices_given(side, options, kind, price, trigger) -> None:
    _, order = orders_sent_on_first_bar(lambda st: getattr(st, side)(3, **options))
    assert isinstance(order, Order)
    assert order.order_type is kind
    assert order.side is (OrderSide.BUY if side == "buy" else OrderSide.SELL)
    assert order.quantity == D(3)
    assert order.price == price
    assert order.trigger_price == trigger
    assert order.strategy_id == "T" and order.symbol == "ABC"
    assert order.ts_init == T0 + DAY  # sent at the first bar's close


def test_trailing_offsets_by_price_and_by_percent() -> None:
    _, by_price = orders_sent_on_first_bar(lambda s: s.sell(1, trail=2.004))
    assert by_price.trailing_offset == D("2")  # rounded to the tick
    assert by_price.trailing_offset_type is TrailingOffsetType.PRICE
    _, by_pct = orders_sent_on_first_bar(lambda s: s.sell(1, trail_percent=1.5))
    assert by_pct.order_type is OrderType.TRAILING_STOP
    assert by_pct.trailing_offset == D("1.5")
    assert by_pct.trailing_offset_type is TrailingOffsetType.PERCENT


def test_prices_round_to_the_tick_and_options_pass_through() -> None:
    _, order = orders_sent_on_first_bar(
        lambda s: s.buy("2", limit="99.996", tif="IOC", tag="probe")
    )
    assert order.price == D("100")
    assert order.time_in_force is TimeInForce.IOC
    assert order.tags == ("probe",)
    assert not order.reduce_only


@pytest.mark.parametrize(
    "options",
    [{"stop": 95, "touch": 97}, {"touch": 97, "limit": 96}, {"trail": 1, "stop": 95},
     {"trail": 1, "trail_percent": 1}, {"trail_percent": 1, "limit": 99}],
)
def test_contradictory_prices_are_refused(options) -> None:
    s = Scripted({0: lambda st: st.sell(1, **options)})
    result = run(s, flat_bars(100, 100))
    (failure,) = result.failures
    assert failure.error.startswith("ValueError: T: ")
    assert "cannot be combined" in failure.error
    assert result.orders == []


def test_quantity_rounds_down_to_the_lot_step() -> None:
    lot10 = Instrument("ABC", lot_step=D(10), min_quantity=D(10))
    s = Scripted({0: lambda st: st.buy(29.9), 1: lambda st: st.sell(D("10.5"))})
    run(s, flat_bars(100, 100, 100), instruments={"ABC": lot10})
    assert s.results[0].quantity == D(20)
    assert s.results[1].quantity == D(10)
    assert s.results[0].status is OrderStatus.FILLED


@pytest.mark.parametrize("quantity", [9.99, "0.4", 0, -5])
def test_a_size_that_rounds_to_zero_is_a_clear_error(quantity) -> None:
    lot10 = Instrument("ABC", lot_step=D(10), min_quantity=D(10))
    s = Scripted({0: lambda st: st.buy(quantity)})
    result = run(s, flat_bars(100, 100), instruments={"ABC": lot10})
    (failure,) = result.failures
    assert failure.hook == "on_bar"
    assert failure.error == (
        f"ValueError: T: quantity {quantity} rounds down to 0 at lot step 10"
    )
    assert result.orders == []


def test_bracket_links_entry_stop_and_target() -> None:
    _, legs = orders_sent_on_first_bar(
        lambda st: st.bracket("buy", 10, stop_loss=95, take_profit=110)
    )
    parent, sl, tp = legs
    assert parent.order_type is OrderType.MARKET and parent.side is OrderSide.BUY
    assert parent.contingency is ContingencyType.OTO
    assert parent.linked_ids == (sl.client_order_id, tp.client_order_id)
    assert parent.parent_id is None and not parent.reduce_only
    assert sl.order_type is OrderType.STOP and sl.trigger_price == D(95)
    assert tp.order_type is OrderType.LIMIT and tp.price == D(110)
    for leg, other in ((sl, tp), (tp, sl)):
        assert leg.side is OrderSide.SELL
        assert leg.quantity == D(10)
        assert leg.reduce_only
        assert leg.parent_id == parent.client_order_id
        assert leg.contingency is ContingencyType.OCO
        assert leg.linked_ids == (other.client_order_id,)
    assert (parent.tags, sl.tags, tp.tags) == (("entry",), ("stop_loss",), ("take_profit",))
    assert len({parent.client_order_id, sl.client_order_id, tp.client_order_id}) == 3


def test_short_bracket_with_a_limit_entry() -> None:
    _, (parent, sl, tp) = orders_sent_on_first_bar(
        lambda st: st.bracket(OrderSide.SELL, 5, stop_loss=104, take_profit=90, entry=100.5,
                              tag="short")
    )
    assert parent.order_type is OrderType.LIMIT and parent.price == D("100.5")
    assert parent.side is OrderSide.SELL and parent.tags == ("short",)
    assert sl.side is tp.side is OrderSide.BUY
    assert sl.trigger_price == D(104) and tp.price == D(90)


def test_bracket_target_fills_and_cancels_the_stop() -> None:
    data = bars((100, 101, 99, 100), (100, 101, 99, 100.5), (101, 112, 100, 111),
                (111, 112, 110, 111))
    s = Scripted({0: lambda st: st.bracket("BUY", 10, stop_loss=95, take_profit=110)})
    result = run(s, data)
    parent, sl, tp = s.results[0]
    assert parent.avg_px == D(100)
    assert tp.status is OrderStatus.FILLED and tp.avg_px == D(110)
    assert sl.status is OrderStatus.CANCELED
    assert s.position().is_flat
    assert result.final_balance == D(100_000) + D(100)


def test_close_sends_one_order_while_the_first_is_still_working() -> None:
    # The close fills 4 units a bar (10% of a volume of 40), so it stays working for three bars
    # while close() is called on each of them; a protective stop works all along.
    volume = [1e6, 1e6, 1e6, 40, 40, 40, 1e6, 1e6]
    data = flat_bars(*[100.0] * 8, volume=volume)
    script = {
        0: lambda s: s.buy(10),
        1: lambda s: s.sell(10, stop=50, reduce_only=True, tag="protect"),
        2: lambda s: s.close(),
        3: lambda s: s.close(),
        4: lambda s: s.close(),
        5: lambda s: s.close(),
        6: lambda s: s.close(),
    }
    s = Scripted(script)
    run(s, data, venue=SimulatedVenueConfig(volume_limit=0.1))
    first = s.results[2]
    assert isinstance(first, Order)
    assert first.order_type is OrderType.MARKET and first.reduce_only
    assert first.side is OrderSide.SELL and first.quantity == D(10)
    assert first.tags == ("close",)
    assert [s.results[i] for i in (3, 4, 5, 6)] == [None, None, None, None]
    assert first.status is OrderStatus.FILLED
    markets = [o for o in s.context.cache.orders.values()
               if o.side is OrderSide.SELL and o.order_type is OrderType.MARKET]
    assert markets == [first]
    assert s.position().is_flat


def test_close_when_flat_returns_none() -> None:
    s = Scripted({0: lambda st: st.close()})
    result = run(s, flat_bars(100, 100))
    assert s.results[0] is None
    assert result.orders == []


def test_close_of_a_short_buys_back() -> None:
    s = Scripted({0: lambda st: st.sell(7), 1: lambda st: st.close(tag="cover")})
    run(s, flat_bars(100, 101, 102))
    order = s.results[1]
    assert order.side is OrderSide.BUY and order.quantity == D(7) and order.tags == ("cover",)
    assert s.position().is_flat


def test_close_of_one_symbol_ignores_pending_closes_of_another() -> None:
    a = flat_bars(100, 100, 100, 100, 100, 100)
    b = flat_bars(50, 50, 50, 50, 50, 50, symbol="XYZ")

    def buy_both(s: Scripted):
        return s.buy(10), s.buy(20, "XYZ")

    def close_both(s: Scripted):
        return s.close("XYZ"), s.close()

    # The strategy sees ABC then XYZ at each time; the XYZ buy sent at ABC's first close fills
    # at XYZ's T0 + DAY open, so both positions are open by its 5th bar (ABC at T0 + 2 DAY).
    s = Scripted({0: buy_both, 4: close_both})
    run(s, a, b)
    close_xyz, close_abc = s.results[4]
    assert close_xyz.symbol == "XYZ" and close_xyz.quantity == D(20)
    assert close_abc is not None
    assert close_abc.symbol == "ABC" and close_abc.quantity == D(10)
    assert s.position().is_flat and s.position("XYZ").is_flat


def test_position_is_flat_before_any_trade_and_tracks_fills() -> None:
    def look(s: Scripted) -> tuple[Position, Decimal, Decimal, Decimal]:
        p = s.position()  # the live position: keep its figures of this bar
        return p, p.quantity, p.avg_px, p.realized_pnl

    s = Scripted({0: look, 1: lambda st: st.buy(5), 2: look, 3: lambda st: st.close(), 4: look})
    run(s, flat_bars(100, 100, 101, 102, 103, 104))
    before, during, after = s.results[0], s.results[2], s.results[4]
    assert isinstance(before[0], Position)
    assert before[1:] == (0, 0, 0)
    assert (before[0].symbol, before[0].strategy_id, before[0].currency) == ("ABC", "T", "USD")
    assert during[1:3] == (D(5), D(101))
    assert after[1:] == (0, D(101), D(10))  # bought 5 at 101, sold at 103
    assert after[0].is_flat and after[0] is s.position()


def test_position_of_an_unknown_symbol_names_it() -> None:
    s = Scripted({0: lambda st: st.position("NOPE")})
    result = run(s, flat_bars(100, 100))
    assert "unknown symbol 'NOPE'" in result.failures[0].error


def test_cancel_and_modify_a_working_order() -> None:
    data = flat_bars(100, 100, 100, 100)
    script = {
        0: lambda s: (s.buy(1, limit=90), s.buy(1, limit=80)),
        1: lambda s: (s.cancel(s.results[0][0]),
                      s.modify(s.results[0][1].client_order_id, quantity=3, price=85.004)),
    }
    s = Scripted(script)
    run(s, data)
    cancelled, modified = s.results[0]
    assert cancelled.status is OrderStatus.CANCELED
    assert modified.status is OrderStatus.ACCEPTED
    assert (modified.quantity, modified.price) == (D(3), D(85))
    assert [o.client_order_id for o in s.open_orders()] == [modified.client_order_id]


def test_a_strategys_own_private_names_do_not_clash_with_the_base_class() -> None:
    class OwnNames(Scripted):
        def on_start(self) -> None:
            self._cache: dict[str, float] = {}  # names a trader may well pick
            self._clock = "not a clock"
            self._symbols = ["mine"]
            self._ids = self._ctx = self._position_keys = None

    s = OwnNames({0: lambda st: st.buy(2), 1: lambda st: st.position().quantity})
    result = run(s, flat_bars(100, 101, 102))
    assert not result.failures
    assert s.results[1] == D(2)
    assert (s.symbol, s._cache, s._clock) == ("ABC", {}, "not a clock")


def _restarted_ids(s: Scripted) -> None:
    # a restarted node issues the same client order ids for the same intent at the same time
    s._Strategy__desk.ids = ClientOrderIdGenerator(s.id)  # type: ignore[attr-defined]


@pytest.mark.parametrize("send", [
    lambda s: s.buy(5),
    lambda s: s.order(OrderSide.BUY, 5, limit=99),
    lambda s: s.bracket("BUY", 5, stop_loss=95, take_profit=105),
])
def test_the_same_intent_again_is_not_sent_twice(send) -> None:
    def twice(s: Scripted) -> tuple[object, object]:
        first = send(s)
        _restarted_ids(s)
        return first, send(s)

    s = Scripted({0: twice})
    result = run(s, flat_bars(100, 100, 100))
    first, again = s.results[0]
    if isinstance(first, Order):
        first, again = (first,), (again,)
    assert all(a is f for a, f in zip(again, first, strict=True))  # the orders already sent
    assert len(result.orders) == len(first)
