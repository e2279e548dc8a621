"""Orders and their state machine.

An order changes only by applying an event (:meth:`Order.apply`). Each event moves the order
along an explicit transition table; a transition the table does not list raises
:class:`~tradeloop.core.errors.InvalidStateTransition`. ``CANCELED -> FILLED`` is allowed
because venues do report fills that raced a cancellation; a late fill that leaves quantity
unfilled is booked while the order stays cancelled (it cannot fill any more).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, cast

from mypy_extensions import mypyc_attr

from tradeloop.core.errors import InvalidStateTransition
from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.model import events as ev
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.instrument import Instrument, to_decimal

S = OrderStatus
_ZERO: Final = Decimal(0)
#: A quantity or price as a strategy may give it; floats convert through their shortest repr.
Number = Decimal | float | int | str

#: An order's fields, in the order its constructor takes them.
FIELDS = (
    "client_order_id", "strategy_id", "symbol", "side", "order_type", "quantity", "ts_init",
    "price", "trigger_price", "trailing_offset", "trailing_offset_type", "time_in_force",
    "expire_ns", "reduce_only", "contingency", "linked_ids", "parent_id", "position_id", "tags",
    "status", "venue_order_id", "filled_qty", "avg_px", "commission", "ts_last", "reason",
    "events", "trade_ids", "_status_before_pending",
)

#: Allowed ``(from, to)`` status transitions.
TRANSITIONS: Final[frozenset[tuple[OrderStatus, OrderStatus]]] = frozenset(
    [
        (S.INITIALIZED, S.DENIED),
        (S.INITIALIZED, S.SUBMITTED),
        (S.INITIALIZED, S.CANCELED),  # an emulated or held order cancelled before release
        (S.INITIALIZED, S.EXPIRED),
        (S.SUBMITTED, S.ACCEPTED),
        (S.SUBMITTED, S.REJECTED),
        (S.SUBMITTED, S.CANCELED),  # IOC/FOK with nothing to fill, or a cancel before the ack
        (S.SUBMITTED, S.PENDING_CANCEL),
        (S.SUBMITTED, S.PENDING_UPDATE),
        (S.SUBMITTED, S.TRIGGERED),
        (S.SUBMITTED, S.PARTIALLY_FILLED),  # venues may fill before acknowledging
        (S.SUBMITTED, S.FILLED),
        (S.SUBMITTED, S.EXPIRED),
        (S.ACCEPTED, S.PENDING_UPDATE),
        (S.ACCEPTED, S.PENDING_CANCEL),
        (S.ACCEPTED, S.TRIGGERED),
        (S.ACCEPTED, S.PARTIALLY_FILLED),
        (S.ACCEPTED, S.FILLED),
        (S.ACCEPTED, S.CANCELED),
        (S.ACCEPTED, S.EXPIRED),
        (S.ACCEPTED, S.REJECTED),  # a stop-limit refused when its trigger releases it
        (S.PENDING_UPDATE, S.ACCEPTED),
        (S.PENDING_UPDATE, S.PENDING_CANCEL),
        (S.PENDING_UPDATE, S.TRIGGERED),
        (S.PENDING_UPDATE, S.PARTIALLY_FILLED),
        (S.PENDING_UPDATE, S.FILLED),
        (S.PENDING_UPDATE, S.CANCELED),
        (S.PENDING_UPDATE, S.EXPIRED),
        (S.PENDING_CANCEL, S.ACCEPTED),  # the cancel was rejected
        (S.PENDING_CANCEL, S.CANCELED),
        (S.PENDING_CANCEL, S.PARTIALLY_FILLED),
        (S.PENDING_CANCEL, S.FILLED),
        (S.PENDING_CANCEL, S.EXPIRED),
        (S.TRIGGERED, S.ACCEPTED),  # an emulated order released to its venue
        (S.TRIGGERED, S.PENDING_UPDATE),
        (S.TRIGGERED, S.PENDING_CANCEL),
        (S.TRIGGERED, S.PARTIALLY_FILLED),
        (S.TRIGGERED, S.FILLED),
        (S.TRIGGERED, S.CANCELED),
        (S.TRIGGERED, S.EXPIRED),
        (S.TRIGGERED, S.REJECTED),
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
        (S.PARTIALLY_FILLED, S.PENDING_UPDATE),
        (S.PARTIALLY_FILLED, S.PENDING_CANCEL),
        (S.PARTIALLY_FILLED, S.CANCELED),
        (S.PARTIALLY_FILLED, S.EXPIRED),
        (S.CANCELED, S.FILLED),  # a late fill that completes a cancelled order
    ]
)

TERMINAL: Final = frozenset({S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED})
#: States in which an order may still fill at the venue.
OPEN: Final = frozenset(
    {S.SUBMITTED, S.ACCEPTED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.TRIGGERED, S.PARTIALLY_FILLED}
)

# Enum members read on the hot path, bound once (docs/decisions/0011): an enum member lookup
# costs about 60 ns on Python 3.11 (its metaclass defines ``__getattr__``), a compiled
# module's ``Final`` nothing.
_ACCEPTED: Final = S.ACCEPTED
_CANCELED: Final = S.CANCELED
_FILLED: Final = S.FILLED
_PARTIALLY_FILLED: Final = S.PARTIALLY_FILLED
_PENDING_CANCEL: Final = S.PENDING_CANCEL
_PENDING_UPDATE: Final = S.PENDING_UPDATE
_BUY: Final = OrderSide.BUY
_MARKET: Final = OrderType.MARKET
_GTD: Final = TimeInForce.GTD
_NEEDS_PRICE: Final = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_NEEDS_TRIGGER: Final = frozenset(
    {OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED}
)
_TRAILING: Final = OrderType.TRAILING_STOP
_STOP: Final = OrderType.STOP
_STOP_LIMIT: Final = OrderType.STOP_LIMIT
_LIMIT: Final = OrderType.LIMIT
_MARKET_IF_TOUCHED: Final = OrderType.MARKET_IF_TOUCHED
_PRICE_OFFSET: Final = TrailingOffsetType.PRICE
_PERCENT_OFFSET: Final = TrailingOffsetType.PERCENT
_NO_CONTINGENCY: Final = ContingencyType.NONE


@mypyc_attr(acyclic=True)
class Order:
    """One order and everything that has happened to it.

    Create orders through a strategy (``self.buy()``); change them only by applying events.
    Orders compare by identity. The compiled build makes this a native class, so the compiled
    venue, execution engine and risk gate read its fields directly; as an order holds values
    only (never an object that refers back to it), the cycle collector does not track it there
    (``acyclic``): a backtest keeps tens of thousands. Its ``events`` and ``trade_ids`` are
    tuples, which the collector stops tracking once it has seen them.

    Raises
    ------
    ValueError
        When the fields do not make a valid order (no limit price on a limit order...).
    """

    __slots__ = FIELDS

    def __init__(
        self,
        client_order_id: str,
        strategy_id: str,
        symbol: str,
        side: OrderSide,
        order_type: OrderType,
        quantity: Decimal,
        ts_init: int,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        trailing_offset: Decimal | None = None,
        trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_ns: int | None = None,
        reduce_only: bool = False,
        contingency: ContingencyType = ContingencyType.NONE,
        linked_ids: tuple[str, ...] = (),
        parent_id: str | None = None,
        position_id: str | None = None,
        tags: tuple[str, ...] = (),
        status: OrderStatus = OrderStatus.INITIALIZED,
        venue_order_id: str | None = None,
        filled_qty: Decimal = _ZERO,
        avg_px: Decimal | None = None,
        commission: Decimal = _ZERO,
        ts_last: int = 0,
        reason: str = "",
        events: tuple[ev.OrderEvent, ...] = (),
        trade_ids: tuple[str, ...] = (),
        _status_before_pending: OrderStatus | None = None,
    ) -> None:
        self.client_order_id = client_order_id
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.quantity = quantity
        self.ts_init = ts_init
        self.price = price
        self.trigger_price = trigger_price
        self.trailing_offset = trailing_offset
        self.trailing_offset_type = trailing_offset_type
        self.time_in_force = time_in_force
        self.expire_ns = expire_ns
        self.reduce_only = reduce_only
        self.contingency = contingency
        self.linked_ids = linked_ids
        self.parent_id = parent_id
        self.position_id = position_id
        self.tags = tags
        self.status = status
        self.venue_order_id = venue_order_id
        self.filled_qty = filled_qty
        self.avg_px = avg_px
        self.commission = commission
        self.ts_last = ts_last
        self.reason = reason
        self.events = events
        self.trade_ids = trade_ids
        self._status_before_pending = _status_before_pending
        problem = _field_problem(self)
        if problem:
            raise ValueError(f"{order_type} order {client_order_id}: {problem}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in FIELDS)
        return f"Order({shown})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _rebuild, tuple(getattr(self, name) for name in FIELDS)

    @property
    def leaves_qty(self) -> Decimal:
        """Quantity still to fill."""
        filled = self.filled_qty
        return self.quantity - filled if filled else self.quantity  # nothing filled: as sent

    @property
    def is_open(self) -> bool:
        """True while the order can still fill at the venue."""
        return self.status in OPEN

    @property
    def is_closed(self) -> bool:
        """True once the order reached a terminal state."""
        return self.status in TERMINAL

    @property
    def signed_quantity(self) -> Decimal:
        """Quantity with the side's sign."""
        return self.quantity if self.side is _BUY else -self.quantity

    def _move(self, to: OrderStatus) -> None:
        if (self.status, to) not in TRANSITIONS:
            raise InvalidStateTransition(
                f"order {self.client_order_id}: {self.status} -> {to} is not allowed"
            )
        self.status = to

    def apply(self, event: ev.OrderEvent) -> bool:
        """Apply an event to the order.

        Returns
        -------
        bool
            False when the event was a duplicate fill (a trade id already applied) and was
            ignored; True otherwise.

        Raises
        ------
        InvalidStateTransition
            When the event implies a transition the state machine forbids.
        """
        if event.client_order_id != self.client_order_id:
            raise ValueError(f"event for {event.client_order_id} applied to {self.client_order_id}")
        kind = _KIND_OF.get(type(event)) or _kind_of(type(event))
        if kind == _FILL:
            fill = cast(ev.OrderFilled, event)
            if fill.trade_id in self.trade_ids:
                return False
            self._fill(fill)
        elif kind == _PENDING:
            before = self.status
            pending = isinstance(event, ev.OrderPendingUpdate)
            self._move(_PENDING_UPDATE if pending else _PENDING_CANCEL)
            if before not in (_PENDING_UPDATE, _PENDING_CANCEL):
                self._status_before_pending = before
        elif kind == _ANSWER:
            self._restore_after_pending()
        elif kind == _UPDATE:
            self._update(cast(ev.OrderUpdated, event))
        else:
            self._move(_STATUS_OF[type(event)])
            if kind == _ACCEPT:
                self.venue_order_id = cast(ev.OrderAccepted, event).venue_order_id
            elif kind == _REASONED:
                self.reason = cast("ev.OrderDenied | ev.OrderRejected | ev.OrderCanceled",
                                   event).reason
        self.ts_last = event.ts
        self.events += (event,)
        return True

    def _restore_after_pending(self) -> None:
        if self.status not in (_PENDING_UPDATE, _PENDING_CANCEL):
            return  # the answer raced a fill or cancel: nothing to undo
        previous = self._status_before_pending or _ACCEPTED
        self.status = previous
        self._status_before_pending = None

    def _update(self, event: ev.OrderUpdated) -> None:
        if self.is_closed:
            raise InvalidStateTransition(
                f"order {self.client_order_id}: cannot update a {self.status} order"
            )
        if event.quantity is not None:
            if event.quantity < self.filled_qty or event.quantity <= _ZERO:
                raise InvalidStateTransition(
                    f"order {self.client_order_id}: quantity {event.quantity} "
                    f"below filled {self.filled_qty}"
                )
            self.quantity = event.quantity
        if event.price is not None:
            self.price = event.price
        if event.trigger_price is not None:
            self.trigger_price = event.trigger_price
        self._restore_after_pending()
        if self.filled_qty and self.filled_qty == self.quantity:
            self.status = _FILLED  # reduced to what has already filled: nothing left to work

    def _fill(self, event: ev.OrderFilled) -> None:
        if event.last_qty <= _ZERO or event.last_px <= _ZERO:
            raise InvalidStateTransition(
                f"order {self.client_order_id}: fill of {event.last_qty} at {event.last_px} "
                "needs a positive quantity and price"
            )
        if event.side is not self.side:
            raise InvalidStateTransition(
                f"order {self.client_order_id}: {event.side} fill on a {self.side} order"
            )
        new_filled = self.filled_qty + event.last_qty
        if new_filled > self.quantity:
            raise InvalidStateTransition(
                f"order {self.client_order_id}: overfill {new_filled} > {self.quantity}"
            )
        complete = new_filled == self.quantity
        if complete or self.status is not _CANCELED:
            self._move(_FILLED if complete else _PARTIALLY_FILLED)
        if self.filled_qty:
            previous_value = (self.avg_px or _ZERO) * self.filled_qty
            self.avg_px = (previous_value + event.last_px * event.last_qty) / new_filled
        else:  # the first fill's price, as the division gives it, without the division
            self.avg_px = event.last_px
        self.filled_qty = new_filled
        if event.commission:
            self.commission += event.commission
        self.trade_ids += (event.trade_id,)
        if event.venue_order_id and not self.venue_order_id:
            self.venue_order_id = event.venue_order_id


def replace(order: Order, **changes: Any) -> Order:
    """A copy of ``order`` with ``changes`` (field names and values) applied.

    Raises
    ------
    TypeError
        For a name that is not a field.
    """
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise TypeError(f"Order has no field {', '.join(unknown)}")
    values = {name: getattr(order, name) for name in FIELDS}
    values.update(changes)
    return Order(**values)


def _rebuild(*values: Any) -> Order:
    return Order(*values)


def requested_order(
    ids: ClientOrderIdGenerator, strategy_id: str, instrument: Instrument, side: OrderSide,
    quantity: Number, ts: int, limit: Number | None = None, stop: Number | None = None,
    touch: Number | None = None, trail: Number | None = None,
    trail_percent: Number | None = None, tif: TimeInForce | str = TimeInForce.GTC,
    expire_ns: int | None = None, reduce_only: bool = False, tag: str = "",
    position_id: str | None = None,
) -> Order:
    """The order a strategy asks for, with its quantity and prices rounded to ``instrument``.

    The type follows from the prices given: none is a market order, ``limit`` a limit, ``stop``
    a stop, ``stop`` and ``limit`` a stop-limit, ``touch`` a market-if-touched, ``trail`` (a
    price distance) or ``trail_percent`` a trailing stop. The client order id is the next of
    ``ids``, taken only once the request is valid.

    Raises
    ------
    ValueError
        For prices that no order type combines, or a quantity that rounds down to zero; the
        message starts with ``strategy_id``.
    """
    priced = not (limit is None and stop is None and touch is None and trail is None
                  and trail_percent is None)
    if priced:
        clash = _price_clash(limit, stop, touch, trail, trail_percent)
        if clash:
            raise ValueError(f"{strategy_id}: {clash} cannot be combined in one order")
    qty = instrument.make_quantity(quantity)
    if qty <= _ZERO:
        raise ValueError(f"{strategy_id}: quantity {quantity} rounds down to 0 at lot step "
                         f"{instrument.lot_step}")
    price = None if limit is None else instrument.make_price(limit)
    trigger_at = stop if stop is not None else touch
    trigger = None if trigger_at is None else instrument.make_price(trigger_at)
    offset: Decimal | None = None
    offset_type = _PRICE_OFFSET
    kind = _MARKET
    if trail_percent is not None:
        kind, offset, offset_type = _TRAILING, to_decimal(trail_percent), _PERCENT_OFFSET
    elif trail is not None:
        kind, offset = _TRAILING, instrument.make_price(trail)
    elif touch is not None:
        kind = _MARKET_IF_TOUCHED
    elif stop is not None:
        kind = _STOP_LIMIT if limit is not None else _STOP
    elif limit is not None:
        kind = _LIMIT
    # positional, in the order of FIELDS: keywords cost the compiled constructor about 1.4 us
    return Order(
        ids.next_id(ts), strategy_id, instrument.symbol, side, kind, qty, ts, price, trigger,
        offset, offset_type, tif if isinstance(tif, TimeInForce) else TimeInForce(tif.upper()),
        expire_ns, reduce_only, _NO_CONTINGENCY, (), None,
        position_id, (tag,) if tag else (),
    )


def _price_clash(
    limit: object, stop: object, touch: object, trail: object, trail_percent: object
) -> str:
    # the prices given together that no order type uses together, or ''
    given = {name for name, value in (
        ("limit", limit), ("stop", stop), ("touch", touch), ("trail", trail),
        ("trail_percent", trail_percent)) if value is not None}
    for allowed in ({"limit"}, {"stop"}, {"stop", "limit"}, {"touch"}, {"trail"},
                    {"trail_percent"}):
        if given <= allowed:
            return ""
    return " and ".join(sorted(given))


def _field_problem(order: Order) -> str:
    if order.quantity <= _ZERO:
        return f"quantity must be positive, got {order.quantity}"
    kind = order.order_type
    if kind is not _MARKET:
        if kind in _NEEDS_PRICE and order.price is None:
            return "needs a limit price"
        if kind in _NEEDS_TRIGGER and order.trigger_price is None:
            return "needs a trigger price"
        if kind is _TRAILING and (
            order.trailing_offset is None or order.trailing_offset <= _ZERO
        ):
            return "needs a positive trailing offset"
    if order.time_in_force is _GTD and order.expire_ns is None:
        return "GTD needs an expiry time"
    if order.price is not None and order.price <= _ZERO:
        return f"price must be positive, got {order.price}"
    if order.trigger_price is not None and order.trigger_price <= _ZERO:
        return f"trigger_price must be positive, got {order.trigger_price}"
    return ""


# How ``Order.apply`` treats each event class, decided once per class (subclasses of the event
# classes are classified by ``isinstance`` on first sight, as before).
_FILL: Final = 1
_PENDING: Final = 2
_ANSWER: Final = 3
_UPDATE: Final = 4
_ACCEPT: Final = 5
_REASONED: Final = 6
_MOVE: Final = 7
_KIND_OF: Final[dict[type, int]] = {}


def _kind_of(cls: type) -> int:
    if issubclass(cls, ev.OrderFilled):
        kind = _FILL
    elif issubclass(cls, (ev.OrderPendingUpdate, ev.OrderPendingCancel)):
        kind = _PENDING
    elif issubclass(cls, (ev.OrderModifyRejected, ev.OrderCancelRejected)):
        kind = _ANSWER
    elif issubclass(cls, ev.OrderUpdated):
        kind = _UPDATE
    elif issubclass(cls, ev.OrderAccepted):
        kind = _ACCEPT
    elif issubclass(cls, (ev.OrderDenied, ev.OrderRejected, ev.OrderCanceled)):
        kind = _REASONED
    else:
        kind = _MOVE
    _KIND_OF[cls] = kind
    return kind


_STATUS_OF: Final[dict[type[ev.OrderEvent], OrderStatus]] = {
    ev.OrderDenied: S.DENIED,
    ev.OrderSubmitted: S.SUBMITTED,
    ev.OrderAccepted: S.ACCEPTED,
    ev.OrderRejected: S.REJECTED,
    ev.OrderTriggered: S.TRIGGERED,
    ev.OrderCanceled: S.CANCELED,
    ev.OrderExpired: S.EXPIRED,
}
