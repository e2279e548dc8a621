"""Alerts from the node's bus events: fills (with the position after), closed trades (the PnL
realised since the position opened), rejected and denied orders, trading state changes and
the kill switch, with their severities and fields; a chart of the candles around the trade
attached when the node has bars, drawn off the event loop; none when it has not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.nodes import synthetic_node_config
from tradeloop.core.time import NANOS_PER_MINUTE, NANOS_PER_SECOND
from tradeloop.model import events as ev
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderSide
from tradeloop.notify.base import Alert, AlertKind, Severity
from tradeloop.notify.events import AlertMaker
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.node import build_node

T0 = 1_767_225_600 * NANOS_PER_SECOND  # 2026-01-01 00:00 UTC
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Harness:
    control: NodeControl
    node: Any
    bus: Any
    alerts: list[Alert]

    def quotes(self, minutes: int) -> None:
        for k in range(minutes * 4):
            mid = 1.1 + 0.0002 * ((k % 17) - 8)
            self.node.market_recorder.add(QuoteTick("EURUSD", T0 + k * 15 * NANOS_PER_SECOND,
                                                    mid - 0.00005, mid + 0.00005))


@pytest.fixture
def harness(tmp_path: Path, tradeloop_home: Path) -> Iterator[Harness]:
    config = synthetic_node_config(tmp_path, name="alerts-node")
    database = open_database(None, tradeloop_home)
    store = AuditStore(database)
    node, _, run_id, _ = build_node(config, tradeloop_home, store)  # built, never run
    control = NodeControl(config, store, node, run_id, tradeloop_home)
    alerts: list[Alert] = []
    try:
        yield Harness(control, node, node.kernel.bus, alerts)
    finally:
        node.venue_feed.close()
        database.close()


def _fill(ts: int, side: OrderSide, qty: str, px: str, order: str = "O-1") -> ev.OrderFilled:
    return ev.OrderFilled(ts=ts, client_order_id=order, strategy_id="sma", symbol="EURUSD",
                          venue_order_id="V-1", trade_id=f"T-{order}", side=side,
                          last_qty=Decimal(qty), last_px=Decimal(px), commission=Decimal("0.5"),
                          commission_currency="USD")


def _position(cls: type[ev.PositionEvent], ts: int, qty: str, avg: str,
              realized: str) -> ev.PositionEvent:
    return cls(ts=ts, position_id="EURUSD-sma", symbol="EURUSD", strategy_id="sma",
               quantity=Decimal(qty), avg_px=Decimal(avg), realized_pnl=Decimal(realized),
               currency="USD")


def _round_trip(bus: Any) -> None:
    # as the kernel publishes them: the position's change first, then the fill behind it
    opened_at, closed_at = T0 + 10 * NANOS_PER_MINUTE, T0 + 40 * NANOS_PER_MINUTE
    bus.publish("events.position.sma", _position(ev.PositionOpened, opened_at, "1000",
                                                 "1.09931", "7"))
    bus.publish("events.order.sma", _fill(opened_at, OrderSide.BUY, "1000", "1.09931"))
    bus.publish("events.position.sma", _position(ev.PositionClosed, closed_at, "0",
                                                 "1.09931", "19.5"))
    bus.publish("events.order.sma", _fill(closed_at, OrderSide.SELL, "1000", "1.10056", "O-2"))


def test_fills_and_the_closed_trade_become_alerts_without_a_chart(harness: Harness) -> None:
    maker = AlertMaker(harness.control, chart=False)
    maker.attach(harness.bus, harness.alerts.append)
    _round_trip(harness.bus)
    kinds = [a.kind for a in harness.alerts]
    assert kinds == [AlertKind.FILL, AlertKind.FILL, AlertKind.TRADE_CLOSED]
    entry, exit_, closed = harness.alerts
    assert entry.title == "Filled: BUY 1000 EURUSD @ 1.09931"
    assert entry.severity is Severity.INFO and entry.image is None
    assert entry.fields == {"order": "O-1", "strategy": "sma", "quantity": "1000",
                            "price": "1.09931", "commission": "0.5 USD",
                            "position after": "1000"}
    assert exit_.fields["position after"] == "0"
    # the PnL realised since the position opened (19.5 - 7), not the position's lifetime
    assert closed.title == "Trade closed: long EURUSD +12.50 USD"
    assert closed.fields["entry"] == "1.09931" and closed.fields["exit"] == "1.10056"
    assert closed.fields["held"] == "30m 0s" and closed.fields["realised PnL"] == "+12.50 USD"
    maker.detach()
    harness.bus.publish("events.order.sma", _fill(T0, OrderSide.BUY, "1", "1.1", "O-3"))
    assert len(harness.alerts) == 3


def test_fill_and_close_alerts_carry_a_chart_drawn_off_the_loop(harness: Harness) -> None:
    harness.quotes(minutes=60)

    async def run() -> None:
        maker = AlertMaker(harness.control)
        maker.attach(harness.bus, harness.alerts.append)
        _round_trip(harness.bus)
        assert harness.alerts == []  # drawing: nothing published yet, the loop is free
        assert maker.pending_charts == 2
        await maker.flush(timeout_s=60)

    asyncio.run(run())
    assert [a.kind for a in harness.alerts] == [AlertKind.FILL, AlertKind.FILL,
                                                AlertKind.TRADE_CLOSED]
    for alert in harness.alerts:
        assert alert.image is not None and alert.image.startswith(PNG)
    assert harness.alerts[1].image is harness.alerts[2].image  # one chart for the round trip


def test_without_bars_the_alert_goes_without_a_chart(harness: Harness) -> None:
    async def run() -> None:
        maker = AlertMaker(harness.control)
        maker.attach(harness.bus, harness.alerts.append)
        harness.bus.publish("events.order.sma", _fill(T0, OrderSide.SELL, "2000", "1.2"))
        await maker.flush()

    asyncio.run(run())
    (alert,) = harness.alerts
    assert alert.title == "Filled: SELL 2000 EURUSD @ 1.2" and alert.image is None


def test_rejections_denials_and_state_changes(harness: Harness) -> None:
    maker = AlertMaker(harness.control, chart=False)
    maker.attach(harness.bus, harness.alerts.append)
    bus = harness.bus
    bus.publish("events.order.sma", ev.OrderRejected(
        ts=T0, client_order_id="O-9", strategy_id="sma", symbol="EURUSD",
        reason="insufficient margin"))
    for order in ("O-10", "O-11"):
        bus.publish("events.order.sma", ev.OrderDenied(
            ts=T0, client_order_id=order, strategy_id="sma", symbol="EURUSD",
            reason="position 5000 > 4000", code="POSITION", limit="4000", value="5000"))
    bus.publish("events.risk", ev.TradingStateChanged(
        ts=T0, state="REDUCING", previous="ACTIVE", code="DAILY_LOSS",
        reason="daily loss 2.1% > 2%"))
    bus.publish("events.risk", ev.TradingStateChanged(
        ts=T0, state="HALTED", previous="REDUCING", code="DRAWDOWN", reason="drawdown 11%"))
    bus.publish("events.risk", ev.TradingStateChanged(
        ts=T0, state="HALTED", previous="ACTIVE", code="KILL_SWITCH", reason="drill",
        by="telegram:42"))
    bus.publish("events.risk", ev.TradingStateChanged(
        ts=T0, state="ACTIVE", previous="HALTED", code="RESUMED", reason="", by="ops"))
    rejected, denied, denied_again, reducing, halted, kill, resumed = harness.alerts
    assert rejected.kind == AlertKind.ORDER_REJECTED and rejected.severity is Severity.WARNING
    assert rejected.fields["reason"] == "insufficient margin"
    assert denied.kind == AlertKind.ORDER_DENIED and denied.severity is Severity.WARNING
    assert denied.fields["rule"] == "POSITION" and denied.fields["limit"] == "4000"
    assert denied.title.startswith("Denied (POSITION)")
    assert denied.key == denied_again.key  # one rule denying again and again: one alert
    assert (reducing.kind, reducing.severity) == (AlertKind.RISK_STATE, Severity.WARNING)
    assert (halted.kind, halted.severity) == (AlertKind.RISK_STATE, Severity.CRITICAL)
    assert (kill.kind, kill.severity) == (AlertKind.KILL_SWITCH, Severity.CRITICAL)
    assert kill.title == "Kill switch engaged: trading HALTED" and kill.fields["by"] == \
        "telegram:42"
    assert (resumed.kind, resumed.severity) == (AlertKind.RISK_STATE, Severity.INFO)


def test_lifecycle_alerts_name_the_node(harness: Harness) -> None:
    alert = AlertMaker(harness.control).lifecycle_alert("started")
    assert alert.kind == AlertKind.LIFECYCLE and alert.title == "Node alerts-node started"
    assert alert.fields["mode"] == "paper" and alert.fields["run"] == harness.control.run_id


def test_a_failing_handler_never_reaches_the_bus(harness: Harness) -> None:
    def broken(alert: Alert) -> None:
        raise RuntimeError("boom")

    maker = AlertMaker(harness.control, chart=False)
    maker.attach(harness.bus, broken)
    harness.bus.publish("events.order.sma", _fill(T0, OrderSide.BUY, "1", "1.1"))  # no raise
