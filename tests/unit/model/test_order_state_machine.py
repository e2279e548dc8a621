"""The order state machine: every allowed transition, forbidden ones, pending states, fills."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from tradeloop.core.errors import InvalidStateTransition
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import OPEN, TERMINAL, TRANSITIONS, Order

S = OrderStatus
CID = "O-1"
QTY = Decimal(10)
PARTIAL = Decimal(3)

_ts = count(1)
_trade = count(1)


def make_order(**overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "client_order_id": CID,
        "strategy_id": "S-1",
        "symbol": "AAPL",
        "side": OrderSide.BUY,
        "order_type": OrderType.STOP_LIMIT,
        "quantity": QTY,
        "ts_init": 0,
        "price": Decimal("100"),
        "trigger_price": Decimal("99"),
    }
    fields.update(overrides)
    return Order(**fields)


def fill(qty: Decimal, px: Decimal = Decimal("100"), trade_id: str | None = None,
         commission: Decimal = Decimal(0)) -> ev.OrderFilled:
    return ev.OrderFilled(
        ts=next(_ts), client_order_id=CID, venue_order_id="V-1",
        trade_id=trade_id or f"T-{next(_trade)}", side=OrderSide.BUY,
        last_qty=qty, last_px=px, commission=commission,
    )


def _partial(order: Order) -> ev.OrderEvent:
    # leaves something to fill when possible; an overfill when the order is already filled
    return fill(PARTIAL if order.leaves_qty != PARTIAL else Decimal(1))


def _complete(order: Order) -> ev.OrderEvent:
    return fill(order.leaves_qty if order.leaves_qty > 0 else Decimal(1))


#: The event that leads an order to each status (the canonical one; fills depend on the order).
EVENT_TO: dict[OrderStatus, Callable[[Order], ev.OrderEvent]] = {
    S.DENIED: lambda o: ev.OrderDenied(ts=next(_ts), client_order_id=CID, reason="risk: too big"),
    S.SUBMITTED: lambda o: ev.OrderSubmitted(ts=next(_ts), client_order_id=CID),
    S.ACCEPTED: lambda o: ev.OrderAccepted(ts=next(_ts), client_order_id=CID,
                                           venue_order_id="V-1"),
    S.REJECTED: lambda o: ev.OrderRejected(ts=next(_ts), client_order_id=CID, reason="no margin"),
    S.PENDING_UPDATE: lambda o: ev.OrderPendingUpdate(ts=next(_ts), client_order_id=CID),
    S.PENDING_CANCEL: lambda o: ev.OrderPendingCancel(ts=next(_ts), client_order_id=CID),
    S.TRIGGERED: lambda o: ev.OrderTriggered(ts=next(_ts), client_order_id=CID),
    S.PARTIALLY_FILLED: _partial,
    S.FILLED: _complete,
    S.CANCELED: lambda o: ev.OrderCanceled(ts=next(_ts), client_order_id=CID, reason="user"),
    S.EXPIRED: lambda o: ev.OrderExpired(ts=next(_ts), client_order_id=CID),
}


def path_to(target: OrderStatus) -> list[OrderStatus]:
    """Shortest list of statuses leading from INITIALIZED to ``target`` through the table."""
    previous: dict[OrderStatus, OrderStatus | None] = {S.INITIALIZED: None}
    queue = deque([S.INITIALIZED])
    while queue:
        here = queue.popleft()
        for src, dst in sorted(TRANSITIONS):
            if src is here and dst not in previous:
                previous[dst] = here
                queue.append(dst)
    if target not in previous:
        raise AssertionError(f"{target} is unreachable from INITIALIZED")
    steps: list[OrderStatus] = []
    node: OrderStatus | None = target
    while node is not None and node is not S.INITIALIZED:
        steps.append(node)
        node = previous[node]
    return steps[::-1]


def order_in(status: OrderStatus, **overrides: Any) -> Order:
    """A real order driven into ``status`` by applying events."""
    order = make_order(**overrides)
    for step in path_to(status):
        assert order.apply(EVENT_TO[step](order)) is True
        assert order.status is step
    assert order.status is status
    return order


def snapshot(order: Order) -> tuple[object, ...]:
    return (
        order.status, order.filled_qty, order.avg_px, order.commission, order.quantity,
        order.price, order.trigger_price, order.venue_order_id, order.reason, order.ts_last,
        len(order.events), frozenset(order.trade_ids), order._status_before_pending,
    )


def _id(pair: tuple[OrderStatus, OrderStatus]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


ALLOWED = sorted(TRANSITIONS)
#: No event leads back to INITIALIZED, so the forbidden pairs with that target are not testable.
FORBIDDEN = sorted(
    (a, b) for a in S for b in S if (a, b) not in TRANSITIONS and b is not S.INITIALIZED
)
# A late partial fill of a cancelled order is booked without leaving CANCELED (tested below).
RAISING = [pair for pair in FORBIDDEN if pair != (S.CANCELED, S.PARTIALLY_FILLED)]


# --- the table ---------------------------------------------------------------------------------


def test_table_shape() -> None:
    assert len(ALLOWED) == 48
    assert len(ALLOWED) + len(FORBIDDEN) == len(S) * (len(S) - 1)
    assert all(dst is not S.INITIALIZED for _, dst in TRANSITIONS)
    # terminal states lead nowhere, except a late fill that completes a cancelled order
    for src, dst in TRANSITIONS:
        if src in TERMINAL:
            assert (src, dst) == (S.CANCELED, S.FILLED)
    assert OPEN.isdisjoint(TERMINAL)
    assert OPEN | TERMINAL | {S.INITIALIZED} == set(S)


@pytest.mark.parametrize("status", list(S), ids=lambda s: s.value)
def test_every_status_is_reachable_through_events(status: OrderStatus) -> None:
    order = order_in(status)
    assert order.is_open is (status in OPEN)
    assert order.is_closed is (status in TERMINAL)
    assert len(order.events) == len(path_to(status))


@pytest.mark.parametrize("pair", ALLOWED, ids=_id)
def test_every_allowed_transition(pair: tuple[OrderStatus, OrderStatus]) -> None:
    src, dst = pair
    order = order_in(src)
    before_events = len(order.events)
    event = EVENT_TO[dst](order)
    assert order.apply(event) is True
    assert order.status is dst
    assert order.events[-1] is event
    assert len(order.events) == before_events + 1
    assert order.ts_last == event.ts


@pytest.mark.parametrize("pair", RAISING, ids=_id)
def test_every_forbidden_transition_raises_and_leaves_order_unchanged(
    pair: tuple[OrderStatus, OrderStatus],
) -> None:
    src, dst = pair
    order = order_in(src)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition, match=CID):
        order.apply(EVENT_TO[dst](order))
    assert snapshot(order) == before


@pytest.mark.parametrize(
    "pair",
    [
        (S.FILLED, S.CANCELED), (S.DENIED, S.SUBMITTED), (S.REJECTED, S.ACCEPTED),
        (S.EXPIRED, S.FILLED), (S.INITIALIZED, S.FILLED), (S.INITIALIZED, S.ACCEPTED),
        (S.INITIALIZED, S.PARTIALLY_FILLED), (S.INITIALIZED, S.TRIGGERED),
        (S.FILLED, S.PARTIALLY_FILLED), (S.FILLED, S.EXPIRED), (S.CANCELED, S.ACCEPTED),
        (S.CANCELED, S.CANCELED), (S.EXPIRED, S.CANCELED), (S.DENIED, S.CANCELED),
        (S.REJECTED, S.FILLED), (S.ACCEPTED, S.SUBMITTED), (S.ACCEPTED, S.ACCEPTED),
        (S.PARTIALLY_FILLED, S.ACCEPTED), (S.PARTIALLY_FILLED, S.REJECTED),
        (S.PENDING_CANCEL, S.PENDING_UPDATE), (S.PENDING_CANCEL, S.TRIGGERED),
        (S.SUBMITTED, S.SUBMITTED), (S.TRIGGERED, S.TRIGGERED),
    ],
    ids=_id,
)
def test_named_forbidden_transitions(pair: tuple[OrderStatus, OrderStatus]) -> None:
    assert pair not in TRANSITIONS
    order = order_in(pair[0])
    before = snapshot(order)
    # a fill on a FILLED order is caught as an overfill before the table is consulted
    with pytest.raises(InvalidStateTransition, match=f"{pair[0]} -> |overfill"):
        order.apply(EVENT_TO[pair[1]](order))
    assert snapshot(order) == before


# --- late fills --------------------------------------------------------------------------------


def test_fill_after_cancel_is_allowed() -> None:
    order = order_in(S.CANCELED)
    assert order.is_closed
    assert order.apply(fill(QTY, Decimal("101"))) is True
    assert order.status is S.FILLED
    assert order.filled_qty == QTY
    assert order.avg_px == Decimal("101")


def test_partial_then_cancel_then_late_fill_completes() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.apply(EVENT_TO[S.CANCELED](order))
    assert order.status is S.CANCELED
    order.apply(fill(order.leaves_qty))
    assert order.status is S.FILLED
    assert order.leaves_qty == 0


def test_late_partial_fill_is_booked_but_the_order_stays_cancelled() -> None:
    order = order_in(S.CANCELED)
    assert order.apply(fill(QTY / 2, Decimal("101"))) is True
    assert order.status is S.CANCELED
    assert order.is_closed
    assert order.filled_qty == QTY / 2
    assert order.avg_px == Decimal("101")


def test_fill_on_the_wrong_side_or_at_no_price_is_refused() -> None:
    order = order_in(S.ACCEPTED)
    wrong_side = ev.OrderFilled(
        ts=next(_ts), client_order_id=CID, venue_order_id="V", trade_id="T-side",
        side=order.side.opposite, last_qty=QTY, last_px=Decimal("100"),
    )
    with pytest.raises(InvalidStateTransition, match="fill on a"):
        order.apply(wrong_side)
    with pytest.raises(InvalidStateTransition, match="positive quantity and price"):
        order.apply(fill(QTY, Decimal("0")))
    assert order.status is S.ACCEPTED and order.filled_qty == 0


def test_reducing_quantity_to_the_filled_amount_completes_the_order() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    done = order.filled_qty
    order.apply(ev.OrderUpdated(ts=next(_ts), client_order_id=CID, quantity=done))
    assert order.status is S.FILLED
    assert order.is_closed


# --- pending states and their rejections ------------------------------------------------------


@pytest.mark.parametrize(
    "prior", [S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED], ids=lambda s: s.value
)
def test_cancel_rejected_returns_to_prior_state(prior: OrderStatus) -> None:
    order = order_in(prior)
    filled = order.filled_qty
    order.apply(ev.OrderPendingCancel(ts=next(_ts), client_order_id=CID))
    assert order.status is S.PENDING_CANCEL
    assert order.is_open
    assert order.apply(
        ev.OrderCancelRejected(ts=next(_ts), client_order_id=CID, reason="too late")
    ) is True
    assert order.status is prior
    assert order.filled_qty == filled
    assert isinstance(order.events[-1], ev.OrderCancelRejected)


@pytest.mark.parametrize(
    "prior", [S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED], ids=lambda s: s.value
)
def test_modify_rejected_returns_to_prior_state(prior: OrderStatus) -> None:
    order = order_in(prior)
    price = order.price
    order.apply(ev.OrderPendingUpdate(ts=next(_ts), client_order_id=CID))
    assert order.status is S.PENDING_UPDATE
    order.apply(ev.OrderModifyRejected(ts=next(_ts), client_order_id=CID, reason="bad price"))
    assert order.status is prior
    assert order.price == price


def test_cancel_requested_while_update_pending_rejects_back_to_original_state() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.apply(ev.OrderPendingUpdate(ts=next(_ts), client_order_id=CID))
    order.apply(ev.OrderPendingCancel(ts=next(_ts), client_order_id=CID))
    assert order.status is S.PENDING_CANCEL
    order.apply(ev.OrderCancelRejected(ts=next(_ts), client_order_id=CID, reason="no"))
    assert order.status is S.PARTIALLY_FILLED


def test_second_pending_cycle_remembers_the_new_prior_state() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(ev.OrderPendingCancel(ts=next(_ts), client_order_id=CID))
    order.apply(fill(PARTIAL))  # the fill raced the cancel
    assert order.status is S.PARTIALLY_FILLED
    order.apply(ev.OrderPendingCancel(ts=next(_ts), client_order_id=CID))
    order.apply(ev.OrderCancelRejected(ts=next(_ts), client_order_id=CID, reason="no"))
    assert order.status is S.PARTIALLY_FILLED


def test_rejection_that_raced_a_fill_changes_nothing() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(ev.OrderPendingCancel(ts=next(_ts), client_order_id=CID))
    order.apply(fill(QTY))
    assert order.status is S.FILLED
    assert order.apply(
        ev.OrderCancelRejected(ts=next(_ts), client_order_id=CID, reason="already filled")
    ) is True
    assert order.status is S.FILLED


def test_update_applies_fields_and_leaves_pending_state() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.apply(ev.OrderPendingUpdate(ts=next(_ts), client_order_id=CID))
    order.apply(
        ev.OrderUpdated(
            ts=next(_ts), client_order_id=CID, quantity=Decimal(20), price=Decimal("98"),
        )
    )
    assert order.status is S.PARTIALLY_FILLED
    assert order.quantity == Decimal(20)
    assert order.price == Decimal("98")
    assert order.trigger_price == Decimal("99")  # None kept the old value
    assert order.leaves_qty == Decimal(20) - PARTIAL


def test_update_below_filled_quantity_raises() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition, match="below filled"):
        order.apply(ev.OrderUpdated(ts=next(_ts), client_order_id=CID, quantity=Decimal(2)))
    assert snapshot(order) == before


@pytest.mark.parametrize("status", sorted(TERMINAL), ids=lambda s: s.value)
def test_update_of_closed_order_raises(status: OrderStatus) -> None:
    order = order_in(status)
    with pytest.raises(InvalidStateTransition, match="cannot update"):
        order.apply(ev.OrderUpdated(ts=next(_ts), client_order_id=CID, price=Decimal("1")))
    assert order.price == Decimal("100")


# --- fills -------------------------------------------------------------------------------------


def test_overfill_raises_and_changes_nothing() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition, match="overfill"):
        order.apply(fill(order.leaves_qty + 1))
    assert snapshot(order) == before


def test_overfill_in_one_fill_from_accepted() -> None:
    order = order_in(S.ACCEPTED)
    with pytest.raises(InvalidStateTransition, match="overfill 11 > 10"):
        order.apply(fill(Decimal(11)))
    assert order.status is S.ACCEPTED
    assert order.filled_qty == 0


@pytest.mark.parametrize("qty", [Decimal(0), Decimal(-1)])
def test_non_positive_fill_quantity_raises(qty: Decimal) -> None:
    order = order_in(S.ACCEPTED)
    with pytest.raises(InvalidStateTransition, match="positive quantity and price"):
        order.apply(fill(qty))
    assert order.status is S.ACCEPTED


def test_repeated_trade_id_is_ignored() -> None:
    order = order_in(S.ACCEPTED)
    assert order.apply(fill(PARTIAL, Decimal("100"), trade_id="T-dup")) is True
    before = snapshot(order)
    assert order.apply(fill(PARTIAL, Decimal("105"), trade_id="T-dup")) is False
    assert snapshot(order) == before
    assert order.filled_qty == PARTIAL
    assert order.avg_px == Decimal("100")


def test_repeated_trade_id_ignored_even_after_the_order_filled() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(fill(QTY, trade_id="T-all"))
    assert order.apply(fill(QTY, trade_id="T-all")) is False  # would overfill if applied
    assert order.filled_qty == QTY
    assert order.status is S.FILLED


def test_avg_px_commission_and_leaves_across_partial_fills() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(fill(Decimal(3), Decimal("100"), commission=Decimal("0.30")))
    assert (order.status, order.avg_px, order.leaves_qty) == (S.PARTIALLY_FILLED, 100, 7)
    order.apply(fill(Decimal(2), Decimal("101"), commission=Decimal("0.20")))
    assert order.avg_px == Decimal("100.4")
    assert order.status is S.PARTIALLY_FILLED
    order.apply(fill(Decimal(5), Decimal("102.5"), commission=Decimal("0.50")))
    assert order.status is S.FILLED
    assert order.avg_px == Decimal("101.45")
    assert order.filled_qty == QTY
    assert order.leaves_qty == 0
    assert order.commission == Decimal("1.00")
    assert len(order.trade_ids) == 3


def test_fill_sets_venue_order_id_when_unknown() -> None:
    order = order_in(S.SUBMITTED)
    assert order.venue_order_id is None
    order.apply(fill(QTY))
    assert order.venue_order_id == "V-1"


def test_accept_and_reject_record_ids_and_reasons() -> None:
    order = order_in(S.ACCEPTED)
    assert order.venue_order_id == "V-1"
    rejected = order_in(S.REJECTED)
    assert rejected.reason == "no margin"
    denied = order_in(S.DENIED)
    assert denied.reason == "risk: too big"


def test_event_for_another_order_raises() -> None:
    order = make_order()
    with pytest.raises(ValueError, match="O-2 applied to O-1"):
        order.apply(ev.OrderSubmitted(ts=1, client_order_id="O-2"))
    assert order.status is S.INITIALIZED
    assert order.events == ()


def test_signed_quantity() -> None:
    assert make_order().signed_quantity == QTY
    assert make_order(side=OrderSide.SELL).signed_quantity == -QTY


# --- field validation ------------------------------------------------------------------------


def _plain(order_type: OrderType, **fields: Any) -> Order:
    return Order("X-9", "S-1", "AAPL", OrderSide.BUY, order_type, fields.pop("quantity", QTY), 0,
                 **fields)


@pytest.mark.parametrize(
    ("order_type", "fields", "message"),
    [
        (OrderType.LIMIT, {}, "LIMIT order X-9: needs a limit price"),
        (OrderType.STOP_LIMIT, {"trigger_price": Decimal(1)}, "needs a limit price"),
        (OrderType.STOP_LIMIT, {"price": Decimal(1)}, "STOP_LIMIT order X-9: needs a trigger"),
        (OrderType.STOP, {}, "STOP order X-9: needs a trigger price"),
        (OrderType.MARKET_IF_TOUCHED, {}, "needs a trigger price"),
        (OrderType.TRAILING_STOP, {}, "needs a positive trailing offset"),
        (OrderType.TRAILING_STOP, {"trailing_offset": Decimal(0)}, "positive trailing offset"),
        (OrderType.MARKET, {"quantity": Decimal(0)}, "quantity must be positive, got 0"),
        (OrderType.MARKET, {"quantity": Decimal(-5)}, "quantity must be positive, got -5"),
        (OrderType.MARKET, {"time_in_force": TimeInForce.GTD}, "GTD needs an expiry time"),
        (OrderType.LIMIT, {"price": Decimal(-1)}, "price must be positive, got -1"),
        (OrderType.LIMIT, {"price": Decimal(0)}, "price must be positive, got 0"),
        (OrderType.STOP, {"trigger_price": Decimal(0)}, "trigger_price must be positive"),
    ],
)
def test_invalid_order_fields_raise(
    order_type: OrderType, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _plain(order_type, **fields)


@pytest.mark.parametrize(
    ("order_type", "fields"),
    [
        (OrderType.MARKET, {}),
        (OrderType.LIMIT, {"price": Decimal("1.5")}),
        (OrderType.STOP, {"trigger_price": Decimal(2)}),
        (OrderType.STOP_LIMIT, {"price": Decimal(2), "trigger_price": Decimal(2)}),
        (OrderType.MARKET_IF_TOUCHED, {"trigger_price": Decimal(2)}),
        (OrderType.TRAILING_STOP, {"trailing_offset": Decimal("0.5")}),
        (OrderType.LIMIT, {"price": Decimal(1), "time_in_force": TimeInForce.GTD,
                           "expire_ns": 10}),
    ],
)
def test_valid_order_fields(order_type: OrderType, fields: dict[str, Any]) -> None:
    order = _plain(order_type, **fields)
    assert order.status is S.INITIALIZED
    assert order.leaves_qty == QTY
    assert not order.is_open
    assert not order.is_closed


@pytest.mark.parametrize(("qty", "px"), [
    ("10", "100"), ("3", "101.23"), ("0.5", "1.08765"), ("10.0", "99.990"), ("7", "0.001"),
    ("0.00000001", "65432.1"), ("1E+2", "150.25"),
])
def test_a_first_fill_sets_the_average_price_the_average_would_give(qty: str, px: str) -> None:
    order = order_in(S.ACCEPTED, quantity=Decimal(qty))
    order.apply(fill(Decimal(qty), Decimal(px)))
    averaged = (Decimal(0) * Decimal(0) + Decimal(px) * Decimal(qty)) / Decimal(qty)
    assert order.avg_px is not None
    assert (str(order.avg_px), order.avg_px) == (str(averaged), averaged)  # value and digits
