"""Crash and restart of a paper node trading on a served paper venue (issue 4).

A node is SIGKILLed again and again, at its crash points (``TRADELOOP_CRASH_AT``) and at random
moments, while bars keep reaching the venue, which keeps filling resting orders while the node
is down. After every restart, once the node has reconciled and its strategies run, the venue and
the audit database must agree: nothing sent twice, every venue order one local intent, every
intent the venue never got closed locally, the same fills, the same position. Everything runs
against SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

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
    settled_books,
    wait_until,
)

from tradeloop.model.enums import OrderStatus

SCHEDULE = (["after_intent"] * 7 + ["after_send"] * 7 + ["after_fill_before_commit"] * 7
            + ["before_send"] * 4 + ["kill -9"] * 7)
"""How each of the 32 kills of the crash test happens (shuffled with the seed)."""
BUY, SELL, REST_BUY, CANCEL_THEN_BUY = 1, 2, 3, 5  # the Scripted strategy's bar volumes


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The audit database of the test's node: SQLite in its home, or a fresh PostgreSQL
    database (skipped without TRADELOOP_TEST_PG_URL, failed with TRADELOOP_REQUIRE_PG)."""
    with audit_database(request.param) as url:
        yield url


@pytest.fixture
def children() -> Iterator[Children]:
    """The test's child processes, all killed at the end."""
    started = Children()
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
def venue(children: Children, tmp_path: Path) -> Iterator[Venue]:
    """A served paper venue for EURUSD with admin and fault endpoints."""
    served = Venue(children, tmp_path / "venue-home", tmp_path)
    try:
        yield served
    finally:
        served.close()


def _seed() -> int:
    seed = int(os.environ.get("TRADELOOP_CRASH_SEED", "") or random.SystemRandom().randrange(
        1 << 32))
    print(f"crash test seed: {seed} (rerun with TRADELOOP_CRASH_SEED={seed})")
    return seed


def _kill_once(node: Node, run: NodeRun, how: str, venue: Venue, bars: Bars,
               rng: random.Random) -> str:
    """Trade until the run dies at its crash point, or kill it at a random moment; return
    how it died."""
    if how == "kill -9":
        node.prime(run, venue, bars)
        until = time.monotonic() + rng.uniform(0.05, 1.2)
        while time.monotonic() < until:
            venue.push(bars.next())
            time.sleep(rng.uniform(0.01, 0.06))
        node.kill(run)
        return how
    for _ in range(80):  # a crash point kills the node within a few bars
        if run.process.poll() is not None:
            break
        venue.push(bars.next())
        time.sleep(rng.uniform(0.01, 0.06))
    else:
        node.kill(run)
        return f"{how} (not reached: kill -9)"
    run.process.wait(30)
    assert run.process.returncode == -signal.SIGKILL, node.log_tail()
    return how


def test_random_kills_leave_the_venue_and_the_audit_database_in_agreement(
        children: Children, venue: Venue, database_url: str, tmp_path: Path) -> None:
    rng = random.Random(_seed())
    home = tmp_path / "node-home"
    node = Node(children, home, tmp_path, venue, "Churn", database_url)
    bars = Bars(rng)
    schedule = list(SCHEDULE)
    rng.shuffle(schedule)
    started = time.monotonic()

    died: Counter[str] = Counter()  # kills by how they happened
    fills_while_down = 0
    settle_s = 0.0  # the longest wait for the books to agree after a restart
    for how in schedule:
        run = node.start("" if how == "kill -9" else f"{how}:{rng.randint(1, 4)}")
        start = node.wait_running(run)
        if not start:  # its crash point fired while it reconciled: restart it
            died[f"{how} (while reconciling)"] += 1
            continue
        settle_s = max(settle_s, settled_books(venue, database_url, home, start).settle_s)
        died[_kill_once(node, run, how, venue, bars, rng)] += 1
        before = len(venue.fills())
        for _ in range(rng.randint(0, 3)):  # the venue fills resting orders meanwhile
            venue.push(bars.next())
        fills_while_down += len(venue.fills()) - before

    run = node.start()
    start = node.wait_running(run)
    final = settled_books(venue, database_url, home, start)
    node.kill(run)

    kills = sum(died.values())
    cancels = sum(1 for e in venue.events() if e["kind"] == "OrderCanceled")
    print(f"{kills} kills in {time.monotonic() - started:.1f} s: {dict(died)}; "
          f"{final.venue_orders} venue orders, {final.fills} fills ({fills_while_down} while "
          f"the node was down), {cancels} cancels, {len(final.never_sent)} intents never "
          f"sent, position {final.position}; books agreed at most {settle_s:.2f} s after a "
          "restart")
    assert kills >= 30
    assert fills_while_down > 0
    for point in ("after_intent", "after_send", "after_fill_before_commit"):
        fired = died[point] + died[f"{point} (while reconciling)"]
        assert fired >= 5, f"the {point} crash point fired {fired} times"
    assert final.fills > 30 and cancels > 5
    # the intents the venue never got were closed by the lookup after a restart
    assert final.never_sent, "no kill left an intent that never reached the venue"
    closed = Counter(status for status, reason in final.never_sent.values()
                     if "the venue has no record of this order" in reason)
    assert closed.total() == len(final.never_sent), final.never_sent
    # the intent is committed with its submission, so an order killed after_intent or on its
    # way to the venue is closed the same way: rejected, never reached the venue
    assert set(closed) == {OrderStatus.REJECTED}, closed


def _scripted_node(children: Children, venue: Venue, database_url: str, tmp_path: Path,
                   ) -> Node:
    return Node(children, tmp_path / "node-home", tmp_path, venue, "Scripted", database_url,
                params={"offset": 0.001})


def _resting_orders_then_kill(node: Node, venue: Venue, bars: Bars) -> dict[str, Decimal]:
    """A market buy that fills, then two resting buy limits 0.0005 apart; the node is killed
    while they work. Returns their limit prices by client order id."""
    run = node.start()
    node.wait_running(run)
    node.prime(run, venue, bars)
    venue.push(bars.next(BUY))
    wait_until(venue.orders, 10, "the market buy at the venue")
    venue.push(bars.next(0))
    wait_until(venue.fills, 10, "the market buy's fill")
    first = bars.close
    for close in (first, first + 0.0005):
        bar = bars.next(REST_BUY, close=close)
        venue.push(bar)
        node.wait_bar(run, bar["ts"])
    wait_until(lambda: len(venue.orders(open_only=True)) == 2, 10, "two resting orders")
    wait_until(lambda: len(read_audit(node.database_url, node.home).fills) == 1, 10,
               "the market buy's fill in the audit database")
    node.kill(run)
    return {o["client_order_id"]: Decimal(o["price"]) for o in venue.orders(open_only=True)}


def _trade_through_the_higher_limit(venue: Venue, bars: Bars, resting: dict[str, Decimal]
                                    ) -> tuple[str, str]:
    """While the node is down, a bar trades through the higher resting buy only; returns the
    client order ids of the filled and the still resting order."""
    (low_cid, low), (high_cid, high) = sorted(resting.items(), key=lambda kv: kv[1])
    assert high - low == Decimal("0.0005")
    price = float(high)
    venue.push(bars.next(0, open_=price + 0.0002, close=price + 0.0001, low=price - 0.00001))
    assert [f["client_order_id"] for f in venue.fills()][-1:] == [high_cid]
    assert [o["client_order_id"] for o in venue.orders(open_only=True)] == [low_cid]
    return high_cid, low_cid


def test_fills_made_while_the_node_was_down_are_booked_before_the_strategy_starts(
        children: Children, venue: Venue, database_url: str, tmp_path: Path) -> None:
    node = _scripted_node(children, venue, database_url, tmp_path)
    bars = Bars(random.Random(7))
    filled, _ = _trade_through_the_higher_limit(
        venue, bars, _resting_orders_then_kill(node, venue, bars))

    run = node.start()
    start = node.wait_running(run)
    # on_start already sees the fill the venue made while the node was down
    assert Decimal(start["position"]) == Decimal(2000), start
    seen = start["orders"][filled]
    assert (seen["status"], seen["filled"]) == ("FILLED", "1000"), seen
    books = read_audit(database_url, node.home)
    trade_id = next(f["trade_id"] for f in venue.fills() if f["client_order_id"] == filled)
    assert [f.trade_id for f in books.fills if f.client_order_id == filled] == [trade_id]
    report = check_books(venue, books, start)
    assert report.position == Decimal(2000)
    node.kill(run)


def test_the_strategy_sees_exactly_the_venues_open_orders_at_start(
        children: Children, venue: Venue, database_url: str, tmp_path: Path) -> None:
    """Restored orders that finished (the filled market buy, the limit filled during the
    downtime) are not open orders for the strategy."""
    node = _scripted_node(children, venue, database_url, tmp_path)
    bars = Bars(random.Random(8))
    _, resting = _trade_through_the_higher_limit(
        venue, bars, _resting_orders_then_kill(node, venue, bars))

    run = node.start()
    start = node.wait_running(run)
    seen = [(o["client_order_id"], o["status"]) for o in start["open_orders"]]
    assert [cid for cid, _ in seen] == [resting], f"open orders at start: {seen}"
    node.kill(run)


def test_a_first_fill_made_while_the_node_was_down_is_adopted(
        children: Children, venue: Venue, database_url: str, tmp_path: Path) -> None:
    """The fill is stamped with the bar's open, before the order's own ts_init (node clock):
    reconciliation must still ask the venue for it."""
    node = _scripted_node(children, venue, database_url, tmp_path)
    bars = Bars(random.Random(9))
    run = node.start()
    node.wait_running(run)
    node.prime(run, venue, bars)
    bar = bars.next(BUY)
    venue.push(bar)
    node.wait_bar(run, bar["ts"])
    wait_until(venue.orders, 10, "the market buy at the venue")
    node.kill(run)  # accepted, not filled yet
    venue.push(bars.next(0))  # fills it at the bar's open
    assert len(venue.fills()) == 1

    run = node.start()
    start = node.wait_running(run)
    assert Decimal(start["position"]) == Decimal(1000)
    check_books(venue, read_audit(database_url, node.home), start)
    only = read_audit(database_url, node.home).orders[0]
    assert only.status is OrderStatus.FILLED
    node.kill(run)


def test_a_cancel_lost_in_a_crash_is_settled_at_restart(
        children: Children, venue: Venue, database_url: str, tmp_path: Path) -> None:
    """The node dies with a cancel recorded (PENDING_CANCEL) but never sent: after the restart
    the order must not stay PENDING_CANCEL while it works at the venue."""
    node = _scripted_node(children, venue, database_url, tmp_path)
    bars = Bars(random.Random(10))
    run = node.start()
    node.wait_running(run)
    node.prime(run, venue, bars)
    venue.push(bars.next(REST_BUY))
    wait_until(lambda: venue.orders(open_only=True), 10, "the resting buy at the venue")
    resting = venue.orders(open_only=True)[0]["client_order_id"]
    wait_until(lambda: (o := read_audit(database_url, node.home).order(resting)) is not None
               and o.status is OrderStatus.ACCEPTED, 10, "the resting buy accepted locally")
    node.kill(run)

    # the cancel is recorded (PENDING_CANCEL), then the buy's intent, and the process dies
    # there, before its event loop could send the cancel
    run = node.start("after_intent:1")
    node.wait_running(run)
    node.prime(run, venue, bars)
    venue.push(bars.next(CANCEL_THEN_BUY))
    run.process.wait(30)
    assert run.process.returncode == -signal.SIGKILL
    cancelled = read_audit(database_url, node.home).order(resting)
    assert cancelled is not None and cancelled.status is OrderStatus.PENDING_CANCEL
    assert [o["client_order_id"] for o in venue.orders(open_only=True)] == [resting]

    run = node.start()
    start = node.wait_running(run)
    settled_books(venue, database_url, node.home, start)
    order = read_audit(database_url, node.home).order(resting)
    assert order is not None and order.status is OrderStatus.CANCELED  # sent again
    assert venue.orders(open_only=True) == []
    node.kill(run)
