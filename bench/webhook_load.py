"""TradingView webhook under load: 200 valid alerts per second for 10 seconds, on loopback.

A real paper node (``tradeloop paper node.toml --api`` in a subprocess, the harness of
``tests/integration/api_node.py``) takes the alerts at ``POST /webhook/tradingview`` from
127.0.0.1. The sender is open-loop: alert ``i`` leaves at ``start + i / rate`` whatever became
of the earlier ones (one asyncio task per request over an ``httpx.AsyncClient``), and its
acknowledgement latency runs from that scheduled time to the answer, so a stalled server shows
up as latency instead of slowing the sender (no coordinated omission). Alerts alternate buy and
sell of 1,000 EURUSD so the position stays flat, each with a new id; every
``--replay-every``-th request re-sends an earlier alert (same id) instead, which must be
answered 409 and add no order.

After the last answer the run waits for the orders to settle (every accepted alert's order in
the node's order list, bounded by ``--settle-s``) and prints: alerts sent, accepted and
refused, p50/p99/max acknowledgement latency (ms) of the accepted ones, the orders created
(those tagged ``tradingview:<a bench id>``) and the distinct alert ids accepted, and whether
they match. Target: p99 under 50 ms. Baseline, measured in the same run at the same rate
before the alerts: ``GET /health`` (the bare server: HTTP, routing, the client's own cost).

The sender and the node share this machine's CPUs, so the figures include the sender's cost.
The sender freezes its garbage collector's long-lived objects before timing (``gc.freeze``), so
its own full collections (tens of milliseconds with httpx, numpy and the harness loaded) do not
show up as the node's latency; the node runs as shipped.

    python bench/webhook_load.py [--rate 200] [--seconds 10] [--replay-every 100] [--dir PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from api_node import PASSPHRASE, RunningNode, start_node

WEBHOOK = "/webhook/tradingview"
ID_PREFIX = "bench-"
TARGET_P99_MS = 50.0


@dataclass
class Answers:
    """What came back, per request: its kind, its alert id (none for /health), its status
    (0: no answer) and its latency in seconds from its scheduled time."""

    kinds: list[str]
    ids: list[str]
    statuses: list[int]
    latencies: list[float]

    def of(self, kind: str, status: int | None = None) -> list[int]:
        """The requests of ``kind`` (answered ``status``)."""
        return [i for i, (k, s) in enumerate(zip(self.kinds, self.statuses, strict=True))
                if k == kind and (status is None or s == status)]


def alert_body(n: int) -> bytes:
    """Alert ``n``: a market order of 1000 EURUSD, buy on even ``n``, sell on odd."""
    return json.dumps({
        "passphrase": PASSPHRASE, "id": alert_id(n), "ticker": "EURUSD",
        "action": "buy" if n % 2 == 0 else "sell", "contracts": "1000",
        "timenow": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }).encode()


def alert_id(n: int) -> str:
    return f"{ID_PREFIX}{n:06d}"


Request = tuple[str, str, bytes | None, str]  # kind, path, body (None: a GET), alert id


async def open_loop(client: httpx.AsyncClient, count: int, rate: float,
                    request: Callable[[int], Request],
                    answered: Callable[[int, int], None] = lambda i, status: None) -> Answers:
    """Send ``count`` requests, request ``i`` at ``start + i / rate`` whatever became of the
    earlier ones; wait for every answer. ``answered(i, status)`` hears each answer."""
    answers = Answers([""] * count, [""] * count, [0] * count, [float("nan")] * count)

    async def one(i: int, due: float) -> None:
        kind, path, body, sent_id = request(i)
        answers.kinds[i], answers.ids[i] = kind, sent_id
        try:
            if body is None:
                response = await client.get(path)
            else:
                response = await client.post(path, content=body,
                                             headers={"Content-Type": "application/json"})
            answers.statuses[i] = response.status_code
        except httpx.HTTPError:
            answers.statuses[i] = 0
        answers.latencies[i] = time.perf_counter() - due
        answered(i, answers.statuses[i])

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter() + 0.05
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return answers


def percentiles_ms(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max in milliseconds."""
    values = np.asarray(latencies, dtype=float) * 1e3
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (float("nan"),) * 3
    p50, p99 = np.percentile(values, [50, 99])
    return float(p50), float(p99), float(values.max())


def bench_orders(node: RunningNode) -> list[dict[str, Any]]:
    """The orders the bench's alerts made (tagged ``tradingview:bench-...``)."""
    with node.client("read") as client:
        found = client.get("/api/v1/orders", params={"limit": 10_000}, timeout=30)
    found.raise_for_status()
    return [o for o in found.json()
            if any(t.startswith(f"tradingview:{ID_PREFIX}") for t in o["tags"])]


def settle(node: RunningNode, expected: int, timeout_s: float) -> list[dict[str, Any]]:
    """The bench's orders once ``expected`` exist and none is still in flight (or the
    timeout passes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        orders = bench_orders(node)
        in_flight = [o for o in orders if o["status"] in ("INITIALIZED", "SUBMITTED")]
        if (len(orders) >= expected and not in_flight) or time.monotonic() > deadline:
            return orders
        time.sleep(0.2)


def signal_statuses(node: RunningNode) -> Counter[str]:
    with node.client("read") as client:
        found = client.get("/api/v1/signals", params={"limit": 10_000}, timeout=30)
    found.raise_for_status()
    return Counter(s["status"].split(":")[0] for s in found.json()
                   if str(s["payload"].get("id", "")).startswith(ID_PREFIX))


async def run_load(node: RunningNode, rate: float, count: int,
                   replay_every: int) -> tuple[Answers, Answers]:
    """The /health baseline, then the alerts. Every ``replay_every``-th alert request re-sends
    the latest alert already acknowledged (so its id is stored: it must be refused)."""
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    health: Request = ("health", "/health", None, "")
    async with httpx.AsyncClient(base_url=node.url, timeout=10, limits=limits) as client:
        await open_loop(client, min(count, 100), rate, lambda i: health)  # warm up
        baseline = await open_loop(client, count, rate, lambda i: health)
        acknowledged: list[int] = []

        def request(i: int) -> Request:
            if replay_every and i % replay_every == replay_every - 1 and acknowledged:
                n = acknowledged[-1]
                return "replay", WEBHOOK, alert_body(n), alert_id(n)
            return "alert", WEBHOOK, alert_body(i), alert_id(i)

        def answered(i: int, status: int) -> None:
            if status == 200:
                acknowledged.append(i)

        alerts = await open_loop(client, count, rate, request, answered)
    return baseline, alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--replay-every", type=int, default=100,
                        help="every k-th request re-sends an earlier alert (0: none)")
    parser.add_argument("--settle-s", type=float, default=20.0)
    parser.add_argument("--durability", choices=("full", "intents"), default="full",
                        help="the audit database's [database] durability")
    parser.add_argument("--dir", type=Path, default=None, help="the node's home (default: temp)")
    args = parser.parse_args()
    count = int(args.rate * args.seconds)

    extra = f'[database]\ndurability = "{args.durability}"\n'

    with tempfile.TemporaryDirectory(prefix="webhook-load-") as scratch:
        home = args.dir or Path(scratch)
        began = time.monotonic()
        node = start_node(home, extra=extra)
        gc.collect()
        gc.freeze()
        try:
            health, alerts = asyncio.run(run_load(node, args.rate, count, args.replay_every))
            orders = settle(node, len(alerts.of("alert", 200)), args.settle_s)
            statuses = signal_statuses(node)
        finally:
            node.stop()
        elapsed = time.monotonic() - began

    sent_ids = {alerts.ids[i] for i in alerts.of("alert")}
    accepted = alerts.of("alert", 200)
    accepted_ids = {alerts.ids[i] for i in accepted + alerts.of("replay", 200)}
    replays = alerts.of("replay")
    other = Counter(alerts.statuses[i] for i in alerts.of("alert") if alerts.statuses[i] != 200)
    ack = percentiles_ms([alerts.latencies[i] for i in accepted])
    base = percentiles_ms([health.latencies[i] for i in health.of("health", 200)])
    order_ids = {t.removeprefix("tradingview:") for o in orders for t in o["tags"]
                 if t.startswith("tradingview:")}
    by_status = Counter(o["status"] for o in orders)
    matches = len(orders) == len(order_ids) and order_ids == accepted_ids

    print(f"webhook load: {args.rate:.0f} requests/s for {args.seconds:.0f} s, open loop, "
          f"loopback, audit database durability {args.durability!r} ({elapsed:.1f} s in all)")
    print(f"  baseline GET /health   : {len(health.of('health', 200))}/{count} ok, "
          f"p50 {base[0]:.2f} ms, p99 {base[1]:.2f} ms, max {base[2]:.2f} ms")
    print(f"  alerts sent            : {count} ({len(sent_ids)} distinct ids, "
          f"{len(replays)} replays of acknowledged ids)")
    print(f"  accepted (200)         : {len(accepted)}"
          + (f"; other answers {dict(other)}" if other else ""))
    print(f"  replays refused (409)  : {len(alerts.of('replay', 409))}/{len(replays)}")
    print(f"  ack latency (accepted) : p50 {ack[0]:.2f} ms, p99 {ack[1]:.2f} ms, "
          f"max {ack[2]:.2f} ms (target p99 < {TARGET_P99_MS:.0f} ms: "
          f"{'met' if ack[1] < TARGET_P99_MS else 'MISSED'})")
    print(f"  orders created         : {len(orders)} {dict(by_status)}")
    print(f"  signals                : {dict(statuses)}")
    print(f"  distinct ids accepted  : {len(accepted_ids)}")
    print(f"  orders == distinct ids : {'yes' if matches else 'NO'}")


if __name__ == "__main__":
    main()
