"""What the adapter has told the node about each order, and the events that bring the node up
to Fyers' view: :class:`~tradeloop.brokers.tracking.TradeTracker` over order snapshots (a REST
answer, a poll of the order book, an order socket message) and the trade book, whose trade
numbers are the trade ids. An order Fyers reports cancelled with more filled than the trade book
has shown stays open until those trades arrive, so its fills reach the node before its end."""

from __future__ import annotations

from collections.abc import Callable

from tradeloop.brokers.tracking import KnownOrder, TradeTracker


class OrderTracker(TradeTracker[KnownOrder]):
    """The orders of this adapter and the events sent about them.

    Parameters
    ----------
    now_ns : callable
        The time of events that carry no Fyers time.
    """

    known_type = KnownOrder

    def __init__(self, now_ns: Callable[[], int]) -> None:
        super().__init__(now_ns, "Fyers", close_with_fills_missing=False)


__all__ = ["OrderTracker"]
