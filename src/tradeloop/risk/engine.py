"""The risk gate every order passes before it reaches the execution engine.

A failed check is a business outcome: the order is denied with a reason (an ``OrderDenied``
event), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.enums import OrderSide
from tradeloop.model.instrument import to_decimal
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
    net = cache.net_quantity(order.symbol)
    if net == 0 or (net > 0) == (order.signed_quantity > 0):
        return "reduce-only order would open or increase a position"
    return ""


DEFAULT_CHECKS: tuple[PreTradeCheck, ...] = (check_instrument_and_increments, check_reduce_only)


class AccountView(Protocol):
    """The account figures the buying-power check needs (the portfolio provides them)."""

    @property
    def cash_account(self) -> bool:
        """True for a cash account, which cannot borrow or sell short."""
        ...

    def buying_power(self) -> Decimal:
        """Notional that can still be opened, in the account currency."""
        ...

    def rate_to_account(self, currency: str) -> Decimal:
        """Account currency per unit of ``currency``."""
        ...

    def net_quantity(self, symbol: str, strategy_id: str | None = None) -> Decimal:
        """Signed quantity held in ``symbol``."""
        ...


class BuyingPowerCheck:
    """Deny orders the account cannot pay for.

    The part of an order that opens or adds exposure, valued at its limit or trigger price (the
    last price for market orders) and added to the exposure of other working opening orders,
    must fit in the account's buying power, plus what the order's closing part frees. A cash
    account may not sell what it does not hold (working sells included).
    """

    def __init__(self, account: AccountView) -> None:
        self._account = account

    def __call__(self, order: Order, cache: Cache) -> str:
        """The reason to deny ``order``, or an empty string."""
        if order.reduce_only or order.symbol not in cache.instruments:
            return ""
        account = self._account
        net = account.net_quantity(order.symbol)
        signed = order.signed_quantity
        if account.cash_account:
            selling = sum(
                (o.leaves_qty for o in cache.open_orders(order.symbol)
                 if o is not order and o.side is OrderSide.SELL),
                Decimal(0),
            )
            if net - selling + signed < 0:
                return (
                    f"a cash account cannot sell short ({order.symbol} held: {net}, "
                    f"already selling: {selling})"
                )
        opening = _opening_quantity(net, signed)
        if opening == 0:
            return ""
        needed = self._value(order, opening, cache)
        if needed is None:
            return ""  # no price to value it yet
        freed = self._value(order, abs(signed) - opening, cache) or Decimal(0)
        working = sum(
            (value for other in cache.open_orders()
             if other is not order and not other.reduce_only
             and (value := self._value(other, other.leaves_qty, cache)) is not None),
            Decimal(0),
        )
        available = account.buying_power() + freed - working
        if needed > available:
            return (
                f"insufficient buying power: {order.quantity} {order.symbol} needs "
                f"{needed:,.2f}, {max(available, Decimal(0)):,.2f} available"
            )
        return ""

    def _value(self, order: Order, quantity: Decimal, cache: Cache) -> Decimal | None:
        instrument = cache.instruments[order.symbol]
        price = order.price or order.trigger_price
        if price is None:
            last = cache.last_prices.get(order.symbol)
            if last is None:
                return None
            price = to_decimal(last)
        rate = self._account.rate_to_account(instrument.quote_currency)
        return quantity * price * instrument.multiplier * rate


def _opening_quantity(net: Decimal, signed: Decimal) -> Decimal:
    if net == 0 or (net > 0) == (signed > 0):
        return abs(signed)
    return max(abs(signed) - abs(net), Decimal(0))


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
