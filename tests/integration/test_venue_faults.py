"""Faults injected through the served paper venue's process, seen by a paper node (issue 4).

One venue and one node (the ``Scripted`` strategy: each bar's volume says what to send) run
per audit database; each test arms faults with ``POST /v1/admin/faults``, makes the node send,
and checks the outcome in the audit database and at the venue: the order's status and reason,
nothing sent twice (one venue order per client order id, and the armed faults left over count
the submits that reached the venue), and the venue's position equal to the node's.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from crash_harness import (
    Bars,
    Children,
    Node,
    NodeRun,
    Venue,
    audit_database,
    check_books,
    read_audit,
    read_order_events,
    wait_until,
)

from tradeloop.brokers.paper.protocol import ORDER_REJECT_CODES, RETRYABLE_CODES
from tradeloop.execution.live import RetryPolicy
from tradeloop.model.enums import OrderStatus
from tradeloop.model.orders import Order

BUY, SELL, REST_BUY, BURST = 1, 2, 3, 4  # the Scripted strategy's bar volumes
ATTEMPTS = RetryPolicy().attempts
BURST_SIZE = 10


@dataclass
class Stack:
    """The venue, the node and its current run, shared by the tests of one database."""

    venue: Venue
    node: Node
    run: NodeRun
    bars: Bars
    database_url: str

    def send(self, action: int, **bar: float) -> dict[str, Any]:
        """Push a bar telling the strategy what to send; return it once the strategy saw it."""
        pushed = self.bars.next(action, **bar)
        self.venue.push(pushed)
        self.node.wait_bar(self.run, pushed["ts"])
        return pushed

    def order(self, tag: str, timeout: float = 30) -> Order:
        """The order the strategy tagged ``tag``, once the audit database has it."""
        def found() -> Order | None:
            return next((o for o in read_audit(self.database_url, self.node.home).orders
                         if o.tags == (tag,)), None)

        order: Order = wait_until(found, timeout, f"the order tagged {tag}")
        return order

    def status(self, tag: str, wanted: set[OrderStatus], timeout: float = 30) -> Order:
        """The order tagged ``tag`` once it reached one of the ``wanted`` statuses."""
        def reached() -> Order | None:
            order = self.order(tag)
            return order if order.status in wanted else None

        order: Order = wait_until(reached, timeout, f"{tag} to be {wanted}")
        return order

    def venue_orders(self, client_order_id: str) -> list[dict[str, Any]]:
        """The venue's orders under this client order id."""
        return [o for o in self.venue.orders() if o["client_order_id"] == client_order_id]

    def venue_events(self, client_order_id: str) -> Counter[str]:
        """How many events of each kind the venue published for this order."""
        return Counter(e["kind"] for e in self.venue.events()
                       if e["event"]["client_order_id"] == client_order_id)

    def log_lines(self, text: str, client_order_id: str = "") -> int:
        """Lines of the node's output with ``text`` (and the client order id)."""
        return sum(1 for line in self.node.log.read_text(encoding="utf-8").splitlines()
                   if text in line and client_order_id in line)

    def check(self) -> None:
        """The venue and the audit database agree (see ``check_books``)."""
        check_books(self.venue, read_audit(self.database_url, self.node.home))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack_of_database(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A venue and a node on one audit database, for every test of this module."""
    folder = tmp_path_factory.mktemp(f"faults-{request.param}")
    children = Children()
    with audit_database(request.param) as url:
        try:
            venue = Venue(children, folder / "venue-home", folder)
            node = Node(children, folder / "node-home", folder, venue, "Scripted", url,
                        params={"burst": BURST_SIZE})
            run = node.start()
            node.wait_running(run)
            bars = Bars(random.Random(11))
            node.prime(run, venue, bars)
            yield Stack(venue, node, run, bars, url)
            venue.close()
        finally:
            children.kill_all()  # before the database is dropped


@pytest.fixture
def stack(stack_of_database: Stack) -> Iterator[Stack]:
    """The shared stack, its node running and no fault armed."""
    stack_of_database.venue.http.delete("/v1/admin/faults").raise_for_status()
    assert stack_of_database.run.process.poll() is None, stack_of_database.node.log_tail()
    yield stack_of_database
    stack_of_database.venue.http.delete("/v1/admin/faults").raise_for_status()


def test_a_submit_that_times_out_after_the_venue_took_it_is_looked_up_not_resent(
        stack: Stack) -> None:
    # the venue books the order, then answers after the client's 5 s request timeout
    stack.venue.arm("delay_answer", delay_s=6.0)
    bar = stack.send(BUY)
    tag = f"buy-{bar['ts']}"
    cid = stack.order(tag).client_order_id
    wait_until(lambda: stack.log_lines("order outcome unknown: looking it up", cid), 30,
               "the node to time out and look the order up")
    stack.send(0)  # fills it
    order = stack.status(tag, {OrderStatus.FILLED})
    assert order.filled_qty == Decimal(1000)
    assert len(stack.venue_orders(cid)) == 1
    assert stack.venue_events(cid) == Counter({"OrderAccepted": 1, "OrderFilled": 1})
    assert stack.venue.armed() == []
    stack.check()


def test_a_stream_drop_during_a_burst_of_fills_loses_and_repeats_nothing(stack: Stack) -> None:
    before = stack.venue.positions().get("EURUSD", Decimal(0))
    lost_before = stack.log_lines("paper venue stream lost")
    bar = stack.send(BURST)
    tags = [f"burst-{bar['ts']}-{k}" for k in range(BURST_SIZE)]
    wait_until(lambda: len(stack.venue.orders(open_only=True)) >= BURST_SIZE, 30,
               "the burst of limit orders at the venue")
    for tag in tags:
        stack.status(tag, {OrderStatus.ACCEPTED})
    # the event stream is closed after 3 of the 10 fills; the node reconnects and catches up
    stack.venue.arm("drop_stream", after_events=3)
    stack.send(0, low=stack.bars.close - 0.001)
    for tag in tags:
        order = stack.status(tag, {OrderStatus.FILLED})
        assert len(stack.venue_orders(order.client_order_id)) == 1
        assert stack.venue_events(order.client_order_id)["OrderFilled"] == 1
    assert stack.log_lines("paper venue stream lost") > lost_before
    after = stack.venue.positions().get("EURUSD", Decimal(0))
    assert after - before == Decimal(1000 * BURST_SIZE)
    stack.check()


@pytest.mark.parametrize("code", sorted(RETRYABLE_CODES))
def test_retryable_rejects_are_retried_until_the_venue_takes_the_order(
        stack: Stack, code: str) -> None:
    for _ in range(ATTEMPTS - 1):
        stack.venue.arm("reject", code=code, reason=f"simulated {code}")
    bar = stack.send(BUY)
    tag = f"buy-{bar['ts']}"
    order = stack.status(tag, {OrderStatus.ACCEPTED, OrderStatus.FILLED})
    cid = order.client_order_id
    wait_until(lambda: stack.venue.armed() == [], 10, "every armed reject to be used")
    assert stack.log_lines("retryable venue error", cid) == ATTEMPTS - 1
    assert len(stack.venue_orders(cid)) == 1
    assert stack.venue_events(cid) == Counter({"OrderAccepted": 1})
    stack.send(0)
    assert stack.status(tag, {OrderStatus.FILLED}).filled_qty == Decimal(1000)
    stack.check()


def test_retryable_rejects_end_in_a_rejection_after_the_bounded_retries(stack: Stack) -> None:
    for _ in range(ATTEMPTS + 1):
        stack.venue.arm("reject", code="BUSY", reason="simulated busy")
    bar = stack.send(BUY)
    order = stack.status(f"buy-{bar['ts']}", {OrderStatus.REJECTED})
    assert order.reason == (f"gave up after {ATTEMPTS} attempts: paper venue: BUSY: "
                            "simulated busy"), order.reason
    assert len(stack.venue.armed()) == 1, "exactly ATTEMPTS submits reached the venue"
    assert stack.venue_orders(order.client_order_id) == []  # nothing was booked
    stack.check()


@pytest.mark.parametrize("code", sorted(ORDER_REJECT_CODES))
def test_fatal_rejects_reject_the_order_with_the_venues_reason_and_no_retry(
        stack: Stack, code: str) -> None:
    stack.venue.arm("reject", code=code, reason=f"refused for the test ({code})")
    stack.venue.arm("reject", code="BUSY", reason="only a retry would reach this")
    bar = stack.send(BUY)
    order = stack.status(f"buy-{bar['ts']}", {OrderStatus.REJECTED})
    assert f"refused for the test ({code})" in order.reason, order.reason
    assert [f["reason"] for f in stack.venue.armed()] == ["only a retry would reach this"]
    booked = stack.venue_orders(order.client_order_id)
    assert [(o["status"], o["reason"]) for o in booked] == [
        ("REJECTED", f"refused for the test ({code})")]
    assert stack.venue_events(order.client_order_id) == Counter({"OrderRejected": 1})
    assert stack.log_lines("retryable venue error", order.client_order_id) == 0
    stack.check()


def test_duplicated_reports_are_applied_once(stack: Stack) -> None:
    before = stack.venue.positions().get("EURUSD", Decimal(0))
    stack.venue.arm("duplicate_events", count=4)
    bar = stack.send(SELL)
    tag = f"sell-{bar['ts']}"
    stack.status(tag, {OrderStatus.ACCEPTED})
    stack.send(0)
    order = stack.status(tag, {OrderStatus.FILLED})
    kinds = [e.kind for e in read_order_events(stack.database_url, stack.node.home,
                                               order.client_order_id)]
    assert kinds == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert stack.venue.positions().get("EURUSD", Decimal(0)) - before == Decimal(-1000)
    books = read_audit(stack.database_url, stack.node.home)
    assert books.fill_position("EURUSD") == stack.venue.positions().get("EURUSD", Decimal(0))
    stack.check()


def test_a_fill_reported_before_its_acknowledgement_is_applied_in_order(stack: Stack) -> None:
    # the venue holds the order's OrderAccepted back until its fill went out on the stream
    stack.venue.arm("fill_before_ack")
    bar = stack.send(BUY)
    tag = f"buy-{bar['ts']}"
    cid = stack.order(tag).client_order_id
    wait_until(lambda: stack.venue_orders(cid), 10, "the order at the venue")
    time.sleep(0.2)  # the acknowledgement stays held back
    assert stack.order(tag).status is OrderStatus.SUBMITTED
    stack.send(0)
    order = stack.status(tag, {OrderStatus.FILLED})
    kinds = [e.kind for e in read_order_events(stack.database_url, stack.node.home, cid)]
    assert kinds == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert order.filled_qty == Decimal(1000)
    assert stack.venue_events(cid) == Counter({"OrderAccepted": 1, "OrderFilled": 1})
    stack.check()
