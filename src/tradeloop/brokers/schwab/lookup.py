"""Finding our orders at Schwab, which carries no client order id.

Every order leaves as a :class:`~.journal.Send` written down first. When Schwab answers with
the new ``orderId`` (the ``Location`` header), the send's tree is fetched and each of our orders
linked to its node. When the answer is lost, :class:`OrderLocator` searches the orders Schwab
lists as entered around the send time (``match_window_s`` either side) for one whose
:func:`~.orders.fingerprint` equals the send's and that no other client order id owns: the
earliest such order is ours. Nothing found means the order never arrived (then, and only then,
the router sends it again); an order not listed yet within ``listing_delay_s`` of the send is
asked again instead, as a retryable failure.

Two orders with the same fingerprint are never both unresolved: while one's outcome is being
looked up, :meth:`OrderLocator.guard` refuses to send an identical one (retryable), so a search
can never take one for the other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from tradeloop.brokers.schwab.client import SchwabClient
from tradeloop.brokers.schwab.errors import SchwabRetryableError
from tradeloop.brokers.schwab.journal import OrderJournal, Send
from tradeloop.brokers.schwab.orders import fingerprint, walk_json
from tradeloop.brokers.schwab.parse import time_ns

logger = logging.getLogger(__name__)

#: How long after a send an order Schwab does not list yet is asked for again (seconds).
LISTING_DELAY_S = 2.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class OrderLocator:
    """Links sends to Schwab's order ids, and finds those whose answer was lost.

    Parameters
    ----------
    client : SchwabClient
    journal : OrderJournal
    window_s : float
        How far around a send time orders are searched.
    """

    def __init__(self, client: SchwabClient, journal: OrderJournal, window_s: float,
                 listing_delay_s: float = LISTING_DELAY_S) -> None:
        self.client = client
        self.journal = journal
        self.window_ms = int(window_s * 1000)
        self.listing_delay_ms = int(listing_delay_s * 1000)
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[str, str] = {}  # fingerprint -> head of an unresolved send
        for send in journal.unresolved():
            self._pending[send.fingerprint] = send.head

    def guard(self, fingerprint_: str, head: str) -> None:
        """Refuse to send an order identical to one whose outcome is being looked up.

        Raises
        ------
        SchwabRetryableError
            IDENTICAL_ORDER_UNRESOLVED.
        """
        other = self._pending.get(fingerprint_)
        if other is not None and other != head:
            raise SchwabRetryableError("IDENTICAL_ORDER_UNRESOLVED", f"an identical order "
                                       f"({other}) is being looked up at Schwab; {head} goes "
                                       "once it is settled")

    def unclear(self, send: Send) -> None:
        """The send's answer was lost: it must be found before an identical one goes."""
        self._pending[send.fingerprint] = send.head

    def settled(self, send: Send) -> None:
        """The send's outcome is known."""
        if self._pending.get(send.fingerprint) == send.head:
            del self._pending[send.fingerprint]

    async def link_tree(self, send: Send, root: Mapping[str, Any] | None) -> None:
        """Link each of our orders in ``send`` to its node of Schwab's tree ``root`` (fetched
        when not given)."""
        assert send.root_id is not None
        if root is None:
            root = await self.client.order(send.root_id)
        if root is None:
            return
        nodes = walk_json(root)
        layout = send.layout.walk()
        if len(nodes) != len(layout):
            logger.warning("Schwab's order tree does not match what was sent", extra={
                "fields": {"client_order_id": send.head, "order_id": send.root_id}})
        for place, node in zip(layout, nodes, strict=False):
            if place.client_order_id and node.get("orderId") is not None:
                self.journal.link(place.client_order_id, int(node["orderId"]), save=False)
        self.journal.save()

    async def resolve(self, send: Send) -> None:
        """Settle an unresolved send: link it to the order Schwab has, or mark it absent.

        Raises
        ------
        SchwabRetryableError
            NOT_LISTED_YET: nothing found, but the send is too recent to be sure.
        """
        lock = self._locks.setdefault(send.head, asyncio.Lock())
        async with lock:
            if send.resolved:
                return
            root = await self._search(send)
            if root is None:
                if _now_ms() - send.sent_ms < self.listing_delay_ms:
                    raise SchwabRetryableError("NOT_LISTED_YET", f"{send.head}: Schwab lists "
                                               "no such order yet; asking again")
                logger.info("order not found at Schwab after an unclear answer", extra={
                    "fields": {"client_order_id": send.head}})
                self.journal.resolve(send, None)
                self.settled(send)
                return
            root_id = int(root["orderId"])
            logger.info("order found at Schwab after an unclear answer", extra={"fields": {
                "client_order_id": send.head, "order_id": root_id}})
            if send.replacing is not None:
                self.journal.link(send.head, root_id, save=False)
            else:
                send.root_id = root_id
                await self.link_tree(send, root)
            self.journal.resolve(send, root_id)
            self.settled(send)

    async def _search(self, send: Send) -> Mapping[str, Any] | None:
        if send.replacing is not None:
            old = await self.client.order(send.replacing)
            if old is not None and old.get("status") != "REPLACED":
                return None  # the replacement never happened
        start = send.sent_ms - self.window_ms
        end = min(_now_ms(), send.sent_ms + self.window_ms) + 1000
        roots = await self.client.orders(start, end)
        candidates = []
        for root in roots:
            order_id = root.get("orderId")
            if order_id is None or self.journal.owner(int(order_id)) is not None:
                continue
            entered_ms = time_ns(root.get("enteredTime")) // 1_000_000
            if entered_ms < start or fingerprint(root) != send.fingerprint:
                continue
            candidates.append((entered_ms, int(order_id), root))
        if not candidates:
            return None
        if len(candidates) > 1:
            logger.warning("several unowned Schwab orders match a lost order; taking the "
                           "earliest", extra={"fields": {"client_order_id": send.head,
                                                         "candidates": len(candidates)}})
        return min(candidates, key=lambda c: (c[0], c[1]))[2]


__all__ = ["LISTING_DELAY_S", "OrderLocator"]
