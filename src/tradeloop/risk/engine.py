"""The risk gate every order passes before it reaches the execution engine.

A failed check is a business outcome: the order is denied with a reason (an ``OrderDenied``
event), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.orders import Order

EXECUTE = "RiskEngine.execute"
_EXEC_EXECUTE = "ExecEngine.execute"
_EXEC_PROCESS = "ExecEngine.process"

#: A pre-trade check returns the reason to deny an order, or an empty string.
PreTradeCheck = Callable[[Order, Cache], str]


def check_instrument_and_increments(order: Order, cache: Cache) -> str:
    """Deny orders for unknown instruments, or off the tick or lot grid."""
    instrument = cache.instruments.get(order.symbol)
    if instrument is None:
        return f"unknown symbol {order.symbol}"
    if order.quantity % instrument.lot_step != 0:
        return f"quantity {order.quantity} is not a multiple of the lot step {instrument.lot_step}"
    if order.quantity < instrument.min_quantity:
        return f"quantity {order.quantity} is below the minimum {instrument.min_quantity}"
    for name in ("price", "trigger_price"):
        price = getattr(order, name)
        if price is not None and not instrument.is_price_on_tick(price):
            return f"{name.replace('_', ' ')} {price} is not on the tick {instrument.tick_size}"
    return ""


def check_reduce_only(order: Order, cache: Cache) -> str:
    """Deny a reduce-only order that would open or add to a position."""
    if not order.reduce_only or order.parent_id is not None:
        return ""  # bracket legs are checked when their parent has filled
    net = sum((p.quantity for p in cache.positions_for(order.symbol)), Decimal(0))
    if net == 0 or (net > 0) == (order.signed_quantity > 0):
        return "reduce-only order would open or increase a position"
    return ""


DEFAULT_CHECKS: tuple[PreTradeCheck, ...] = (check_instrument_and_increments, check_reduce_only)


class RiskEngine:
    """Runs pre-trade checks and forwards or denies each command.

    Parameters
    ----------
    bus : MessageBus
        Registers the ``RiskEngine.execute`` endpoint.
    cache : Cache
    clock : Clock
    checks : sequence of PreTradeCheck, optional
        Run in order; the first reason found denies the order.
    """

    def __init__(
        self,
        bus: MessageBus,
        cache: Cache,
        clock: Clock,
        checks: Sequence[PreTradeCheck] = DEFAULT_CHECKS,
    ) -> None:
        self._bus = bus
        self._cache = cache
        self._clock = clock
        self.checks = list(checks)
        self.halted_reason = ""
        bus.register(EXECUTE, self.execute)

    def halt(self, reason: str) -> None:
        """Deny every new order until :meth:`resume` is called."""
        self.halted_reason = reason or "trading halted"

    def resume(self) -> None:
        """Accept new orders again."""
        self.halted_reason = ""

    def _first_reason(self, orders: tuple[Order, ...]) -> str:
        cache = self._cache
        for order in orders:
            for check in self.checks:
                reason = check(order, cache)
                if reason:
                    return reason
        return ""

    def execute(self, command: cmd.Command) -> None:
        """Check a command and pass it to the execution engine, or deny it."""
        if isinstance(command, cmd.SubmitOrder | cmd.SubmitOrderList):
            orders = (
                (command.order,) if isinstance(command, cmd.SubmitOrder) else command.orders
            )
            reason = self.halted_reason or self._first_reason(orders)
            if reason:
                now = self._clock.now_ns()
                for order in orders:
                    self._bus.send(_EXEC_PROCESS, ev.OrderDenied(
                        ts=now, client_order_id=order.client_order_id,
                        strategy_id=order.strategy_id, symbol=order.symbol, reason=reason,
                    ))
                return
        self._bus.send(_EXEC_EXECUTE, command)
