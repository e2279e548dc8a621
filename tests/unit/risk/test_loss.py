"""Loss circuit breakers: the daily loss limit and the drawdown limit, through a real kernel,
simulated venue and test clock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue
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
from tradeloop.risk.base import Rule, TradingState
from tradeloop.risk.loss import DailyLossLimit, DrawdownLimit
from tradeloop.risk.trading_day import TradingDay

NY = ZoneInfo("America/New_York")
NY_17 = TradingDay("America/New_York", "17:00")
T0 = dt_to_ns(datetime(2025, 6, 2, 14, 0, tzinfo=UTC))
BUY, SELL = OrderSide.BUY, OrderSide.SELL
HALTED, REDUCING, ACTIVE = TradingState.HALTED, TradingState.REDUCING, TradingState.ACTIVE
SYMBOL = "ABC"


class Desk:
    """A 100,000 USD margin account holding ``shares`` ABC bought at 100."""

    def __init__(self, *rules: Rule, start_ns: int = T0, shares: int = 100) -> None:
        self.clock = TestClock(start_ns)
        account = Account("A", "USD", AccountType.MARGIN, Decimal(100_000), Decimal(2))
        self.kernel = Kernel(self.clock, account)
        self.kernel.add_instrument(Instrument.equity(SYMBOL))
        self.venue = SimulatedVenue(self.kernel.cache, self.clock)
        self.kernel.add_execution_client(self.venue)
        self.kernel.cache.last_prices[SYMBOL] = 100.0
        self.kernel.risk.add_rules(list(rules))
        self.changes: list[ev.TradingStateChanged] = []
        self.kernel.bus.subscribe("events.risk", self.changes.append)
        self.flattened: list[str] = []
        self.kernel.risk.on_flatten = self.flattened.append
        self._n = 0
        if shares:
            order = self.send(BUY, shares)
            self.venue.process_bar(SYMBOL, start_ns, 100.0, 100.0, 100.0, 100.0, 1e9)
            assert order.status is OrderStatus.FILLED

    def order(self, side: OrderSide, qty: int) -> Order:
        self._n += 1
        return Order(
            client_order_id=f"O-{self._n}", strategy_id="T", symbol=SYMBOL, side=side,
            order_type=OrderType.MARKET, quantity=Decimal(qty), ts_init=self.clock.now_ns(),
        )

    def send(self, side: OrderSide, qty: int = 10) -> Order:
        order = self.order(side, qty)
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def verdict(self, side: OrderSide, qty: int = 10) -> str:
        denial = self.kernel.risk.check(self.order(side, qty))
        return denial.code.value if denial else ""

    def mark(self, price: float, at: int | None = None) -> None:
        """Move the clock (when given) and the price, as the data loop does after a bar."""
        if at is not None:
            self.clock.advance_to(at)
        self.kernel.cache.last_prices[SYMBOL] = price
        self.kernel.risk.on_market()

    @property
    def state(self) -> TradingState:
        return self.kernel.risk.state

    @property
    def equity(self) -> Decimal:
        return self.kernel.portfolio.equity


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, minute, tzinfo=NY))


# -- DailyLossLimit -------------------------------------------------------------------------------


@pytest.mark.parametrize(("price", "state", "entry"), [
    pytest.param(90.01, ACTIVE, "", id="loss-999-below-limit-passes"),
    pytest.param(90.00, HALTED, "TRADING_STATE", id="loss-1000-at-limit-halts"),
    pytest.param(89.99, HALTED, "TRADING_STATE", id="loss-1001-over-halts"),
])
def test_daily_loss_boundary(price: float, state: TradingState, entry: str) -> None:
    desk = Desk(DailyLossLimit(limit=Decimal(1000)))
    desk.mark(price)
    assert desk.state is state
    assert desk.verdict(BUY) == entry


def test_daily_loss_publishes_the_state_change_once() -> None:
    desk = Desk(DailyLossLimit(limit=Decimal("1000")))
    desk.mark(95.0)
    assert desk.changes == []
    desk.mark(90.0)
    desk.mark(85.0)
    [change] = desk.changes
    assert (change.state, change.previous, change.code) == ("HALTED", "ACTIVE", "DAILY_LOSS")
    assert change.reason == ("daily loss of 1,000.00 reached the limit of 1,000 (equity "
                             "99,000.00, 100,000.00 at the start of trading day 2025-06-02)")
    assert "trading is halted: daily loss" in desk.send(SELL).reason  # even exits: HALTED


def test_daily_loss_reducing_lets_exits_through() -> None:
    desk = Desk(DailyLossLimit(limit=Decimal(1000), action=REDUCING))
    desk.mark(90.0)
    assert desk.state is REDUCING
    assert desk.changes[-1].state == "REDUCING"
    denied = desk.send(BUY)
    assert denied.status is OrderStatus.DENIED
    assert "reducing positions only" in denied.reason
    assert desk.send(SELL, 100).status is OrderStatus.ACCEPTED


def test_daily_loss_check_denies_before_any_mark() -> None:
    desk = Desk(DailyLossLimit(limit=Decimal(1000)))
    desk.kernel.cache.last_prices[SYMBOL] = 89.5  # no mark yet
    order = desk.send(BUY)
    assert desk.state is ACTIVE
    assert order.status is OrderStatus.DENIED
    [denial] = [e for e in order.events if isinstance(e, ev.OrderDenied)]
    assert (denial.code, denial.limit, denial.value) == ("DAILY_LOSS", "1000", "1050")
    assert desk.verdict(SELL) == ""  # exits are never stopped by the rule


def test_daily_loss_counts_realised_losses_and_gains_offset() -> None:
    desk = Desk(DailyLossLimit(limit=Decimal(1000)))
    desk.send(SELL, 100)
    desk.venue.process_bar(SYMBOL, desk.clock.now_ns(), 95.0, 95.0, 95.0, 95.0, 1e9)
    assert desk.equity == Decimal(99_500)  # 500 realised
    assert desk.state is ACTIVE
    desk.send(BUY, 100)
    desk.kernel.cache.last_prices[SYMBOL] = 94.0
    desk.venue.process_bar(SYMBOL, desk.clock.now_ns(), 94.0, 94.0, 94.0, 94.0, 1e9)
    desk.mark(89.0)  # 500 realised + 500 unrealised
    assert desk.state is HALTED


def test_a_new_trading_day_at_17h_new_york_releases_the_hold() -> None:
    start = ny(2025, 6, 2, 15)
    rule = DailyLossLimit(limit=Decimal(1000), day=NY_17)
    desk = Desk(rule, start_ns=start)
    desk.mark(90.0, at=ny(2025, 6, 2, 16))
    assert desk.state is HALTED
    desk.mark(90.0, at=ny(2025, 6, 2, 17) - 1)
    assert desk.state is HALTED
    desk.mark(90.0, at=ny(2025, 6, 2, 17))
    assert desk.state is ACTIVE
    change = desk.changes[-1]
    assert (change.state, change.previous, change.code) == ("ACTIVE", "HALTED", "DAILY_LOSS")
    assert change.reason == "new trading day 2025-06-03: daily loss limit reset"
    # the new day is measured from its own start: 99,000
    assert rule.start_equity == Decimal(99_000)
    desk.mark(80.01)
    assert desk.state is ACTIVE
    desk.mark(80.0)
    assert desk.state is HALTED


def test_a_new_day_without_a_breach_publishes_nothing() -> None:
    desk = Desk(DailyLossLimit(limit=Decimal(1000), day=NY_17), start_ns=ny(2025, 6, 2, 15))
    desk.mark(95.0, at=ny(2025, 6, 2, 18))
    desk.mark(95.0, at=ny(2025, 6, 3, 18))
    assert desk.changes == []


@pytest.mark.parametrize(("breach", "reset"), [
    pytest.param(ny(2025, 3, 8, 12), dt_to_ns(datetime(2025, 3, 8, 22, tzinfo=UTC)),
                 id="before-dst-reset-22utc"),
    pytest.param(ny(2025, 3, 9, 12), dt_to_ns(datetime(2025, 3, 9, 21, tzinfo=UTC)),
                 id="dst-starts-2025-03-09-reset-21utc"),
    pytest.param(ny(2025, 11, 1, 12), dt_to_ns(datetime(2025, 11, 1, 21, tzinfo=UTC)),
                 id="before-dst-ends-reset-21utc"),
    pytest.param(ny(2025, 11, 2, 12), dt_to_ns(datetime(2025, 11, 2, 22, tzinfo=UTC)),
                 id="dst-ends-2025-11-02-reset-22utc"),
])
def test_daylight_saving_moves_the_reset_instant(breach: int, reset: int) -> None:
    desk = Desk(DailyLossLimit(limit=Decimal(1000), day=NY_17), start_ns=breach)
    desk.mark(90.0)
    assert desk.state is HALTED
    desk.mark(90.0, at=reset - 1)
    assert desk.state is HALTED
    desk.mark(90.0, at=reset)
    assert desk.state is ACTIVE


def test_the_hold_is_released_after_a_holiday_gap() -> None:
    # breach on Thursday 2025-07-03; no marks on the 4 July holiday or the weekend
    desk = Desk(DailyLossLimit(limit=Decimal(1000), day=NY_17), start_ns=ny(2025, 7, 3, 11))
    desk.mark(89.0)
    assert desk.state is HALTED
    desk.mark(89.0, at=ny(2025, 7, 7, 9, 30))
    assert desk.state is ACTIVE
    assert desk.changes[-1].reason == "new trading day 2025-07-07: daily loss limit reset"


def test_a_new_day_seen_first_by_check_still_releases_on_the_next_mark() -> None:
    desk = Desk(DailyLossLimit(limit=Decimal(1000), action=REDUCING, day=NY_17),
                start_ns=ny(2025, 6, 2, 15))
    desk.mark(90.0)
    assert desk.state is REDUCING
    desk.clock.advance_to(ny(2025, 6, 2, 17, 5))
    assert desk.verdict(SELL) == ""  # the check rolls the day first
    desk.mark(90.0)
    assert desk.state is ACTIVE


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"limit": Decimal(0)}, "limit must be positive, got 0", id="zero"),
    pytest.param({"limit": Decimal(-5)}, "limit must be positive, got -5", id="negative"),
    pytest.param({"limit": "lots"}, "limit must be a number", id="not-a-number"),
    pytest.param({"limit": Decimal(1), "action": ACTIVE}, "action must be REDUCING or HALTED",
                 id="active-action"),
])
def test_daily_loss_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=f"DailyLossLimit: {message}"):
        DailyLossLimit(**kwargs)  # type: ignore[arg-type]


# -- DrawdownLimit --------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "state", "entry"), [
    pytest.param(99.01, ACTIVE, "", id="9.99pct-passes"),
    pytest.param(99.00, HALTED, "TRADING_STATE", id="10pct-at-limit-halts"),
    pytest.param(98.99, HALTED, "TRADING_STATE", id="10.01pct-halts"),
])
def test_drawdown_boundary_from_the_peak(low: float, state: TradingState, entry: str) -> None:
    desk = Desk(DrawdownLimit(max_pct=Decimal(10)), shares=1000)
    desk.mark(110.0)  # peak 110,000
    desk.mark(105.0)
    desk.mark(low)
    assert desk.state is state
    assert desk.verdict(BUY) == entry


def test_drawdown_halt_is_latched_until_resume() -> None:
    rule = DrawdownLimit(max_pct=Decimal("10"))
    desk = Desk(rule, shares=1000)
    desk.mark(110.0)
    desk.mark(99.0)
    assert desk.state is HALTED
    [change] = desk.changes
    assert (change.state, change.code) == ("HALTED", "DRAWDOWN")
    assert change.reason == ("drawdown of 10% reached the limit of 10% (equity 99,000.00, "
                             "peak 110,000.00)")
    assert desk.kernel.risk.holds[0].latched
    desk.mark(98.0, at=T0 + 2 * 86_400 * 10**9)  # a new day and more marks
    desk.mark(115.0)  # even a recovery
    assert desk.state is HALTED
    assert len(desk.changes) == 1
    assert desk.flattened == []  # flatten was not asked for
    desk.kernel.risk.resume(by="ops")
    assert desk.state is ACTIVE
    assert desk.changes[-1].code == "RESUMED"


def test_resume_measures_the_drawdown_again_from_the_equity_then() -> None:
    desk = Desk(DrawdownLimit(max_pct=Decimal(10)), shares=1000)
    desk.mark(110.0)
    desk.mark(98.0)
    assert desk.state is HALTED
    desk.kernel.risk.resume()  # a person decided to go on: the peak is the equity now
    assert desk.state is ACTIVE
    assert desk.send(BUY).status is OrderStatus.ACCEPTED
    desk.mark(80.0)  # a new drawdown of more than 10 % from there halts again
    assert desk.state is HALTED


def test_drawdown_flatten_is_asked_once() -> None:
    desk = Desk(DrawdownLimit(max_pct=Decimal(5), flatten=True), shares=1000)
    desk.mark(100.0)
    desk.mark(95.0)
    desk.mark(94.0)
    desk.mark(93.0)
    assert desk.state is HALTED
    assert desk.flattened == [desk.changes[0].reason]
    assert desk.flattened[0].startswith("drawdown of 5% reached the limit of 5%")


def test_drawdown_rearms_after_a_recovery() -> None:
    desk = Desk(DrawdownLimit(max_pct=Decimal(5), flatten=True), shares=1000)
    desk.mark(95.0)
    desk.kernel.risk.resume()
    desk.mark(99.0)  # a new peak
    desk.mark(90.0)
    assert desk.state is HALTED
    assert len(desk.flattened) == 2


@pytest.mark.parametrize(("max_pct", "message"), [
    pytest.param(Decimal(0), "max_pct must be positive, got 0", id="zero"),
    pytest.param(Decimal(-1), "max_pct must be positive, got -1", id="negative"),
    pytest.param(Decimal("100.5"), "max_pct must be at most 100, got 100.5", id="over-100"),
])
def test_drawdown_config_errors(max_pct: Decimal, message: str) -> None:
    with pytest.raises(ConfigError, match=f"DrawdownLimit: {message}"):
        DrawdownLimit(max_pct=max_pct)
