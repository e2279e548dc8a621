"""What the gateway keeps about orders and executions, the read-only views tests assert on, and
the ib_async objects (``Order``, ``OrderState``, ``Execution``, ``CommissionReport``) built fresh
for every message, as the decoder would build them from the socket."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from ib_async.contract import Contract
from ib_async.objects import CommissionReport, Execution
from ib_async.order import Order, OrderState
from ib_async.util import UNSET_DOUBLE

from .contracts import Listing
from .matching import TRIGGERED_TYPES, PriceField

DONE = frozenset({"Filled", "Cancelled", "Inactive"})


@dataclass
class GwOrder:
    """One order as the gateway holds it."""

    client_id: int
    order_id: int
    perm_id: int
    listing: Listing
    contract: Contract
    order: Order
    created: datetime
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    commission: float = 0.0
    transmitted: bool = False
    active: bool = False  # transmitted and (no parent, or the parent filled)
    triggered: bool = False
    resting: bool = False  # had its first chance to match (then limits fill at their price)
    trail_stop: float | None = None
    completed_time: str = ""
    completed_status: str = ""
    lost: bool = False  # armed "lose_answer": nothing is sent until the client asks
    held: list[tuple[str, tuple[object, ...]]] | None = None  # armed "out_of_order"
    duplicate: bool = False  # armed "duplicate_reports"

    @property
    def key(self) -> tuple[int, int]:
        return (self.client_id, self.order_id)

    @property
    def buy(self) -> bool:
        return self.order.action.upper() == "BUY"

    @property
    def remaining(self) -> float:
        return max(0.0, float(self.order.totalQuantity) - self.filled)

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def live_status(self) -> str:
        """The status a working order shows: held (PreSubmitted) until it can trade."""
        if not self.active:
            return "PreSubmitted"
        if self.order.orderType in TRIGGERED_TYPES and not self.triggered:
            return "PreSubmitted"
        return "Submitted"


@dataclass(frozen=True)
class OrderRecord:
    """A snapshot of one order at the gateway."""

    client_id: int
    order_id: int
    perm_id: int
    order_ref: str
    local_symbol: str
    action: str
    order_type: str
    total_quantity: float
    lmt_price: float | None
    aux_price: float | None
    tif: str
    status: str
    filled: float
    remaining: float
    avg_fill_price: float
    parent_id: int
    oca_group: str
    oca_type: int
    trailing_percent: float | None
    trail_stop_price: float | None
    good_till_date: str
    outside_rth: bool
    transmit: bool
    transmitted: bool
    order: Order = field(repr=False, compare=False)


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution at the gateway, with the contract it was in and its commission."""

    exec_id: str
    time: datetime
    client_id: int
    order_id: int
    perm_id: int
    order_ref: str
    local_symbol: str
    side: str
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    commission: float
    realized_pnl: float | None
    contract: Contract = field(repr=False, compare=False)

    def execution(self, account: str) -> Execution:
        return Execution(
            execId=self.exec_id, time=self.time, acctNumber=account,
            exchange=_venue(self.contract), side=self.side, shares=self.shares,
            price=self.price, permId=self.perm_id, clientId=self.client_id,
            orderId=self.order_id, liquidation=0, cumQty=self.cum_qty,
            avgPrice=self.avg_price, orderRef=self.order_ref, evRule="", evMultiplier=0.0,
            modelCode="", lastLiquidity=1)

    def commission_report(self) -> CommissionReport:
        pnl = UNSET_DOUBLE if self.realized_pnl is None else self.realized_pnl
        return CommissionReport(execId=self.exec_id, commission=self.commission,
                                currency="USD", realizedPNL=pnl, yield_=UNSET_DOUBLE,
                                yieldRedemptionDate=0)


def _venue(contract: Contract) -> str:
    return {"STK": "ISLAND", "OPT": "CBOE", "CASH": "IDEALPRO", "FUT": "CME"}.get(
        contract.secType, contract.exchange)


def _price(value: PriceField) -> float | None:
    if value is None or float(value) == UNSET_DOUBLE:
        return None
    return float(value)


def snapshot(g: GwOrder) -> OrderRecord:
    o = g.order
    return OrderRecord(
        client_id=g.client_id, order_id=g.order_id, perm_id=g.perm_id, order_ref=o.orderRef,
        local_symbol=g.listing.local_symbol, action=o.action, order_type=o.orderType,
        total_quantity=float(o.totalQuantity), lmt_price=_price(o.lmtPrice),
        aux_price=_price(o.auxPrice), tif=o.tif, status=g.status, filled=g.filled,
        remaining=g.remaining, avg_fill_price=g.avg_fill_price, parent_id=o.parentId,
        oca_group=o.ocaGroup, oca_type=o.ocaType, trailing_percent=_price(o.trailingPercent),
        trail_stop_price=g.trail_stop if g.trail_stop is not None else _price(o.trailStopPrice),
        good_till_date=o.goodTillDate, outside_rth=bool(o.outsideRth),
        transmit=bool(o.transmit), transmitted=g.transmitted, order=plain_order(o))


def wire_order(g: GwOrder, account: str, *, completed: bool = False) -> Order:
    """A fresh ``Order`` carrying what TWS echoes in openOrder (or completedOrder, which has
    no orderId or clientId on the wire)."""
    o = plain_order(g.order)
    o.totalQuantity = float(o.totalQuantity)
    for name in ("lmtPrice", "auxPrice", "trailingPercent", "trailStopPrice"):
        value = getattr(o, name)
        setattr(o, name, float(value) if value is not None else UNSET_DOUBLE)
    o.orderId = 0 if completed else g.order_id
    o.clientId = 0 if completed else g.client_id
    o.permId = g.perm_id
    o.account = o.account or account
    o.transmit = True
    o.whatIf = False
    o.volatility = UNSET_DOUBLE
    if g.trail_stop is not None:
        o.trailStopPrice = g.trail_stop
    if completed:
        o.filledQuantity = g.filled
    return o


def plain_order(order: Order) -> Order:
    """A deep copy of ``order`` as a plain ``Order`` (what the decoder builds)."""
    return Order(**{f.name: copy.deepcopy(getattr(order, f.name))
                    for f in dataclasses.fields(Order)})


def wire_state(g: GwOrder, status: str | None = None) -> OrderState:
    st = OrderState(status=status or g.status)
    if g.status == "Filled":
        st.commission = g.commission
        st.commissionCurrency = "USD"
    if g.completed_time:
        st.completedTime = g.completed_time
        st.completedStatus = g.completed_status
    return st


def wire_contract(g: GwOrder) -> Contract:
    return copy.deepcopy(g.contract)
