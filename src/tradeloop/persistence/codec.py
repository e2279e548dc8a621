"""Translation between domain objects and table rows.

Events are stored as their ``msgspec`` builtins (``Decimal`` as a string, so nothing is
rounded) under their class name, and come back as the same frozen struct. An event's key is a
hash of its kind and encoded fields: recording the same fact twice is recognised and ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from sqlalchemy import RowMapping

from tradeloop.core.errors import DataError
from tradeloop.model import events as ev
from tradeloop.model.enums import (
    ContingencyType,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order
from tradeloop.model.reports import OrderStatusReport

E = TypeVar("E", bound=ev.Event)


def _subclasses(base: type[E]) -> dict[str, type[E]]:
    found: dict[str, type[E]] = {}
    pending: list[type[E]] = [base]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


ORDER_EVENT_TYPES: dict[str, type[ev.OrderEvent]] = _subclasses(ev.OrderEvent)
POSITION_EVENT_TYPES: dict[str, type[ev.PositionEvent]] = _subclasses(ev.PositionEvent)


def encode_event(event: ev.Event) -> bytes:
    """The event's fields as JSON (the stored payload, and what :func:`event_key` hashes)."""
    return msgspec.json.encode(event)


def event_key(event: ev.Event, encoded: bytes | None = None) -> str:
    """A stable digest of the event's kind and fields (32 hex characters); ``encoded`` is
    :func:`encode_event`'s result when the caller has it already."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(event.kind.encode())
    digest.update(b"\x00")
    digest.update(encoded if encoded is not None else encode_event(event))
    return digest.hexdigest()


def decode_event(kind: str, payload: Mapping[str, Any], types: Mapping[str, type[E]]) -> E:
    """Rebuild an event of class ``kind`` from its stored payload.

    Raises
    ------
    DataError
        When the kind is unknown or the payload does not fit it.
    """
    cls = types.get(kind)
    if cls is None:
        raise DataError(f"audit database: unknown event kind {kind!r}")
    try:
        return msgspec.convert(payload, cls)
    except msgspec.ValidationError as exc:
        raise DataError(f"audit database: stored {kind} does not decode: {exc}") from None


def order_values(order: Order) -> dict[str, Any]:
    """The ``orders`` columns describing ``order``, its identity and its current state."""
    return {
        "client_order_id": order.client_order_id,
        "strategy_id": order.strategy_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": order.quantity,
        "price": order.price,
        "trigger_price": order.trigger_price,
        "trailing_offset": order.trailing_offset,
        "trailing_offset_type": order.trailing_offset_type.value,
        "time_in_force": order.time_in_force.value,
        "expire_ns": order.expire_ns,
        "reduce_only": order.reduce_only,
        "contingency": order.contingency.value,
        "linked_ids": list(order.linked_ids),
        "parent_id": order.parent_id,
        "position_id": order.position_id,
        "tags": list(order.tags),
        "created_ns": order.ts_init,
        **order_state_values(order),
    }


def order_state_values(order: Order) -> dict[str, Any]:
    """The ``orders`` columns an event can change."""
    before = order._status_before_pending
    return {
        "quantity": order.quantity,
        "price": order.price,
        "trigger_price": order.trigger_price,
        "status": order.status.value,
        "status_before_pending": before.value if before is not None else None,
        "venue_order_id": order.venue_order_id,
        "filled_qty": order.filled_qty,
        "avg_px": order.avg_px,
        "commission": order.commission,
        "reason": order.reason,
        "updated_ns": order.ts_last,
    }


def order_from_row(
    row: Mapping[str, Any] | RowMapping,
    events: Iterable[ev.OrderEvent] = (),
    trade_ids: Iterable[str] = (),
) -> Order:
    """Rebuild an :class:`Order` from its ``orders`` row (and its events and trade ids)."""
    before = row["status_before_pending"]
    return Order(
        client_order_id=row["client_order_id"],
        strategy_id=row["strategy_id"],
        symbol=row["symbol"],
        side=OrderSide(row["side"]),
        order_type=OrderType(row["order_type"]),
        quantity=row["quantity"],
        ts_init=row["created_ns"],
        price=row["price"],
        trigger_price=row["trigger_price"],
        trailing_offset=row["trailing_offset"],
        trailing_offset_type=TrailingOffsetType(row["trailing_offset_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        expire_ns=row["expire_ns"],
        reduce_only=bool(row["reduce_only"]),
        contingency=ContingencyType(row["contingency"]),
        linked_ids=tuple(row["linked_ids"]),
        parent_id=row["parent_id"],
        position_id=row["position_id"],
        tags=tuple(row["tags"]),
        status=OrderStatus(row["status"]),
        venue_order_id=row["venue_order_id"],
        filled_qty=row["filled_qty"],
        avg_px=row["avg_px"],
        commission=row["commission"],
        ts_last=row["updated_ns"],
        reason=row["reason"],
        events=tuple(events),
        trade_ids=tuple(trade_ids),
        _status_before_pending=OrderStatus(before) if before else None,
    )


def order_from_report(report: OrderStatusReport, client_order_id: str, strategy_id: str) -> Order:
    """An :class:`Order` standing for one the venue holds but this node did not create.

    A report carries no expiry time or trailing offset: a GTD order is kept as GTC and a
    trailing stop gets a placeholder offset of 1, each marked by a tag
    (``venue_tif=GTD``, ``trailing_offset=unknown``). Every adopted order has the tag
    ``external``.

    Raises
    ------
    DataError
        When the report does not describe a valid order (a limit order without a price...).
    """
    tags = ["external"]
    time_in_force = report.time_in_force
    if time_in_force is TimeInForce.GTD:
        time_in_force = TimeInForce.GTC
        tags.append("venue_tif=GTD")
    trailing_offset = None
    if report.order_type is OrderType.TRAILING_STOP:
        trailing_offset = Decimal(1)
        tags.append("trailing_offset=unknown")
    try:
        return Order(
            client_order_id=client_order_id,
            strategy_id=strategy_id,
            symbol=report.symbol,
            side=report.side,
            order_type=report.order_type,
            quantity=report.quantity,
            ts_init=report.ts_accepted or report.ts_last,
            price=report.price,
            trigger_price=report.trigger_price,
            trailing_offset=trailing_offset,
            time_in_force=time_in_force,
            tags=tuple(tags),
            status=report.status,
            venue_order_id=report.venue_order_id,
            filled_qty=report.filled_qty,
            avg_px=report.avg_px,
            ts_last=report.ts_last or report.ts_accepted,
            reason=report.reason,
        )
    except ValueError as exc:
        raise DataError(
            f"cannot adopt venue order {report.venue_order_id} ({client_order_id}): {exc}"
        ) from None


def fill_values(event: ev.OrderFilled, venue: str) -> dict[str, Any]:
    """The ``fills`` columns of one execution."""
    return {
        "venue": venue,
        "trade_id": event.trade_id,
        "client_order_id": event.client_order_id,
        "venue_order_id": event.venue_order_id,
        "strategy_id": event.strategy_id,
        "symbol": event.symbol,
        "side": event.side.value,
        "quantity": event.last_qty,
        "price": event.last_px,
        "commission": event.commission,
        "commission_currency": event.commission_currency,
        "liquidity": event.liquidity.value,
        "position_id": event.position_id,
        "ts": event.ts,
    }


def fill_from_row(row: RowMapping) -> ev.OrderFilled:
    """Rebuild the :class:`~tradeloop.model.events.OrderFilled` of a ``fills`` row."""
    return ev.OrderFilled(
        ts=row["ts"],
        client_order_id=row["client_order_id"],
        strategy_id=row["strategy_id"],
        symbol=row["symbol"],
        venue_order_id=row["venue_order_id"],
        trade_id=row["trade_id"],
        side=OrderSide(row["side"]),
        last_qty=row["quantity"],
        last_px=row["price"],
        commission=row["commission"],
        commission_currency=row["commission_currency"],
        liquidity=LiquiditySide(row["liquidity"]),
        position_id=row["position_id"],
    )


def position_values(event: ev.PositionEvent) -> dict[str, Any]:
    """The ``positions`` columns of one position change."""
    return {
        "position_id": event.position_id,
        "symbol": event.symbol,
        "strategy_id": event.strategy_id,
        "kind": event.kind,
        "quantity": event.quantity,
        "avg_px": event.avg_px,
        "realized_pnl": event.realized_pnl,
        "currency": event.currency,
        "ts": event.ts,
    }


def position_from_row(row: RowMapping) -> ev.PositionEvent:
    """Rebuild the position event of a ``positions`` row."""
    cls = POSITION_EVENT_TYPES.get(row["kind"])
    if cls is None:
        raise DataError(f"audit database: unknown position event kind {row['kind']!r}")
    return cls(
        ts=row["ts"],
        position_id=row["position_id"],
        symbol=row["symbol"],
        strategy_id=row["strategy_id"],
        quantity=row["quantity"],
        avg_px=row["avg_px"],
        realized_pnl=row["realized_pnl"],
        currency=row["currency"],
    )
