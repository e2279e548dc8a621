"""Pacing rules: how fast and how often a trader may act.

* :class:`OrderRateLimit` caps orders per second and per minute (entries and exits alike: it
  protects the venue from floods).
* :class:`TradesPerDay` caps the trades opened per trading day.
* :class:`TradeCooldown` pauses entries in a symbol for a while after a position in it closes.
* :class:`LossStreakCooldown` pauses entries after a run of losing trades.

All but the order rate limit stop only new entries (orders that open or add to a position), so
a trader can always get out. Their state is fed by the engine's hooks (``on_passed``,
``on_position``); ``check`` reads it in constant time, or in time proportional to the working
orders for :class:`TradesPerDay`.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from tradeloop.core.errors import ConfigError
from tradeloop.model import events as ev
from tradeloop.model.orders import Order
from tradeloop.risk.base import (
    ACCOUNT,
    Count,
    Denial,
    DenialCode,
    RiskContext,
    Rule,
    Scope,
    fmt,
)
from tradeloop.risk.trading_day import UTC_DAY, TradingDay

_NS_PER_SECOND = 1_000_000_000
_NS_PER_MINUTE = 60 * _NS_PER_SECOND
_NEVER = -(2**63)


class OrderRateLimit(Rule):
    """Deny an order when the orders in scope that passed the gate in the last second (or the
    last minute) already reach the limit.

    The windows slide: an order that passed at ``t`` counts until just before ``t + 1 s``
    (``t + 60 s`` for the minute window). Every order counts, entries and exits alike. Set a
    per-venue limit with ``Scope(venue=...)``. The orders of one order list are checked
    together before any of them is counted, so a list can go past the limit by its own size.

    Parameters
    ----------
    scope : Scope
    per_second, per_minute : int, optional
        The most orders allowed in any one-second and one-minute window; at least one is
        needed.

    Raises
    ------
    ConfigError
        When neither limit is given, or one is not a positive whole number.
    """

    code = DenialCode.ORDER_RATE

    def __init__(self, scope: Scope = ACCOUNT, *, per_second: Count | None = None,
                 per_minute: Count | None = None) -> None:
        super().__init__(scope)
        if per_second is None and per_minute is None:
            raise ConfigError("OrderRateLimit needs per_second or per_minute (or both)")
        self.per_second = (None if per_second is None
                           else _positive_count("OrderRateLimit", "per_second", per_second))
        self.per_minute = (None if per_minute is None
                           else _positive_count("OrderRateLimit", "per_minute", per_minute))
        self._second: deque[int] = deque()
        self._minute: deque[int] = deque()

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        now = ctx.now_ns()
        if self.per_second is not None:
            count = _slide(self._second, now - _NS_PER_SECOND)
            if count >= self.per_second:
                return self._deny(count, self.per_second, "second")
        if self.per_minute is not None:
            count = _slide(self._minute, now - _NS_PER_MINUTE)
            if count >= self.per_minute:
                return self._deny(count, self.per_minute, "minute")
        return None

    def _deny(self, count: int, limit: int, window: str) -> Denial:
        return Denial(self.code, f"{count} orders already sent in the last {window} "
                      f"({self.scope}), the limit is {limit} per {window}", fmt(limit),
                      fmt(count + 1))

    def on_passed(self, order: Order, ctx: RiskContext) -> None:
        """Count ``order`` in both windows."""
        now = ctx.now_ns()
        if self.per_second is not None:
            self._second.append(now)
        if self.per_minute is not None:
            self._minute.append(now)


class TradesPerDay(Rule):
    """Deny a new entry once the trades of the trading day reach the limit.

    A trade is counted when a position in scope opens (a ``PositionOpened`` event: opening
    again after a close counts again) or flips from long to short or back in one fill (a
    ``PositionChanged`` whose quantity changed sign). Entry orders that passed the gate and are
    still working with nothing filled count too, as trades they may open; an entry that adds
    to an open position is counted while it works, to stay on the safe side. The count starts
    again at the trading day's reset.

    Parameters
    ----------
    scope : Scope
    maximum : int
        The most trades per trading day.
    day : TradingDay
        When the trading day resets (UTC midnight by default).

    Raises
    ------
    ConfigError
        When ``maximum`` is not a positive whole number.
    """

    code = DenialCode.TRADES_PER_DAY

    def __init__(self, scope: Scope = ACCOUNT, *, maximum: Count,
                 day: TradingDay = UTC_DAY) -> None:
        super().__init__(scope)
        self.maximum = _positive_count("TradesPerDay", "maximum", maximum)
        self.day = day
        self.trades_today = 0
        self._day_end = _NEVER
        self._working: dict[str, Order] = {}
        self._counted_at = -1  # the cache's order changes when the working entries were counted
        self._sides: dict[str, int] = {}  # position id -> sign of its quantity

    def _roll(self, now: int) -> None:
        if now >= self._day_end:
            self.trades_today = 0
            self._day_end = self.day.next_start(now)

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        self._roll(ctx.now_ns())
        if not ctx.is_opening(order):
            return None
        working = self._count_working(ctx)
        total = self.trades_today + working
        if total >= self.maximum:
            return Denial(self.code, f"{self.trades_today} trades opened today and {working} "
                          f"entry orders working ({self.scope}), at the limit of "
                          f"{self.maximum} trades per day", fmt(self.maximum), fmt(total + 1))
        return None

    def _count_working(self, ctx: RiskContext) -> int:
        working = self._working
        changes = ctx.cache.order_changes
        if changes != self._counted_at:  # else no order has changed since the last count
            for cid in [c for c, o in working.items() if o.is_closed or o.filled_qty]:
                del working[cid]
            self._counted_at = changes
        return len(working)

    def on_passed(self, order: Order, ctx: RiskContext) -> None:
        """Remember ``order`` as a working entry when it opens or adds to a position."""
        if ctx.is_opening(order):
            self._working[order.client_order_id] = order
            self._counted_at = -1

    def on_position(self, event: ev.PositionEvent, ctx: RiskContext) -> None:
        """Count a position opened or flipped in scope."""
        if not position_in_scope(self.scope, event, ctx):
            return
        side = _sign(event.quantity)
        previous = self._sides.get(event.position_id, 0)
        if side == 0:
            self._sides.pop(event.position_id, None)
        else:
            self._sides[event.position_id] = side
        opened = isinstance(event, ev.PositionOpened) or (
            isinstance(event, ev.PositionChanged) and previous != 0 and side == -previous)
        if opened:
            self._roll(ctx.now_ns())
            self.trades_today += 1


class TradeCooldown(Rule):
    """After a position in scope closes, deny new entries in its symbol for ``seconds``.

    The pause ends exactly ``seconds`` after the close: an entry at that instant passes. A flip
    through flat in one fill is not a close and starts no pause.

    Parameters
    ----------
    scope : Scope
    seconds : float
        Length of the pause.

    Raises
    ------
    ConfigError
        When ``seconds`` is not positive.
    """

    code = DenialCode.COOLDOWN

    def __init__(self, scope: Scope = ACCOUNT, *, seconds: float) -> None:
        super().__init__(scope)
        self.seconds = seconds
        self._pause_ns = _positive_ns("TradeCooldown", seconds)
        self._until: dict[str, int] = {}  # symbol -> end of its pause

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        until = self._until.get(order.symbol)
        if until is None:
            return None
        left = until - ctx.now_ns()
        if left <= 0:
            del self._until[order.symbol]
            return None
        if not ctx.is_opening(order):
            return None
        return Denial(self.code, f"{order.symbol} position closed less than {fmt(self.seconds)} "
                      f"s ago ({self.scope}): no new entry for another {_seconds(left)} s",
                      fmt(self.seconds), _seconds(self._pause_ns - left))

    def on_position(self, event: ev.PositionEvent, ctx: RiskContext) -> None:
        """Start the pause when a position in scope closes."""
        if isinstance(event, ev.PositionClosed) and position_in_scope(self.scope, event, ctx):
            self._until[event.symbol] = ctx.now_ns() + self._pause_ns


class LossStreakCooldown(Rule):
    """After ``losses`` losing trades in a row in scope, deny new entries in scope for
    ``seconds``.

    A trade ends when its position closes, or flips side in one fill (the old side's trade
    ends there and a new one starts). Its PnL is the change of the position's realised PnL
    since the trade started; below zero is a loss, anything else ends the streak. A trade
    whose start the rule did not see (it was added while the position was open) is not
    counted. When the pause ends the streak starts again from zero; losses taken during the
    pause do not carry over.

    Parameters
    ----------
    scope : Scope
    losses : int
        Losing trades in a row that start the pause.
    seconds : float
        Length of the pause.

    Raises
    ------
    ConfigError
        When ``losses`` is not a positive whole number or ``seconds`` is not positive.
    """

    code = DenialCode.LOSS_STREAK

    def __init__(self, scope: Scope = ACCOUNT, *, losses: Count, seconds: float) -> None:
        super().__init__(scope)
        self.losses = _positive_count("LossStreakCooldown", "losses", losses)
        self.seconds = seconds
        self._pause_ns = _positive_ns("LossStreakCooldown", seconds)
        self.streak = 0
        self._until: int | None = None
        self._starts: dict[str, Decimal] = {}  # position id -> realised PnL when its trade began
        self._sides: dict[str, int] = {}

    def _pause_over(self, now: int) -> None:
        if self._until is not None and now >= self._until:
            self._until = None
            self.streak = 0

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        until = self._until
        if until is None:
            return None
        now = ctx.now_ns()
        if now >= until:  # the pause is over
            self._pause_over(now)
            return None
        if not ctx.is_opening(order):
            return None
        return Denial(self.code, f"{self.streak} losing trades in a row ({self.scope}), at the "
                      f"limit of {self.losses}: no new entry for another "
                      f"{_seconds(until - now)} s", fmt(self.losses), fmt(self.streak))

    def on_position(self, event: ev.PositionEvent, ctx: RiskContext) -> None:
        """Track each trade's PnL and the losing streak."""
        if not position_in_scope(self.scope, event, ctx):
            return
        pid = event.position_id
        side = _sign(event.quantity)
        previous = self._sides.get(pid, 0)
        if isinstance(event, ev.PositionOpened):
            self._starts[pid] = event.realized_pnl
        elif isinstance(event, ev.PositionClosed) or (
                previous != 0 and side == -previous):
            start = self._starts.pop(pid, None)
            if side != 0:
                self._starts[pid] = event.realized_pnl  # the flip starts a new trade
            if start is not None:
                self._trade_ended(event.realized_pnl - start, ctx.now_ns())
        if side == 0:
            self._sides.pop(pid, None)
        else:
            self._sides[pid] = side

    def _trade_ended(self, pnl: Decimal, now: int) -> None:
        self._pause_over(now)
        if pnl >= 0:
            self.streak = 0
            return
        self.streak += 1
        if self._until is None and self.streak >= self.losses:
            self._until = now + self._pause_ns


def position_in_scope(scope: Scope, event: ev.PositionEvent, ctx: RiskContext) -> bool:
    """Whether the position ``event`` is about falls under ``scope`` (its venue is its
    instrument's)."""
    if scope.strategy is not None and event.strategy_id != scope.strategy:
        return False
    if scope.symbol is not None and event.symbol != scope.symbol:
        return False
    if scope.venue is not None:
        instrument = ctx.instrument(event.symbol)
        return instrument is not None and instrument.venue == scope.venue
    return True


def _positive_count(rule: str, name: str, value: Count) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{rule}: {name} must be a positive whole number, got {value!r}")
    return value


def _positive_ns(rule: str, seconds: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ConfigError(f"{rule}: seconds must be positive, got {seconds!r}")
    if seconds == float("inf"):
        raise ConfigError(f"{rule}: seconds must be finite, got {seconds!r}")
    return round(seconds * _NS_PER_SECOND)


def _slide(window: deque[int], oldest_out: int) -> int:
    while window and window[0] <= oldest_out:
        window.popleft()
    return len(window)


def _sign(quantity: Decimal) -> int:
    return (quantity > 0) - (quantity < 0)


def _seconds(ns: int) -> str:
    return fmt(Decimal(ns) / _NS_PER_SECOND)
