"""Prometheus metrics of a node, served at ``/metrics``: orders by status, fills, rejects and
denials by reason, event-loop lag, tick-to-order latency and reconnects.

Each app has its own registry (no process-wide state), filled from the node's bus events as
they happen and from the node itself when scraped.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tradeloop.model import events as ev

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_EVERY_S = 0.5
disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0)


class NodeMetrics:
    """The metrics of one node.

    Parameters
    ----------
    node : TradingNode, optional
        The node running in this process (orders by status, reconnects and tick-to-order
        come from it; without it those stay empty).
    """

    def __init__(self, node: Any = None) -> None:
        self.node = node
        self.registry = CollectorRegistry(auto_describe=True)
        self.fills = Counter("tradeloop_fills", "Fills received.", registry=self.registry)
        self.rejects = Counter("tradeloop_order_rejects", "Orders the venue rejected, by reason.",
                               ["reason"], registry=self.registry)
        self.denials = Counter("tradeloop_order_denials",
                               "Orders the risk gate denied, by rule code.", ["code"],
                               registry=self.registry)
        self.loop_lag = Gauge("tradeloop_event_loop_lag_seconds",
                              "How late the event loop ran a timer, last measured.",
                              registry=self.registry)
        self.loop_lag_max = Gauge("tradeloop_event_loop_lag_max_seconds",
                                  "The largest event-loop lag seen.", registry=self.registry)
        self.tick_to_order = Histogram(
            "tradeloop_tick_to_order_seconds",
            "From a market data item's arrival to an order it caused being submitted.",
            buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_NodeCollector(self))

    def on_event(self, event: Any) -> None:
        """Count one bus event."""
        if isinstance(event, ev.OrderFilled):
            self.fills.inc()
        elif isinstance(event, ev.OrderDenied):
            self.denials.labels(code=event.code or "OTHER").inc()
        elif isinstance(event, ev.OrderRejected):
            self.rejects.labels(reason=_reason_label(event.reason)).inc()
        elif isinstance(event, ev.OrderSubmitted):
            started = getattr(self.node, "item_perf_ns", None)
            if started:
                self.tick_to_order.observe((time.perf_counter_ns() - started) / 1e9)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

    async def watch_loop(self, every_s: float = LAG_EVERY_S) -> None:
        """Measure how late the loop wakes a timer, forever."""
        worst = 0.0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(every_s)
            lag = max(time.perf_counter() - before - every_s, 0.0)
            worst = max(worst, lag)
            self.loop_lag.set(lag)
            self.loop_lag_max.set(worst)


def _reason_label(reason: str) -> str:
    """A bounded label: the reason's first words (venue texts vary without bound)."""
    words = reason.replace(":", " ").split()
    return " ".join(words[:4]).lower() or "unknown"


class _NodeCollector(Collector):
    def __init__(self, metrics: NodeMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        node = self._metrics.node
        orders = GaugeMetricFamily("tradeloop_orders", "Orders this session, by status.",
                                   labels=["status"])
        reconnects = GaugeMetricFamily("tradeloop_reconnects",
                                       "Reconnections of the market data and order streams.",
                                       labels=["stream"])
        if node is not None:
            tally = Tally(o.status.value for o in node.kernel.cache.orders.values())
            for status, count in sorted(tally.items()):
                orders.add_metric([status], count)
            for name, owner in (("market_data", node.source), ("orders", node.client)):
                times = _reconnects(owner)
                if times is not None:
                    reconnects.add_metric([name], times)
        yield orders
        yield reconnects


def _reconnects(owner: Any) -> int | None:
    for candidate in (owner, getattr(owner, "_client", None)):
        value = getattr(candidate, "reconnects", None)
        if isinstance(value, int):
            return value
    return None
