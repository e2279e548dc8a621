"""Loss circuit breakers: the account's daily loss and its drawdown from the equity peak.

Both watch the account's equity (balance plus unrealised PnL, in the account currency) each
time prices move or a fill is booked (``on_mark``) and ask the risk engine to hold the trading
state when their limit is reached. Their ``check`` also denies new entries while the limit is
reached, in case no mark has come since. They apply to the whole account only.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal, InvalidOperation

from tradeloop.core.errors import ConfigError
from tradeloop.model.instrument import to_decimal
from tradeloop.model.orders import Order
from tradeloop.risk.base import (
    ACCOUNT,
    ZERO,
    Denial,
    DenialCode,
    Number,
    RiskContext,
    Rule,
    StateRequest,
    TradingState,
    fmt,
)
from tradeloop.risk.trading_day import UTC_DAY, TradingDay

log = logging.getLogger(__name__)

_NEVER = -(2**63)
_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


class DailyLossLimit(Rule):
    """Hold the trading state at ``action`` once the account has lost ``limit`` since the start
    of the trading day; release it when the next trading day starts.

    The loss is the equity at the start of the trading day minus the equity now. The start
    equity is the equity seen at the first mark or check of each trading day (on the very
    first call, the equity then): a day with no mark and no order before a loss is measured
    from the first moment the rule looked. The hold is asked for once when the loss reaches
    the limit, and released only by a new trading day (or by the engine's ``resume``; the
    rule's own check still denies new entries while the loss is at the limit).

    Parameters
    ----------
    limit : Decimal
        The loss, in the account currency, at which trading stops.
    day : TradingDay
        When the trading day resets (UTC midnight by default).
    action : TradingState
        ``HALTED`` (only cancels pass) or ``REDUCING`` (only orders that reduce positions).

    Raises
    ------
    ConfigError
        When ``limit`` is not a positive amount or ``action`` is ACTIVE.
    """

    code = DenialCode.DAILY_LOSS

    def __init__(self, *, limit: Number, day: TradingDay = UTC_DAY,
                 action: TradingState = TradingState.HALTED) -> None:
        super().__init__(ACCOUNT)
        self.limit = _positive_amount("DailyLossLimit", "limit", limit)
        if action not in (TradingState.REDUCING, TradingState.HALTED):
            raise ConfigError(f"DailyLossLimit: action must be REDUCING or HALTED, got "
                              f"{action!r}")
        self.day = day
        self.action = TradingState(action)
        self.start_equity = ZERO
        self.trading_day: date | None = None
        self._day_end = _NEVER
        self._breached = False
        self._release = False

    def _roll(self, ctx: RiskContext) -> None:
        now = ctx.now_ns()
        if now < self._day_end:
            return
        self.start_equity = ctx.account.equity
        self.trading_day = self.day.day_of(now)
        self._day_end = self.day.next_start(now)
        if self._breached:
            self._breached, self._release = False, True
        log.info("daily loss limit: new trading day", extra={"fields": {
            "trading_day": self.trading_day.isoformat(), "start_equity": str(self.start_equity)}})

    def loss(self, ctx: RiskContext) -> Decimal:
        """The loss since the start of the trading day (negative for a gain)."""
        self._roll(ctx)
        return self.start_equity - ctx.account.equity

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        loss = self.loss(ctx)
        if loss < self.limit or not ctx.is_opening(order):
            return None
        return Denial(self.code, self._reason(loss), fmt(self.limit), fmt(_cents(loss)))

    def on_mark(self, ctx: RiskContext) -> StateRequest | None:
        """Ask for ``action`` when the loss reaches the limit, release on a new trading day."""
        loss = self.loss(ctx)
        if self._release:
            self._release = False
            if loss < self.limit:
                return StateRequest(TradingState.ACTIVE, self.code,
                                    f"new trading day {self.trading_day}: daily loss limit "
                                    "reset")
        if loss >= self.limit and not self._breached:
            self._breached = True
            return StateRequest(self.action, self.code, self._reason(loss))
        return None

    def on_resume(self, ctx: RiskContext) -> None:
        """Trading was re-armed by hand: the rest of the day is measured from the equity now."""
        self._roll(ctx)
        self.start_equity = ctx.account.equity
        self._breached = False

    def _reason(self, loss: Decimal) -> str:
        return (f"daily loss of {_cents(loss):,} reached the limit of {self.limit:,} "
                f"(equity {_cents(self.start_equity - loss):,}, "
                f"{_cents(self.start_equity):,} at the start of trading day {self.trading_day})")


class DrawdownLimit(Rule):
    """Halt trading, latched, once the account's equity falls ``max_pct`` percent below its
    peak.

    The peak is the highest equity seen at any mark or check since the rule started. The halt
    is asked for once each time the drawdown reaches the limit; it holds until the engine's
    ``resume``, through new trading days. While the drawdown stays at or above the limit the
    rule's own check denies new entries, resumed or not.

    Parameters
    ----------
    max_pct : Decimal
        The drawdown, in percent of the peak (``Decimal("10")`` for 10 %), that halts trading.
    flatten : bool
        Also ask for every position to be closed.

    Raises
    ------
    ConfigError
        When ``max_pct`` is not above 0 and at most 100.
    """

    code = DenialCode.DRAWDOWN

    def __init__(self, *, max_pct: Number, flatten: bool = False) -> None:
        super().__init__(ACCOUNT)
        self.max_pct = _positive_amount("DrawdownLimit", "max_pct", max_pct)
        if self.max_pct > _HUNDRED:
            raise ConfigError(f"DrawdownLimit: max_pct must be at most 100, got {max_pct}")
        self.flatten = flatten
        self.peak: Decimal | None = None
        self._tripped = False

    def drawdown_pct(self, ctx: RiskContext) -> Decimal:
        """The drawdown now in percent of the peak (the peak is updated first)."""
        equity = ctx.account.equity
        if self.peak is None or equity > self.peak:
            self.peak = equity
        if self.peak <= 0:
            return ZERO
        return (self.peak - equity) / self.peak * _HUNDRED

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        pct = self.drawdown_pct(ctx)
        if pct < self.max_pct or not ctx.is_opening(order):
            return None
        return Denial(self.code, self._reason(pct, ctx), fmt(self.max_pct), fmt(_cents(pct)))

    def on_mark(self, ctx: RiskContext) -> StateRequest | None:
        """Ask for a latched halt when the drawdown reaches the limit (once per crossing)."""
        pct = self.drawdown_pct(ctx)
        if pct < self.max_pct:
            self._tripped = False
            return None
        if self._tripped:
            return None
        self._tripped = True
        return StateRequest(TradingState.HALTED, self.code, self._reason(pct, ctx),
                            flatten=self.flatten, latched=True)

    def on_resume(self, ctx: RiskContext) -> None:
        """Trading was re-armed by hand: the peak starts again from the equity now."""
        self.peak = ctx.account.equity
        self._tripped = False

    def _reason(self, pct: Decimal, ctx: RiskContext) -> str:
        return (f"drawdown of {fmt(_cents(pct))}% reached the limit of {fmt(self.max_pct)}% "
                f"(equity {_cents(ctx.account.equity):,}, peak {_cents(self.peak or ZERO):,})")


def _positive_amount(rule: str, name: str, value: Number) -> Decimal:
    try:
        amount = to_decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ConfigError(f"{rule}: {name} must be a number, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ConfigError(f"{rule}: {name} must be positive, got {value}")
    return amount


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT)
