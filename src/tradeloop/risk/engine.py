"""The risk gate every order passes before it reaches the execution engine, and the trading
state it enforces.

A failed check is a business outcome: the order is denied with a reason code and the figures
behind it (an ``OrderDenied`` event), never an exception. A rule that raises denies the order
with ``RISK_ERROR``: the gate fails closed.

The trading state is the most severe of the holds placed on it. Circuit breakers (daily loss,
drawdown) place and release their own holds; the kill switch places a latched one. A latched
hold stays until :meth:`RiskEngine.resume` is called, which clears every hold. Every change of
the state is published as a ``TradingStateChanged`` event on ``events.risk``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.orders import Order
from tradeloop.model.orders import replace as replace_order
from tradeloop.model.reports import AccountReport
from tradeloop.risk.base import (
    AccountView,
    Denial,
    DenialCode,
    RiskContext,
    Rule,
    StateRequest,
    TradingState,
    overrides,
)
from tradeloop.risk.rules import BuyingPower, InstrumentPrecision, ReduceOnly

# enum members read on the hot path, bound once (docs/decisions/0011)
_ACTIVE: Final = TradingState.ACTIVE
_HALTED: Final = TradingState.HALTED
# the commands checked on every order, bound once: ``cmd.X`` is a module lookup each time
_SUBMIT_ORDER: Final = cmd.SubmitOrder
_SUBMIT_ORDER_LIST: Final = cmd.SubmitOrderList

log = logging.getLogger(__name__)

EXECUTE = "RiskEngine.execute"
RISK_TOPIC = "events.risk"
_EXEC_EXECUTE = "ExecEngine.execute"
_EXEC_PROCESS = "ExecEngine.process"
#: The denials a smaller order of the same kind may pass: the gate's size limits.
SIZE_LIMITS = frozenset({
    DenialCode.QUANTITY, DenialCode.NOTIONAL, DenialCode.POSITION, DenialCode.GROSS_EXPOSURE,
    DenialCode.NET_EXPOSURE, DenialCode.LEVERAGE, DenialCode.BUYING_POWER,
})


def default_rules() -> list[Rule]:
    """The rules every gate runs: instrument precision, reduce-only, buying power."""
    return [InstrumentPrecision(), ReduceOnly(), BuyingPower()]


@dataclass(frozen=True, slots=True)
class Hold:
    """One reason the trading state is not ACTIVE."""

    state: TradingState
    code: DenialCode
    reason: str
    latched: bool
    by: str = ""


FlattenHandler = Callable[[str], object]


class RiskEngine:
    """Runs the pre-trade rules and forwards or denies each command.

    Parameters
    ----------
    bus : MessageBus
        Registers the ``RiskEngine.execute`` endpoint.
    cache : Cache
    clock : Clock
    account : AccountView
        The account figures rules read (the kernel's portfolio).
    rules : sequence of Rule, optional
        Run in order; the first denial wins. :func:`default_rules` by default.

    Attributes
    ----------
    on_flatten : callable or None
        Called with a reason when a breaker or the kill switch asks to close every position
        (the kernel wires it to its flatten); None leaves positions as they are.
    """

    def __init__(
        self,
        bus: MessageBus,
        cache: Cache,
        clock: Clock,
        account: AccountView,
        rules: Sequence[Rule] | None = None,
    ) -> None:
        self._bus = bus
        self._cache = cache
        self._clock = clock
        self.context = RiskContext(cache, account, clock)
        self._holds: dict[DenialCode, Hold] = {}
        self._state = _ACTIVE
        self.on_flatten: FlattenHandler | None = None
        self.rules: list[Rule] = []
        self._passed: list[Rule] = []
        self._fills: list[Rule] = []
        self._positions: list[Rule] = []
        self._marks: list[Rule] = []
        self.set_rules(default_rules() if rules is None else rules)
        bus.register(EXECUTE, self.execute)
        bus.subscribe("events.order.*", self._on_order_event)
        bus.subscribe("events.position.*", self._on_position_event)

    # -- configuration ------------------------------------------------------------------------

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Replace the rule chain (the order given is the order they run in)."""
        self.rules = list(rules)
        # the base scope test is done inline; only a rule with its own is asked
        self._chain = [(r, type(r).applies is not Rule.applies, r.scope.strategy,
                        r.scope.symbol, r.scope.venue) for r in self.rules]
        self._passed = [r for r in self.rules if overrides(r, "on_passed")]
        self._fills = [r for r in self.rules if overrides(r, "on_fill")]
        self._positions = [r for r in self.rules if overrides(r, "on_position")]
        self._marks = [r for r in self.rules if overrides(r, "on_mark")]

    def add_rules(self, rules: Sequence[Rule]) -> None:
        """Append rules to the chain."""
        self.set_rules([*self.rules, *rules])

    @property
    def has_breakers(self) -> bool:
        """Whether any rule watches prices (the data loop then calls :meth:`on_market`)."""
        return bool(self._marks)

    # -- trading state ------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        """The trading state now: the most severe hold, ACTIVE without one."""
        return self._state

    @property
    def holds(self) -> list[Hold]:
        """What holds the state, most severe first."""
        return sorted(self._holds.values(), key=lambda h: -h.state.severity)

    @property
    def halted_reason(self) -> str:
        """Why trading is halted or reducing ("" when ACTIVE)."""
        holds = self.holds
        return holds[0].reason if holds else ""

    def hold(self, state: TradingState, code: DenialCode, reason: str, *, latched: bool = False,
             by: str = "") -> None:
        """Hold the trading state at ``state`` (at least) for ``code``'s reason.

        A latched hold is released only by :meth:`resume`. Holding ACTIVE releases ``code``'s
        hold, unless it is latched.
        """
        current = self._holds.get(code)
        if state is _ACTIVE:
            if current is not None and not current.latched:
                del self._holds[code]
                self._update(code, reason, by)
            return
        if current is not None and current.latched and not latched:
            return
        self._holds[code] = Hold(state, code, reason, latched, by)
        self._update(code, reason, by)

    def halt(self, reason: str, *, code: DenialCode = DenialCode.TRADING_STATE,
             latched: bool = True, by: str = "") -> None:
        """Deny every new order (cancels still pass) until :meth:`resume`."""
        self.hold(_HALTED, code, reason or "trading halted", latched=latched, by=by)

    def resume(self, by: str = "", reason: str = "") -> None:
        """Clear every hold, latched ones included: trading is ACTIVE again, and the loss
        breakers measure from the equity now (a person decided to go on)."""
        ctx = self.context
        ctx.reset()
        for rule in self.rules:
            if overrides(rule, "on_resume"):
                try:
                    rule.on_resume(ctx)
                except Exception as exc:
                    log.error("risk rule failed on resume", exc_info=exc, extra={"fields": {
                        "rule": rule.name}})
        if not self._holds:
            return
        self._holds.clear()
        self._update(DenialCode.TRADING_STATE, reason or "resumed", by, resumed=True)

    def _update(self, code: DenialCode, reason: str, by: str, resumed: bool = False) -> None:
        holds = self.holds
        state = holds[0].state if holds else _ACTIVE
        previous, self._state = self._state, state
        if state is previous:
            return
        cause = holds[0] if holds else None
        event = ev.TradingStateChanged(
            ts=self._clock.now_ns(), state=state.value, previous=previous.value,
            code="RESUMED" if resumed else (cause.code.value if cause else code.value),
            reason=cause.reason if cause else reason, by=by,
        )
        log.warning("trading state changed", extra={"fields": {
            "state": event.state, "previous": event.previous, "code": event.code,
            "reason": event.reason, "by": by}})
        self._bus.publish(RISK_TOPIC, event)

    def _apply(self, request: StateRequest) -> None:
        self.hold(request.state, request.code, request.reason, latched=request.latched)
        if request.flatten and self.on_flatten is not None:
            self.on_flatten(request.reason)

    # -- the gate -----------------------------------------------------------------------------

    def check(self, order: Order) -> Denial | None:
        """The gate's verdict on ``order``: the first denial, or None to let it through."""
        ctx = self.context
        ctx.reset()
        state = self._state
        if state is not _ACTIVE and not _exempt(order):
            hold = self.holds[0]
            code = DenialCode.KILL_SWITCH if hold.code is DenialCode.KILL_SWITCH else (
                DenialCode.TRADING_STATE)
            if state is _HALTED:
                return Denial(code, f"trading is halted: {hold.reason}", state.value, "")
            if ctx.is_opening(order):
                return Denial(code, f"trading is reducing positions only: {hold.reason}",
                              state.value, "")
        for rule, custom, strategy, symbol, venue in self._chain:
            try:
                if custom:
                    if not rule.applies(order, ctx):
                        continue
                elif ((strategy is not None and order.strategy_id != strategy)
                      or (symbol is not None and order.symbol != symbol)
                      or (venue is not None and ctx.venue_of(order) != venue)):
                    continue
                denial = rule.check(order, ctx)
            except Exception as exc:
                log.exception("risk rule failed: order denied", extra={"fields": {
                    "rule": rule.name, "client_order_id": order.client_order_id}})
                return Denial(DenialCode.RISK_ERROR,
                              f"risk rule {rule.name} failed: {type(exc).__name__}: {exc}")
            if denial is not None:
                return denial
        return None

    def size_capacity(self, order: Order) -> Decimal:
        """The largest quantity, at most ``order``'s and on the lot grid, that the gate's size
        limits let through for an order like ``order`` (its strategy, symbol, side, type and
        prices): order quantity and notional maxima, position, exposure and leverage limits,
        buying power.

        Other denials (the trading state, sessions, cooldowns, order counts, a minimum...) cap
        nothing: the gate reports them when the order is sent. Zero when no quantity fits the
        limits, or the largest that does is below a minimum.
        """
        instrument = self._cache.instruments.get(order.symbol)
        if instrument is None or self._size_denial(order, order.quantity) is None:
            return order.quantity
        step = instrument.lot_step
        fits, breaks = 0, int(order.quantity / step)  # in lots: ``fits`` passes, ``breaks`` not
        while breaks - fits > 1:
            middle = (fits + breaks) // 2
            if self._size_denial(order, middle * step) is None:
                fits = middle
            else:
                breaks = middle
        quantity = instrument.make_quantity(fits * step)
        if fits == 0 or self._size_denial(order, quantity, minimums=True) is not None:
            return Decimal(0)
        return quantity

    def _size_denial(self, order: Order, quantity: Decimal, *, minimums: bool = False
                     ) -> Denial | None:
        """The first size limit that denies ``order`` at ``quantity`` (with ``minimums``, one
        it falls below counts too); the trading state and the other rules are not asked."""
        probe = replace_order(order, quantity=quantity)
        ctx = self.context
        ctx.reset()
        for rule, custom, strategy, symbol, venue in self._chain:
            try:
                if (not rule.applies(probe, ctx)) if custom else (
                        (strategy is not None and probe.strategy_id != strategy)
                        or (symbol is not None and probe.symbol != symbol)
                        or (venue is not None and ctx.venue_of(probe) != venue)):
                    continue
                denial = rule.check(probe, ctx)
            except Exception:  # the gate denies the order for it when it is sent
                continue
            if denial is not None and denial.code in SIZE_LIMITS and (
                    minimums or not _below_minimum(denial)):
                return denial
        return None

    def execute(self, command: cmd.Command) -> None:
        """Check a command and pass it to the execution engine, or deny it."""
        if isinstance(command, (_SUBMIT_ORDER, _SUBMIT_ORDER_LIST)):
            orders = (
                (command.order,) if isinstance(command, _SUBMIT_ORDER) else command.orders
            )
            denial = None
            for order in orders:
                denial = self.check(order)
                if denial is not None:
                    break
            if denial is not None:
                self._deny(orders, denial)
                return
            for order in orders:
                self._observe_passed(order)
        elif isinstance(command, cmd.ModifyOrder) and self._state is _HALTED:
            target = self._cache.order(command.client_order_id)
            self._bus.send(_EXEC_PROCESS, ev.OrderModifyRejected(
                ts=self._clock.now_ns(), client_order_id=command.client_order_id,
                strategy_id=target.strategy_id if target else "",
                symbol=target.symbol if target else "",
                reason=f"trading is halted: {self.halted_reason}",
            ))
            return
        self._bus.send(_EXEC_EXECUTE, command)

    def _deny(self, orders: tuple[Order, ...], denial: Denial) -> None:
        now = self._clock.now_ns()
        for order in orders:
            self._bus.send(_EXEC_PROCESS, ev.OrderDenied(
                ts=now, client_order_id=order.client_order_id,
                strategy_id=order.strategy_id, symbol=order.symbol, reason=denial.reason,
                code=denial.code.value, limit=denial.limit, value=denial.value,
            ))

    # -- what the rules observe ---------------------------------------------------------------

    def _observe_passed(self, order: Order) -> None:
        if not self._passed:
            return
        ctx = self.context
        ctx.reset()
        for rule in self._passed:
            try:
                if rule.applies(order, ctx):
                    rule.on_passed(order, ctx)
            except Exception as exc:
                self._rule_failed(rule, "on_passed", exc)

    def _on_order_event(self, event: ev.OrderEvent) -> None:
        if not (self._fills or self._marks) or not isinstance(event, ev.OrderFilled):
            return
        ctx = self.context
        ctx.reset()
        for rule in self._fills:
            try:
                rule.on_fill(event, ctx)
            except Exception as exc:
                self._rule_failed(rule, "on_fill", exc)
        if self._marks:
            self.on_market()

    def _on_position_event(self, event: ev.PositionEvent) -> None:
        if not self._positions:
            return
        ctx = self.context
        ctx.reset()
        for rule in self._positions:
            try:
                rule.on_position(event, ctx)
            except Exception as exc:
                self._rule_failed(rule, "on_position", exc)

    def on_account_report(self, report: AccountReport) -> None:
        """Hand the broker's report of the account to the rules that read it (the pattern day
        trader rule takes the broker's day-trade count)."""
        ctx = self.context
        ctx.reset()
        for rule in self.rules:
            if not overrides(rule, "on_account_report"):
                continue
            try:
                rule.on_account_report(report, ctx)
            except Exception as exc:
                self._rule_failed(rule, "on_account_report", exc)

    def on_market(self) -> None:
        """Evaluate the circuit breakers at the current prices (the data loop calls it after
        each bar or tick it takes in, when :attr:`has_breakers`)."""
        ctx = self.context
        ctx.reset()
        for rule in self._marks:
            try:
                request = rule.on_mark(ctx)
            except Exception as exc:
                self._rule_failed(rule, "on_mark", exc)
                continue
            if request is not None:
                self._apply(request)

    def _rule_failed(self, rule: Rule, hook: str, exc: Exception) -> None:
        """A rule that cannot keep its own state can no longer be trusted: halt (fail
        closed) until someone looks."""
        log.error("risk rule failed: trading halted", exc_info=exc, extra={"fields": {
            "rule": rule.name, "hook": hook}})
        self.hold(_HALTED, DenialCode.RISK_ERROR,
                  f"risk rule {rule.name} failed in {hook}: {type(exc).__name__}: {exc}",
                  latched=True)


def _exempt(order: Order) -> bool:
    """Orders the risk engine itself sends to flatten pass any trading state."""
    return order.reduce_only and "flatten" in order.tags


def _below_minimum(denial: Denial) -> bool:
    if denial.code not in (DenialCode.QUANTITY, DenialCode.NOTIONAL):
        return False
    try:
        return Decimal(denial.value) < Decimal(denial.limit)
    except InvalidOperation:
        return False
