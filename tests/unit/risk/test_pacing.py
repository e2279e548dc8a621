"""Pacing rules: order rate, trades per day, cooldown after a close, pause after a losing
streak. Driven through a real kernel, simulated venue and test clock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue, SimulatedVenueConfig
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import dt_to_ns
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.risk.base import Rule, Scope
from tradeloop.risk.pacing import (
    LossStreakCooldown,
    OrderRateLimit,
    TradeCooldown,
    TradesPerDay,
)
from tradeloop.risk.trading_day import TradingDay

SEC = 1_000_000_000
NY = ZoneInfo("America/New_York")
T0 = dt_to_ns(datetime(2025, 6, 2, 14, 0, tzinfo=UTC))
BUY, SELL = OrderSide.BUY, OrderSide.SELL


class Desk:
    """A kernel with two venues (SIM: ABC, XYZ; OTHER: FOO) and the rules under test."""

    def __init__(self, *rules: Rule, start_ns: int = T0) -> None:
        self.clock = TestClock(start_ns)
        account = Account("A", "USD", AccountType.MARGIN, Decimal(1_000_000), Decimal(1))
        self.kernel = Kernel(self.clock, account)
        self.venues: dict[str, SimulatedVenue] = {}
        for venue, symbols in (("SIM", ("ABC", "XYZ")), ("OTHER", ("FOO",))):
            for symbol in symbols:
                self.kernel.add_instrument(Instrument.equity(symbol, venue=venue))
                self.kernel.cache.last_prices[symbol] = 100.0
            sim = SimulatedVenue(self.kernel.cache, self.clock, SimulatedVenueConfig(venue=venue))
            self.kernel.add_execution_client(sim)
            for symbol in symbols:
                self.venues[symbol] = sim
        self.kernel.risk.add_rules(list(rules))
        self.denials: dict[str, ev.OrderDenied] = {}
        self.kernel.bus.subscribe("events.order.*", self._on_order)
        self._n = 0

    def _on_order(self, event: ev.OrderEvent) -> None:
        if isinstance(event, ev.OrderDenied):
            self.denials[event.client_order_id] = event

    def order(self, side: OrderSide, qty: int = 10, symbol: str = "ABC", strategy: str = "T",
              limit: str | None = None) -> Order:
        self._n += 1
        return Order(
            client_order_id=f"O-{self._n}", strategy_id=strategy, symbol=symbol, side=side,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET, quantity=Decimal(qty),
            ts_init=self.clock.now_ns(), price=Decimal(limit) if limit else None,
        )

    def send(self, side: OrderSide, qty: int = 10, symbol: str = "ABC", strategy: str = "T",
             limit: str | None = None) -> Order:
        order = self.order(side, qty, symbol, strategy, limit)
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def code(self, order: Order) -> str:
        """The denial code of a sent order, "" when it passed."""
        denial = self.denials.get(order.client_order_id)
        return denial.code if denial else ""

    def verdict(self, side: OrderSide, qty: int = 10, symbol: str = "ABC",
                strategy: str = "T") -> str:
        """The gate's verdict on an order without sending it: a denial code or ""."""
        denial = self.kernel.risk.check(self.order(side, qty, symbol, strategy))
        return denial.code.value if denial else ""

    def bar(self, price: float, symbol: str = "ABC") -> None:
        """Fill working orders of ``symbol`` at ``price``, now."""
        self.kernel.cache.last_prices[symbol] = price
        self.venues[symbol].process_bar(symbol, self.clock.now_ns(), price, price, price, price,
                                        1e9)

    def trade(self, side: OrderSide, price: float, qty: int = 10, symbol: str = "ABC",
              strategy: str = "T") -> None:
        order = self.send(side, qty, symbol, strategy)
        assert self.code(order) == "", order.reason
        self.bar(price, symbol)
        assert order.status is OrderStatus.FILLED

    def round_trip(self, entry: float, exit_: float, symbol: str = "ABC",
                   strategy: str = "T") -> None:
        self.trade(BUY, entry, symbol=symbol, strategy=strategy)
        self.trade(SELL, exit_, symbol=symbol, strategy=strategy)

    def at(self, ns: int) -> None:
        self.clock.advance_to(ns)

    def after(self, ns: int) -> None:
        self.clock.advance_to(self.clock.now_ns() + ns)


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, minute, tzinfo=NY))


# -- OrderRateLimit -------------------------------------------------------------------------------


@pytest.mark.parametrize(("already", "expected"), [
    pytest.param(2, "", id="third-of-3-at-limit-passes"),
    pytest.param(3, "ORDER_RATE", id="fourth-of-3-denied"),
])
def test_order_rate_per_second_boundary(already: int, expected: str) -> None:
    desk = Desk(OrderRateLimit(per_second=3))
    for _ in range(already):
        assert desk.code(desk.send(BUY)) == ""
    order = desk.send(BUY)
    assert desk.code(order) == expected
    if expected:
        denial = desk.denials[order.client_order_id]
        assert (denial.limit, denial.value) == ("3", "4")
        assert "3 orders already sent in the last second (account)" in denial.reason


@pytest.mark.parametrize(("elapsed_ns", "expected"), [
    pytest.param(SEC - 1, "ORDER_RATE", id="1ns-before-window-end-denied"),
    pytest.param(SEC, "", id="oldest-leaves-at-1s-passes"),
])
def test_order_rate_second_window_slides(elapsed_ns: int, expected: str) -> None:
    desk = Desk(OrderRateLimit(per_second=2))
    desk.send(BUY)
    desk.after(SEC // 2)
    desk.send(BUY)
    desk.at(T0 + elapsed_ns)
    assert desk.code(desk.send(BUY)) == expected


@pytest.mark.parametrize(("elapsed_s", "expected"), [
    pytest.param(59, "ORDER_RATE", id="59s-denied"),
    pytest.param(60, "", id="60s-passes"),
])
def test_order_rate_minute_window_slides(elapsed_s: int, expected: str) -> None:
    desk = Desk(OrderRateLimit(per_second=10, per_minute=3))
    for i in range(3):
        desk.at(T0 + i * 5 * SEC)
        assert desk.code(desk.send(BUY)) == ""
    desk.at(T0 + elapsed_s * SEC)
    assert desk.code(desk.send(BUY)) == expected


def test_order_rate_counts_exits_and_denied_orders_do_not_count() -> None:
    desk = Desk()
    desk.trade(BUY, 100.0, qty=30)
    desk.kernel.risk.add_rules([OrderRateLimit(per_second=2)])
    assert desk.code(desk.send(SELL)) == ""
    assert desk.code(desk.send(SELL)) == ""
    assert desk.code(desk.send(SELL)) == "ORDER_RATE"  # exits are limited too
    assert desk.code(desk.send(SELL)) == "ORDER_RATE"
    desk.after(SEC)
    assert desk.code(desk.send(SELL)) == ""  # the denied ones never filled the window


def test_order_rate_per_venue_scope() -> None:
    desk = Desk(OrderRateLimit(Scope(venue="OTHER"), per_second=1))
    assert desk.code(desk.send(BUY, symbol="FOO")) == ""
    assert desk.code(desk.send(BUY, symbol="FOO")) == "ORDER_RATE"
    for _ in range(3):
        assert desk.code(desk.send(BUY, symbol="ABC")) == ""


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({}, "needs per_second or per_minute", id="no-limit"),
    pytest.param({"per_second": 0}, "per_second must be a positive whole number, got 0",
                 id="zero"),
    pytest.param({"per_minute": -5}, "per_minute must be a positive whole number, got -5",
                 id="negative"),
    pytest.param({"per_second": 1.5}, "got 1.5", id="fraction"),
])
def test_order_rate_config_errors(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OrderRateLimit(**kwargs)  # type: ignore[arg-type]


# -- TradesPerDay ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("trades", "expected"), [
    pytest.param(1, "", id="second-of-2-at-limit-passes"),
    pytest.param(2, "TRADES_PER_DAY", id="third-of-2-denied"),
])
def test_trades_per_day_boundary(trades: int, expected: str) -> None:
    desk = Desk(TradesPerDay(maximum=2))
    for _ in range(trades):
        desk.after(SEC)
        desk.round_trip(100.0, 101.0)
    assert desk.verdict(BUY) == expected


def test_trades_per_day_denial_names_the_figures() -> None:
    desk = Desk(TradesPerDay(Scope(strategy="T"), maximum=1))
    desk.round_trip(100.0, 101.0)
    order = desk.send(BUY)
    denial = desk.denials[order.client_order_id]
    assert denial.code == "TRADES_PER_DAY"
    assert (denial.limit, denial.value) == ("1", "2")
    assert "1 trades opened today and 0 entry orders working (strategy T)" in denial.reason


def test_working_entry_orders_count_until_they_fill_or_close() -> None:
    desk = Desk(TradesPerDay(maximum=2))
    first = desk.send(BUY, limit="90.00")
    second = desk.send(BUY, limit="90.00")
    assert (desk.code(first), desk.code(second)) == ("", "")
    assert desk.verdict(BUY) == "TRADES_PER_DAY"  # 0 opened + 2 working
    desk.kernel.bus.send("RiskEngine.execute", cmd.CancelOrder(second.client_order_id,
                                                               desk.clock.now_ns()))
    assert second.status is OrderStatus.CANCELED
    assert desk.verdict(BUY) == ""  # 0 opened + 1 working
    desk.bar(90.0)  # the first fills: 1 opened, 0 working
    assert first.status is OrderStatus.FILLED
    assert desk.verdict(BUY) == ""


def test_reducing_orders_pass_at_the_trade_limit() -> None:
    desk = Desk(TradesPerDay(maximum=1))
    desk.trade(BUY, 100.0)
    assert desk.verdict(BUY) == "TRADES_PER_DAY"  # adding is an entry
    assert desk.verdict(SELL, 10) == ""
    assert desk.verdict(SELL, 20) == "TRADES_PER_DAY"  # the flip opens a short


def test_a_flip_through_flat_counts_as_a_new_trade() -> None:
    rule = TradesPerDay(maximum=5)
    desk = Desk(rule)
    desk.trade(BUY, 100.0, qty=10)
    desk.trade(SELL, 100.0, qty=20)
    assert desk.kernel.portfolio.net_quantity("ABC") == -10
    desk.trade(SELL, 100.0, qty=5)  # adding to the short is not a new trade
    assert rule.trades_today == 2


def test_trades_per_day_scope_counts_only_its_strategy() -> None:
    rule = TradesPerDay(Scope(strategy="T"), maximum=1)
    desk = Desk(rule)
    desk.round_trip(100.0, 100.0, strategy="U")
    assert rule.trades_today == 0
    assert desk.verdict(BUY, strategy="T") == ""
    desk.round_trip(100.0, 100.0, strategy="T")
    assert desk.verdict(BUY, strategy="T") == "TRADES_PER_DAY"
    assert desk.verdict(BUY, strategy="U") == ""


@pytest.mark.parametrize(("last_trade", "reset"), [
    pytest.param(ny(2025, 3, 7, 12), dt_to_ns(datetime(2025, 3, 7, 22, tzinfo=UTC)),
                 id="winter-reset-22utc"),
    pytest.param(ny(2025, 3, 9, 12), dt_to_ns(datetime(2025, 3, 9, 21, tzinfo=UTC)),
                 id="dst-starts-2025-03-09-reset-21utc"),
    pytest.param(ny(2025, 11, 1, 12), dt_to_ns(datetime(2025, 11, 1, 21, tzinfo=UTC)),
                 id="summer-reset-21utc"),
    pytest.param(ny(2025, 11, 2, 12), dt_to_ns(datetime(2025, 11, 2, 22, tzinfo=UTC)),
                 id="dst-ends-2025-11-02-reset-22utc"),
])
def test_trades_per_day_resets_at_17h_new_york(last_trade: int, reset: int) -> None:
    desk = Desk(TradesPerDay(maximum=1, day=TradingDay("America/New_York", "17:00")),
                start_ns=last_trade)
    desk.round_trip(100.0, 100.0)
    desk.at(reset - 1)
    assert desk.verdict(BUY) == "TRADES_PER_DAY"
    desk.at(reset)
    assert desk.verdict(BUY) == ""


def test_trades_per_day_resets_after_a_holiday_with_no_trading() -> None:
    # Thursday 2025-07-03, then nothing on the 4 July holiday and the weekend
    desk = Desk(TradesPerDay(maximum=1, day=TradingDay("America/New_York", "17:00")),
                start_ns=ny(2025, 7, 3, 10))
    desk.round_trip(100.0, 100.0)
    assert desk.verdict(BUY) == "TRADES_PER_DAY"
    desk.at(ny(2025, 7, 7, 9, 30))
    assert desk.verdict(BUY) == ""
    desk.round_trip(100.0, 100.0)
    assert desk.verdict(BUY) == "TRADES_PER_DAY"


@pytest.mark.parametrize("maximum", [0, -1, 2.0, True])
def test_trades_per_day_config_errors(maximum: int) -> None:
    with pytest.raises(ConfigError, match="TradesPerDay: maximum must be a positive whole"):
        TradesPerDay(maximum=maximum)


# -- TradeCooldown --------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "elapsed_ns", "expected"), [
    pytest.param(30, 0, "COOLDOWN", id="right-after-close-denied"),
    pytest.param(30, 30 * SEC - 1, "COOLDOWN", id="1ns-before-end-denied"),
    pytest.param(30, 30 * SEC, "", id="ends-exactly-at-30s-passes"),
    pytest.param(0.5, SEC // 2 - 1, "COOLDOWN", id="half-second-1ns-before-denied"),
    pytest.param(0.5, SEC // 2, "", id="half-second-passes"),
])
def test_cooldown_after_a_close(seconds: float, elapsed_ns: int, expected: str) -> None:
    desk = Desk(TradeCooldown(seconds=seconds))
    desk.round_trip(100.0, 101.0)
    closed_at = desk.clock.now_ns()
    desk.at(closed_at + elapsed_ns)
    assert desk.verdict(BUY) == expected
    assert desk.verdict(SELL) == expected  # a short entry is an entry too


def test_cooldown_is_per_symbol_and_names_it() -> None:
    desk = Desk(TradeCooldown(seconds=60))
    desk.round_trip(100.0, 101.0)
    assert desk.verdict(BUY, symbol="XYZ") == ""
    desk.after(15 * SEC)
    order = desk.send(BUY)
    denial = desk.denials[order.client_order_id]
    assert denial.code == "COOLDOWN"
    assert "ABC position closed less than 60 s ago" in denial.reason
    assert "another 45 s" in denial.reason
    assert (denial.limit, denial.value) == ("60", "15")


def test_cooldown_lets_exits_through() -> None:
    desk = Desk(TradeCooldown(seconds=60))
    desk.trade(BUY, 100.0, strategy="U")
    desk.round_trip(100.0, 100.0, strategy="T")  # T's close starts the pause on ABC
    assert desk.verdict(BUY, strategy="U") == "COOLDOWN"
    assert desk.verdict(SELL, strategy="U") == ""  # reduces the account's ABC long


def test_cooldown_scope_ignores_other_strategies_closes() -> None:
    desk = Desk(TradeCooldown(Scope(strategy="T"), seconds=60))
    desk.round_trip(100.0, 100.0, strategy="U")
    assert desk.verdict(BUY, strategy="T") == ""


@pytest.mark.parametrize("seconds", [0, -1.0, float("inf"), float("nan")])
def test_cooldown_config_errors(seconds: float) -> None:
    with pytest.raises(ConfigError, match="TradeCooldown: seconds must be"):
        TradeCooldown(seconds=seconds)


# -- LossStreakCooldown ---------------------------------------------------------------------------

WIN, LOSS, FLAT = (100.0, 101.0), (100.0, 99.0), (100.0, 100.0)


@pytest.mark.parametrize(("trades", "expected"), [
    pytest.param([LOSS], "", id="one-loss-passes"),
    pytest.param([LOSS, LOSS], "LOSS_STREAK", id="two-losses-denied"),
    pytest.param([LOSS, WIN], "", id="win-after-loss"),
    pytest.param([LOSS, WIN, LOSS], "", id="win-resets-streak"),
    pytest.param([LOSS, FLAT, LOSS], "", id="scratch-breaks-streak"),
    pytest.param([WIN, LOSS, LOSS], "LOSS_STREAK", id="loss-after-a-win-counts"),
])
def test_loss_streak_boundary(trades: list[tuple[float, float]], expected: str) -> None:
    desk = Desk(LossStreakCooldown(losses=2, seconds=60))
    for entry, exit_ in trades:
        desk.round_trip(entry, exit_)
    assert desk.verdict(BUY) == expected


def test_trade_pnl_is_measured_from_its_own_open() -> None:
    # a big win leaves the position's cumulative realised PnL positive through two losses
    rule = LossStreakCooldown(losses=2, seconds=60)
    desk = Desk(rule)
    desk.round_trip(100.0, 200.0)
    desk.round_trip(100.0, 99.0)
    desk.round_trip(100.0, 99.0)
    assert sum(p.realized_pnl for p in desk.kernel.cache.positions_for("ABC")) > 0
    assert rule.streak == 2
    assert desk.verdict(BUY) == "LOSS_STREAK"


def test_a_losing_flip_ends_a_trade() -> None:
    rule = LossStreakCooldown(losses=2, seconds=60)
    desk = Desk(rule)
    desk.trade(BUY, 100.0)
    desk.trade(SELL, 99.0, qty=20)  # the long loses 10 and a short opens at 99
    assert rule.streak == 1
    desk.trade(BUY, 100.0, qty=10)  # the short loses 10
    assert rule.streak == 2
    assert desk.verdict(BUY) == "LOSS_STREAK"


@pytest.mark.parametrize(("elapsed_ns", "expected"), [
    pytest.param(60 * SEC - 1, "LOSS_STREAK", id="1ns-before-end-denied"),
    pytest.param(60 * SEC, "", id="ends-exactly-at-60s"),
])
def test_loss_streak_pause_ends_and_resets(elapsed_ns: int, expected: str) -> None:
    rule = LossStreakCooldown(losses=2, seconds=60)
    desk = Desk(rule)
    desk.round_trip(*LOSS)
    desk.round_trip(*LOSS)
    paused_at = desk.clock.now_ns()
    desk.at(paused_at + elapsed_ns)
    assert desk.verdict(BUY) == expected
    if not expected:
        assert rule.streak == 0
        desk.round_trip(*LOSS)  # one loss after the pause is a streak of one
        assert desk.verdict(BUY) == ""


def test_loss_streak_denial_and_exits() -> None:
    desk = Desk(LossStreakCooldown(Scope(strategy="T"), losses=1, seconds=90))
    desk.trade(BUY, 100.0, strategy="U")
    desk.round_trip(*LOSS, strategy="T")
    desk.after(30 * SEC)
    order = desk.send(BUY, strategy="T")
    denial = desk.denials[order.client_order_id]
    assert denial.code == "LOSS_STREAK"
    assert "1 losing trades in a row (strategy T), at the limit of 1" in denial.reason
    assert "another 60 s" in denial.reason
    assert desk.verdict(SELL, strategy="T") == ""  # reduces the account's long
    assert desk.verdict(BUY, strategy="U") == ""  # another strategy is not paused


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"losses": 0, "seconds": 10}, "losses must be a positive whole number",
                 id="zero-losses"),
    pytest.param({"losses": 2, "seconds": 0}, "seconds must be positive", id="zero-seconds"),
])
def test_loss_streak_config_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LossStreakCooldown(**kwargs)  # type: ignore[arg-type]
