"""Tick-to-order latency of a paper trading node at 10,000 ticks/s offered load.

From a quote being handed to the node (put on its input queue) to the order it triggers reaching
the venue client (the client's ``submit_order`` being entered), timed with ``perf_counter_ns``.
The node is the real :class:`~tradeloop.engine.live.TradingNode` on a live clock. Its strategy
trades one unit on every ``--every``-th quote (buy, then sell, so it stays flat), so the order
path is measured while the node keeps ingesting. Three configurations, each in its own process:

* thin client, no store: a :class:`RecordingClient` that stamps each order and answers it at
  once (accepted, filled): the kernel's own path, as with a networked venue minus the network;
* paper node, no store: wired as the paper service wires it, a real ``PaperVenue`` (state file
  in a temporary folder) fed each quote before the strategy sees it, and a real
  ``InProcessPaperClient`` that stamps on entry, then submits as usual. The 1 ms target
  applies here: it is paper mode's whole path except the audit writes;
* paper node with the SQLite audit database (as ``tradeloop paper`` runs): the write-ahead
  intent, with the submission the node is about to apply, is committed (``synchronous=FULL``)
  before the order may leave, so one durable commit is on the path, and three more (accepted,
  filled, position) follow on the loop. Its cost is mostly the disk's: the run also times a
  bare durable SQLite commit, spaced as the orders are, in the same folder (a disk that has
  been idle for a few milliseconds syncs more slowly than one kept busy).

The baseline, measured in the same run under the same producer and load, is the bare asyncio
queue hop: a put on an ``asyncio.Queue`` to the get in another task.

The producer runs on the node's event loop, as a network feed would: it hands over each quote
at its due time (one every 100 us at 10,000/s), yielding to the loop while it waits
(``asyncio.sleep`` cannot wait less than about a millisecond), so the load is evenly spaced and
the producer never blocks the node. "backlog" is the longest input queue seen: a figure that
grows with the run means the node cannot keep up with the offered load.

    python bench/tick_to_order.py [--ticks N] [--rate R] [--every K] [--dir PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

from tradeloop.brokers.paper import InProcessPaperClient, PaperVenue
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.clock import LiveClock
from tradeloop.data.feeds import MarketData, MarketDataSource, SyntheticQuotes
from tradeloop.engine.kernel import Kernel
from tradeloop.engine.live import NodeSettings, TradingNode
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.data import QuoteTick, TradeTick
from tradeloop.model.enums import AccountType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport
from tradeloop.strategy.base import Strategy

SYMBOL = "SYN"
TARGET_P99_US = 1_000.0
CASH = Decimal(10_000_000)


class QueueFeed:
    """The node's input: a market data source over an ``asyncio.Queue`` (None ends it)."""

    name = "bench-queue"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[MarketData | None] = asyncio.Queue()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def __aiter__(self) -> AsyncIterator[MarketData]:
        return self

    async def __anext__(self) -> MarketData:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item


class EveryNth(Strategy):
    """Buys one unit on every ``every``-th quote and sells it on the next such quote."""

    every: int = 100

    def on_start(self) -> None:
        self.seen = 0
        self.sent: dict[str, int] = {}  # client order id -> ts of the quote that caused it

    def on_tick(self, tick: QuoteTick | TradeTick) -> None:
        self.seen += 1
        if self.seen % self.every:
            return
        order = self.buy(1) if (self.seen // self.every) % 2 else self.sell(1)
        self.sent[order.client_order_id] = tick.ts


class StampingPaperClient(InProcessPaperClient):
    """The in-process paper client, stamping the time each order reaches it."""

    def __init__(self, venue: PaperVenue, owner: str) -> None:
        super().__init__(venue, owner=owner)
        self.stamps: list[tuple[str, int]] = []

    async def submit_order(self, order: Order) -> None:
        self.stamps.append((order.client_order_id, time.perf_counter_ns()))
        await super().submit_order(order)


class RecordingClient:
    """A thin execution client: stamps each order, then accepts and fills it at once at the
    node's last price (a networked venue's answer, without the network)."""

    venue = "PAPER"

    def __init__(self, last_price: Callable[[str], float | None]) -> None:
        self.capabilities = VenueCapabilities()
        self.stamps: list[tuple[str, int]] = []
        self._last_price = last_price
        self._handler: EventHandler | None = None
        self._seq = 0

    def bind(self, handler: EventHandler) -> None:
        self._handler = handler

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def submit_order(self, order: Order) -> None:
        self.stamps.append((order.client_order_id, time.perf_counter_ns()))
        assert self._handler is not None
        self._seq += 1
        cid, sid, symbol, vid = (order.client_order_id, order.strategy_id, order.symbol,
                                 f"V{self._seq}")
        now = time.time_ns()
        self._handler(ev.OrderAccepted(ts=now, client_order_id=cid, strategy_id=sid,
                                       symbol=symbol, venue_order_id=vid))
        price = Decimal(repr(self._last_price(symbol) or 100.0))
        self._handler(ev.OrderFilled(ts=now, client_order_id=cid, strategy_id=sid,
                                     symbol=symbol, venue_order_id=vid, trade_id=f"T{self._seq}",
                                     side=order.side, last_qty=order.quantity, last_px=price))

    async def cancel_order(self, order: Order) -> None:
        pass

    async def modify_order(self, order: Order, quantity: Decimal | None,
                           price: Decimal | None, trigger_price: Decimal | None) -> None:
        pass

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        return None

    async def open_orders(self) -> list[OrderStatusReport]:
        return []

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        return []

    async def positions(self) -> list[PositionReport]:
        return []

    async def account(self) -> AccountReport:
        return AccountReport(account_id="bench", currency="USD", balance=CASH, equity=CASH)


def build_node(source: MarketDataSource, strategy: Strategy, folder: Path, *, paper: bool,
               audit: bool) -> tuple[TradingNode, StampingPaperClient | RecordingClient,
                                     Callable[[], None]]:
    """A trading node on a live clock trading ``SYMBOL`` with ``strategy``, wired as the paper
    service wires one (``paper``: an in-process paper venue, fed each item, with its state
    file in ``folder``; else a :class:`RecordingClient`), with or without the SQLite audit
    database in ``folder``. Returns the node, its client and what closes the files."""
    instrument = Instrument(SYMBOL, "PAPER", tick_size=Decimal("0.01"))
    kernel = Kernel(LiveClock(), Account("bench", "USD", AccountType.MARGIN, CASH))
    kernel.add_instrument(instrument)
    kernel.add_strategy(strategy, (SYMBOL,))
    client: StampingPaperClient | RecordingClient
    venue = None
    if paper:
        venue = PaperVenue(folder / "bench.venue.db", [instrument],
                           account=Account("PAPER-001", "USD", AccountType.MARGIN, CASH),
                           config=SimulatedVenueConfig(venue="PAPER"))
        client = StampingPaperClient(venue, owner="bench")
    else:
        client = RecordingClient(kernel.cache.last_prices.get)
    store = None
    audit_store = None
    if audit:
        from tradeloop.persistence import AuditStore, open_database
        from tradeloop.services.node import AuditNodeStore

        audit_store = AuditStore(open_database(None, folder))
        audit_store.start_run("paper", config={"name": "bench"}, strategy_ids=[strategy.id])
        store = AuditNodeStore(audit_store, "bench", kernel.cache.order)
    node = TradingNode(kernel, source, client,
                       NodeSettings(name="bench", settle_orders=paper, reconcile_every_s=0),
                       store=store, venue_feed=venue)

    def close() -> None:
        if venue is not None:
            venue.close()
        if audit_store is not None:
            audit_store.database.close()

    return node, client, close


def quotes(n: int, rate: float) -> SyntheticQuotes:
    """``n`` seeded quotes stamped one period apart from now, made as they are pulled (a list
    of them all would weigh on the garbage collector, which a live feed does not)."""
    return SyntheticQuotes([SYMBOL], seed=7, rate_per_s=rate, start_ns=time.time_ns(),
                           start_prices={SYMBOL: 100.0}, tick_sizes={SYMBOL: 0.01},
                           realtime=False, limit=n)


async def produce(queue: asyncio.Queue[MarketData | None], source: SyntheticQuotes,
                  rate: float, arrivals: dict[int, int]) -> dict[str, float]:
    """Hand the quotes of ``source`` over at ``rate`` per second, each stamped (by its ``ts``)
    as it is put on ``queue``, then None.

    Returns the rate achieved and the longest queue seen behind a put (the consumer's backlog).
    """
    period = 1e9 / rate
    perf = time.perf_counter_ns
    backlog = sent = 0
    await source.start()
    start = perf()
    async for item in source:  # made before it is due: not part of any latency
        due = start + int(sent * period)
        while perf() < due:
            await asyncio.sleep(0)
        arrivals[item.ts] = perf()
        queue.put_nowait(item)
        sent += 1
        backlog = max(backlog, queue.qsize())
        await asyncio.sleep(0)
    elapsed = perf() - start
    queue.put_nowait(None)
    return {"achieved_per_s": sent / elapsed * 1e9, "max_backlog": backlog}


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50, p99 and max in microseconds."""
    ordered = sorted(samples_ns)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1000

    return {"n": n, "p50_us": at(0.50), "p99_us": at(0.99), "max_us": ordered[-1] / 1000}


def run_queue_hop(n: int, rate: float, every: int) -> dict[str, float]:
    """The baseline: put on an asyncio.Queue, get in another task, same producer and load."""
    items = quotes(n, rate)

    async def main() -> dict[str, float]:
        queue: asyncio.Queue[MarketData | None] = asyncio.Queue()
        arrivals: dict[int, int] = {}
        got: list[tuple[int, int]] = []

        async def consume() -> None:
            while (item := await queue.get()) is not None:
                got.append((item.ts, time.perf_counter_ns()))

        consumer = asyncio.create_task(consume())
        offered = await produce(queue, items, rate, arrivals)
        await consumer
        every_nth = [t - arrivals[ts] for k, (ts, t) in enumerate(got, 1) if k % every == 0]
        return {**percentiles(every_nth), **offered}

    return asyncio.run(main())


def run_node(n: int, rate: float, every: int, folder: Path, *, paper: bool,
             audit: bool) -> dict[str, float]:
    """The real node; the latency of every order it sent."""
    items = quotes(n, rate)
    strategy = EveryNth(every=every)
    feed = QueueFeed()
    node, client, close = build_node(feed, strategy, folder, paper=paper, audit=audit)

    async def main() -> dict[str, float]:
        arrivals: dict[int, int] = {}
        running = asyncio.create_task(node.run(install_signals=False))
        while not node.kernel.runners[0].wired:  # start-up is not measured
            await asyncio.sleep(0.001)
        offered = await produce(feed.queue, items, rate, arrivals)
        summary = await running
        latencies = [t - arrivals[strategy.sent[cid]] for cid, t in client.stamps]
        return {**percentiles(latencies), **offered,
                "items": summary.items, "fills": summary.fills}

    try:
        return asyncio.run(main())
    finally:
        close()


def run_bare_commit(n: int, rate: float, every: int, folder: Path) -> dict[str, float]:
    """The disk's share, measured beside the node: one durable commit of a small row into a
    WAL-mode SQLite file (``synchronous=FULL``, as the audit database commits an intent),
    spaced as the node's orders are (one every ``every / rate`` seconds)."""
    import sqlite3

    connection = sqlite3.connect(folder / "bare.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE intents (id INTEGER PRIMARY KEY, payload TEXT)")
    gap_ns = int(every / rate * 1e9)
    samples = []
    try:
        for k in range(n // every):
            due = time.perf_counter_ns() + gap_ns
            while time.perf_counter_ns() < due:
                time.sleep(0)
            start = time.perf_counter_ns()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO intents VALUES (?, ?)", (k, "x" * 400))
            connection.execute("COMMIT")
            samples.append(time.perf_counter_ns() - start)
    finally:
        connection.close()
    return {**percentiles(samples), "achieved_per_s": rate, "max_backlog": 0}


CONFIGURATIONS = {  # child name: (label, paper venue, audit database)
    "thin": ("node, thin client, no store", False, False),
    "paper": ("paper node, no store", True, False),
    "paper_audit": ("paper node, SQLite audit DB", True, True),
}


def _child(kind: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--ticks", str(args.ticks),
               "--rate", str(args.rate), "--every", str(args.every)]
    if args.dir:
        command += ["--dir", args.dir]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _line(label: str, r: dict[str, float], hop: dict[str, float] | None = None) -> str:
    text = (f"  {label:<30} p50 {r['p50_us']:>9,.1f} us  p99 {r['p99_us']:>9,.1f} us  "
            f"max {r['max_us']:>9,.1f} us  ({r['n']:,.0f} samples, "
            f"offered {r['achieved_per_s']:,.0f}/s, backlog <= {r['max_backlog']:,.0f})")
    if hop is not None:
        text += f"  p99 = {r['p99_us'] / hop['p99_us']:,.0f}x hop"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--dir", help="where the state and audit files go (default: a temp dir)")
    parser.add_argument("--child", choices=["hop", "commit", *CONFIGURATIONS])
    args = parser.parse_args()
    logging.getLogger("tradeloop").setLevel(logging.WARNING)
    if args.child == "hop":
        print(json.dumps(run_queue_hop(args.ticks, args.rate, args.every)))
        return
    if args.child == "commit":
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            print(json.dumps(run_bare_commit(args.ticks, args.rate, args.every, Path(folder))))
        return
    if args.child:
        _, paper, audit = CONFIGURATIONS[args.child]
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            print(json.dumps(run_node(args.ticks, args.rate, args.every, Path(folder),
                                      paper=paper, audit=audit)))
        return
    hop = _child("hop", args)
    results = {kind: _child(kind, args) for kind in CONFIGURATIONS}
    commit = _child("commit", args)
    print(f"workload: {args.ticks:,} quotes offered at {args.rate:,.0f}/s, an order on every "
          f"{args.every}th; files in {args.dir or tempfile.gettempdir()}")
    print(_line("asyncio queue hop", hop))
    for kind, (label, _, _) in CONFIGURATIONS.items():
        print(_line(label, results[kind], hop))
    print(_line("bare durable SQLite commit", commit)
          + "  (the disk alone, spaced as the orders)")
    print("  backlog: the longest input queue seen; one that grows with --ticks means the node "
          "cannot keep up")
    print(f"  target: p99 < {TARGET_P99_US:,.0f} us (paper node, no store); with the audit DB "
          "one durable commit (the intent) is on the path, so its floor is the bare commit's")


if __name__ == "__main__":
    main()
