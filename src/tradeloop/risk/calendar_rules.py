"""Pre-trade rules on the calendar: trading sessions, news blackouts, and FINRA's pattern day
trader rule.

Sessions and news blackouts limit new entries only: an order that reduces a position passes, so
a trader can always get out. The pattern day trader rule limits exits instead (closing what was
opened today is what makes a day trade), except for the gate's own flatten orders, which every
rule here lets through: a kill switch must be able to close positions.

Every check is O(1) or O(log n): the session rule keeps the current open or closed stretch of
its schedule, the blackout rule keeps a day of windows per currency set, and the day trader
rule keeps today's business-day window. Nothing here imports pandas; exchange and economic
calendars are passed in already built.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_SECOND, ns_to_iso
from tradeloop.data.sessions import TradingHours
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport
from tradeloop.risk.base import (
    ACCOUNT,
    Count,
    Denial,
    DenialCode,
    Number,
    RiskContext,
    Rule,
    Scope,
    fmt,
)
from tradeloop.risk.trading_day import TradingDay

if TYPE_CHECKING:
    from tradeloop.data.economic import EconomicCalendar, Impact

log = logging.getLogger(__name__)

EventWindows = Callable[[Sequence[str], int, int], list[tuple[int, int]]]
"""``(currencies, start_ns, end_ns) -> [(start, end), ...]``: the spans of the scheduled events
of ``currencies`` that fall in ``[start_ns, end_ns]`` (``start == end`` for a point release)."""

_NEVER = 2**63 - 1
_NEW_YORK_DAY = TradingDay("America/New_York")
_MAX_LOOKBACK_DAYS = 370


def _is_flatten(order: Order) -> bool:
    return order.reduce_only and "flatten" in order.tags


def _reduces(order: Order, net: Decimal) -> bool:
    return net != 0 and (net > 0) != (order.side is OrderSide.BUY)


class TradingSessionRule(Rule):
    """Allow new entries only while a schedule is open.

    Parameters
    ----------
    scope : Scope
        The orders the rule applies to (the whole account by default).
    hours : TradingHours
        An FX session (``fx_session("london")``), instrument hours (``session_from_spec``) or
        an exchange calendar (``trading_hours("XNYS")``: holidays and early closes included).
    allow_reducing : bool, default True
        Let orders that only reduce or close positions through outside the hours. With False,
        every order is denied outside the hours (the gate's flatten orders still pass).

    Notes
    -----
    The rule keeps the stretch of time it last looked up (the open window, or the closed gap
    up to the next open), so a check costs two comparisons until that stretch ends.
    """

    code = DenialCode.SESSION

    def __init__(self, scope: Scope = ACCOUNT, *, hours: TradingHours,
                 allow_reducing: bool = True) -> None:
        super().__init__(scope)
        if not isinstance(hours, TradingHours):
            raise ConfigError(f"TradingSessionRule: hours must be trading hours (a session or "
                              f"exchange calendar), got {type(hours).__name__}")
        self.hours = hours
        self.allow_reducing = allow_reducing
        self._from = 0
        self._until = 0  # an empty stretch: the first check looks the schedule up
        self._open = False

    def is_open(self, ts_ns: int) -> bool:
        """Whether the hours are open at ``ts_ns`` (UTC nanoseconds), from the kept stretch
        when ``ts_ns`` falls in it."""
        if not self._from <= ts_ns < self._until:
            self._look_up(ts_ns)
        return self._open

    def _look_up(self, ts_ns: int) -> None:
        current = self.hours.windows(ts_ns, ts_ns + 1)
        if current:
            self._from, self._until = current[0]
            self._open = True
            return
        following = self.hours.next_open(ts_ns)
        self._from, self._until = ts_ns, _NEVER if following is None else following
        self._open = False

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        now = ctx.now_ns()
        if self.is_open(now) or _is_flatten(order):
            return None
        if self.allow_reducing and not ctx.is_opening(order):
            return None
        opens = ("it does not open again within two years" if self._until == _NEVER
                 else f"it opens next at {ns_to_iso(self._until)}")
        what = "new entries are" if self.allow_reducing else "orders are"
        return Denial(self.code, f"{order.symbol}: {what} allowed only during the "
                      f"{self.hours.name} session, which is closed; {opens} ({self.scope})",
                      self.hours.name, ns_to_iso(now))


class _BlackoutDay:
    """The merged blackout windows of one currency set for ``[start, end)``."""

    __slots__ = ("end", "ends", "start", "starts")

    def __init__(self, start: int, end: int, starts: list[int], ends: list[int]) -> None:
        self.start = start
        self.end = end
        self.starts = starts
        self.ends = ends


class NewsBlackout(Rule):
    """No new entries around scheduled releases of an instrument's currencies.

    An instrument's currencies are its base and quote currency (EUR and USD for EURUSD; the
    quote currency alone for a stock). Each event of those currencies blacks out
    ``[event start - before_s, event end + after_s)``, half-open: an order at the first instant
    is denied, one at the last instant passes.

    Parameters
    ----------
    scope : Scope
        The orders the rule applies to (the whole account by default).
    windows : callable
        ``windows(currencies, start_ns, end_ns)`` returns the ``(start, end)`` UTC nanosecond
        spans of the events of ``currencies`` in ``[start_ns, end_ns]`` (``start == end`` for
        a release at one instant). The rule pads them by ``before_s`` and ``after_s``: do not
        pad them yourself. :meth:`from_calendar` builds it from an economic calendar.
    before_s, after_s : float
        Seconds blacked out before and after each event (non-negative).

    Notes
    -----
    Windows are fetched once a day per currency set and kept, so a check is a binary search.
    Events added to the calendar later are seen from the next fetch (at most a day later).
    """

    code = DenialCode.NEWS_BLACKOUT

    def __init__(self, scope: Scope = ACCOUNT, *, windows: EventWindows, before_s: float,
                 after_s: float) -> None:
        super().__init__(scope)
        for label, value in (("before_s", before_s), ("after_s", after_s)):
            if not value >= 0:  # also rejects NaN
                raise ConfigError(f"NewsBlackout: {label} must not be negative, got {value}")
        if not callable(windows):
            raise ConfigError("NewsBlackout: windows must be a callable "
                              "(currencies, start_ns, end_ns) -> list of (start, end)")
        self.windows = windows
        self.before_s = before_s
        self.after_s = after_s
        self._before = round(before_s * NANOS_PER_SECOND)
        self._after = round(after_s * NANOS_PER_SECOND)
        self._currencies: dict[str, tuple[str, ...]] = {}
        self._days: dict[tuple[str, ...], _BlackoutDay] = {}

    @classmethod
    def from_calendar(cls, calendar: EconomicCalendar, scope: Scope = ACCOUNT, *,
                      before_s: float, after_s: float,
                      min_impact: Impact | str | int | None = "high") -> NewsBlackout:
        """A blackout around the events of an economic calendar.

        Parameters
        ----------
        calendar : EconomicCalendar
        scope : Scope
        before_s, after_s : float
            Seconds blacked out before and after each event.
        min_impact : Impact or str, default "high"
            Events below this impact are ignored; None counts every event.

        Returns
        -------
        NewsBlackout
        """
        from tradeloop.data import economic

        if min_impact is not None:
            try:
                economic.Impact.parse(min_impact)
            except ValueError as exc:
                raise ConfigError(f"NewsBlackout: min_impact: {exc}") from None

        def events(currencies: Sequence[str], start_ns: int, end_ns: int) -> list[tuple[int, int]]:
            # the calendar keeps windows strictly inside the range: widen it by one nanosecond
            return calendar.blackouts(currencies, 0, 0, start_ns - 1, end_ns + 1, min_impact)

        return cls(scope, windows=events, before_s=before_s, after_s=after_s)

    def currencies_of(self, symbol: str, ctx: RiskContext) -> tuple[str, ...] | None:
        """The currencies whose news moves ``symbol`` (None for an unknown symbol)."""
        found = self._currencies.get(symbol)
        if found is None:
            instrument = ctx.instrument(symbol)
            if instrument is None:
                return None
            found = tuple(dict.fromkeys(c for c in (instrument.base_currency,
                                                    instrument.quote_currency) if c))
            self._currencies[symbol] = found
        return found

    def blackout_at(self, currencies: tuple[str, ...], ts_ns: int) -> tuple[int, int] | None:
        """The blackout window of ``currencies`` holding ``ts_ns``, or None."""
        day = self._days.get(currencies)
        if day is None or not day.start <= ts_ns < day.end:
            day = self._fetch(currencies, ts_ns)
        index = bisect.bisect_right(day.starts, ts_ns) - 1
        if index >= 0 and ts_ns < day.ends[index]:
            return day.starts[index], day.ends[index]
        return None

    def _fetch(self, currencies: tuple[str, ...], ts_ns: int) -> _BlackoutDay:
        end = ts_ns + NANOS_PER_DAY
        spans = sorted((s - self._before, e + self._after) for s, e in
                       self.windows(currencies, ts_ns - self._after, end + self._before))
        starts: list[int] = []
        ends: list[int] = []
        for begin, finish in spans:
            if finish <= ts_ns or begin >= end or finish <= begin:
                continue
            if starts and begin <= ends[-1]:
                ends[-1] = max(ends[-1], finish)
            else:
                starts.append(begin)
                ends.append(finish)
        day = self._days[currencies] = _BlackoutDay(ts_ns, end, starts, ends)
        log.debug("news blackout windows fetched", extra={"fields": {
            "currencies": ",".join(currencies), "from": ns_to_iso(ts_ns), "windows": len(starts)}})
        return day

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        currencies = self.currencies_of(order.symbol, ctx)
        if not currencies or not ctx.is_opening(order):
            return None
        now = ctx.now_ns()
        window = self.blackout_at(currencies, now)
        if window is None:
            return None
        names = " or ".join(currencies)
        span = f"{ns_to_iso(window[0])} to {ns_to_iso(window[1])}"
        return Denial(self.code, f"{order.symbol}: no new entries during the news blackout "
                      f"from {span} around {names} releases ({self.scope})", span,
                      ns_to_iso(now))


class PatternDayTrader(Rule):
    """FINRA's pattern day trader rule for US margin accounts with equity under a threshold.

    A day trade is opening and closing (any part of) a position in the same symbol on the
    same trading day. Openings are counted as brokers do: a run of buys followed by a run of
    sells is one day trade, buy-sell-buy-sell is two. Day trades are counted over the last
    ``window_days`` business days (weekdays that are not holidays), today included. While the
    account's equity is below ``threshold`` and the count has reached ``max_day_trades``, an
    order that would complete another day trade is denied: one reducing a position opened or
    added to today that has not yet been counted (working orders that will complete a day
    trade in another symbol count too). Accounts at or above the threshold and cash accounts
    are not limited; the gate's flatten orders always pass.

    Parameters
    ----------
    threshold : Decimal, default 25,000
        Minimum equity, in the account currency, of a margin account allowed to day trade
        freely.
    max_day_trades : int, default 3
        Day trades allowed in the window.
    window_days : int, default 5
        Business days in the window, today included.
    day : TradingDay, default midnight New York
        Which trading day a moment belongs to.
    holidays : callable, optional
        ``holidays(day)`` is True for a weekday without trading, such as
        ``ExchangeCalendar("XNYS").is_holiday``. Only weekends are skipped without it.

    Notes
    -----
    Fills are read in :meth:`on_fill`, after the portfolio has booked them (the execution
    engine books a fill before publishing it), so the position before the fill is the cached
    net quantity minus the fill.
    """

    code = DenialCode.PATTERN_DAY_TRADER

    def __init__(self, *, threshold: Number = Decimal(25000), max_day_trades: Count = 3,
                 window_days: Count = 5, day: TradingDay = _NEW_YORK_DAY,
                 holidays: Callable[[date], bool] | None = None) -> None:
        super().__init__(ACCOUNT)
        try:
            threshold = Decimal(threshold)
        except (ArithmeticError, TypeError, ValueError):
            raise ConfigError("PatternDayTrader: threshold must be an amount of money, got "
                              f"{threshold!r}") from None
        if threshold.is_nan() or threshold < 0:
            raise ConfigError(f"PatternDayTrader: threshold must not be negative, got {threshold}")
        if isinstance(max_day_trades, bool) or not isinstance(max_day_trades, int) or (
                max_day_trades < 0):
            raise ConfigError("PatternDayTrader: max_day_trades must be a whole number of 0 or "
                              f"more, got {max_day_trades!r}")
        if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
            raise ConfigError("PatternDayTrader: window_days must be a positive whole number, "
                              f"got {window_days!r}")
        self.threshold = threshold
        self.max_day_trades = max_day_trades
        self.window_days = window_days
        self.day = day
        self.holidays = holidays
        self.day_trades: dict[date, int] = {}
        self._opened: dict[str, date] = {}  # symbol -> day of an opening not yet day-traded
        self._today = date.min
        self._today_from = 0
        self._today_until = 0
        self._window_first = date.min
        self._broker: tuple[date, int, bool] | None = None  # day, count, flagged
        self._counted_then = 0  # the node's count today when the broker's was taken

    # -- the calendar -------------------------------------------------------------------------

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` is a weekday that is not a holiday."""
        return day.weekday() < 5 and not (self.holidays is not None and self.holidays(day))

    def window_start(self, today: date) -> date:
        """The first business day of the window that ends with ``today``."""
        counted = 0
        day = today
        for _ in range(_MAX_LOOKBACK_DAYS):
            if self.is_business_day(day):
                counted += 1
                if counted == self.window_days:
                    return day
            day -= timedelta(days=1)
        return day

    def today(self, ts_ns: int) -> date:
        """The trading day of ``ts_ns``; the window is moved when the day changes."""
        if not self._today_from <= ts_ns < self._today_until:
            today = self.day.day_of(ts_ns)
            self._today_from = self.day.start_of(today)
            self._today_until = self.day.start_of(today + timedelta(days=1))
            if today != self._today:
                self._today = today
                self._window_first = self.window_start(today)
                first = self._window_first
                self.day_trades = {d: n for d, n in self.day_trades.items() if d >= first}
                self._opened = {s: d for s, d in self._opened.items() if d >= today}
        return self._today

    def count(self, ts_ns: int) -> int:
        """Day trades in the window that holds ``ts_ns``: the node's own count, or the
        broker's when it reported more today (trades made elsewhere, or before the node
        started) plus the node's since."""
        today = self.today(ts_ns)
        first = self._window_first
        own = sum(n for d, n in self.day_trades.items() if d >= first)
        broker = self._broker
        if broker is not None and broker[0] == today:
            return max(own, broker[1] + self.day_trades.get(today, 0) - self._counted_then)
        return own

    def on_account_report(self, report: AccountReport, ctx: RiskContext) -> None:
        """Take the broker's day-trade count (and its pattern day trader flag) as of today;
        the node's own day trades after it are added to it."""
        if report.day_trade_count is None and report.pattern_day_trader is None:
            return
        today = self.today(ctx.now_ns())
        count = report.day_trade_count if report.day_trade_count is not None else 0
        self._broker = (today, count, bool(report.pattern_day_trader))
        self._counted_then = self.day_trades.get(today, 0)
        log.info("broker's day-trade count taken", extra={"fields": {
            "day_trades": count, "pattern_day_trader": report.pattern_day_trader,
            "day": today.isoformat()}})

    # -- tracking -----------------------------------------------------------------------------

    def on_fill(self, fill: ev.OrderFilled, ctx: RiskContext) -> None:
        """Record an opening, or a day trade when the fill closes part of a position opened
        today."""
        day = self.today(fill.ts) if fill.ts >= self._today_from else self.day.day_of(fill.ts)
        signed = fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty
        before = ctx.net_quantity(fill.symbol) - signed
        reducing = before != 0 and (before > 0) != (signed > 0)
        if reducing and self._opened.get(fill.symbol) == day:
            self.day_trades[day] = self.day_trades.get(day, 0) + 1
            del self._opened[fill.symbol]
            log.info("day trade counted", extra={"fields": {
                "symbol": fill.symbol, "day": day.isoformat(), "ts": ns_to_iso(fill.ts)}})
        opening = not reducing or fill.last_qty > abs(before)
        if opening and day >= self._opened.get(fill.symbol, date.min):
            self._opened[fill.symbol] = day

    # -- the check ----------------------------------------------------------------------------

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        account = ctx.account
        if account.cash_account or _is_flatten(order):
            return None
        equity = account.equity
        if equity >= self.threshold:
            return None
        now = ctx.now_ns()
        today = self.today(now)
        if self._opened.get(order.symbol) != today:
            return None
        if not _reduces(order, ctx.net_quantity(order.symbol)):
            return None
        made = self.count(now)
        pending = self._pending(order, ctx, today)
        flagged = self._broker is not None and self._broker[0] == today and self._broker[2]
        limit = 0 if flagged else self.max_day_trades  # a flagged account under the minimum
        if made + pending < limit:
            return None
        working = f" and {pending} more working" if pending else ""
        why = ("the broker flags the account as a pattern day trader, so no day trades"
               if flagged else f"above the limit of {self.max_day_trades}")
        return Denial(self.code, f"{order.symbol}: closing today's position would be day trade "
                      f"{made + pending + 1} in {self.window_days} business days ({made} made"
                      f"{working}), {why} for a margin "
                      f"account with equity {equity:,.2f}, under {self.threshold:,.2f} "
                      "(pattern day trader rule)", fmt(limit), fmt(made + pending + 1))

    def _pending(self, order: Order, ctx: RiskContext, today: date) -> int:
        """Other symbols opened today with a working order that would close them."""
        pending = 0
        for symbol, day in self._opened.items():
            if day != today or symbol == order.symbol:
                continue
            net = ctx.net_quantity(symbol)
            if any(o is not order and _reduces(o, net) for o in ctx.cache.open_orders(symbol)):
                pending += 1
        return pending


__all__ = ["EventWindows", "NewsBlackout", "PatternDayTrader", "TradingSessionRule"]
