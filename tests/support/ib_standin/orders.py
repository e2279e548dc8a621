"""The gateway's order book: placing (with TWS's validation and error codes), modifying and
cancelling orders, holding untransmitted orders, brackets and OCA groups, time in force, and
matching against the market the tests set, with the openOrder/orderStatus/execDetails/
commissionReport messages TWS sends for each step."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ib_async.contract import Contract
from ib_async.order import Order

from . import matching as m
from .contracts import Listing
from .matching import Quote
from .records import ExecutionRecord, GwOrder, plain_order, wire_contract, wire_order, wire_state
from .timefmt import parse_tws_time, tws_stamp

if TYPE_CHECKING:
    from .gateway import Gateway
    from .session import Session

Problem = tuple[int, str]


class OrderBook:
    """Every order and execution the gateway has seen since its last reset."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.orders: dict[tuple[int, int], GwOrder] = {}
        self.executions: list[ExecutionRecord] = []
        self.submitted: dict[str, set[tuple[int, int]]] = defaultdict(set)
        self.max_order_id: dict[int, int] = {}

    # ----------------------------------------------------------------- requests

    def place(self, sess: Session, order_id: int, contract: Contract, order: Order) -> None:
        """``placeOrder``: a new order, or a modification of a known orderId."""
        order = plain_order(order)
        key = (sess.client_id, order_id)
        existing = self.orders.get(key)
        if existing is not None:
            self._modify(sess, existing, contract, order)
            return
        if self.gw.faults.take("reject_retryable"):
            sess.error(order_id, 100, "Max rate of messages per second has been exceeded:"
                                      "max=50 rec=51 (1)")
            return
        if order_id <= self.max_order_id.get(sess.client_id, 0):
            sess.error(order_id, 103, "Duplicate order id")
            return
        self.max_order_id[sess.client_id] = order_id
        self.submitted[order.orderRef].add(key)
        listing = self.gw.catalogue.resolve(contract)
        if listing is None:
            sess.error(order_id, 200, "No security definition has been found for the request")
            return
        problem = self._validate(sess.client_id, listing, order)
        if problem:
            sess.error(order_id, *problem)
            return
        g = GwOrder(client_id=sess.client_id, order_id=order_id, perm_id=self.gw.next_perm_id(),
                    listing=listing, contract=listing.contract(), order=order,
                    created=self.gw.now())
        faults = self.gw.faults
        g.lost = faults.take("lose_answer")
        g.held = [] if faults.take("out_of_order") else None
        g.duplicate = faults.take("duplicate_reports")
        self.orders[key] = g
        if faults.take("reject_fatal"):
            self._reject(g, "the stand-in was armed to reject this order")
            return
        if order.transmit:
            self._transmit_family(g)

    def cancel(self, sess: Session, order_id: int) -> None:
        """``cancelOrder``."""
        g = self.orders.get((sess.client_id, order_id))
        if g is None:
            sess.error(order_id, 135, f"Can't find order with id ={order_id}")
            return
        if g.done:
            sess.error(order_id, 161, "Cancel attempted when order is not in a cancellable "
                                      f"state.  Order permId ={g.perm_id}")
            return
        self.cancel_order(g, "")

    def global_cancel(self) -> None:
        """``reqGlobalCancel``: every working order of every client."""
        for g in self.live():
            if not g.done:
                self.cancel_order(g, "Global cancel")

    # ----------------------------------------------------------------- steering

    def fill(self, order_ref: str, quantity: float, price: float | None) -> None:
        """Fill part of the newest working order carrying ``order_ref``."""
        working = [g for g in self.live() if g.order.orderRef == order_ref and g.active]
        if not working:
            raise ValueError(f"no working, transmitted order with orderRef {order_ref!r}")
        g = working[-1]
        if quantity <= 0 or quantity > g.remaining + 1e-9:
            raise ValueError(f"cannot fill {quantity} of {order_ref!r}: {g.remaining} remain")
        if price is None:
            price = self._default_fill_price(g)
        self.execute(g, quantity, price)

    def on_market(self, listing: Listing, quote: Quote) -> None:
        """Match every working order of this contract against the new market."""
        depth = {True: quote.depth(True), False: quote.depth(False)}
        for _ in range(20):
            changed = False
            for g in self.live(listing.con_id):
                before = (g.filled, g.status, g.triggered, g.active)
                self._match(g, depth)
                changed |= before != (g.filled, g.status, g.triggered, g.active)
            if not changed:
                break

    def expire(self, end_of_day: bool) -> None:
        """Cancel DAY orders (at the end of the day) and GTD orders whose time passed."""
        now = self.gw.now()
        for g in self.live():
            if g.done:
                continue
            tif = g.order.tif or "DAY"
            if end_of_day and tif == "DAY":
                self.cancel_order(g, "Order expired (DAY)")
            elif tif == "GTD" and parse_tws_time(g.order.goodTillDate) <= now:
                self.cancel_order(g, f"Order expired (GTD {g.order.goodTillDate})")

    def live(self, con_id: int | None = None) -> list[GwOrder]:
        """Working orders (transmitted or held), oldest first."""
        return sorted((g for g in self.orders.values() if not g.done
                       and (con_id is None or g.listing.con_id == con_id)),
                      key=lambda g: g.perm_id)

    # ----------------------------------------------------------------- validation

    def _validate(self, client_id: int, listing: Listing, o: Order) -> Problem | None:
        reason = _invalid_fields(o)
        if reason:
            return (201, f"Order rejected - reason:{reason}")
        if float(o.totalQuantity) <= 0:
            return (434, "The order size cannot be zero")
        steps = float(o.totalQuantity) / listing.size_increment
        if abs(steps - round(steps)) > 1e-9:
            return (201, "Order rejected - reason:The order size is not a multiple of the "
                         f"size increment {listing.size_increment:g}")
        tick_problem = _off_tick(listing, o)
        if tick_problem:
            return tick_problem
        if o.tif == "GTD":
            try:
                expiry = parse_tws_time(o.goodTillDate)
            except ValueError:
                return (201, f"Order rejected - reason:Invalid good-till date "
                             f"{o.goodTillDate!r}")
            if expiry <= self.gw.now():
                return (201, "Order rejected - reason:The good-till date is in the past")
        if o.parentId:
            parent = self.orders.get((client_id, o.parentId))
            if parent is None or parent.done:
                return (201, f"Order rejected - reason:Parent order {o.parentId} is not "
                             "working")
            if parent.listing.con_id != listing.con_id:
                return (201, "Order rejected - reason:A child order must be in its parent's "
                             "contract")
        return None

    # ----------------------------------------------------------------- life cycle

    def _reject(self, g: GwOrder, reason: str) -> None:
        g.status = "Inactive"
        self._complete(g, "Rejected")
        sess = self.gw.session_for(g.client_id)
        if sess is not None:
            sess.send_for(g, "error", g.order_id, 201, f"Order rejected - reason:{reason}", "")
        self.tell(g)

    def _transmit_family(self, g: GwOrder) -> None:
        head = self._parent(g) or g
        family = [head, *self._children(head)]
        for member in sorted(family, key=lambda x: x.order_id):
            if not member.transmitted and not member.done:
                self._go_live(member)

    def _go_live(self, g: GwOrder) -> None:
        parent = self._parent(g)
        g.transmitted = True
        g.active = parent is None or parent.status == "Filled"
        g.status = g.live_status
        self.tell(g)
        if g.active:
            self._match(g)

    def _modify(self, sess: Session, g: GwOrder, contract: Contract, new: Order) -> None:
        listing = self.gw.catalogue.resolve(contract)
        if listing is None or listing.con_id != g.listing.con_id:
            sess.error(g.order_id, 103, "Duplicate order id")
            return
        if g.status == "Filled":
            sess.error(g.order_id, 104, "Can't modify a filled order")
            return
        if g.done:
            sess.error(g.order_id, 103, "Duplicate order id")
            return
        if new.action != g.order.action or new.orderType != g.order.orderType \
                or float(new.totalQuantity) <= g.filled:
            sess.error(g.order_id, 105, "Order being modified does not match original order")
            return
        if _invalid_fields(new):
            sess.error(g.order_id, 105, "Order being modified does not match original order")
            return
        off_tick = _off_tick(listing, new)
        if off_tick:
            sess.error(g.order_id, *off_tick)
            return
        o = g.order
        if (new.auxPrice != o.auxPrice or new.trailingPercent != o.trailingPercent
                or new.trailStopPrice != o.trailStopPrice):
            g.trail_stop = None
        for name in ("totalQuantity", "lmtPrice", "auxPrice", "trailingPercent",
                     "trailStopPrice", "tif", "goodTillDate", "outsideRth", "orderRef",
                     "ocaGroup", "ocaType"):
            setattr(o, name, getattr(new, name))
        g.resting = False
        if not g.transmitted:
            if new.transmit:
                self._transmit_family(g)
            return
        self.tell(g)
        self._match(g)

    def cancel_order(self, g: GwOrder, reason: str) -> None:
        """Cancel a working order (and, for a parent, its children), telling its client."""
        was_transmitted = g.transmitted
        g.status = "Cancelled"
        self._complete(g, reason or "Cancelled by Trader")
        sess = self.gw.session_for(g.client_id)
        if sess is not None:
            sess.send_for(g, "error", g.order_id, 202, f"Order Canceled - reason:{reason}", "")
        if was_transmitted:
            self.tell(g, with_open=False)
        for child in self._children(g):
            if not child.done:
                self.cancel_order(child, "Parent order cancelled")

    def _complete(self, g: GwOrder, status_text: str) -> None:
        g.completed_time = tws_stamp(self.gw.now())
        g.completed_status = status_text

    def tell(self, g: GwOrder, with_open: bool = True) -> None:
        """Send the order's openOrder and orderStatus to the client that placed it."""
        sess = self.gw.session_for(g.client_id)
        if sess is None:
            return
        if with_open:
            sess.send_for(g, "openOrder", g.order_id, wire_contract(g),
                          wire_order(g, self.gw.account.name), wire_state(g))
        sess.send_for(g, *order_status_args(g))

    # ----------------------------------------------------------------- matching

    def _match(self, g: GwOrder, depth: dict[bool, float] | None = None) -> None:
        if g.done or not g.active:
            return
        quote = self.gw.quotes.get(g.listing.con_id)
        o = g.order
        if quote is None:
            self._after_attempt(g)
            return
        if o.orderType == "TRAIL":
            self._trail(g, quote)
        if o.orderType in m.TRIGGERED_TYPES and not g.triggered:
            if not m.is_triggered(o.orderType, g.buy, quote, float(o.auxPrice or 0.0),
                                  g.trail_stop):
                return
            g.triggered = True
            g.resting = False
            g.status = "Submitted"
            self.tell(g)
        buy = g.buy
        if o.orderType in m.LIMIT_TYPES:
            limit = float(o.lmtPrice or 0.0)
            if not m.is_marketable(buy, quote, limit):
                self._after_attempt(g)
                return
            price = limit if g.resting else quote.touch(buy)
        else:
            price = quote.touch(buy)
            if not price > 0:
                self._after_attempt(g)
                return
        available = depth[buy] if depth is not None else quote.depth(buy)
        quantity = min(g.remaining, available)
        if o.tif == "FOK" and quantity < g.remaining:
            quantity = 0.0
        if quantity > 0:
            if depth is not None:
                depth[buy] = available - quantity
            self.execute(g, quantity, price)
        self._after_attempt(g)

    def _after_attempt(self, g: GwOrder) -> None:
        if g.done:
            return
        if g.order.tif in ("IOC", "FOK"):
            self.cancel_order(g, f"{g.order.tif} order not (fully) fillable")
            return
        g.resting = True

    def _trail(self, g: GwOrder, quote: Quote) -> None:
        o = g.order
        ref = quote.reference(g.buy)
        if g.trail_stop is None and m.is_set(o.trailStopPrice):
            g.trail_stop = float(o.trailStopPrice)
        offset = m.trail_offset(ref, o.auxPrice, o.trailingPercent)
        g.trail_stop = m.next_trail_stop(g.trail_stop, ref, offset, g.buy, g.listing.min_tick)

    def _default_fill_price(self, g: GwOrder) -> float:
        o = g.order
        if m.is_set(o.lmtPrice) and o.orderType in m.LIMIT_TYPES:
            return float(o.lmtPrice or 0.0)
        if m.is_set(o.auxPrice) and o.orderType in ("STP", "MIT"):
            return float(o.auxPrice or 0.0)
        quote = self.gw.quotes.get(g.listing.con_id)
        if quote is None:
            raise ValueError(f"no price to fill {o.orderRef!r} at: give one or set_price first")
        return quote.touch(g.buy)

    # ----------------------------------------------------------------- executions

    def execute(self, g: GwOrder, quantity: float, price: float) -> None:
        """Book an execution of ``g`` and send what TWS sends for it, then apply its effects
        on children, bracket siblings and OCA groups."""
        gw = self.gw
        listing = g.listing
        value_before = g.avg_fill_price * g.filled
        g.filled += quantity
        g.avg_fill_price = (value_before + quantity * price) / g.filled
        g.last_fill_price = price
        fee = m.commission(listing.sec_type, quantity, price, listing.multiplier_value)
        g.commission += fee
        realized = gw.account.apply_fill(listing, g.buy, quantity, price, fee)
        rec = ExecutionRecord(
            exec_id=gw.next_exec_id(), time=gw.now(), client_id=g.client_id,
            order_id=g.order_id, perm_id=g.perm_id, order_ref=g.order.orderRef,
            local_symbol=listing.local_symbol, side="BOT" if g.buy else "SLD",
            shares=float(quantity), price=float(price), cum_qty=g.filled,
            avg_price=g.avg_fill_price, commission=fee, realized_pnl=realized,
            contract=listing.contract())
        self.executions.append(rec)
        if g.remaining <= 1e-9:
            g.status = "Filled"
            self._complete(g, "Filled")
        sess = gw.session_for(g.client_id)
        if sess is not None:
            account = gw.account.name
            sess.send_for(g, "execDetails", -1, listing.contract(), rec.execution(account))
            if g.status == "Filled":
                sess.send_for(g, "openOrder", g.order_id, wire_contract(g),
                              wire_order(g, account), wire_state(g))
            sess.send_for(g, *order_status_args(g))
            sess.send_for(g, "commissionReport", rec.commission_report())
            if g.duplicate:
                sess.send_for(g, "execDetails", -1, listing.contract(), rec.execution(account))
                sess.send_for(g, "commissionReport", rec.commission_report())
        gw.account_changed(listing)
        self._after_fill(g, quantity)

    def _after_fill(self, g: GwOrder, quantity: float) -> None:
        if g.status == "Filled":
            for child in self._children(g):
                if child.transmitted and not child.done and not child.active:
                    child.active = True
                    child.status = child.live_status
                    self.tell(child)
                    self._match(child)
        group = g.order.ocaGroup
        if group:
            for other in self.live():
                if other is not g and other.order.ocaGroup == group and not other.done:
                    if other.order.ocaType in (2, 3):
                        self._reduce(other, quantity, f"OCA group {group}")
                    else:
                        self.cancel_order(other, f"OCA group {group} executed")
        if g.order.parentId:
            for sibling in self._children_of(g.client_id, g.order.parentId):
                if sibling is not g and not sibling.done and not (
                        group and sibling.order.ocaGroup == group):
                    self._reduce(sibling, quantity, "Bracket sibling executed")

    def _reduce(self, g: GwOrder, quantity: float, reason: str) -> None:
        g.order.totalQuantity = max(g.filled, float(g.order.totalQuantity) - quantity)
        if g.remaining <= 1e-9:
            self.cancel_order(g, reason)
        else:
            self.tell(g)

    # ----------------------------------------------------------------- families

    def _parent(self, g: GwOrder) -> GwOrder | None:
        if not g.order.parentId:
            return None
        return self.orders.get((g.client_id, g.order.parentId))

    def _children(self, g: GwOrder) -> list[GwOrder]:
        return self._children_of(g.client_id, g.order_id)

    def _children_of(self, client_id: int, parent_id: int) -> list[GwOrder]:
        return sorted((x for x in self.orders.values()
                       if x.client_id == client_id and x.order.parentId == parent_id),
                      key=lambda x: x.order_id)


def order_status_args(g: GwOrder) -> tuple[Any, ...]:
    """The ``orderStatus`` message for ``g``: name then the wrapper's arguments."""
    return ("orderStatus", g.order_id, g.status, g.filled, g.remaining, g.avg_fill_price,
            g.perm_id, g.order.parentId, g.last_fill_price, g.client_id, "", 0.0)


def _invalid_fields(o: Order) -> str:
    if o.action.upper() not in ("BUY", "SELL"):
        return f"Invalid action {o.action!r}"
    if o.orderType not in m.ORDER_TYPES:
        return f"Unsupported order type {o.orderType!r}"
    if (o.tif or "DAY") not in m.TIFS:
        return f"Invalid time in force {o.tif!r}"
    if o.orderType in m.LIMIT_TYPES and not m.is_set(o.lmtPrice):
        return "A limit price is required"
    if o.orderType in ("STP", "STP LMT", "MIT", "LIT") and not m.is_set(o.auxPrice):
        return "A stop/trigger price (auxPrice) is required"
    if o.orderType == "TRAIL" and not (m.is_set(o.auxPrice) or m.is_set(o.trailingPercent)):
        return "A trailing amount (auxPrice) or trailingPercent is required"
    if o.ocaType not in (0, 1, 2, 3):
        return f"Invalid ocaType {o.ocaType}"
    return ""


def _off_tick(listing: Listing, o: Order) -> Problem | None:
    prices = [o.lmtPrice, o.auxPrice, o.trailStopPrice]
    if any(m.is_set(p) and not m.on_tick(float(p or 0.0), listing.min_tick) for p in prices):
        return (110, "The price does not conform to the minimum price variation for this "
                     "contract.")
    return None
