"""Limits on order size and price, positions and exposure: each denies with the right code,
limit and value one unit or tick over, lets the limit itself through, and never stops an order
that only reduces a position."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.position import Position
from tradeloop.portfolio.fx import FxRates
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.base import ACCOUNT, Denial, DenialCode, RiskContext, Rule, Scope
from tradeloop.risk.limits import (
    ExposureLimit,
    MaxOpenPositions,
    MaxPosition,
    OrderNotionalLimit,
    OrderQuantityLimit,
    PriceBand,
)

D = Decimal
TOYOTA = "7203"  # a Tokyo equity quoted in JPY


class Book:
    """A real cache and portfolio (USD margin account) around the rule under test."""

    def __init__(self, balance: int = 1_000_000) -> None:
        self.cache = Cache()
        for instrument in (Instrument.equity("ABC"), Instrument.equity("XYZ"),
                           Instrument.equity("DEF"), Instrument.equity(TOYOTA, "JPY"),
                           Instrument.fx_pair("USDJPY"), Instrument.fx_pair("EURUSD")):
            self.cache.add_instrument(instrument)
        account = Account("A", "USD", AccountType.MARGIN, D(balance), D(10))
        self.portfolio = Portfolio(self.cache, account, fx=FxRates(self.cache))
        self.ctx = RiskContext(self.cache, self.portfolio, TestClock(1_000))
        self.cache.last_prices.update({"ABC": 100.0, "XYZ": 100.0, "USDJPY": 150.0,
                                       "EURUSD": 1.1})
        self._n = 0

    def hold(self, symbol: str, qty: int | str, strategy: str = "S1",
             avg_px: str | None = None) -> None:
        instrument = self.cache.instruments[symbol]
        last = self.cache.last_prices.get(symbol)
        self.cache.add_position(Position(
            f"{symbol}-{strategy}", symbol, strategy, instrument.quote_currency,
            instrument.multiplier, quantity=D(qty),
            avg_px=D(avg_px) if avg_px else D(repr(last)),
        ))

    def order(self, qty: int | str, symbol: str = "ABC", *, limit: str | None = None,
              stop: str | None = None, strategy: str = "S1", reduce_only: bool = False,
              working: bool = False, filled: int = 0) -> Order:
        """A buy for a positive ``qty``, a sell for a negative one."""
        self._n += 1
        quantity = D(qty)
        kind = (OrderType.STOP_LIMIT if limit and stop else OrderType.LIMIT if limit
                else OrderType.STOP if stop else OrderType.MARKET)
        order = Order(
            client_order_id=f"O-{self._n}", strategy_id=strategy, symbol=symbol,
            side=OrderSide.BUY if quantity > 0 else OrderSide.SELL, order_type=kind,
            quantity=abs(quantity), ts_init=1_000, price=D(limit) if limit else None,
            trigger_price=D(stop) if stop else None, reduce_only=reduce_only,
            status=(OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED)
            if working else OrderStatus.INITIALIZED, filled_qty=D(filled),
        )
        self.cache.add_order(order)
        return order

    def check(self, rule: Rule, order: Order) -> Denial | None:
        self.ctx.reset()  # a new decision, as the engine starts each one
        if not rule.applies(order, self.ctx):
            return None
        return rule.check(order, self.ctx)


Setup = Callable[[Book], None]


def nothing(book: Book) -> None:
    pass


def run(rule: Rule, setup: Setup, make: Callable[[Book], Order]) -> Denial | None:
    book = Book()
    setup(book)
    return book.check(rule, make(book))


def assert_verdict(denial: Denial | None, code: DenialCode | None, limit: str, value: str,
                   words: str = "") -> None:
    if code is None:
        assert denial is None, denial
        return
    assert denial is not None
    assert (denial.code, denial.limit, denial.value) == (code, limit, value), denial
    assert words in denial.reason, denial.reason


def long_abc(qty: int) -> Setup:
    return lambda book: book.hold("ABC", qty)


# -- order quantity ---------------------------------------------------------------------------

QTY = DenialCode.QUANTITY


@pytest.mark.parametrize(("setup", "qty", "code", "limit", "value", "words"), [
    pytest.param(nothing, 100, None, "", "", "", id="at-maximum-passes"),
    pytest.param(nothing, 101, QTY, "100", "101", "ABC order quantity 101 is above the maximum "
                 "of 100 (account)", id="one-over-maximum"),
    pytest.param(nothing, -101, QTY, "100", "101", "above", id="short-entry-one-over"),
    pytest.param(nothing, 10, None, "", "", "", id="at-minimum-passes"),
    pytest.param(nothing, 9, QTY, "10", "9", "below the minimum of 10", id="one-under-minimum"),
    pytest.param(long_abc(500), -5, None, "", "", "", id="small-reducing-order-passes"),
    pytest.param(long_abc(500), -500, None, "", "", "", id="large-closing-order-passes"),
    pytest.param(long_abc(500), -501, QTY, "100", "501", "above", id="flip-is-an-entry"),
])
def test_order_quantity_limit(setup: Setup, qty: int, code: DenialCode | None, limit: str,
                              value: str, words: str) -> None:
    rule = OrderQuantityLimit(minimum=10, maximum=100)
    assert_verdict(run(rule, setup, lambda b: b.order(qty)), code, limit, value, words)


def test_order_quantity_limit_groups_thousands_in_the_reason() -> None:
    denial = run(OrderQuantityLimit(maximum=100_000), nothing, lambda b: b.order(100_001))
    assert denial is not None
    assert "100,001 is above the maximum of 100,000" in denial.reason


# -- order notional ---------------------------------------------------------------------------

NTL = DenialCode.NOTIONAL


@pytest.mark.parametrize(("setup", "make", "code", "limit", "value", "words"), [
    pytest.param(nothing, lambda b: b.order(100), None, "", "", "", id="market-at-maximum"),
    pytest.param(nothing, lambda b: b.order(100, limit="100.01"), NTL, "10000", "10001",
                 "ABC order is worth 10,001.00, above the maximum of 10,000.00",
                 id="one-tick-over-maximum"),
    pytest.param(nothing, lambda b: b.order(101), NTL, "10000", "10100", "above",
                 id="one-share-over-maximum"),
    pytest.param(nothing, lambda b: b.order(-101, stop="99"), None, "", "", "",
                 id="stop-valued-at-its-trigger"),
    pytest.param(nothing, lambda b: b.order(10), None, "", "", "", id="at-minimum"),
    pytest.param(nothing, lambda b: b.order(10, limit="99.99"), NTL, "1000", "999.9",
                 "below the minimum of 1,000.00", id="one-tick-under-minimum"),
    pytest.param(nothing, lambda b: b.order(10, "DEF"), NTL, "10000", "",
                 "no price to value the order", id="market-without-last-price"),
    pytest.param(long_abc(500), lambda b: b.order(-500), None, "", "", "",
                 id="reducing-order-passes"),
    pytest.param(long_abc(500), lambda b: b.order(-1), None, "", "", "",
                 id="reducing-below-minimum-passes"),
    pytest.param(nothing, lambda b: b.order(10, "NOPE"), DenialCode.UNKNOWN_SYMBOL, "", "",
                 "unknown symbol NOPE", id="unknown-symbol"),
])
def test_order_notional_limit(setup: Setup, make: Callable[[Book], Order],
                              code: DenialCode | None, limit: str, value: str,
                              words: str) -> None:
    rule = OrderNotionalLimit(minimum=1_000, maximum=10_000)
    assert_verdict(run(rule, setup, make), code, limit, value, words)


@pytest.mark.parametrize(("make", "code", "value"), [
    # 100,000 USDJPY at 150.000 is 15,000,000 JPY: 100,000 USD at 1/150
    pytest.param(lambda b: b.order(100_000, "USDJPY", limit="150.000"), None, "",
                 id="usdjpy-at-limit"),
    pytest.param(lambda b: b.order(100_001, "USDJPY", limit="150.000"), NTL, "100001",
                 id="usdjpy-one-unit-over"),
    # 4,000 shares at 3,750 JPY is 15,000,000 JPY: the same 100,000 USD
    pytest.param(lambda b: b.order(4_000, TOYOTA, limit="3750.00"), None, "",
                 id="jpy-equity-at-limit"),
    pytest.param(lambda b: b.order(4_000, TOYOTA, limit="3750.01"), NTL, "100000.27",
                 id="jpy-equity-one-tick-over"),
])
def test_order_notional_converts_yen_to_the_usd_account(
        make: Callable[[Book], Order], code: DenialCode | None, value: str) -> None:
    rule = OrderNotionalLimit(maximum=100_000)
    assert_verdict(run(rule, nothing, make), code, "100000", value)


# -- price band -------------------------------------------------------------------------------

BAND = DenialCode.PRICE_BAND


@pytest.mark.parametrize(("setup", "make", "code", "value", "words"), [
    pytest.param(nothing, lambda b: b.order(10, limit="105.00"), None, "", "",
                 id="limit-at-upper-edge"),
    pytest.param(nothing, lambda b: b.order(10, limit="105.01"), BAND, "5.01",
                 "ABC limit price 105.01 is 5.01% from the last price 100, outside the band of "
                 "5% (account)", id="limit-one-tick-above"),
    pytest.param(nothing, lambda b: b.order(-10, limit="95.00"), None, "", "",
                 id="limit-at-lower-edge"),
    pytest.param(nothing, lambda b: b.order(-10, limit="94.99"), BAND, "5.01", "limit price",
                 id="limit-one-tick-below"),
    pytest.param(nothing, lambda b: b.order(10, stop="105.01"), BAND, "5.01", "trigger price",
                 id="stop-trigger-one-tick-above"),
    pytest.param(nothing, lambda b: b.order(10, limit="106", stop="105"), BAND, "6",
                 "limit price 106", id="stop-limit-price-outside"),
    pytest.param(nothing, lambda b: b.order(10, limit="105", stop="94.99"), BAND, "5.01",
                 "trigger price 94.99", id="stop-limit-trigger-outside"),
    pytest.param(nothing, lambda b: b.order(10), None, "", "", id="market-passes"),
    pytest.param(nothing, lambda b: b.order(10, "DEF"), None, "", "",
                 id="market-without-last-price-passes"),
    pytest.param(nothing, lambda b: b.order(10, "DEF", limit="50"), BAND, "",
                 "no last price", id="limit-without-last-price-denied"),
    pytest.param(long_abc(100), lambda b: b.order(-100, stop="80"), None, "", "",
                 id="protective-stop-on-a-position-passes"),
    pytest.param(nothing, lambda b: b.order(10, "EURUSD", limit="1.15500"), None, "", "",
                 id="fx-at-edge"),
    pytest.param(nothing, lambda b: b.order(10, "EURUSD", limit="1.15501"), BAND, "5.001",
                 "EURUSD limit price 1.15501", id="fx-one-pip-tenth-over"),
])
def test_price_band(setup: Setup, make: Callable[[Book], Order], code: DenialCode | None,
                    value: str, words: str) -> None:
    assert_verdict(run(PriceBand(max_deviation_pct=5), setup, make), code,
                   "5" if code else "", value, words)


# -- maximum position -------------------------------------------------------------------------

POS = DenialCode.POSITION


def working(qty: int, **options: object) -> Setup:
    def setup(book: Book) -> None:
        book.hold("ABC", 600)
        book.order(qty, working=True, **options)  # type: ignore[arg-type]
    return setup


@pytest.mark.parametrize(("setup", "qty", "code", "value", "words"), [
    pytest.param(nothing, 1_000, None, "", "", id="flat-to-limit"),
    pytest.param(nothing, 1_001, POS, "1001", "ABC position would be 1,001, above the limit of "
                 "1,000 (account)", id="flat-one-over"),
    pytest.param(long_abc(600), 400, None, "", "", id="add-to-limit"),
    pytest.param(long_abc(600), 401, POS, "1001", "", id="add-one-over"),
    pytest.param(long_abc(-600), -401, POS, "1001", "", id="short-one-over"),
    pytest.param(long_abc(600), -1_600, None, "", "", id="flip-to-limit"),
    pytest.param(long_abc(600), -1_601, POS, "1001", "", id="flip-one-over"),
    pytest.param(long_abc(1_500), -100, None, "", "", id="reducing-above-limit-passes"),
    pytest.param(working(300), 100, None, "", "", id="working-buys-to-limit"),
    pytest.param(working(300), 101, POS, "1001", "", id="working-buys-one-over"),
    pytest.param(working(300, filled=100), 201, POS, "1001", "",
                 id="partly-filled-counts-leaves"),
    pytest.param(working(-300), 400, None, "", "", id="working-sells-ignored"),
    pytest.param(working(300, reduce_only=True), 400, None, "", "",
                 id="working-reduce-only-ignored"),
])
def test_max_position_quantity(setup: Setup, qty: int, code: DenialCode | None, value: str,
                               words: str) -> None:
    rule = MaxPosition(quantity=1_000)
    assert_verdict(run(rule, setup, lambda b: b.order(qty)), code,
                   "1000" if code else "", value, words)


@pytest.mark.parametrize(("setup", "make", "code", "value", "words"), [
    pytest.param(long_abc(500), lambda b: b.order(500), None, "", "", id="market-to-limit"),
    pytest.param(long_abc(500), lambda b: b.order(500, limit="100.01"), POS, "100010",
                 "ABC position would be worth 100,010.00, above the limit of 100,000.00",
                 id="one-tick-over-at-order-price"),
    pytest.param(nothing, lambda b: b.order(10, "DEF"), POS, "", "no price to value the order",
                 id="no-price-fails-closed"),
    pytest.param(nothing, lambda b: b.order(100_000, "USDJPY"), None, "", "",
                 id="usdjpy-converted-to-limit"),
    pytest.param(nothing, lambda b: b.order(100_001, "USDJPY"), POS, "100001", "",
                 id="usdjpy-one-unit-over"),
])
def test_max_position_notional(setup: Setup, make: Callable[[Book], Order],
                               code: DenialCode | None, value: str, words: str) -> None:
    rule = MaxPosition(notional=100_000)
    assert_verdict(run(rule, setup, make), code, "100000" if code else "", value, words)


def test_max_position_by_quantity_needs_no_price() -> None:
    assert run(MaxPosition(quantity=100), nothing, lambda b: b.order(100, "DEF")) is None


def test_max_position_under_a_strategy_scope_counts_that_strategy_only() -> None:
    def setup(book: Book) -> None:
        book.hold("ABC", 900, strategy="S2")
        book.order(50, strategy="S2", working=True)

    account = run(MaxPosition(quantity=1_000), setup, lambda b: b.order(1_000))
    assert account is not None and account.value == "1950"
    scoped = MaxPosition(Scope(strategy="S1"), quantity=1_000)
    assert run(scoped, setup, lambda b: b.order(1_000)) is None
    denial = run(scoped, setup, lambda b: b.order(1_001))
    assert denial is not None and "(strategy S1)" in denial.reason


# -- exposure ---------------------------------------------------------------------------------

GROSS, NET, LEV = DenialCode.GROSS_EXPOSURE, DenialCode.NET_EXPOSURE, DenialCode.LEVERAGE


def book_50k_long_20k_short(book: Book) -> None:
    """Gross 70,000, net 30,000 at the last prices."""
    book.hold("ABC", 500)
    book.hold("XYZ", -200)


@pytest.mark.parametrize(("make", "code", "value", "words"), [
    pytest.param(lambda b: b.order(300), None, "", "", id="to-limit"),
    pytest.param(lambda b: b.order(301), GROSS, "100100", "gross exposure would be "
                 "100,100.00, above the limit of 100,000.00 (ABC order, account)",
                 id="one-share-over"),
    pytest.param(lambda b: b.order(300, limit="100.01"), GROSS, "100008", "",
                 id="symbol-revalued-at-order-price"),
    pytest.param(lambda b: b.order(-300, "XYZ"), None, "", "", id="short-entry-to-limit"),
    pytest.param(lambda b: b.order(-301, "XYZ"), GROSS, "100100", "", id="short-entry-over"),
    pytest.param(lambda b: b.order(-500), None, "", "", id="closing-passes"),
    pytest.param(lambda b: b.order(10, "DEF"), GROSS, "", "no price to value the order",
                 id="no-price-fails-closed"),
])
def test_gross_exposure(make: Callable[[Book], Order], code: DenialCode | None, value: str,
                        words: str) -> None:
    rule = ExposureLimit(max_gross=100_000)
    assert_verdict(run(rule, book_50k_long_20k_short, make), code,
                   "100000" if code else "", value, words)


def test_gross_above_the_limit_still_lets_reducing_orders_through() -> None:
    def setup(book: Book) -> None:
        book.hold("ABC", 1_500)  # 150,000 against a 100,000 limit

    rule = ExposureLimit(max_gross=100_000)
    assert run(rule, setup, lambda b: b.order(-100)) is None
    denial = run(rule, setup, lambda b: b.order(1))
    assert denial is not None and denial.value == "150100"


def test_positions_without_a_last_price_count_at_their_average_price() -> None:
    def setup(book: Book) -> None:
        book.hold("DEF", 1_000, avg_px="50")  # 50,000, never priced

    rule = ExposureLimit(max_gross=100_000)
    assert run(rule, setup, lambda b: b.order(500)) is None
    denial = run(rule, setup, lambda b: b.order(501))
    assert denial is not None and denial.value == "100100"


@pytest.mark.parametrize(("setup", "make", "code", "value"), [
    pytest.param(book_50k_long_20k_short, lambda b: b.order(100), None, "", id="net-to-limit"),
    pytest.param(book_50k_long_20k_short, lambda b: b.order(101), NET, "40100",
                 id="net-one-over"),
    pytest.param(long_abc(500), lambda b: b.order(-50, "DEF", limit="100"), None, "",
                 id="short-entry-lowers-net-above-limit"),
    pytest.param(long_abc(500), lambda b: b.order(1, "XYZ"), NET, "50100",
                 id="entry-raises-net-above-limit"),
])
def test_net_exposure(setup: Setup, make: Callable[[Book], Order], code: DenialCode | None,
                      value: str) -> None:
    rule = ExposureLimit(max_net=40_000)
    assert_verdict(run(rule, setup, make), code, "40000" if code else "", value)


@pytest.mark.parametrize(("balance", "make", "code", "value", "words"), [
    pytest.param(50_000, lambda b: b.order(300), None, "", "", id="to-limit"),
    pytest.param(50_000, lambda b: b.order(301), LEV, "2.002",
                 "leverage would be 2.002x (gross exposure 100,100.00 on equity 50,000.00), "
                 "above the limit of 2x", id="one-share-over"),
    pytest.param(0, lambda b: b.order(1), LEV, "0", "equity is 0.00: no new entries",
                 id="no-equity-no-entries"),
    pytest.param(-1_000, lambda b: b.order(1), LEV, "-1000", "equity is -1,000.00",
                 id="negative-equity-no-entries"),
    pytest.param(0, lambda b: b.order(-500), None, "", "", id="no-equity-may-close"),
])
def test_leverage(balance: int, make: Callable[[Book], Order], code: DenialCode | None,
                  value: str, words: str) -> None:
    book = Book(balance=balance)
    book_50k_long_20k_short(book)
    assert_verdict(book.check(ExposureLimit(max_leverage=2), make(book)), code,
                   "2" if code else "", value, words)


def test_exposure_converts_yen_positions_to_the_usd_account() -> None:
    def setup(book: Book) -> None:
        book.cache.last_prices[TOYOTA] = 2_500.0
        book.hold(TOYOTA, 1_200)  # 3,000,000 JPY at USDJPY 150: 20,000.00 USD

    rule = ExposureLimit(max_gross=25_000)
    assert run(rule, setup, lambda b: b.order(50)) is None  # 20,000 + 5,000
    denial = run(rule, setup, lambda b: b.order(51))
    assert denial is not None and denial.value == "25100"
    assert run(rule, setup, lambda b: b.order(300, TOYOTA)) is None  # 3,750,000 JPY
    denial = run(rule, setup, lambda b: b.order(301, TOYOTA))  # 3,752,500 JPY
    assert denial is not None and denial.value == "25016.67"


def test_exposure_under_a_strategy_scope_counts_that_strategy_only() -> None:
    def setup(book: Book) -> None:
        book.hold("ABC", 500, strategy="S1")
        book.hold("XYZ", -200, strategy="S2")

    scoped = ExposureLimit(Scope(strategy="S1"), max_gross=60_000)
    assert run(scoped, setup, lambda b: b.order(100)) is None
    denial = run(scoped, setup, lambda b: b.order(101))
    assert denial is not None and denial.value == "60100"
    assert run(scoped, setup, lambda b: b.order(10_000, strategy="S2")) is None
    whole = run(ExposureLimit(max_gross=60_000), setup, lambda b: b.order(100))
    assert whole is not None and whole.value == "80000"


# -- open positions ---------------------------------------------------------------------------

OPEN = DenialCode.OPEN_POSITIONS


def holding(*symbols: str, entries: tuple[str, ...] = (), exits: tuple[str, ...] = ()) -> Setup:
    def setup(book: Book) -> None:
        for symbol in symbols:
            book.hold(symbol, 10)
        for symbol in entries:
            book.order(10, symbol, working=True)
        for symbol in exits:
            book.order(-10, symbol, working=True, reduce_only=True)
    return setup


@pytest.mark.parametrize(("setup", "make", "code", "value"), [
    pytest.param(holding("ABC"), lambda b: b.order(10, "DEF"), None, "", id="below-limit"),
    pytest.param(holding("ABC", "XYZ"), lambda b: b.order(10, "DEF"), OPEN, "3",
                 id="at-limit-new-symbol-denied"),
    pytest.param(holding("ABC", "XYZ"), lambda b: b.order(10, "ABC"), None, "",
                 id="adding-to-held-symbol-passes"),
    pytest.param(holding("ABC", "XYZ"), lambda b: b.order(-20, "ABC"), None, "",
                 id="flipping-held-symbol-passes"),
    pytest.param(holding("ABC", "XYZ"), lambda b: b.order(-10, "XYZ"), None, "",
                 id="closing-passes"),
    pytest.param(holding("ABC", entries=("XYZ",)), lambda b: b.order(10, "DEF"), OPEN, "3",
                 id="working-entry-counts"),
    pytest.param(holding("ABC", entries=("DEF",)), lambda b: b.order(10, "DEF"), None, "",
                 id="second-entry-same-symbol-passes"),
    pytest.param(holding("ABC", exits=("XYZ",)), lambda b: b.order(10, "DEF"), None, "",
                 id="working-reduce-only-ignored"),
])
def test_max_open_positions(setup: Setup, make: Callable[[Book], Order],
                            code: DenialCode | None, value: str) -> None:
    assert_verdict(run(MaxOpenPositions(maximum=2), setup, make), code,
                   "2" if code else "", value)


def test_open_positions_net_across_strategies_and_scope_by_strategy() -> None:
    def setup(book: Book) -> None:
        book.hold("ABC", 10, strategy="S1")
        book.hold("XYZ", 10, strategy="S1")
        book.hold("XYZ", -10, strategy="S2")  # the account is flat in XYZ

    assert run(MaxOpenPositions(maximum=2), setup, lambda b: b.order(10, "DEF")) is None
    scoped = MaxOpenPositions(Scope(strategy="S1"), maximum=2)
    denial = run(scoped, setup, lambda b: b.order(10, "DEF"))
    assert denial is not None and "(strategy S1)" in denial.reason
    assert run(scoped, setup, lambda b: b.order(10, "DEF", strategy="S2")) is None


# -- scope ------------------------------------------------------------------------------------

RULES: list[tuple[str, Callable[[Scope], Rule]]] = [
    ("quantity", lambda s: OrderQuantityLimit(s, maximum=10)),
    ("notional", lambda s: OrderNotionalLimit(s, maximum=1_000)),
    ("band", lambda s: PriceBand(s, max_deviation_pct=1)),
    ("position", lambda s: MaxPosition(s, quantity=10)),
    ("exposure", lambda s: ExposureLimit(s, max_gross=1_000)),
]


@pytest.mark.parametrize(("name", "make_rule"), RULES, ids=[name for name, _ in RULES])
@pytest.mark.parametrize(("scope", "symbol", "strategy", "denied"), [
    pytest.param(ACCOUNT, "XYZ", "S2", True, id="account"),
    pytest.param(Scope(symbol="ABC"), "ABC", "S1", True, id="symbol-matches"),
    pytest.param(Scope(symbol="ABC"), "XYZ", "S1", False, id="other-symbol-ignored"),
    pytest.param(Scope(strategy="S1"), "ABC", "S1", True, id="strategy-matches"),
    pytest.param(Scope(strategy="S1"), "ABC", "S2", False, id="other-strategy-ignored"),
    pytest.param(Scope(venue="SIM"), "ABC", "S1", True, id="venue-matches"),
    pytest.param(Scope(venue="LSE"), "ABC", "S1", False, id="other-venue-ignored"),
])
def test_scope_decides_which_orders_a_limit_sees(
        name: str, make_rule: Callable[[Scope], Rule], scope: Scope, symbol: str,
        strategy: str, denied: bool) -> None:
    book = Book()
    rule = make_rule(scope)
    denial = book.check(rule, book.order(20, symbol, limit="110", strategy=strategy))
    assert (denial is not None) is denied, denial
    if denial is not None:
        assert str(scope) in denial.reason


# -- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "message"), [
    pytest.param(OrderQuantityLimit, "OrderQuantityLimit needs a minimum or a "
                 "maximum", id="quantity-no-bound"),
    pytest.param(lambda: OrderQuantityLimit(maximum=-5), "maximum must be positive, got -5",
                 id="quantity-negative"),
    pytest.param(lambda: OrderQuantityLimit(minimum=0), "minimum must be positive, got 0",
                 id="quantity-zero-minimum"),
    pytest.param(lambda: OrderQuantityLimit(minimum=10, maximum=5),
                 "minimum 10 is above maximum 5", id="quantity-inverted"),
    pytest.param(lambda: OrderQuantityLimit(maximum="lots"),
                 "maximum must be a positive number, got 'lots'", id="quantity-not-a-number"),
    pytest.param(OrderNotionalLimit, "OrderNotionalLimit needs", id="notional-none"),
    pytest.param(lambda: OrderNotionalLimit(maximum=float("nan")), "maximum must be positive",
                 id="notional-nan"),
    pytest.param(lambda: PriceBand(max_deviation_pct=0),
                 "PriceBand: max_deviation_pct must be positive, got 0", id="band-zero"),
    pytest.param(lambda: PriceBand(max_deviation_pct=True), "got True", id="band-bool"),
    pytest.param(MaxPosition, "MaxPosition needs a quantity or a notional",
                 id="position-none"),
    pytest.param(lambda: MaxPosition(notional=-1), "notional must be positive, got -1",
                 id="position-negative"),
    pytest.param(ExposureLimit, "ExposureLimit needs", id="exposure-none"),
    pytest.param(lambda: ExposureLimit(max_leverage=0), "max_leverage must be positive",
                 id="exposure-zero-leverage"),
    pytest.param(lambda: MaxOpenPositions(maximum=0), "maximum must be a positive whole "
                 "number, got 0", id="open-zero"),
    pytest.param(lambda: MaxOpenPositions(maximum=1.5), "got 1.5",  # type: ignore[arg-type]
                 id="open-fraction"),
])
def test_invalid_limits_raise_config_error(make: Callable[[], Rule], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make()


def test_limits_accept_decimal_strings_and_floats_exactly() -> None:
    assert OrderQuantityLimit(maximum="0.5").maximum == D("0.5")
    assert PriceBand(max_deviation_pct=0.1).max_deviation_pct == D("0.1")
    assert ExposureLimit(max_leverage=D("2.5")).max_leverage == D("2.5")


# -- through the kernel -----------------------------------------------------------------------

class Desk:
    """A kernel with the simulated venue: orders go through the real risk gate."""

    def __init__(self, rules: list[Rule]) -> None:
        self.clock = TestClock(1_000)
        self.kernel = Kernel(self.clock, Account("A", "USD", AccountType.MARGIN, D(100_000)))
        self.kernel.add_instrument(Instrument.equity("ABC"))
        self.venue = SimulatedVenue(self.kernel.cache, self.clock)
        self.kernel.add_execution_client(self.venue)
        self.kernel.cache.last_prices["ABC"] = 100.0
        self.kernel.risk.add_rules(rules)
        self.denials: list[ev.OrderDenied] = []
        self.kernel.bus.subscribe("events.order.*", self._collect)
        self._n = 0

    def _collect(self, event: ev.OrderEvent) -> None:
        if isinstance(event, ev.OrderDenied):
            self.denials.append(event)

    def send(self, qty: int, limit: str | None = None) -> Order:
        self._n += 1
        order = Order(
            client_order_id=f"K-{self._n}", strategy_id="T", symbol="ABC",
            side=OrderSide.BUY if qty > 0 else OrderSide.SELL,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET, quantity=D(abs(qty)),
            ts_init=self.clock.now_ns(), price=D(limit) if limit else None,
        )
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def bar(self, price: float) -> None:
        self.clock.advance_to(self.clock.now_ns() + 60)
        self.venue.process_bar("ABC", self.clock.now_ns(), price, price, price, price, 1e9)
        self.kernel.cache.last_prices["ABC"] = price


def test_the_kernel_gate_denies_with_code_limit_and_value() -> None:
    desk = Desk([PriceBand(max_deviation_pct=5), MaxPosition(quantity=100)])
    assert desk.send(60).status is OrderStatus.ACCEPTED
    desk.bar(100.0)
    assert desk.kernel.portfolio.net_quantity("ABC") == 60
    assert desk.send(30, limit="96").status is OrderStatus.ACCEPTED  # works below the market
    over = desk.send(11)
    assert over.status is OrderStatus.DENIED
    [denial] = desk.denials
    assert (denial.code, denial.limit, denial.value) == ("POSITION", "100", "101")
    assert denial.client_order_id == over.client_order_id
    assert "ABC position would be 101, above the limit of 100 (account)" in denial.reason
    assert desk.send(10).status is OrderStatus.ACCEPTED
    assert desk.send(-60).status is OrderStatus.ACCEPTED  # getting out always passes
    fat = desk.send(1, limit="105.01")
    assert fat.status is OrderStatus.DENIED
    assert (desk.denials[-1].code, desk.denials[-1].value) == ("PRICE_BAND", "5.01")


def test_denied_entries_do_not_count_as_working_in_the_kernel() -> None:
    desk = Desk([MaxOpenPositions(maximum=1), MaxPosition(quantity=50)])
    assert desk.send(51).status is OrderStatus.DENIED
    assert desk.send(50).status is OrderStatus.ACCEPTED
    assert [d.code for d in desk.denials] == ["POSITION"]
