"""What a conformance run needs: the venue side that tests steer (:class:`Counterparty`), the
adapter under test (:class:`Target`), and a small trading desk that sends orders through the
same execution engine, live order router and reconciler as a trading node (:class:`Desk`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import LiveClock
from tradeloop.execution.engine import EXECUTE, ExecutionEngine
from tradeloop.execution.live import LiveOrderRouter, RetryPolicy
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.execution.reconciliation import Reconciler, ReconciliationReport
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.portfolio.portfolio import Portfolio

#: What a counterparty can be made to do, by name (a point needs some of them).
PRICE = "price"  # set the bid and ask; resting orders match against them
FILL = "fill"  # fill part of a resting order now
REJECT_FATAL = "reject_fatal"  # refuse the next order for good (insufficient funds)
REJECT_RETRYABLE = "reject_retryable"  # refuse the next order for now (rate limit, session down)
LOSE_ANSWER = "lose_answer"  # book the next order, and lose the answer on the way back
DUPLICATE_REPORTS = "duplicate_reports"  # send the next order's reports twice
OUT_OF_ORDER = "out_of_order"  # send the next order's fill before its acknowledgement
DROP_CONNECTION = "drop_connection"  # cut the adapter's connections
COUNT_SUBMITS = "count_submits"  # tell how often an order reached the venue

STEERING = (PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DUPLICATE_REPORTS,
            OUT_OF_ORDER, DROP_CONNECTION, COUNT_SUBMITS)


class Counterparty(Protocol):
    """The venue side of a conformance run: a real engine or a local server speaking the
    venue's protocol, which tests can steer.

    Attributes
    ----------
    steering : frozenset of str
        Which of :data:`STEERING` it can do; a point that needs more is not run against it and
        the report says why.
    """

    steering: frozenset[str]

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        """Make ``bid``/``ask`` the market (resting orders match; quote streams tick)."""
        ...

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        """Fill ``quantity`` of a resting order at its limit price."""
        ...

    async def arm(self, fault: str) -> None:
        """Arm one of the fault steerings for the next order."""
        ...

    async def drop_connections(self) -> None:
        """Cut every connection of the adapter (the venue stays up)."""
        ...

    async def submits(self, client_order_id: str) -> int:
        """How many times an order with this id reached the venue."""
        ...

    async def reset(self) -> None:
        """Start afresh: no orders, flat positions, the starting balance."""
        ...


@dataclass(frozen=True)
class TargetSpec:
    """An adapter and its counterparty, as known before anything starts (for test
    collection and the report).

    Attributes
    ----------
    name : str
        ``adapter/counterparty``, e.g. ``"fix/ordermatch"``.
    capabilities : VenueCapabilities
        What the adapter declares for this venue.
    steering : frozenset of str
        What the counterparty can be made to do.
    """

    name: str
    capabilities: VenueCapabilities
    steering: frozenset[str]


@dataclass
class Target:
    """A running adapter-and-counterparty pair.

    Attributes
    ----------
    spec : TargetSpec
    counterparty : Counterparty
    connect : callable
        A new, unconnected adapter (a node's restart is a new adapter on the same venue).
    instrument : Instrument
        What the points trade.
    quantity : Decimal
        An order size the venue accepts; partial-fill points fill a third of three times it.
    bid, ask : Decimal
        The market the points start from (set through the counterparty when it can).
    timeframe : str
        Bars for the history and quotes-to-bars points.
    history : tuple of int, optional
        ``(start_ns, end_ns)`` with bars at the venue, for the history point.
    settle_s : float
        How long a point waits for an expected event before failing.
    """

    spec: TargetSpec
    counterparty: Counterparty
    connect: Callable[[], BrokerAdapter]
    instrument: Instrument
    quantity: Decimal
    bid: Decimal
    ask: Decimal
    timeframe: str = "1m"
    history: tuple[int, int] | None = None
    settle_s: float = 15.0

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol

    @property
    def tick(self) -> Decimal:
        """The instrument's price increment."""
        return self.instrument.tick_size


@dataclass
class Desk:
    """A node's order path without strategies: execution engine, live router, reconciler.

    Parameters
    ----------
    target : Target
    adapter : BrokerAdapter
        Connected by :meth:`open`.
    """

    target: Target
    adapter: BrokerAdapter
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(
        attempts=4, base_delay_s=0.05, max_delay_s=0.5, lookup_attempts=6))
    events: list[ev.OrderEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = LiveClock()
        self.bus = MessageBus()
        self.cache = Cache()
        self.cache.add_instrument(self.target.instrument)
        self.account = Account("CONFORMANCE", self.target.instrument.quote_currency,
                               AccountType.MARGIN, Decimal(1_000_000), Decimal(1))
        self.portfolio = Portfolio(self.cache, self.account)
        self.execution = ExecutionEngine(self.bus, self.cache, self.clock,
                                         self.portfolio.on_fill)
        self.router = LiveOrderRouter(self.adapter.execution, self.clock, self.policy, seed=7)
        self.execution.register_client(self.router, default=True)
        self.reconciler = Reconciler(self.cache, self.adapter.execution,
                                     self.execution.process, self.clock)
        self.bus.subscribe("events.order.*", self.events.append)
        self._ids = itertools.count(1)
        self._run = uuid.uuid4().hex[:8]

    async def open(self) -> Desk:
        """Connect the adapter's execution client."""
        await self.adapter.execution.connect()
        return self

    async def close(self) -> None:
        """Wait for requests in flight, then disconnect."""
        await asyncio.wait_for(self.router.settle(), self.target.settle_s)
        await self.adapter.close()

    def order(self, side: OrderSide, order_type: OrderType = OrderType.MARKET, *,
              quantity: Decimal | None = None, price: Decimal | None = None,
              trigger: Decimal | None = None, tif: TimeInForce = TimeInForce.GTC,
              expire_ns: int | None = None, trailing_offset: Decimal | None = None) -> Order:
        """A new order on the target's instrument with a fresh client order id."""
        return Order(
            client_order_id=f"CF{self._run}{next(self._ids):03d}", strategy_id="CF",
            symbol=self.target.symbol, side=side, order_type=order_type,
            quantity=quantity if quantity is not None else self.target.quantity,
            ts_init=self.clock.now_ns(), price=price, trigger_price=trigger,
            time_in_force=tif, expire_ns=expire_ns, trailing_offset=trailing_offset,
        )

    def submit(self, order: Order) -> Order:
        """Send ``order`` as a node would (write-ahead skipped: no database here)."""
        self.cache.add_order(order)
        self.bus.send(EXECUTE, cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def cancel(self, order: Order) -> None:
        """Ask for ``order`` to be cancelled."""
        self.bus.send(EXECUTE, cmd.CancelOrder(order.client_order_id, self.clock.now_ns()))

    def modify(self, order: Order, *, quantity: Decimal | None = None,
               price: Decimal | None = None) -> None:
        """Ask for ``order`` to be changed."""
        self.bus.send(EXECUTE, cmd.ModifyOrder(order.client_order_id, self.clock.now_ns(),
                                               quantity=quantity, price=price))

    async def until(self, check: Callable[[], bool], what: str) -> None:
        """Wait until ``check()`` holds; fail with ``what`` after the target's settle time."""
        deadline = time.monotonic() + self.target.settle_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.target.spec.name}: timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def until_status(self, order: Order, *statuses: OrderStatus) -> Order:
        """Wait until ``order`` reaches one of ``statuses``."""
        await self.until(lambda: order.status in statuses,
                         f"{order.client_order_id} to be {'/'.join(s.value for s in statuses)} "
                         f"(it is {order.status.value}: {order.reason or 'no reason'})")
        return order

    async def venue_open(self, order: Order) -> bool:
        """True when the venue lists ``order`` among its open orders."""
        return any(r.client_order_id == order.client_order_id
                   for r in await self.adapter.execution.open_orders())

    async def reconcile(self, since_ns: int = 0) -> ReconciliationReport:
        """One reconciliation with the venue, as after a start."""
        return await self.reconciler.reconcile(since_ns)

    def fills(self, order: Order) -> list[ev.OrderFilled]:
        """The fills of ``order`` the desk booked."""
        return [e for e in self.events if isinstance(e, ev.OrderFilled)
                and e.client_order_id == order.client_order_id]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float) -> None:
    """Poll an async ``check`` until it holds; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


__all__ = ["STEERING", "Counterparty", "Desk", "Target", "TargetSpec", "eventually"]
