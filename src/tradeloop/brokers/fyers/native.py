"""Fyers' cover (CO) and bracket (BO) orders (:class:`NativeOrders`).

An order whose tags say ``product=CO`` (with ``stop_loss=<rupees>``) or ``product=BO`` (with
``stop_loss`` and ``take_profit``) is sent as Fyers' own cover or bracket order: once the entry
fills, Fyers adds a stop-loss leg ``stop_loss`` rupees away from the fill price and, for a
bracket, a take-profit leg ``take_profit`` rupees away, and a fill of one leg cancels the other.
Both are intraday products: Fyers squares them off before the close. Fyers refuses an
``orderTag`` on them, so their intents are journaled (:class:`~.ids.OrderIds`) and a lost answer
is matched in the order book by its details.

The legs belong to the entry. When the node sends a bracket (``strategy.bracket(...,
tag="product=BO;stop_loss=2;take_profit=5")``), its stop-loss and take-profit children, released
by the order emulator once the entry fills, take over Fyers' legs instead of being sent: the
child's id is mapped to the leg, and the leg is moved to the child's own price when it differs.
Cancelling a leg alone would make Fyers exit the position at the market, so it is refused; the
legs end with their other leg's fill or with the entry's exit.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradeloop.brokers.fyers import parse
from tradeloop.brokers.fyers.errors import FyersFatalError, FyersRetryableError
from tradeloop.brokers.fyers.ids import NativeIntent
from tradeloop.model.enums import OrderType
from tradeloop.model.orders import Order
from tradeloop.model.reports import OrderStatusReport

if TYPE_CHECKING:
    from tradeloop.brokers.fyers.execution import FyersExecutionClient

logger = logging.getLogger(__name__)

#: How far before its intent an order may seem placed (clocks differ; Fyers' times are whole
#: seconds).
SKEW_NS = 120 * 1_000_000_000
STOP_LEG, PROFIT_LEG = "SL", "TP"


def leg_kind(entry: dict[str, Any]) -> str:
    """``SL`` for a stop leg, ``TP`` for the take-profit leg."""
    return STOP_LEG if int(entry.get("type") or 0) in (3, 4) else PROFIT_LEG


class NativeOrders:
    """The cover and bracket orders of one execution client.

    Parameters
    ----------
    execution : FyersExecutionClient
    """

    def __init__(self, execution: FyersExecutionClient) -> None:
        self._execution = execution
        self._ids = execution.ids
        self._legs: dict[str, dict[str, dict[str, Any]]] = {}  # entry venue id -> legs seen
        self._waiting: set[str] = set()

    # -- sending -----------------------------------------------------------------------------

    def body(self, order: Order, product: str, words: dict[str, str]) -> dict[str, Any]:
        """The request of a cover or bracket entry; its intent is journaled first.

        Raises
        ------
        FyersFatalError
            Offsets missing or not positive, or a type Fyers does not allow for the product.
        """
        stop_loss = _offset(words, "stop_loss", order)
        take_profit = _offset(words, "take_profit", order) if product == "BO" else Decimal(0)
        if product == "CO" and order.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise FyersFatalError(f"{order.client_order_id}: a Fyers cover order is a market or "
                                  "limit order")
        body = parse.order_body(order, product, "", stop_loss=stop_loss,
                                take_profit=take_profit)
        body["validity"] = "DAY"
        self._ids.intend(NativeIntent(
            order.client_order_id, order.symbol, product, int(body["side"]), int(body["qty"]),
            int(body["type"]), str(body["limitPrice"]), str(body["stopPrice"]), str(stop_loss),
            str(take_profit), time.time()))
        return body

    # -- what Fyers tells ----------------------------------------------------------------------

    def note(self, entry: dict[str, Any], report: OrderStatusReport | None) -> None:
        """Remember the legs of our entries as the order book or the socket shows them."""
        parent = str(entry.get("parentId") or "")
        if parent:
            self._legs.setdefault(parent, {})[leg_kind(entry)] = entry

    def waiting(self) -> bool:
        """True while a child waits for its leg."""
        return bool(self._waiting)

    # -- children taking over legs ----------------------------------------------------------

    def is_entry(self, client_order_id: str) -> bool:
        """True for a cover or bracket entry the adapter sent."""
        return self._ids.native(client_order_id) is not None

    def is_leg(self, client_order_id: str) -> bool:
        """True for an order of ours that took over a leg."""
        return bool(self._ids.leg_of(client_order_id))

    def has_intent(self, client_order_id: str) -> bool:
        """True for a cover or bracket entry journaled here."""
        return self._ids.native(client_order_id) is not None

    def cid_of(self, venue_order_id: str) -> str:
        """Our id of an entry or a taken-over leg ("" when neither)."""
        owner = self._ids.leg_owner(venue_order_id)
        if owner:
            return owner
        intent = self._ids.native_by_venue_id(venue_order_id)
        return intent.client_order_id if intent is not None else ""

    def venue_id_of(self, client_order_id: str) -> str:
        """Fyers' id of an entry or a taken-over leg ("" when unknown)."""
        intent = self._ids.native(client_order_id)
        if intent is not None and intent.venue_order_id:
            return intent.venue_order_id
        return self._ids.leg_of(client_order_id)

    async def adopt_leg(self, child: Order) -> None:
        """Map a bracket child onto the leg Fyers made for its entry.

        Raises
        ------
        FyersRetryableError
            The entry's leg is not in the order book yet (the router tries again).
        FyersFatalError
            The entry has no leg of this kind (a take-profit child of a cover order).
        """
        execution = self._execution
        cid = child.client_order_id
        parent_id = child.parent_id or ""
        entry_id = self.venue_id_of(parent_id)
        kind = STOP_LEG if child.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) \
            else PROFIT_LEG
        intent = self._ids.native(parent_id)
        if intent is not None and intent.product == "CO" and kind == PROFIT_LEG:
            raise FyersFatalError(f"{cid}: a Fyers cover order has no take-profit leg")
        leg = self._legs.get(entry_id, {}).get(kind) if entry_id else None
        if leg is None:
            self._waiting.add(cid)
            for entry in await execution.order_book():
                self.note(entry, None)
            leg = self._legs.get(entry_id, {}).get(kind) if entry_id else None
        if leg is None:
            raise FyersRetryableError(f"{cid}: the {kind} leg of {parent_id} is not at Fyers "
                                      "yet")
        self._waiting.discard(cid)
        leg_id = str(leg.get("id"))
        execution.tracker.add(child)
        execution.tracker.link(cid, leg_id)
        self._ids.take_leg(leg_id, cid)
        logger.info("fyers: bracket child takes over its leg", extra={"fields": {
            "client_order_id": cid, "leg": leg_id, "kind": kind}})
        wanted = child.trigger_price if kind == STOP_LEG else child.price
        field = "stopPrice" if kind == STOP_LEG else "limitPrice"
        if wanted is not None and parse.decimal(leg.get(field)) != wanted and \
                int(leg.get("status") or 0) in (parse.PENDING, parse.TRANSIT):
            body = {"id": leg_id, "type": int(leg.get("type") or 1), field: float(wanted)}
            await execution.client.request("PATCH", "/api/v3/orders/sync", f"modify {cid}",
                                           body=body, state_change=True)
        await execution.read_back(cid, leg_id)

    async def refuse_leg_cancel(self, order: Order) -> None:
        """A leg is left to Fyers: refused unless it has ended already (then reported)."""
        execution = self._execution
        leg_id = self._ids.leg_of(order.client_order_id)
        await execution.read_back(order.client_order_id, leg_id)
        known = execution.tracker.get(order.client_order_id)
        if known is not None and known.done:
            return
        raise FyersFatalError(f"{order.client_order_id} is a leg of a Fyers cover or bracket "
                              "order: it ends with the other leg or when the position is exited")

    async def find(self, client_order_id: str) -> dict[str, Any] | None:
        """The order book entry of a journaled entry or leg (matched when its id is unknown)."""
        execution = self._execution
        book = await execution.order_book()
        venue_id = self.venue_id_of(client_order_id)
        if venue_id:
            return next((e for e in book if str(e.get("id")) == venue_id), None)
        intent = self._ids.native(client_order_id)
        if intent is None:
            return None
        since = int(intent.ts * 1_000_000_000) - SKEW_NS
        recent = [e for e in book if parse.ist_ns(e.get("orderDateTime")) >= since]
        found = self._ids.match(intent, recent)
        if found is not None:
            self._ids.placed(client_order_id, str(found.get("id")))
        return found


def _offset(words: dict[str, str], name: str, order: Order) -> Decimal:
    raw = words.get(name, "")
    try:
        value = Decimal(raw)
    except ArithmeticError:
        value = Decimal(0)
    if not raw or value <= 0:
        raise FyersFatalError(f"{order.client_order_id}: a Fyers {words.get('product', '')} "
                              f"order needs {name}=<rupees from the fill price> in its tags")
    return value


__all__ = ["PROFIT_LEG", "STOP_LEG", "NativeOrders", "leg_kind"]
