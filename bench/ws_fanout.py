"""WebSocket fan-out: the delay from a fill to each connected client of ``/api/v1/ws``.

A real paper node (``tradeloop paper node.toml --api`` in a subprocess, the harness of
``tests/integration/api_node.py``) on loopback; N clients (1, then 10) connect to its event
stream with a read token (``Authorization: Bearer``). Market orders of 1,000 EURUSD, buy and sell
in turn, go in through ``POST /api/v1/orders`` at ``--rate`` per second on average for
``--seconds`` (open loop, Poisson arrivals from a fixed seed, so the orders fall at every phase
of the quote clock), and every client records when each fill message arrives.

What the delay measures: client receive time minus the fill's ``ts``. In paper mode a fill's
``ts`` is the venue's time, the wall-clock stamp of the quote that filled the order, so the
delay covers everything from that quote's arrival: the node's input queue, matching, the
venue's and the audit database's commits, the bus, the hub's queue per client, the JSON frame
and the socket. Both clocks are this machine's ``time.time_ns``. It excludes the wait for that
quote: a market order fills on the next quote (every 1 / ``--quotes`` s), so the time from the
REST call's return to the fill message is printed too, for reference: it adds that wait (0 to
50 ms at 20 quotes/s). Target: fill to client p99 under 50 ms.

Baseline, in the same run: the REST round trip of the orders themselves (``POST /api/v1/orders``,
on the same loop that sends the fills).

    python bench/ws_fanout.py [--clients 1,10] [--rate 5] [--seconds 10] [--quotes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from api_node import RunningNode, start_node

TARGET_P99_MS = 50.0
WAIT_FOR_FILLS_S = 10.0


@dataclass
class Listener:
    """One WebSocket client: per client order id, (receive time, the fill's ts) in ns."""

    fills: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Round:
    """One client count's figures, in ms."""

    clients: int
    orders: int
    fills_seen: int
    fill_to_client: np.ndarray
    rest_to_client: np.ndarray
    rest_round_trip: np.ndarray


async def listen(url: str, token: str, listener: Listener, ready: asyncio.Event) -> None:
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                  max_queue=None) as socket:
        ready.set()
        async for raw in socket:
            received = time.time_ns()
            message = json.loads(raw)
            if message.get("type") == "fill":
                order_id = message["data"]["client_order_id"]
                listener.fills.setdefault(order_id, (received, int(message["ts"])))


async def one_round(node: RunningNode, clients: int, rate: float, seconds: float) -> Round:
    ws_url = node.url.replace("http://", "ws://") + "/api/v1/ws"
    listeners = [Listener() for _ in range(clients)]
    ready = [asyncio.Event() for _ in range(clients)]
    tasks = [asyncio.create_task(listen(ws_url, node.tokens["read"], listener, event))
             for listener, event in zip(listeners, ready, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 10)
    await asyncio.sleep(0.5)  # the hub has registered every client

    count = int(rate * seconds)
    returned: dict[str, int] = {}
    round_trips: list[float] = []
    headers = {"Authorization": f"Bearer {node.tokens['trade']}"}
    async with httpx.AsyncClient(base_url=node.url, timeout=10, headers=headers) as client:

        async def place(i: int) -> None:
            began = time.perf_counter()
            response = await client.post("/api/v1/orders", json={
                "symbol": "EURUSD", "side": "buy" if i % 2 == 0 else "sell",
                "quantity": "1000"})
            now = time.time_ns()
            round_trips.append(time.perf_counter() - began)
            response.raise_for_status()
            returned[response.json()["client_order_id"]] = now

        gaps = np.random.default_rng(7).exponential(1 / rate, count)
        due = time.perf_counter() + np.cumsum(gaps) - gaps[0]
        sends = []
        for i in range(count):
            delay = due[i] - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sends.append(asyncio.create_task(place(i)))
        await asyncio.gather(*sends)

    deadline = time.monotonic() + WAIT_FOR_FILLS_S
    while time.monotonic() < deadline and not all(
            set(returned) <= set(listener.fills) for listener in listeners):
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    seen = [(listener.fills[oid], sent) for listener in listeners
            for oid, sent in returned.items() if oid in listener.fills]
    return Round(
        clients=clients, orders=count, fills_seen=len(seen),
        fill_to_client=np.array([(got - ts) / 1e6 for (got, ts), _ in seen]),
        rest_to_client=np.array([(got - sent) / 1e6 for (got, _), sent in seen]),
        rest_round_trip=np.array(round_trips) * 1e3)


def figures(values: np.ndarray) -> str:
    if values.size == 0:
        return "no data"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:6.2f} ms, p99 {p99:6.2f} ms, max {values.max():6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,10", help="client counts, comma-separated")
    parser.add_argument("--rate", type=float, default=5.0, help="orders per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quotes", type=float, default=20.0, help="quotes per second")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]

    with tempfile.TemporaryDirectory(prefix="ws-fanout-") as home:
        began = time.monotonic()
        node = start_node(Path(home), rate_per_s=args.quotes)
        gc.collect()
        gc.freeze()  # the measuring process's own full collections are not the node's delay
        try:
            rounds = [asyncio.run(one_round(node, n, args.rate, args.seconds)) for n in counts]
        finally:
            node.stop()
        elapsed = time.monotonic() - began

    print(f"WebSocket fan-out: {args.rate:g} market orders/s for {args.seconds:g} s per round, "
          f"{args.quotes:g} quotes/s, loopback ({elapsed:.1f} s in all)")
    for r in rounds:
        met = r.fill_to_client.size and np.percentile(r.fill_to_client, 99) < TARGET_P99_MS
        print(f"  {r.clients:>3} client(s): {r.orders} orders, {r.fills_seen}/"
              f"{r.orders * r.clients} fill messages received")
        print(f"      fill -> client       : {figures(r.fill_to_client)} "
              f"(target p99 < {TARGET_P99_MS:.0f} ms: {'met' if met else 'MISSED'})")
        print(f"      REST return -> client: {figures(r.rest_to_client)} "
              f"(includes the wait for the next quote)")
        print(f"      baseline REST POST   : {figures(r.rest_round_trip)}")


if __name__ == "__main__":
    main()
