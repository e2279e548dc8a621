"""The broker port: the narrow interfaces every venue adapter implements.

* :class:`ExecutionClient`: a venue in the node's process (the simulated venue of backtests).
* :class:`LiveExecutionClient`: a networked venue: orders, their status, fills, positions,
  balances; events pushed to the handler it was bound to.
* :class:`MarketDataClient`: quotes, trades and bars streamed, and historical bars.
* :class:`InstrumentProvider`: the venue's instruments.
* :class:`VenueCapabilities`: what the venue does natively; the order emulator supplies the
  rest (OCO, OTO, trailing stops), and the conformance suite in ``brokers.testing`` skips
  nothing it claims.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from tradeloop.model import events as ev
from tradeloop.model.data import Bar, BarSeries, QuoteTick, TradeTick
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

EventHandler = Callable[[ev.OrderEvent], None]
MarketData = Bar | QuoteTick | TradeTick


@dataclass(frozen=True, slots=True)
class VenueCapabilities:
    """What a venue does natively.

    Attributes
    ----------
    order_types : frozenset of OrderType
    time_in_force : frozenset of TimeInForce
    oco : bool
        Links one-cancels-other orders itself.
    oto : bool
        Holds a child order until its parent fills (brackets need ``oto`` and ``oco``).
    trailing_stop : bool
        Moves trailing stops itself.
    modify : bool
        Changes a working order's quantity or prices in place (else a modify is refused).
    hedging : bool
        Holds a long and a short position in one instrument at once.
    fractional : bool
        Takes quantities below one unit (crypto, fractional shares).
    streaming : bool
        Pushes order events as they happen; False when the adapter polls for them.
    quotes, trades, bars : bool
        Streams quotes, trades or ready-made bars.
    history : bool
        Serves historical bars for a range.
    """

    order_types: frozenset[OrderType] = field(default_factory=lambda: frozenset(OrderType))
    time_in_force: frozenset[TimeInForce] = field(default_factory=lambda: frozenset(TimeInForce))
    oco: bool = True
    oto: bool = True
    trailing_stop: bool = True
    modify: bool = True
    hedging: bool = False
    fractional: bool = True
    streaming: bool = True
    quotes: bool = True
    trades: bool = True
    bars: bool = True
    history: bool = True

    @property
    def bracket(self) -> bool:
        """True when the venue holds a whole bracket (entry, stop-loss, take-profit) itself."""
        return self.oco and self.oto

    def supports(self, order: Order) -> bool:
        """True when the venue can take ``order`` as it is."""
        return order.order_type in self.order_types and order.time_in_force in self.time_in_force

    def describe(self) -> dict[str, str]:
        """Each capability as text, for ``doctor`` and the conformance report."""
        out = {
            "order types": ", ".join(sorted(t.value for t in self.order_types)) or "none",
            "time in force": ", ".join(sorted(t.value for t in self.time_in_force)) or "none",
        }
        for name in ("oco", "oto", "trailing_stop", "modify", "hedging", "fractional",
                     "streaming", "quotes", "trades", "bars", "history"):
            out[name.replace("_", " ")] = "yes" if getattr(self, name) else "no"
        return out


class ExecutionClient(Protocol):
    """What the execution engine needs of a venue."""

    venue: str
    capabilities: VenueCapabilities

    def bind(self, handler: EventHandler) -> None:
        """Set where the client reports order events."""
        ...

    def submit_order(self, order: Order) -> None:
        """Send a new order. Its linked orders (``order.linked_ids``) are already in the cache."""
        ...

    def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel a working order."""
        ...

    def modify_order(
        self,
        order: Order,
        quantity: Decimal | None,
        price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Ask the venue to change a working order."""
        ...


class LiveExecutionClient(Protocol):
    """What the live execution engine needs of a venue that answers over a network.

    Calls are coroutines run on the node's event loop. They raise the error tree of
    :mod:`tradeloop.core.errors`, and the class decides what happens next:
    ``RetryableVenueError`` (rate limit, requote, busy: the request did not take effect; retry
    with backoff), ``FatalVenueError`` (invalid volume, insufficient funds, market closed: no
    retry) and ``OutcomeUnknownError`` (timeout or disconnect after sending: look the order up
    by its client order id before anything else, never resend blindly). Order events the venue
    pushes (accepted, filled, cancelled...) go to the handler given to :meth:`bind`, on the loop.
    Submitting a client order id the venue already has must not create a second order.
    """

    venue: str
    capabilities: VenueCapabilities

    def bind(self, handler: EventHandler) -> None:
        """Set where the client reports order events."""
        ...

    async def connect(self) -> None:
        """Open the connection (and the event stream); raise when the venue is unreachable."""
        ...

    async def disconnect(self) -> None:
        """Close the connection."""
        ...

    async def submit_order(self, order: Order) -> None:
        """Send a new order."""
        ...

    async def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel a working order."""
        ...

    async def modify_order(
        self, order: Order, quantity: Decimal | None, price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Ask the venue to change a working order."""
        ...

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Ask the venue to cancel every working order (of one instrument when given); the
        cancellations arrive as events."""
        ...

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """The venue's view of one order, or None when it has never seen that id."""
        ...

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every order that can still fill."""
        ...

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """Executions booked at or after ``ts_ns``, oldest first."""
        ...

    async def positions(self) -> list[PositionReport]:
        """Net positions, one per instrument that is not flat."""
        ...

    async def account(self) -> AccountReport:
        """Balances."""
        ...


class InstrumentProvider(Protocol):
    """Where a venue's instruments come from (its reference data, or the adapter's config)."""

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The venue's instruments (only ``symbols`` when given), with tick, lot and minimum
        quantity as the venue enforces them. An unknown symbol raises ``ConfigError``."""
        ...


class MarketDataClient(Protocol):
    """A venue's market data: live streams of quotes, trades and bars, and history.

    What is subscribed arrives through :meth:`stream` in the order the venue sent it, as
    ``QuoteTick``, ``TradeTick`` or ``Bar`` (timestamps UTC nanoseconds, the bar's open time).
    Subscriptions survive a reconnect: the client subscribes again by itself.
    """

    venue: str
    capabilities: VenueCapabilities

    async def connect(self) -> None:
        """Open the connection; raise when the venue is unreachable."""
        ...

    async def disconnect(self) -> None:
        """Close the connection; :meth:`stream` ends."""
        ...

    async def subscribe_quotes(self, symbol: str) -> None:
        """Start the best bid and offer of ``symbol``."""
        ...

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        ...

    async def subscribe_trades(self, symbol: str) -> None:
        """Start the trades of ``symbol``."""
        ...

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Stop them."""
        ...

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Start the venue's bars of ``symbol`` (``"1m"``, ``"1h"``...), each once complete."""
        ...

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Stop them."""
        ...

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Complete bars that open in ``[start_ns, end_ns)``, oldest first."""
        ...

    def stream(self) -> AsyncIterator[MarketData]:
        """The subscribed items as they arrive, until :meth:`disconnect`."""
        ...


class IntentJournal(Protocol):
    """Where an order's intent becomes durable before the order is sent (write-ahead).

    The audit database implements it. A failure raises, and the order is then not sent: the
    order path fails closed.
    """

    def record_intent(self, order: Order, submitted: ev.OrderSubmitted | None = None) -> None:
        """Commit ``order`` (status INITIALIZED or SUBMITTED) before it leaves the node.

        ``submitted``, when given, is the submission the node applies next: it is committed
        with the intent, so the order is recorded as SUBMITTED in the same commit.
        """
        ...

    def record_event(self, event: ev.OrderEvent) -> None:
        """Commit an order event (a fill with its trade id)."""
        ...

    def open_intents(self) -> list[Order]:
        """Orders recorded locally whose final state is not known yet."""
        ...
