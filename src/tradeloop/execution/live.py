"""The live order path: the execution engine's requests carried to a networked venue.

:class:`LiveOrderRouter` stands in for a venue towards the (synchronous) execution engine and
talks to a :class:`~tradeloop.execution.ports.LiveExecutionClient` on the event loop, so the
kernel never waits for the network. What a failure means is decided by its class:

* ``RetryableVenueError``: the request did not take effect; retried with exponential backoff and
  full jitter, a bounded number of times, then the order is rejected with the last reason.
* ``FatalVenueError``: rejected with the venue's reason, never retried.
* ``OutcomeUnknownError``: the request may have reached the venue. The order is looked up by its
  client order id first; only when the venue has never seen it is it sent again (with the same
  id, which a venue refuses as a duplicate anyway).

Every send waits for a token of the venue's rate limit first.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.core.clock import Clock
from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError
from tradeloop.core.faults import crash_point
from tradeloop.core.logging import get_logger
from tradeloop.core.rate import RateLimiter
from tradeloop.execution.ports import EventHandler, LiveExecutionClient, VenueCapabilities
from tradeloop.execution.reconciliation import catch_up_events
from tradeloop.model import events as ev
from tradeloop.model.orders import Order

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a retryable failure is retried.

    Attributes
    ----------
    attempts : int
        Tries in all, the first included.
    base_delay_s, max_delay_s : float
        Backoff before try ``n`` (from 1) is uniform in ``[0, min(max, base * 2**(n-1))]``.
    lookup_attempts : int
        How many times an order whose outcome is unknown is looked up before giving up.
    """

    attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    lookup_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The pause before retry number ``attempt`` (1 for the first retry)."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


class LiveOrderRouter:
    """The execution engine's client for a networked venue.

    Parameters
    ----------
    client : LiveExecutionClient
    clock : Clock
    policy : RetryPolicy, optional
    limiter : RateLimiter, optional
        Default: no limit.
    seed : int, optional
        Seeds the backoff jitter (tests).
    sleep : callable, optional
        Replaces ``asyncio.sleep`` for the backoff (tests).
    """

    def __init__(self, client: LiveExecutionClient, clock: Clock,
                 policy: RetryPolicy | None = None, limiter: RateLimiter | None = None,
                 seed: int | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.client = client
        self.venue = client.venue
        self.capabilities: VenueCapabilities = client.capabilities
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._limiter = limiter or RateLimiter(0)
        self._rng = random.Random(seed)
        self._sleep = sleep
        self._handler: EventHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sends = 0  # requests that reached the client, for tests and metrics

    def bind(self, handler: EventHandler) -> None:
        """Report venue events to ``handler`` (the execution engine's ``process``)."""
        self._handler = handler
        self.client.bind(handler)

    def submit_order(self, order: Order) -> None:
        """Send ``order`` in the background."""
        self._spawn(self._submit(order), order)

    def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel ``order`` in the background."""
        self._spawn(self._request("cancel", order, lambda: self.client.cancel_order(order)),
                    order)

    def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                     trigger_price: Decimal | None) -> None:
        """Ask the venue to change ``order`` in the background."""
        self._spawn(self._request("modify", order, lambda: self.client.modify_order(
            order, quantity, price, trigger_price)), order)

    async def settle(self) -> None:
        """Wait until every request sent so far has been answered or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def in_flight(self) -> int:
        """Requests not answered yet."""
        return len(self._tasks)

    def _spawn(self, work: Awaitable[None], order: Order) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception as exc:  # a bug must not vanish in a task
                log.exception("order request failed unexpectedly", extra={"fields": {
                    "client_order_id": order.client_order_id, "error": str(exc)}})

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, event: ev.OrderEvent) -> None:
        if self._handler is not None:
            self._handler(event)

    def _base(self, order: Order) -> dict[str, str]:
        return {"client_order_id": order.client_order_id, "strategy_id": order.strategy_id,
                "symbol": order.symbol}

    async def _submit(self, order: Order) -> None:
        crash_point("before_send")
        last = ""
        for attempt in range(1, self._policy.attempts + 1):
            await self._limiter.acquire()
            try:
                self.sends += 1
                await self.client.submit_order(order)
                crash_point("after_send")
                return
            except RetryableVenueError as exc:
                last = str(exc)
                log.warning("retryable venue error", extra={"fields": {
                    "client_order_id": order.client_order_id, "attempt": attempt,
                    "error": last}})
                if attempt < self._policy.attempts:
                    await self._sleep(self._policy.delay(attempt, self._rng))
            except FatalVenueError as exc:
                self._emit(ev.OrderRejected(ts=self._clock.now_ns(), reason=str(exc),
                                            **self._base(order)))
                return
            except OutcomeUnknownError as exc:
                log.warning("order outcome unknown: looking it up", extra={"fields": {
                    "client_order_id": order.client_order_id, "error": str(exc)}})
                if await self._resolve(order):
                    return
                last = f"{exc}; the venue has no record of it"
        self._emit(ev.OrderRejected(
            ts=self._clock.now_ns(),
            reason=f"gave up after {self._policy.attempts} attempts: {last}",
            **self._base(order)))

    async def _resolve(self, order: Order) -> bool:
        """Look an order up after an unclear send: True when the venue has it (its state is
        then applied), False when the venue has never seen it."""
        for attempt in range(1, self._policy.lookup_attempts + 1):
            try:
                report = await self.client.order_status(order.client_order_id)
            except (RetryableVenueError, OutcomeUnknownError) as exc:
                log.warning("order lookup failed", extra={"fields": {
                    "client_order_id": order.client_order_id, "attempt": attempt,
                    "error": str(exc)}})
                await self._sleep(self._policy.delay(attempt, self._rng))
                continue
            if report is None:
                return False
            # fill times are the venue's, so the venue's acceptance time bounds the search,
            # never the node's clock
            fills = [f for f in await self.client.fills_since(report.ts_accepted)
                     if f.client_order_id == order.client_order_id]
            for event in catch_up_events(order, report, fills, self._clock.now_ns()):
                self._emit(event)
            return True
        # Still unknown: never resend blind. Reconciliation settles it later.
        log.error("order outcome still unknown after lookups; left to reconciliation",
                  extra={"fields": {"client_order_id": order.client_order_id}})
        return True

    async def _request(self, what: str, order: Order,
                       call: Callable[[], Awaitable[None]]) -> None:
        last = ""
        for attempt in range(1, self._policy.attempts + 1):
            await self._limiter.acquire()
            try:
                await call()
                return
            except RetryableVenueError as exc:
                last = str(exc)
                if attempt < self._policy.attempts:
                    await self._sleep(self._policy.delay(attempt, self._rng))
            except FatalVenueError as exc:
                last = str(exc)
                break
            except OutcomeUnknownError as exc:
                # the venue may have done it: learn its state before saying anything
                last = f"{exc}; the order is as the venue reports it"
                await self._resolve(order)
                break
        if order.status.value.startswith("PENDING"):
            kind = ev.OrderCancelRejected if what == "cancel" else ev.OrderModifyRejected
            self._emit(kind(ts=self._clock.now_ns(), reason=last, **self._base(order)))


__all__ = ["LiveOrderRouter", "RateLimiter", "RetryPolicy"]
