"""Calendar rules: trading sessions, news blackouts and the pattern day trader rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_HOUR, NANOS_PER_MINUTE, NANOS_PER_SECOND, dt_to_ns
from tradeloop.data.economic import EconomicCalendar, EconomicEvent, Impact
from tradeloop.data.exchange_calendars import ExchangeCalendar, trading_hours
from tradeloop.data.sessions import fx_session
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.base import DenialCode, RiskContext, Rule
from tradeloop.risk.calendar_rules import NewsBlackout, PatternDayTrader, TradingSessionRule

SECOND = NANOS_PER_SECOND


def utc(text: str) -> int:
    """``"2025-03-07"``, ``"2025-03-07 13:30"`` or with seconds, read as UTC, in nanoseconds."""
    stamp = text if " " in text else f"{text} 00:00"
    return dt_to_ns(datetime.fromisoformat(f"{stamp}+00:00"))


class Book:
    """A real cache, portfolio and clock, with helpers to book fills and build orders."""

    def __init__(self, balance: str = "100000",
                 account_type: AccountType = AccountType.MARGIN) -> None:
        self.clock = TestClock(utc("2025-01-01 00:00"))
        self.cache = Cache()
        for instrument in (Instrument.equity("ABC"), Instrument.equity("XYZ"),
                           Instrument.fx_pair("EURUSD"), Instrument.fx_pair("EURGBP"),
                           Instrument.fx_pair("GBPUSD"), Instrument.fx_pair("USDJPY")):
            self.cache.add_instrument(instrument)
        self.cache.last_prices.update({"ABC": 100.0, "XYZ": 50.0, "EURUSD": 1.1})
        account = Account("A", "USD", account_type, Decimal(balance))
        self.portfolio = Portfolio(self.cache, account)
        self.ctx = RiskContext(self.cache, self.portfolio, self.clock)
        self._n = 0

    def at(self, ts: int) -> RiskContext:
        self.clock.advance_to(ts)
        self.ctx.reset()  # a new decision, as the engine starts each one
        return self.ctx

    def order(self, symbol: str, side: OrderSide, qty: int, *, reduce_only: bool = False,
              tags: tuple[str, ...] = ()) -> Order:
        self._n += 1
        return Order(
            client_order_id=f"O-{self._n}", strategy_id="S", symbol=symbol, side=side,
            order_type=OrderType.MARKET, quantity=Decimal(qty), ts_init=self.clock.now_ns(),
            reduce_only=reduce_only, tags=tags,
        )

    def fill(self, symbol: str, side: OrderSide, qty: int, ts: int, *rules: Rule,
             price: str = "100") -> None:
        """Book a fill as the execution engine does: portfolio first, then the rules."""
        self.clock.advance_to(max(ts, self.clock.now_ns()))
        self._n += 1
        fill = ev.OrderFilled(
            ts=ts, client_order_id=f"F-{self._n}", strategy_id="S", symbol=symbol,
            venue_order_id=f"V-{self._n}", trade_id=f"T-{self._n}", side=side,
            last_qty=Decimal(qty), last_px=Decimal(price),
        )
        self.portfolio.on_fill(fill)
        self.ctx.reset()
        for rule in rules:
            rule.on_fill(fill, self.ctx)


BUY, SELL = OrderSide.BUY, OrderSide.SELL


# --- trading sessions -------------------------------------------------------------------------

# (session, trading date, UTC open, UTC close) around the 2025 daylight-saving changes:
# New York moves on 2025-03-09 and 2025-11-02, London on 2025-03-30 and 2025-10-26.
SESSION_DAYS = [
    ("london", "2025-03-07", "08:00", "17:00"),  # both on winter time
    ("london", "2025-03-10", "08:00", "17:00"),  # only New York has moved
    ("london", "2025-03-31", "07:00", "16:00"),  # both on summer time
    ("london", "2025-10-24", "07:00", "16:00"),  # both still on summer time
    ("london", "2025-10-27", "08:00", "17:00"),  # only London is back on winter time
    ("london", "2025-11-03", "08:00", "17:00"),  # both on winter time
    ("new_york", "2025-03-07", "13:00", "22:00"),
    ("new_york", "2025-03-10", "12:00", "21:00"),
    ("new_york", "2025-03-31", "12:00", "21:00"),
    ("new_york", "2025-10-24", "12:00", "21:00"),
    ("new_york", "2025-10-27", "12:00", "21:00"),
    ("new_york", "2025-11-03", "13:00", "22:00"),
]
# (label, which edge, offset in ns, open?)
EDGES = [
    ("second-before-open", 0, -SECOND, False),
    ("at-open", 0, 0, True),
    ("second-before-close", 1, -SECOND, True),
    ("at-close", 1, 0, False),
]
SESSION_CASES = [
    pytest.param(name, day, (opens, closes)[edge], offset, is_open,
                 id=f"{name}-{day}-{label}")
    for name, day, opens, closes in SESSION_DAYS
    for label, edge, offset, is_open in EDGES
]


@pytest.mark.parametrize(("name", "day", "clock", "offset", "is_open"), SESSION_CASES)
def test_fx_session_edges_across_daylight_saving(
    name: str, day: str, clock: str, offset: int, is_open: bool,
) -> None:
    book = Book()
    rule = TradingSessionRule(hours=fx_session(name))
    ctx = book.at(utc(f"{day} {clock}") + offset)
    denial = rule.check(book.order("EURUSD", BUY, 1000), ctx)
    if is_open:
        assert denial is None
    else:
        assert denial is not None and denial.code is DenialCode.SESSION
        assert name in denial.reason and "opens next at" in denial.reason


@pytest.mark.parametrize(("name", "now", "next_open"), [
    pytest.param("london", "2025-03-28 17:00", "2025-03-31T07:00:00Z", id="london-weekend-dst"),
    pytest.param("london", "2025-10-24 16:00", "2025-10-27T08:00:00Z", id="london-weekend-back"),
    pytest.param("new_york", "2025-03-07 22:00", "2025-03-10T12:00:00Z", id="ny-weekend-dst"),
    pytest.param("new_york", "2025-10-31 21:00", "2025-11-03T13:00:00Z", id="ny-weekend-back"),
    pytest.param("london", "2025-03-12 06:00", "2025-03-12T08:00:00Z", id="london-before-open"),
])
def test_the_denial_names_the_session_and_its_next_open(name: str, now: str,
                                                        next_open: str) -> None:
    book = Book()
    rule = TradingSessionRule(hours=fx_session(name))
    denial = rule.check(book.order("EURUSD", BUY, 1000), book.at(utc(now)))
    assert denial is not None
    assert f"during the {name} session" in denial.reason
    assert f"opens next at {next_open}" in denial.reason
    assert denial.limit == name


def test_the_kept_window_agrees_with_the_schedule_minute_by_minute() -> None:
    hours = fx_session("london")
    rule = TradingSessionRule(hours=hours)
    start = utc("2025-03-27 00:00")
    for step in range(0, 6 * 24 * 60, 7):  # every 7 minutes over the week of the change
        ts = start + step * NANOS_PER_MINUTE
        assert rule.is_open(ts) is hours.is_open(ts), ts


def test_the_kept_stretch_is_not_trusted_for_earlier_times() -> None:
    rule = TradingSessionRule(hours=fx_session("london"))
    assert not rule.is_open(utc("2025-03-12 17:30"))
    assert rule.is_open(utc("2025-03-12 16:30"))
    assert not rule.is_open(utc("2025-03-12 07:59"))


XNYS_CASES = [
    pytest.param("2025-07-03 16:59:59", True, id="july-3-early-close-open"),
    pytest.param("2025-07-03 17:00:00", False, id="july-3-early-close-13h-ny"),
    pytest.param("2025-07-04 15:00:00", False, id="independence-day-holiday"),
    pytest.param("2025-07-07 13:30:00", True, id="monday-after-holiday-open"),
    pytest.param("2025-11-26 20:59:59", True, id="regular-day-before-close"),
    pytest.param("2025-11-26 21:00:00", False, id="regular-day-close-16h-ny"),
    pytest.param("2025-11-28 17:59:59", True, id="black-friday-before-early-close"),
    pytest.param("2025-11-28 18:00:00", False, id="black-friday-early-close-13h-ny"),
]


@pytest.mark.parametrize(("now", "is_open"), XNYS_CASES)
def test_exchange_calendar_holidays_and_early_closes(now: str, is_open: bool) -> None:
    book = Book()
    rule = TradingSessionRule(hours=trading_hours("XNYS"))
    denial = rule.check(book.order("ABC", BUY, 10), book.at(utc(now)))
    assert (denial is None) is is_open


@pytest.mark.parametrize(("now", "next_open"), [
    pytest.param("2025-07-04 15:00", "2025-07-07T13:30:00Z", id="holiday"),
    pytest.param("2025-11-28 18:00", "2025-12-01T14:30:00Z", id="early-close"),
])
def test_exchange_denial_names_the_next_open(now: str, next_open: str) -> None:
    book = Book()
    rule = TradingSessionRule(hours=ExchangeCalendar("XNYS"))
    denial = rule.check(book.order("ABC", BUY, 10), book.at(utc(now)))
    assert denial is not None and f"opens next at {next_open}" in denial.reason


@pytest.mark.parametrize(("side", "qty", "reduce_only", "tags", "allow_reducing", "passes"), [
    pytest.param(SELL, 50, False, (), True, True, id="partial-close-passes"),
    pytest.param(SELL, 100, False, (), True, True, id="full-close-passes"),
    pytest.param(SELL, 150, False, (), True, False, id="flip-opens-a-short-denied"),
    pytest.param(BUY, 10, False, (), True, False, id="adding-denied"),
    pytest.param(SELL, 50, False, (), False, False, id="close-denied-when-not-allowed"),
    pytest.param(SELL, 100, True, ("flatten",), False, True, id="gate-flatten-always-passes"),
])
def test_reducing_orders_outside_the_session(
    side: OrderSide, qty: int, reduce_only: bool, tags: tuple[str, ...], allow_reducing: bool,
    passes: bool,
) -> None:
    book = Book()
    book.fill("ABC", BUY, 100, utc("2025-03-07 15:00"))
    rule = TradingSessionRule(hours=fx_session("london"), allow_reducing=allow_reducing)
    ctx = book.at(utc("2025-03-08 12:00"))  # Saturday
    order = book.order("ABC", side, qty, reduce_only=reduce_only, tags=tags)
    assert (rule.check(order, ctx) is None) is passes


def test_session_rule_rejects_what_is_not_trading_hours() -> None:
    with pytest.raises(ConfigError, match="TradingSessionRule: hours"):
        TradingSessionRule(hours="london")  # type: ignore[arg-type]


# --- news blackout ----------------------------------------------------------------------------

NFP = "2025-03-07 13:30"


@pytest.fixture
def calendar(tmp_path: Path) -> EconomicCalendar:
    econ = EconomicCalendar(tmp_path / "economic.parquet")
    econ.add([
        EconomicEvent(utc(NFP), "USD", "United States", Impact.HIGH, "Non-Farm Payrolls"),
        EconomicEvent(utc("2025-03-07 09:30"), "GBP", "United Kingdom", Impact.MEDIUM,
                      "Halifax House Prices"),
        EconomicEvent(utc("2025-03-07 10:00"), "EUR", "Euro Area", Impact.HIGH, "GDP"),
        EconomicEvent(utc("2025-03-07 15:00"), "USD", "United States", Impact.HIGH, "Speech A"),
        EconomicEvent(utc("2025-03-07 15:05"), "USD", "United States", Impact.HIGH, "Speech B"),
    ])
    return econ


NEWS_CASES = [
    pytest.param("EURUSD", "2025-03-07 13:27:59", True, id="second-before-window"),
    pytest.param("EURUSD", "2025-03-07 13:28:00", False, id="at-window-start"),
    pytest.param("EURUSD", "2025-03-07 13:30:00", False, id="at-release"),
    pytest.param("EURUSD", "2025-03-07 13:34:59", False, id="second-before-window-end"),
    pytest.param("EURUSD", "2025-03-07 13:35:00", True, id="at-window-end-half-open"),
    pytest.param("EURGBP", "2025-03-07 13:30:00", True, id="usd-event-spares-eurgbp"),
    pytest.param("GBPUSD", "2025-03-07 13:30:00", False, id="usd-event-blocks-gbpusd"),
    pytest.param("USDJPY", "2025-03-07 13:30:00", False, id="usd-base-currency"),
    pytest.param("ABC", "2025-03-07 13:30:00", False, id="usd-stock"),
    pytest.param("EURGBP", "2025-03-07 10:00:00", False, id="eur-event-blocks-eurgbp"),
    pytest.param("EURGBP", "2025-03-07 09:30:00", True, id="medium-impact-ignored"),
    pytest.param("EURUSD", "2025-03-07 15:09:59", False, id="merged-windows"),
    pytest.param("EURUSD", "2025-03-07 15:10:00", True, id="after-merged-windows"),
]


@pytest.mark.parametrize("warm", [False, True], ids=["fresh-rule", "windows-kept"])
@pytest.mark.parametrize(("symbol", "now", "passes"), NEWS_CASES)
def test_news_blackout_windows(calendar: EconomicCalendar, symbol: str, now: str,
                               passes: bool, warm: bool) -> None:
    book = Book()
    rule = NewsBlackout.from_calendar(calendar, before_s=120, after_s=300)
    if warm:  # windows fetched at midnight, kept for the check
        rule.check(book.order(symbol, BUY, 1000), book.at(utc("2025-03-07 00:00")))
    denial = rule.check(book.order(symbol, BUY, 1000), book.at(utc(now)))
    assert (denial is None) is passes
    if denial is not None:
        assert denial.code is DenialCode.NEWS_BLACKOUT


def test_news_denial_names_the_window_and_the_currencies(calendar: EconomicCalendar) -> None:
    book = Book()
    rule = NewsBlackout.from_calendar(calendar, before_s=120, after_s=300)
    denial = rule.check(book.order("EURUSD", BUY, 1000), book.at(utc("2025-03-07 13:29")))
    assert denial is not None
    assert "from 2025-03-07T13:28:00Z to 2025-03-07T13:35:00Z" in denial.reason
    assert "EUR or USD releases" in denial.reason
    merged = rule.check(book.order("EURUSD", BUY, 1000), book.at(utc("2025-03-07 15:01")))
    assert merged is not None
    assert "from 2025-03-07T14:58:00Z to 2025-03-07T15:10:00Z" in merged.reason


def test_a_lower_impact_floor_blacks_out_medium_events(calendar: EconomicCalendar) -> None:
    book = Book()
    rule = NewsBlackout.from_calendar(calendar, before_s=60, after_s=60, min_impact="medium")
    assert rule.check(book.order("EURGBP", BUY, 1000), book.at(utc("2025-03-07 09:30"))) is not None


def test_reducing_orders_pass_a_blackout(calendar: EconomicCalendar) -> None:
    book = Book()
    book.fill("EURUSD", BUY, 1000, utc("2025-03-07 12:00"), price="1.1")
    rule = NewsBlackout.from_calendar(calendar, before_s=120, after_s=300)
    ctx = book.at(utc(NFP))
    assert rule.check(book.order("EURUSD", SELL, 1000), ctx) is None
    assert rule.check(book.order("EURUSD", BUY, 1000), ctx) is not None


def test_windows_are_fetched_once_a_day_per_currency_set() -> None:
    calls: list[tuple[tuple[str, ...], int, int]] = []

    def windows(currencies: Sequence[str], start: int, end: int) -> list[tuple[int, int]]:
        calls.append((tuple(currencies), start, end))
        event = utc(NFP)
        return [(event, event)] if "USD" in currencies and start <= event <= end else []

    book = Book()
    rule = NewsBlackout(windows=windows, before_s=60, after_s=60)
    # the day before the release: the day of windows fetched then already holds it
    assert rule.check(book.order("EURUSD", BUY, 1), book.at(utc("2025-03-06 14:00"))) is None
    assert rule.check(book.order("EURUSD", BUY, 1), book.at(utc(NFP))) is not None
    assert rule.check(book.order("EURGBP", BUY, 1), book.ctx) is None
    assert [c[0] for c in calls] == [("EUR", "USD"), ("EUR", "GBP")]
    # more than a day later: fetched again
    assert rule.check(book.order("EURUSD", BUY, 1), book.at(utc("2025-03-07 14:01"))) is None
    assert len(calls) == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"before_s": -1, "after_s": 0}, "before_s must not be negative", id="before"),
    pytest.param({"before_s": 0, "after_s": float("nan")}, "after_s must not be negative",
                 id="after-nan"),
])
def test_news_blackout_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NewsBlackout(windows=lambda c, s, e: [], **kwargs)


def test_from_calendar_rejects_an_unknown_impact(calendar: EconomicCalendar) -> None:
    with pytest.raises(ConfigError, match="min_impact"):
        NewsBlackout.from_calendar(calendar, before_s=1, after_s=1, min_impact="huge")


# --- pattern day trader -----------------------------------------------------------------------

def ny_time(day: str, hours: int = 14) -> int:
    """``day`` at ``hours``:00 UTC (10:00 New York in summer, 09:00 in winter)."""
    return utc(day) + hours * NANOS_PER_HOUR


def day_trade(book: Book, rule: PatternDayTrader, day: str, symbol: str = "ABC") -> None:
    book.fill(symbol, BUY, 10, ny_time(day, 14), rule)
    book.fill(symbol, SELL, 10, ny_time(day, 15), rule)


def attempt(book: Book, rule: PatternDayTrader, day: str, symbol: str = "ABC") -> bool:
    """Open a position on ``day`` and ask whether closing it passes."""
    book.fill(symbol, BUY, 10, ny_time(day, 16), rule)
    ctx = book.at(ny_time(day, 17))
    return rule.check(book.order(symbol, SELL, 10), ctx) is None


XNYS_HOLIDAYS = ExchangeCalendar("XNYS").is_holiday

PDT_WINDOW_CASES = [
    pytest.param(["2025-06-04", "2025-06-05", "2025-06-06"], "2025-06-09", None, False,
                 id="wed-thu-fri-then-monday-denied"),
    pytest.param(["2025-06-04", "2025-06-05", "2025-06-06"], "2025-06-10", None, False,
                 id="tuesday-still-denied"),
    pytest.param(["2025-06-04", "2025-06-05", "2025-06-06"], "2025-06-11", None, True,
                 id="next-wednesday-first-trade-rolled-out"),
    pytest.param(["2025-06-04", "2025-06-05", "2025-06-06"], "2025-06-06", None, False,
                 id="fourth-on-the-same-day-denied"),
    pytest.param(["2025-06-04", "2025-06-05"], "2025-06-09", None, True,
                 id="two-made-third-allowed"),
    pytest.param(["2025-03-05", "2025-03-06", "2025-03-07"], "2025-03-10", None, False,
                 id="window-across-new-york-dst-change"),
    pytest.param(["2025-05-21", "2025-05-22", "2025-05-23"], "2025-05-28", None, True,
                 id="no-holiday-wednesday-allowed"),
    pytest.param(["2025-05-21", "2025-05-22", "2025-05-23"], "2025-05-28", XNYS_HOLIDAYS, False,
                 id="memorial-day-is-not-a-business-day"),
    pytest.param(["2025-05-21", "2025-05-22", "2025-05-23"], "2025-05-28",
                 {date(2025, 5, 26)}.__contains__, False, id="holiday-callable"),
    pytest.param(["2025-05-21", "2025-05-22", "2025-05-23"], "2025-05-29", XNYS_HOLIDAYS, True,
                 id="thursday-after-memorial-day-allowed"),
]


@pytest.mark.parametrize(("trades", "day", "holidays", "passes"), PDT_WINDOW_CASES)
def test_day_trades_in_the_rolling_window(trades: list[str], day: str, holidays: object,
                                          passes: bool) -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader(holidays=holidays)  # type: ignore[arg-type]
    for trade_day in trades:
        day_trade(book, rule, trade_day)
    assert attempt(book, rule, day) is passes


@pytest.mark.parametrize(("balance", "account_type", "limited"), [
    pytest.param("25000", AccountType.MARGIN, False, id="equity-at-threshold-not-limited"),
    pytest.param("24999.99", AccountType.MARGIN, True, id="cent-below-threshold-limited"),
    pytest.param("100000", AccountType.MARGIN, False, id="well-above-not-limited"),
    pytest.param("10000", AccountType.CASH, False, id="cash-account-not-subject"),
])
def test_equity_threshold(balance: str, account_type: AccountType, limited: bool) -> None:
    book = Book(balance=balance, account_type=account_type)
    rule = PatternDayTrader()
    for day in ("2025-06-04", "2025-06-05", "2025-06-06"):
        day_trade(book, rule, day)
    assert attempt(book, rule, "2025-06-09") is not limited


def test_the_denial_names_the_count_limit_and_equity() -> None:
    book = Book(balance="24999.99")
    rule = PatternDayTrader()
    for day in ("2025-06-04", "2025-06-05", "2025-06-06"):
        day_trade(book, rule, day)
    book.fill("ABC", BUY, 10, ny_time("2025-06-09", 14), rule)
    denial = rule.check(book.order("ABC", SELL, 4), book.at(ny_time("2025-06-09", 15)))
    assert denial is not None and denial.code is DenialCode.PATTERN_DAY_TRADER
    assert (denial.limit, denial.value) == ("3", "4")
    assert "ABC" in denial.reason and "day trade 4 in 5 business days" in denial.reason
    assert "24,999.99" in denial.reason and "25,000.00" in denial.reason


H = NANOS_PER_HOUR
MON = utc("2025-06-09")
# (fills as (side, qty, UTC ns), day trades counted)
COUNT_CASES = [
    pytest.param([(BUY, 10, MON + 14 * H), (SELL, 10, MON + 15 * H)], 1, id="buy-sell"),
    pytest.param([(BUY, 10, MON + 14 * H), (BUY, 10, MON + 15 * H), (SELL, 10, MON + 16 * H),
                  (SELL, 10, MON + 17 * H)], 1, id="buy-buy-sell-sell-is-one"),
    pytest.param([(BUY, 10, MON + 14 * H), (SELL, 10, MON + 15 * H), (BUY, 10, MON + 16 * H),
                  (SELL, 10, MON + 17 * H)], 2, id="buy-sell-buy-sell-is-two"),
    pytest.param([(SELL, 10, MON + 14 * H), (BUY, 10, MON + 15 * H)], 1, id="short-and-cover"),
    pytest.param([(BUY, 10, MON + 14 * H), (SELL, 20, MON + 15 * H), (BUY, 10, MON + 16 * H)], 2,
                 id="flip-then-cover-is-two"),
    pytest.param([(BUY, 10, MON - 24 * H + 14 * H), (SELL, 10, MON + 14 * H)], 0,
                 id="held-overnight-not-a-day-trade"),
    pytest.param([(BUY, 10, MON - 24 * H + 14 * H), (BUY, 10, MON + 14 * H),
                  (SELL, 20, MON + 15 * H)], 1, id="added-today-then-closed"),
    # New York midnight is 04:00 UTC in June: 23:59 and 00:01 New York are different days
    pytest.param([(BUY, 10, MON + 4 * H - 60 * SECOND), (SELL, 10, MON + 4 * H + 60 * SECOND)],
                 0, id="across-new-york-midnight"),
    pytest.param([(BUY, 10, MON + 4 * H + 60 * SECOND), (SELL, 10, MON + 23 * H)], 1,
                 id="same-new-york-day-across-utc-date"),
]


@pytest.mark.parametrize(("fills", "expected"), COUNT_CASES)
def test_what_counts_as_a_day_trade(fills: list[tuple[OrderSide, int, int]],
                                    expected: int) -> None:
    book = Book()
    rule = PatternDayTrader()
    for side, qty, ts in fills:
        book.fill("ABC", side, qty, ts, rule)
    assert rule.count(book.clock.now_ns()) == expected


@pytest.mark.parametrize(("side", "qty", "tags", "passes"), [
    pytest.param(BUY, 10, (), True, id="adding-passes"),
    pytest.param(SELL, 10, (), False, id="closing-denied"),
    pytest.param(SELL, 10, ("flatten",), True, id="gate-flatten-passes"),
])
def test_only_orders_completing_a_day_trade_are_denied(side: OrderSide, qty: int,
                                                       tags: tuple[str, ...],
                                                       passes: bool) -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader()
    for day in ("2025-06-04", "2025-06-05", "2025-06-06"):
        day_trade(book, rule, day)
    book.fill("XYZ", BUY, 10, ny_time("2025-06-06", 16), rule)  # held over the weekend
    book.fill("ABC", BUY, 10, ny_time("2025-06-09", 14), rule)
    ctx = book.at(ny_time("2025-06-09", 15))
    order = book.order("ABC", side, qty, reduce_only=bool(tags), tags=tags)
    assert (rule.check(order, ctx) is None) is passes
    assert rule.check(book.order("XYZ", SELL, 10), ctx) is None  # not opened today


def test_working_closing_orders_count_towards_the_limit() -> None:
    book = Book(balance="20000")
    rule = PatternDayTrader()
    for day in ("2025-06-05", "2025-06-06"):
        day_trade(book, rule, day)
    book.fill("ABC", BUY, 10, ny_time("2025-06-09", 14), rule)
    book.fill("XYZ", BUY, 10, ny_time("2025-06-09", 14), rule)
    ctx = book.at(ny_time("2025-06-09", 15))
    assert rule.check(book.order("XYZ", SELL, 10), ctx) is None
    book.cache.add_order(book.order("ABC", SELL, 10))  # a working sell: day trade number 3
    denial = rule.check(book.order("XYZ", SELL, 10), ctx)
    assert denial is not None and "1 more working" in denial.reason


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"threshold": Decimal(-1)}, "threshold must not be negative", id="threshold"),
    pytest.param({"threshold": "lots"}, "threshold must be an amount", id="threshold-text"),
    pytest.param({"threshold": Decimal("NaN")}, "threshold must not be", id="threshold-nan"),
    pytest.param({"max_day_trades": -1}, "max_day_trades must be", id="max-negative"),
    pytest.param({"max_day_trades": 2.5}, "max_day_trades must be", id="max-fraction"),
    pytest.param({"window_days": 0}, "window_days must be a positive", id="window-zero"),
])
def test_pattern_day_trader_rejects_bad_settings(kwargs: dict[str, object],
                                                 message: str) -> None:
    with pytest.raises(ConfigError, match=f"PatternDayTrader: {message}"):
        PatternDayTrader(**kwargs)  # type: ignore[arg-type]


def test_window_start_skips_weekends_and_holidays() -> None:
    rule = PatternDayTrader(holidays=XNYS_HOLIDAYS)
    assert rule.window_start(date(2025, 6, 11)) == date(2025, 6, 5)
    assert rule.window_start(date(2025, 5, 28)) == date(2025, 5, 21)
    assert rule.window_start(date(2025, 7, 8)) == date(2025, 7, 1)  # July 4th skipped
    assert not rule.is_business_day(date(2025, 7, 4))


# --- through the kernel -----------------------------------------------------------------------

class Desk:
    """A kernel with the simulated venue, a 20,000 USD margin account and the day trader rule."""

    def __init__(self) -> None:
        self.clock = TestClock(ny_time("2025-06-04", 13))
        account = Account("A", "USD", AccountType.MARGIN, Decimal(20_000))
        self.kernel = Kernel(self.clock, account)
        self.kernel.add_instrument(Instrument.equity("ABC"))
        self.venue = SimulatedVenue(self.kernel.cache, self.clock)
        self.kernel.add_execution_client(self.venue)
        self.kernel.cache.last_prices["ABC"] = 100.0
        self.kernel.risk.add_rules([PatternDayTrader(holidays=XNYS_HOLIDAYS)])
        self.denials: list[ev.OrderDenied] = []
        self.kernel.bus.subscribe(
            "events.order.*",
            lambda e: self.denials.append(e) if isinstance(e, ev.OrderDenied) else None,
        )
        self._n = 0

    def trade(self, side: OrderSide, ts: int) -> Order:
        self.clock.advance_to(ts)
        self._n += 1
        order = Order(client_order_id=f"O-{self._n}", strategy_id="T", symbol="ABC", side=side,
                      order_type=OrderType.MARKET, quantity=Decimal(10), ts_init=ts)
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, ts))
        self.clock.advance_to(ts + 60 * SECOND)
        self.venue.process_bar("ABC", self.clock.now_ns(), 100.0, 100.0, 100.0, 100.0, 1e9)
        return order


def test_the_fourth_day_trade_is_denied_at_the_kernel_gate() -> None:
    desk = Desk()
    for day in ("2025-06-04", "2025-06-05", "2025-06-06"):
        assert desk.trade(BUY, ny_time(day, 14)).status is OrderStatus.FILLED
        assert desk.trade(SELL, ny_time(day, 15)).status is OrderStatus.FILLED
    monday = utc("2025-06-09")
    assert desk.trade(BUY, monday + 14 * H).status is OrderStatus.FILLED  # opening passes
    closing = desk.trade(SELL, monday + 15 * H)
    assert closing.status is OrderStatus.DENIED
    assert [d.code for d in desk.denials] == ["PATTERN_DAY_TRADER"]
    assert desk.kernel.portfolio.net_quantity("ABC") == 10
    # the position held overnight closes freely; the next Wednesday the first day trade has
    # left the window, so a new one passes
    wednesday = utc("2025-06-11")
    assert desk.trade(SELL, wednesday + 14 * H).status is OrderStatus.FILLED
    assert desk.trade(BUY, wednesday + 15 * H).status is OrderStatus.FILLED
    assert desk.trade(SELL, wednesday + 16 * H).status is OrderStatus.FILLED
    assert desk.kernel.portfolio.net_quantity("ABC") == 0
    assert len(desk.denials) == 1
