"""The gotobi effect: on Tokyo's settlement days Japanese importers buy dollars before the 09:55
JST fix, and the dollar tends to firm against the yen in the Tokyo morning."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tradeloop.model.data import Bar
from tradeloop.strategy import Strategy

#: Japan Standard Time (UTC+9 all year: Japan has no daylight saving time).
JST = ZoneInfo("Asia/Tokyo")

_SETTLEMENT_DAYS = (5, 10, 15, 20, 25)
_SATURDAY = 5


def _previous_business_day(day: date) -> date:
    while day.weekday() >= _SATURDAY:
        day -= timedelta(days=1)
    return day


def gotobi_days(year: int, month: int) -> list[date]:
    """The gotobi (settlement) days of one month, in order.

    The nominal days are the 5th, 10th, 15th, 20th and 25th, plus the last day of the month
    (the "30th"; the 28th or 29th in February). A nominal day falling on a Saturday or Sunday
    settles on the business day before it, so the month-end day is the last weekday of the
    month. Japanese public holidays are ignored: they are treated as business days.

    Parameters
    ----------
    year : int
    month : int
        1 to 12.

    Returns
    -------
    list of datetime.date
        Six distinct weekdays, sorted.

    Examples
    --------
    >>> [d.day for d in gotobi_days(2017, 11)]  # the 5th is a Sunday, the 25th a Saturday
    [3, 10, 15, 20, 24, 30]
    """
    last = calendar.monthrange(year, month)[1]
    nominal = [*(date(year, month, d) for d in _SETTLEMENT_DAYS), date(year, month, last)]
    return sorted({_previous_business_day(d) for d in nominal})


def is_gotobi_day(day: date) -> bool:
    """Whether ``day`` (a Tokyo calendar date) is a gotobi day.

    Parameters
    ----------
    day : datetime.date
        A date in Tokyo; pass ``dt.astimezone(JST).date()`` for an aware datetime.

    Returns
    -------
    bool
        See :func:`gotobi_days` for the rule.
    """
    return day in gotobi_days(day.year, day.month)


class Gotobi(Strategy):
    """Buy dollars against yen in the Tokyo morning of gotobi days; be flat before the fix.

    Japanese companies settle invoices on *gotobi* days, the 5th, 10th, 15th, 20th, 25th and
    last business day of the month (a settlement day on a weekend moves to the Friday before;
    see :func:`gotobi_days`, which ignores Japanese public holidays). Importers buy the dollars
    they owe before the Tokyo fix at 09:55 JST, when banks set the customer rate for the day,
    and that demand tends to lift USD/JPY through the Tokyo morning. The strategy buys USD on
    the gotobi day's early morning and sells it back before the fix.

    *Direction.* "Buy USD" is a long position when the dollar is the base currency (USDJPY),
    and a short one when it is the quote currency (EURUSD, GBPUSD, ...: selling the other
    currency for dollars). Pairs without the dollar, and instruments that are not currency pairs
    (base and quote alike, such as a US share), are refused at start.

    *Timing.* Times are judged in JST on the bar's close time. A bar's ``ts`` is its open
    time; during ``on_bar`` the clock (``self.now``) reads the bar's close time, and a market
    order sent then fills at the next bar's open, which for contiguous bars is that same close
    time. With hourly bars and the defaults:

    - entry: the first bar closing at or after 07:00 JST on a gotobi day (the 06:00-07:00 bar)
      sends the order, which fills at the 07:00 JST open (22:00 UTC the evening before);
    - exit: the position must be gone before 09:55, so the close is sent on the first bar
      closing at or after the exit time minus one bar (09:55 - 1h = 08:55), i.e. the
      08:00-09:00 bar, and fills at the 09:00 JST open. Waiting one more bar would fill at
      10:00, after the fix. On 5-minute bars the same rule closes at the 09:50 open.

    No entry is made once the exit time is within one bar, and a position still open on a
    later day (after a gap in the data) is closed at once.

    Parameters
    ----------
    entry_hour_jst : int, default 7
        Enter on the first bar of the gotobi day closing at or after this hour (JST).
    exit_hour_jst : int, default 9
        Hour of the exit deadline (the Tokyo fix), JST.
    exit_minute_jst : int, default 55
        Minute of the exit deadline.
    size : float, default 10000
        Units of the pair (base currency) traded.
    """

    entry_hour_jst: int = 7
    exit_hour_jst: int = 9
    exit_minute_jst: int = 55
    size: float = 10_000.0

    def on_start(self) -> None:
        if not 0 <= self.entry_hour_jst <= 23 or not 0 <= self.exit_hour_jst <= 23:
            raise ValueError("entry_hour_jst and exit_hour_jst must be hours from 0 to 23")
        if not 0 <= self.exit_minute_jst <= 59:
            raise ValueError(f"exit_minute_jst must be 0 to 59, got {self.exit_minute_jst}")
        self._entry_time = time(self.entry_hour_jst)
        self._exit_time = time(self.exit_hour_jst, self.exit_minute_jst)
        if self._entry_time >= self._exit_time:
            raise ValueError(
                f"entry at {self._entry_time:%H:%M} JST must come before the exit at "
                f"{self._exit_time:%H:%M} JST"
            )
        if self.size <= 0:
            raise ValueError(f"size must be positive, got {self.size}")
        inst = self.instrument()
        if inst.base_currency == inst.quote_currency:
            raise ValueError(
                f"{inst.symbol} is not a currency pair (base and quote are both "
                f"{inst.base_currency}): the gotobi strategy trades USD against another currency"
            )
        if inst.base_currency == "USD":
            self._buy_usd_is_long = True
        elif inst.quote_currency == "USD":
            self._buy_usd_is_long = False
        else:
            raise ValueError(
                f"{inst.symbol} is not a dollar pair (base {inst.base_currency}, "
                f"quote {inst.quote_currency}): the gotobi strategy buys USD"
            )
        self._traded_on: date | None = None

    def on_bar(self, bar: Bar) -> None:
        closed_at = self.now.astimezone(JST)
        bar_length = timedelta(microseconds=(self.now_ns - bar.ts) // 1_000)
        today = closed_at.date()
        deadline = datetime.combine(today, self._exit_time, tzinfo=JST)
        exit_due = closed_at + bar_length >= deadline
        position = self.position()
        if not position.is_flat:
            if exit_due or self._traded_on != today:
                self.close(tag="before_fix")
            return
        if (
            self._traded_on != today
            and closed_at.time() >= self._entry_time
            and not exit_due
            and is_gotobi_day(today)
        ):
            self._traded_on = today
            if self._buy_usd_is_long:
                self.buy(self.size, tag="gotobi")
            else:
                self.sell(self.size, tag="gotobi")
