"""The live order path against a scripted venue: write-ahead, retries with backoff, fatal
rejects, and orders whose outcome is unknown, which are looked up and never sent twice."""

from __future__ import annotations

import asyncio
from collections import deque
from decimal import Decimal

import pytest
from scripted_venue import ScriptedVenue

from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import Kernel
from tradeloop.execution.live import LiveOrderRouter, RateLimiter, RetryPolicy
from tradeloop.execution.reconciliation import Reconciler, fill_event
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.risk.engine import EXECUTE

T0 = 1_704_153_600_000_000_000


class Journal:
    def __init__(self, fail: bool = False) -> None:
        self.intents: list[str] = []
        self.fail = fail

    def record_intent(self, order: Order, submitted: object = None) -> None:
        if self.fail:
            raise OSError("disk full")
        self.intents.append(order.client_order_id)

    def record_event(self, event: object) -> None:
        return None

    def open_intents(self) -> list[Order]:
        return []


def make(venue: ScriptedVenue, policy: RetryPolicy | None = None, journal: Journal | None = None
         ) -> tuple[Kernel, LiveOrderRouter, list[float]]:
    clock = TestClock()
    clock.advance_to(T0)
    kernel = Kernel(clock, Account("A", "USD", AccountType.MARGIN, Decimal(1_000_000),
                                   Decimal(1)))
    kernel.add_instrument(Instrument.equity("ABC"))
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    router = LiveOrderRouter(venue, clock, policy or RetryPolicy(attempts=4), seed=1,
                             sleep=fake_sleep)
    kernel.add_execution_client(router, default=True)
    kernel.execution.journal = journal
    return kernel, router, slept


def buy(kernel: Kernel, cid: str = "S-1", qty: str = "10") -> Order:
    order = Order(client_order_id=cid, strategy_id="S", symbol="ABC", side=OrderSide.BUY,
                  order_type=OrderType.MARKET, quantity=Decimal(qty), ts_init=T0)
    kernel.cache.add_order(order)
    kernel.bus.send(EXECUTE, cmd.SubmitOrder(order, T0))
    return order


def run(coro):
    return asyncio.run(coro)


def test_an_order_is_recorded_before_it_is_sent_and_accepted() -> None:
    venue, journal = ScriptedVenue(), Journal()

    async def scenario() -> Order:
        kernel, router, _ = make(venue, journal=journal)
        order = buy(kernel)
        assert journal.intents == ["S-1"] and venue.submits == []  # recorded, not yet sent
        await router.settle()
        return order

    order = run(scenario())
    assert venue.submits == ["S-1"]
    assert order.status is OrderStatus.ACCEPTED


def test_the_order_path_fails_closed_when_the_intent_cannot_be_recorded() -> None:
    venue = ScriptedVenue()

    async def scenario() -> Order:
        kernel, router, _ = make(venue, journal=Journal(fail=True))
        order = buy(kernel)
        await router.settle()
        return order

    order = run(scenario())
    assert order.status is OrderStatus.DENIED
    assert "audit database could not record it" in order.reason and "disk full" in order.reason
    assert venue.submits == []


def test_retryable_errors_are_retried_with_growing_jittered_backoff() -> None:
    venue = ScriptedVenue(script=deque(["retry", "retry", "ok"]))

    async def scenario() -> tuple[Order, list[float]]:
        kernel, router, slept = make(venue, RetryPolicy(attempts=4, base_delay_s=0.5,
                                                        max_delay_s=10))
        order = buy(kernel)
        await router.settle()
        return order, slept

    order, slept = run(scenario())
    assert venue.submits == ["S-1"] * 3
    assert order.status is OrderStatus.ACCEPTED
    assert len(slept) == 2 and 0 <= slept[0] <= 0.5 and 0 <= slept[1] <= 1.0


def test_retries_are_bounded_then_the_order_is_rejected_with_the_reason() -> None:
    venue = ScriptedVenue(script=deque(["retry"] * 10))

    async def scenario() -> Order:
        kernel, router, _ = make(venue, RetryPolicy(attempts=3))
        order = buy(kernel)
        await router.settle()
        return order

    order = run(scenario())
    assert len(venue.submits) == 3
    assert order.status is OrderStatus.REJECTED
    assert "gave up after 3 attempts" in order.reason and "rate limited" in order.reason


def test_a_fatal_error_rejects_at_once_with_the_venues_reason() -> None:
    venue = ScriptedVenue(script=deque(["fatal"]))

    async def scenario() -> Order:
        kernel, router, _ = make(venue)
        order = buy(kernel)
        await router.settle()
        return order

    order = run(scenario())
    assert venue.submits == ["S-1"]
    assert order.status is OrderStatus.REJECTED and order.reason == "insufficient funds"


def test_a_timeout_after_the_venue_accepted_is_resolved_by_lookup_never_resent() -> None:
    venue = ScriptedVenue(script=deque(["unknown_after_accept"]),
                          lookup_script=deque(["retry"]))

    async def scenario() -> Order:
        kernel, router, _ = make(venue)
        order = buy(kernel)
        await router.settle()
        return order

    order = run(scenario())
    assert venue.submits == ["S-1"]  # sent once
    assert len(venue.orders) == 1
    assert order.status is OrderStatus.ACCEPTED and order.venue_order_id == "V1"


def test_a_timeout_the_venue_never_saw_is_sent_again_with_the_same_id() -> None:
    venue = ScriptedVenue(script=deque(["unknown_before_accept"]))

    async def scenario() -> Order:
        kernel, router, _ = make(venue)
        order = buy(kernel)
        await router.settle()
        return order

    order = run(scenario())
    assert venue.submits == ["S-1", "S-1"]
    assert len(venue.orders) == 1 and order.status is OrderStatus.ACCEPTED


def test_fills_learned_by_lookup_are_booked_once() -> None:
    venue = ScriptedVenue(script=deque(["unknown_after_accept"]),
                          push_events=False)

    async def scenario() -> tuple[Kernel, Order]:
        kernel, router, _ = make(venue)
        original = venue.submit_order

        async def submit_and_fill(order: Order) -> None:
            try:
                await original(order)
            finally:
                venue.fill(order.client_order_id, "100", T0 + 1, push=False)

        venue.submit_order = submit_and_fill  # type: ignore[method-assign]
        order = buy(kernel)
        await router.settle()
        # a late duplicate report of the same fill changes nothing
        assert venue.handler is not None
        venue.handler(fill_event(venue.fills[0], order))
        return kernel, order

    kernel, order = run(scenario())
    assert order.status is OrderStatus.FILLED and order.filled_qty == 10
    assert len(order.trade_ids) == 1
    (position,) = [p for p in kernel.cache.positions.values() if not p.is_flat]
    assert position.quantity == 10


def test_rate_limiter_spaces_requests() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    async def scenario() -> None:
        limiter = RateLimiter(rate=2, burst=2, monotonic=lambda: now[0], sleep=sleep)
        for _ in range(5):
            await limiter.acquire()

    run(scenario())
    assert waits == pytest.approx([0.5, 0.5, 0.5])  # two at once, then two per second


def test_reconciliation_adopts_external_orders_and_closes_missing_ones() -> None:
    venue = ScriptedVenue()

    async def scenario() -> tuple[Kernel, object]:
        kernel, router, _ = make(venue)
        sent = buy(kernel, "S-1")
        await router.settle()
        venue.fill("S-1", "100", T0 + 5, push=False)  # filled while the node was away
        lost = Order(client_order_id="S-2", strategy_id="S", symbol="ABC",
                     side=OrderSide.SELL, order_type=OrderType.LIMIT, quantity=Decimal(5),
                     price=Decimal(120), ts_init=T0)
        kernel.cache.add_order(lost)
        kernel.execution.process(ev.OrderSubmitted(ts=T0, client_order_id="S-2",
                                                   strategy_id="S", symbol="ABC"))
        # an order someone placed by hand at the venue
        venue.orders["MANUAL-1"] = venue.orders["S-1"].__class__(
            client_order_id="MANUAL-1", venue_order_id="V9", symbol="ABC", side=OrderSide.BUY,
            order_type=OrderType.LIMIT, quantity=Decimal(3), price=Decimal(90), ts_accepted=T0)
        report = await Reconciler(kernel.cache, venue, kernel.execution.process,
                                  kernel.clock).reconcile(T0)
        assert sent.status is OrderStatus.FILLED
        return kernel, report

    kernel, report = run(scenario())
    assert report.ok, report.summary()
    assert report.resolved == {"S-1": "FILLED"}
    assert report.closed_missing == ["S-2"]
    assert kernel.cache.order("S-2").status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert report.adopted_orders == ["MANUAL-1"]
    adopted = kernel.cache.order("MANUAL-1")
    assert adopted is not None and adopted.strategy_id == "EXTERNAL" and "external" in adopted.tags
    assert adopted.status is OrderStatus.ACCEPTED


def test_reconciliation_refuses_when_positions_differ() -> None:
    venue = ScriptedVenue(positions_={"ABC": Decimal(7)})

    async def scenario() -> object:
        kernel, _router, _ = make(venue)
        return await Reconciler(kernel.cache, venue, kernel.execution.process,
                                kernel.clock).reconcile(T0)

    report = run(scenario())
    assert not report.ok
    assert report.position_mismatches == ["ABC: local 0, venue 7"]
