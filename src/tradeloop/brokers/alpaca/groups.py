"""Contingent groups on their way to Alpaca.

The execution engine submits a bracket (or an OTO or OCO group) as separate orders, each in
its own task; Alpaca takes the whole group in one request. :class:`Groups` collects them: each
order of a group registers under the group's key (:func:`~.orders.group_key`); one of them,
the *sender* (the parent, or the OCO leg with the smallest id), waits until every order of
the group has arrived, then the group is sent under its main order's id. The others return at
once: their events come from the legs Alpaca answers with, or, when Alpaca refuses the group,
a rejection naming the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tradeloop.brokers.alpaca import orders
from tradeloop.brokers.alpaca.errors import AlpacaFatalError
from tradeloop.model.enums import ContingencyType
from tradeloop.model.orders import Order


@dataclass
class Group:
    """One contingent group being assembled or sent.

    Attributes
    ----------
    key : str
    members : dict of str to Order
        The orders that arrived.
    expected : set of str
        Every id of the group, once an order that knows them arrived.
    shape : orders.Group or None
        How it goes to Alpaca (once complete).
    failed : str
        Why Alpaca (or the adapter) refused it ("" while not refused).
    sent : bool
        True once Alpaca booked it.
    """

    key: str
    members: dict[str, Order] = field(default_factory=dict)
    expected: set[str] = field(default_factory=set)
    shape: orders.Group | None = None
    failed: str = ""
    sent: bool = False
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, order: Order) -> None:
        """Register an order of the group."""
        self.members[order.client_order_id] = order
        known = orders.group_members(order)
        if known is not None:
            self.expected |= known
        if self.expected and self.expected <= set(self.members):
            self.complete.set()

    @property
    def missing(self) -> list[str]:
        """Ids expected but not arrived."""
        return sorted(self.expected - set(self.members))

    def member_for(self, leg: dict[str, Any]) -> str | None:
        """Our order of an Alpaca leg: the take-profit for a LIMIT leg, the stop-loss for a
        STOP or STOP_LIMIT one."""
        if self.shape is None:
            return None
        kind = leg.get("type") or leg.get("order_type")
        if self.shape.order_class == "oco" or kind != "limit":
            target = self.shape.stop_loss
        else:
            target = self.shape.take_profit
        return target.client_order_id if target is not None else None


def is_sender(order: Order, key: str) -> bool:
    """True when ``order`` sends its group: a parent, or the OCO leg whose id is the key."""
    if order.parent_id:
        return False
    if order.contingency is ContingencyType.OTO and order.linked_ids:
        return True
    return order.client_order_id == key


class Groups:
    """The groups of one execution client."""

    def __init__(self) -> None:
        self._by_key: dict[str, Group] = {}
        self._by_main: dict[str, Group] = {}
        self._by_member: dict[str, Group] = {}

    def register(self, order: Order, key: str) -> Group:
        """Add ``order`` to its group.

        Raises
        ------
        AlpacaFatalError
            The group was refused already.
        """
        group = self._by_key.get(key)
        if group is None:
            group = self._by_key[key] = Group(key)
        if group.failed:
            raise AlpacaFatalError("GROUP_REFUSED", group.failed)
        group.add(order)
        self._by_member[order.client_order_id] = group
        return group

    async def assembled(self, group: Group, wait_s: float) -> orders.Group:
        """The group's shape once every order arrived.

        Raises
        ------
        AlpacaFatalError
            Not complete within ``wait_s``, or a group Alpaca cannot take (it is then marked
            refused).
        """
        try:
            await asyncio.wait_for(group.complete.wait(), wait_s)
        except TimeoutError:
            missing = ", ".join(group.missing) or "the parent's other orders"
            raise self.refuse(group, f"incomplete contingent group {group.key}: {missing} "
                              f"not submitted within {wait_s:g} s") from None
        try:
            shape = orders.shape_group(list(group.members.values()))
        except AlpacaFatalError as exc:
            raise self.refuse(group, exc.reason) from None
        group.shape = shape
        self._by_main[shape.main.client_order_id] = group
        return shape

    def refuse(self, group: Group, reason: str) -> AlpacaFatalError:
        """Mark ``group`` refused; the error to raise."""
        group.failed = reason
        return AlpacaFatalError("GROUP_REFUSED", reason)

    def of_main(self, client_order_id: str) -> Group | None:
        """The group whose main order has this id."""
        return self._by_main.get(client_order_id)

    def of_member(self, client_order_id: str) -> Group | None:
        """The group an order belongs to."""
        return self._by_member.get(client_order_id)

    def forget(self, group: Group) -> None:
        """Drop a group that is done."""
        self._by_key.pop(group.key, None)
        if group.shape is not None:
            self._by_main.pop(group.shape.main.client_order_id, None)
        for cid in group.members:
            self._by_member.pop(cid, None)


__all__ = ["Group", "Groups", "is_sender"]
