"""Sustained ingest of a running trading node: synthetic quotes through one strategy, in ticks/s.

The node is the real :class:`~tradeloop.engine.live.TradingNode` on a live clock with one
strategy that keeps a 20-quote moving average of the mid and trades one unit every
``--trade-every`` quotes (rarely: the figure is about ingest). The source is
``SyntheticQuotes(realtime=False)``: quotes made on demand, as fast as they are pulled.

Three figures, each the best of ``--repeat`` runs in their own process:

* baseline: a bare ``async for`` over the same source calling a trivial function per quote;
* the node with the thin execution client of ``tick_to_order.py`` (stamps each order and
  answers it at once; no venue is fed, no store): the node's own ingest, as with a networked
  venue. Target: 50,000 ticks/s;
* the paper node as the paper service wires it: the in-process ``PaperVenue`` fed every quote
  before the strategy (it commits its marks to its state file on each one) and the SQLite
  audit database.

    python bench/node_ingest.py [--ticks N] [--repeat R] [--trade-every K] [--dir PATH]
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
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tick_to_order import SYMBOL, build_node
from tradeloop.data.feeds import MarketData, SyntheticQuotes
from tradeloop.model.data import QuoteTick, TradeTick
from tradeloop.strategy.base import Strategy

TARGET_PER_S = 50_000


class MidAverage(Strategy):
    """A 20-quote moving average of the mid; one unit bought or sold every ``trade_every``."""

    window: int = 20
    trade_every: int = 10_000

    def on_start(self) -> None:
        self.seen = 0
        self.total = 0.0
        self.mids: deque[float] = deque()
        self.average = float("nan")

    def on_tick(self, tick: QuoteTick | TradeTick) -> None:
        assert isinstance(tick, QuoteTick)
        mid = (tick.bid + tick.ask) * 0.5
        self.mids.append(mid)
        self.total += mid
        if len(self.mids) > self.window:
            self.total -= self.mids.popleft()
        self.average = self.total / len(self.mids)
        self.seen += 1
        if self.seen % self.trade_every == 0:
            self.buy(1) if (self.seen // self.trade_every) % 2 else self.sell(1)


def source(n: int) -> SyntheticQuotes:
    """``n`` seeded quotes on a virtual clock starting now, delivered as fast as pulled."""
    return SyntheticQuotes([SYMBOL], seed=11, rate_per_s=10_000, start_ns=time.time_ns(),
                           start_prices={SYMBOL: 100.0}, tick_sizes={SYMBOL: 0.01},
                           realtime=False, limit=n)


def run_bare(n: int) -> dict[str, float]:
    """The baseline: pull every quote from the same source and call a trivial function."""
    seen = [0]

    def count(item: QuoteTick) -> None:
        seen[0] += 1

    async def main() -> float:
        quotes = source(n)
        await quotes.start()
        started = time.perf_counter()
        async for quote in quotes:
            count(quote)
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return {"ticks_per_s": seen[0] / elapsed, "items": seen[0], "orders": 0}


def run_node(n: int, trade_every: int, folder: Path, paper: bool) -> dict[str, float]:
    """The node consuming ``n`` quotes; ticks/s from the first quote to the end of data."""
    strategy = MidAverage(trade_every=trade_every)
    quotes = source(n)
    node, _, close = build_node(quotes, strategy, folder, paper=paper, audit=paper)
    first: list[float] = []
    consume = node.on_item

    def on_item(item: MarketData) -> None:  # starts the timer at the first quote
        if not first:
            first.append(time.perf_counter())
        consume(item)

    node.on_item = on_item  # type: ignore[method-assign]
    try:
        summary = asyncio.run(node.run(install_signals=False))
        elapsed = time.perf_counter() - first[0]
    finally:
        close()
    return {"ticks_per_s": summary.items / elapsed, "items": summary.items,
            "orders": summary.orders}


def _child(kind: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--ticks", str(args.ticks),
               "--trade-every", str(args.trade_every)]
    if args.dir:
        command += ["--dir", args.dir]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trade-every", type=int, default=10_000)
    parser.add_argument("--dir", help="where the state and audit files go (default: a temp dir)")
    parser.add_argument("--child", choices=["bare", "node", "paper"])
    args = parser.parse_args()
    logging.getLogger("tradeloop").setLevel(logging.WARNING)
    if args.child == "bare":
        print(json.dumps(run_bare(args.ticks)))
        return
    if args.child:
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            print(json.dumps(run_node(args.ticks, args.trade_every, Path(folder),
                                      paper=args.child == "paper")))
        return
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for kind in ("bare", "node", "paper"):
            result = _child(kind, args)
            if kind not in best or result["ticks_per_s"] > best[kind]["ticks_per_s"]:
                best[kind] = result
    bare = best["bare"]
    print(f"workload: {args.ticks:,} synthetic quotes (realtime=False), one strategy (20-quote "
          f"mid average, a trade every {args.trade_every:,}), best of {args.repeat}")
    print(f"  {'bare async loop over the source':<32} {bare['ticks_per_s']:>10,.0f} ticks/s")
    for kind, label in (("node", "node, thin client, no store"),
                        ("paper", "paper node (venue + audit DB)")):
        r = best[kind]
        print(f"  {label:<32} {r['ticks_per_s']:>10,.0f} ticks/s  ({r['orders']:,.0f} orders; "
              f"bare/node {bare['ticks_per_s'] / r['ticks_per_s']:.1f}x)")
    print(f"  target: >= {TARGET_PER_S:,} ticks/s through the node (thin client)")

if __name__ == "__main__":
    main()
