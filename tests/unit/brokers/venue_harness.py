"""A kernel on a test clock with a simulated venue, and helpers to trade against hand-made bars.

Bars are hourly from Tuesday 2024-01-02 14:00 UTC unless a test gives their time. Orders go
through the risk gate like a strategy's; every order event published for strategy ``T`` is kept
in ``Harness.events``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from tradeloop.brokers.simulated.venue import SimulatedVenue, SimulatedVenueConfig
from tradeloop.core.clock import TestClock
from tradeloop.core.time import NANOS_PER_HOUR, dt_to_ns
from tradeloop.engine.kernel import Kernel
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import (
    AccountType,
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order

SYMBOL = "ABC"
STRATEGY = "T"
START_NS = dt_to_ns(datetime(2024, 1, 2, 14, tzinfo=UTC))
BUY, SELL = OrderSide.BUY, OrderSide.SELL

Number = Decimal | float | int | str


def d(value: Number | None) -> Decimal | None:
    """A Decimal from a literal (through ``str`` so 0.1 stays 0.1), or None."""
    return None if value is None else Decimal(str(value))


class Harness:
    """One kernel, one instrument, one simulated venue."""

    def __init__(
        self,
        config: SimulatedVenueConfig | None = None,
        capabilities: VenueCapabilities | None = None,
        instrument: Instrument | None = None,
        start_ns: int = START_NS,
    ) -> None:
        self.clock = TestClock(start_ns)
        account = Account("SIM-001", "USD", AccountType.MARGIN, Decimal(10_000_000))
        self.kernel = Kernel(self.clock, account)
        self.instrument = instrument or Instrument.equity(SYMBOL)
        self.symbol = self.instrument.symbol
        self.kernel.add_instrument(self.instrument)
        self.venue = SimulatedVenue(self.kernel.cache, self.clock, config, capabilities)
        self.kernel.add_execution_client(self.venue, default=True)
        self.events: list[ev.OrderEvent] = []
        self.kernel.bus.subscribe(f"events.order.{STRATEGY}", self.events.append)
        self.next_ts = start_ns
        self._ids = itertools.count(1)

    # -- orders ---------------------------------------------------------------------------------

    def order(
        self,
        side: OrderSide,
        quantity: Number,
        order_type: OrderType | None = None,
        *,
        price: Number | None = None,
        trigger: Number | None = None,
        trail: Number | None = None,
        trail_percent: Number | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        expire_ns: int | None = None,
        reduce_only: bool = False,
    ) -> Order:
        """Build an order; the type follows from the prices given when not named."""
        if order_type is None:
            if trail is not None or trail_percent is not None:
                order_type = OrderType.TRAILING_STOP
            elif trigger is not None:
                order_type = OrderType.STOP_LIMIT if price is not None else OrderType.STOP
            else:
                order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
        return Order(
            client_order_id=f"O-{next(self._ids)}", strategy_id=STRATEGY, symbol=self.symbol,
            side=side, order_type=order_type, quantity=Decimal(str(quantity)),
            ts_init=self.clock.now_ns(), price=d(price), trigger_price=d(trigger),
            trailing_offset=d(trail if trail is not None else trail_percent),
            trailing_offset_type=(
                TrailingOffsetType.PERCENT if trail_percent is not None
                else TrailingOffsetType.PRICE
            ),
            time_in_force=tif, expire_ns=expire_ns, reduce_only=reduce_only,
        )

    def submit(self, order: Order) -> Order:
        """Send one order through the risk gate."""
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def send(self, side: OrderSide, quantity: Number, **options: object) -> Order:
        """Build and submit an order."""
        return self.submit(self.order(side, quantity, **options))  # type: ignore[arg-type]

    def bracket_orders(
        self, side: OrderSide, quantity: Number, stop_loss: Number, take_profit: Number,
        entry: Number | None = None,
    ) -> tuple[Order, Order, Order]:
        """Entry, stop-loss and take-profit linked like ``Strategy.bracket`` links them."""
        parent = self.order(side, quantity, price=entry)
        sl = self.order(side.opposite, quantity, trigger=stop_loss, reduce_only=True)
        tp = self.order(side.opposite, quantity, price=take_profit, reduce_only=True)
        parent.contingency = ContingencyType.OTO
        parent.linked_ids = (sl.client_order_id, tp.client_order_id)
        for leg, other in ((sl, tp), (tp, sl)):
            leg.parent_id = parent.client_order_id
            leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
        return parent, sl, tp

    def submit_list(self, *orders: Order) -> tuple[Order, ...]:
        """Send linked orders together through the risk gate."""
        for order in orders:
            self.kernel.cache.add_order(order)
        self.kernel.bus.send(
            "RiskEngine.execute", cmd.SubmitOrderList(tuple(orders), self.clock.now_ns())
        )
        return orders

    def bracket(
        self, side: OrderSide, quantity: Number, stop_loss: Number, take_profit: Number,
        entry: Number | None = None,
    ) -> tuple[Order, Order, Order]:
        """Build and send a bracket."""
        parent, sl, tp = self.bracket_orders(side, quantity, stop_loss, take_profit, entry)
        self.submit_list(parent, sl, tp)
        return parent, sl, tp

    def cancel(self, order: Order) -> None:
        """Ask to cancel an order through the risk gate."""
        self.kernel.bus.send(
            "RiskEngine.execute", cmd.CancelOrder(order.client_order_id, self.clock.now_ns())
        )

    # -- market data ----------------------------------------------------------------------------

    def bar(
        self, open_: float, high: float, low: float, close: float, volume: float = 1e9,
        ts: int | None = None, step_ns: int = NANOS_PER_HOUR,
    ) -> int:
        """Process one bar opening at ``ts`` (default: one step after the previous bar).

        The clock is at the bar's open while it is matched and at its close afterwards, as in
        a backtest. Returns the bar's time.
        """
        assert low <= min(open_, close) and high >= max(open_, close), "malformed bar"
        ts = self.next_ts if ts is None else ts
        if ts > self.clock.now_ns():
            self.clock.advance_to(ts)
        self.venue.process_bar(self.symbol, ts, open_, high, low, close, volume)
        self.kernel.cache.last_prices[self.symbol] = close
        self.clock.advance_to(max(ts + step_ns, self.clock.now_ns()))
        self.next_ts = ts + step_ns
        return ts

    # -- what happened --------------------------------------------------------------------------

    def events_of(self, order: Order) -> list[ev.OrderEvent]:
        """Published events of one order, in publication order."""
        return [e for e in self.events if e.client_order_id == order.client_order_id]

    def kinds(self, order: Order) -> list[str]:
        """Names of the published events of one order."""
        return [e.kind for e in self.events_of(order)]

    def fills(self, order: Order | None = None) -> list[ev.OrderFilled]:
        """Published fills, of one order or of all."""
        return [
            e for e in self.events if isinstance(e, ev.OrderFilled)
            and (order is None or e.client_order_id == order.client_order_id)
        ]

    def fill_prices(self, order: Order) -> list[Decimal]:
        """Prices of one order's fills."""
        return [f.last_px for f in self.fills(order)]

    def position(self) -> Decimal:
        """Net position in the instrument."""
        return self.kernel.portfolio.net_quantity(self.symbol)
