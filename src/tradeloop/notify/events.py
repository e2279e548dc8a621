"""From the node's bus events to alerts: fills, closed trades, rejected and denied orders,
trading state changes, the kill switch, start and stop.

:class:`AlertMaker` is subscribed to ``events.*`` on the node's bus and hands each alert to a
publish function (the router's ``publish``). Fill and close alerts get a chart of the candles
around the trade, with its entry and exit and the stop and target lines of the orders guarding
it. The bars are read on the event loop (cheap: the node keeps them), the PNG is drawn in a
worker thread (``asyncio.to_thread``), one chart at a time and in the order of the fills, and
the alert is published when it is drawn; when no bars are known, or too many charts wait, the
alert goes out without an image.

A position event comes before the fill that caused it, so a close is held until its fill
arrives (the exit price is the fill's) and both alerts go out together, sharing one chart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide
from tradeloop.notify.base import Alert, AlertKind, Severity

if TYPE_CHECKING:
    from tradeloop.analytics.levels import PriceLevel
    from tradeloop.analytics.trades import Trade
    from tradeloop.model.data import BarSeries
    from tradeloop.model.orders import Order
    from tradeloop.services.control import NodeControl

logger = logging.getLogger(__name__)

Publish = Callable[[Alert], None]

CHART_TIMEFRAME = "1m"
"""The bar length of fill and close charts unless told otherwise."""
CHART_BARS = 120
"""Bars drawn on fill and close charts."""
MAX_PENDING_CHARTS = 8
"""Charts waiting to be drawn at most; alerts beyond go out without one."""
CHART_SIZE = (1000, 600)

_STATE_SEVERITY = {"HALTED": Severity.CRITICAL, "REDUCING": Severity.WARNING}
_KILL_CODE = "KILL_SWITCH"
_DRAW_LOCK = threading.Lock()  # matplotlib is not made for drawing in several threads at once


def number(value: Decimal | float | int) -> str:
    """A quantity or price as people write it: no exponent, no trailing zeros."""
    if isinstance(value, Decimal):
        text = f"{value.normalize():f}"
        return "0" if text in ("-0", "") else text
    return f"{value:g}"


def signed(value: Decimal, currency: str = "") -> str:
    """A PnL with its sign and two decimals (``+12.30 USD``)."""
    text = f"{value.quantize(Decimal('0.01')):+,f}" if value.is_finite() else str(value)
    return f"{text} {currency}".strip()


@dataclass
class _OpenPosition:
    ts: int
    avg_px: Decimal
    side: OrderSide
    realized_at_open: Decimal


@dataclass(frozen=True)
class _ChartJob:
    series: BarSeries
    trade: Trade
    levels: list[PriceLevel]
    title: str


class AlertMaker:
    """Turns the node's bus events into alerts, with charts for fills and closed trades.

    Parameters
    ----------
    control : NodeControl
        The node (its bars for the charts, its orders for sides and stop/target levels).
    chart : bool, default True
        Attach a candle chart to fill and close alerts.
    chart_timeframe : str, default "1m"
        The bar length of those charts.
    chart_bars : int, default 120
        How many bars they show.

    Examples
    --------
    In the node's event loop::

        maker = AlertMaker(control)
        maker.attach(control.node.kernel.bus, router.publish)
        ...
        await maker.flush(timeout_s=5)
        maker.detach()
    """

    def __init__(self, control: NodeControl, chart: bool = True, *,
                 chart_timeframe: str = CHART_TIMEFRAME, chart_bars: int = CHART_BARS) -> None:
        self._control = control
        self._chart = chart
        self._timeframe = chart_timeframe
        self._bars = chart_bars
        self._publish: Publish | None = None
        self._bus: Any = None
        self._quantities: dict[tuple[str, str], Decimal] = {}
        self._open: dict[tuple[str, str], _OpenPosition] = {}
        self._closed: dict[tuple[str, str], tuple[ev.PositionClosed, _OpenPosition | None]] = {}
        self._last_chart: asyncio.Task[None] | None = None
        self._charts: set[asyncio.Task[None]] = set()

    # -- wiring -----------------------------------------------------------------------------

    def attach(self, bus: Any, publish: Publish) -> None:
        """Subscribe to ``events.*`` on ``bus`` and hand every alert to ``publish``."""
        self._publish = publish
        self._bus = bus
        bus.subscribe("events.*", self.on_event)

    def detach(self) -> None:
        """Unsubscribe from the bus (alerts being drawn are still published)."""
        if self._bus is not None:
            self._bus.unsubscribe("events.*", self.on_event)
            self._bus = None

    @property
    def pending_charts(self) -> int:
        """Charts being drawn or waiting to be."""
        return len(self._charts)

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (at most ``timeout_s``) for the charts being drawn to be published."""
        if self._charts:
            await asyncio.wait(list(self._charts), timeout=max(timeout_s, 0.0))

    # -- the bus handler --------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """Handle one bus event (never raises: a bad alert must not hurt the node)."""
        try:
            self._handle(event)
        except Exception:
            logger.exception("could not make an alert of a %s event", type(event).__name__)

    def _handle(self, event: Any) -> None:
        if isinstance(event, ev.PositionEvent):
            self._track(event)
        elif isinstance(event, ev.OrderFilled):
            self._on_fill(event)
        elif isinstance(event, ev.OrderDenied):
            self._emit(self.denied_alert(event))
        elif isinstance(event, ev.OrderRejected):
            self._emit(self.rejected_alert(event))
        elif isinstance(event, ev.TradingStateChanged):
            self._emit(self.state_alert(event))

    def _emit(self, alert: Alert) -> None:
        if self._publish is not None:
            self._publish(alert)

    def _track(self, event: ev.PositionEvent) -> None:
        key = (event.symbol, event.strategy_id)
        before = self._quantities.get(key, Decimal(0))
        self._quantities[key] = event.quantity
        side = OrderSide.BUY if event.quantity > 0 else OrderSide.SELL
        if isinstance(event, ev.PositionOpened) or (
                isinstance(event, ev.PositionChanged) and before * event.quantity < 0):
            self._open[key] = _OpenPosition(event.ts, event.avg_px, side, event.realized_pnl)
        elif isinstance(event, ev.PositionClosed):
            self._closed[key] = (event, self._open.pop(key, None))

    # -- alerts -----------------------------------------------------------------------------

    def _on_fill(self, fill: ev.OrderFilled) -> None:
        key = (fill.symbol, fill.strategy_id)
        alerts = [self.fill_alert(fill, self._quantities.get(key))]
        closed = self._closed.pop(key, None)
        if closed is not None:
            alerts.append(self.closed_alert(closed[0], closed[1], fill))
        job = self._chart_job(fill, closed[1] if closed is not None else None)
        if job is None:
            for alert in alerts:
                self._emit(alert)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script, a test): draw here
            self._emit_all(alerts, _draw(job))
            return
        previous = self._last_chart
        task = loop.create_task(self._draw_then_publish(previous, job, alerts),
                                name="notify-chart")
        self._last_chart = task
        self._charts.add(task)
        task.add_done_callback(self._charts.discard)

    async def _draw_then_publish(self, previous: asyncio.Task[None] | None, job: _ChartJob,
                                 alerts: list[Alert]) -> None:
        if previous is not None:  # keep the alerts in the order of their fills
            await asyncio.gather(previous, return_exceptions=True)
        image = await asyncio.to_thread(_draw, job)
        self._emit_all(alerts, image)

    def _emit_all(self, alerts: list[Alert], image: bytes | None) -> None:
        for alert in alerts:
            self._emit(replace(alert, image=image) if image is not None else alert)

    def fill_alert(self, fill: ev.OrderFilled, position_after: Decimal | None = None) -> Alert:
        """The alert of one fill ("Filled: BUY 1000 EURUSD @ 1.09931")."""
        side = fill.side.value
        title = f"Filled: {side} {number(fill.last_qty)} {fill.symbol} @ {number(fill.last_px)}"
        commission = f"{number(fill.commission)} {fill.commission_currency}".strip()
        fields = {"order": fill.client_order_id, "strategy": fill.strategy_id or "-",
                  "quantity": number(fill.last_qty), "price": number(fill.last_px),
                  "commission": commission}
        if position_after is not None:
            fields["position after"] = number(position_after)
        text = (f"{side} {number(fill.last_qty)} {fill.symbol} at {number(fill.last_px)} "
                f"(order {fill.client_order_id}, strategy {fill.strategy_id or '-'})")
        if position_after is not None:
            text += f"\nPosition after: {number(position_after)}"
        return Alert(AlertKind.FILL, Severity.INFO, title, text, fields,
                     dedupe_key=f"{AlertKind.FILL}|{fill.client_order_id}|{fill.trade_id}")

    def closed_alert(self, closed: ev.PositionClosed, opened: _OpenPosition | None,
                     fill: ev.OrderFilled | None = None) -> Alert:
        """The alert of a position gone flat, with the PnL it realised."""
        pnl = closed.realized_pnl - (opened.realized_at_open if opened is not None else 0)
        direction = ""
        if opened is not None:
            direction = "long " if opened.side is OrderSide.BUY else "short "
        title = f"Trade closed: {direction}{closed.symbol} {signed(pnl, closed.currency)}"
        fields = {"symbol": closed.symbol, "strategy": closed.strategy_id or "-",
                  "realised PnL": signed(pnl, closed.currency)}
        lines = [f"{direction.strip() or 'position'} {closed.symbol} closed, "
                 f"realised {signed(pnl, closed.currency)} (before commissions)"]
        if opened is not None:
            fields["entry"] = number(opened.avg_px)
        if fill is not None:
            fields["exit"] = number(fill.last_px)
            fields["order"] = fill.client_order_id
        if opened is not None:
            held_s = max(closed.ts - opened.ts, 0) // NANOS_PER_SECOND
            fields["held"] = _duration(held_s)
            lines.append(f"entry {number(opened.avg_px)}"
                         + (f", exit {number(fill.last_px)}" if fill is not None else "")
                         + f", held {_duration(held_s)}")
        return Alert(AlertKind.TRADE_CLOSED, Severity.INFO, title, "\n".join(lines), fields,
                     dedupe_key=f"{AlertKind.TRADE_CLOSED}|{closed.position_id}|{closed.ts}")

    def rejected_alert(self, event: ev.OrderRejected) -> Alert:
        """The alert of an order the venue rejected."""
        what = self._order_words(event.client_order_id) or event.symbol
        title = f"Rejected: {what}: {event.reason}"
        fields = {"order": event.client_order_id, "strategy": event.strategy_id or "-",
                  "symbol": event.symbol, "reason": event.reason}
        return Alert(AlertKind.ORDER_REJECTED, Severity.WARNING, title,
                     f"The venue rejected order {event.client_order_id}: {event.reason}", fields)

    def denied_alert(self, event: ev.OrderDenied) -> Alert:
        """The alert of an order the risk gate denied (with the rule's code and reason).

        Denials by one rule of one strategy's orders in one symbol share a de-duplication key,
        so a halted node trying again and again raises one alert per window.
        """
        what = self._order_words(event.client_order_id) or event.symbol
        code = event.code or "RISK"
        title = f"Denied ({code}): {what}"
        fields = {"order": event.client_order_id, "strategy": event.strategy_id or "-",
                  "symbol": event.symbol, "rule": code, "reason": event.reason}
        if event.limit:
            fields["limit"] = event.limit
        if event.value:
            fields["value"] = event.value
        return Alert(AlertKind.ORDER_DENIED, Severity.WARNING, title,
                     f"The risk gate denied order {event.client_order_id}: {event.reason}",
                     fields, dedupe_key=f"{AlertKind.ORDER_DENIED}|{code}|{event.symbol}|"
                                        f"{event.strategy_id}")

    def state_alert(self, event: ev.TradingStateChanged) -> Alert:
        """The alert of a trading state change: HALTED is critical, REDUCING a warning; the
        kill switch engaging is a ``kill_switch`` alert."""
        severity = _STATE_SEVERITY.get(event.state, Severity.INFO)
        kill = event.code == _KILL_CODE
        kind = AlertKind.KILL_SWITCH if kill else AlertKind.RISK_STATE
        if kill and event.state == "HALTED":
            title = "Kill switch engaged: trading HALTED"
        else:
            title = f"Trading {event.state} (was {event.previous}): {event.code}"
        fields = {"state": event.state, "previous": event.previous, "code": event.code,
                  "reason": event.reason or "-"}
        if event.by:
            fields["by"] = event.by
        text = event.reason or event.code
        if event.by:
            text += f" (by {event.by})"
        return Alert(kind, severity, title, text, fields)

    def lifecycle_alert(self, what: str, detail: str = "") -> Alert:
        """A start or stop alert ("Node paper-1 started")."""
        config = self._control.config
        title = f"Node {config.name} {what}"
        fields = {"node": config.name, "mode": config.mode}
        if self._control.run_id:
            fields["run"] = self._control.run_id
        return Alert(AlertKind.LIFECYCLE, Severity.INFO, title, detail or title, fields)

    # -- charts -----------------------------------------------------------------------------

    def _order_words(self, client_order_id: str) -> str:
        order = self._order(client_order_id)
        if order is None:
            return ""
        return f"{order.side.value} {number(order.quantity)} {order.symbol}"

    def _order(self, client_order_id: str) -> Order | None:
        node = self._control.node
        return node.kernel.cache.order(client_order_id) if node is not None else None

    def _chart_job(self, fill: ev.OrderFilled, opened: _OpenPosition | None) -> _ChartJob | None:
        if not self._chart or len(self._charts) >= MAX_PENDING_CHARTS:
            return None
        from tradeloop.analytics.levels import trade_levels
        from tradeloop.analytics.trades import Trade
        from tradeloop.notify.telegram_replies import bar_series

        try:
            market = self._control.bars(fill.symbol, self._timeframe, self._bars)
        except Exception as exc:  # no node here, a symbol without data: no chart
            logger.debug("no bars for a fill chart: %s", exc)
            return None
        if not market.bars:
            return None
        series = bar_series(market)
        if opened is not None:  # a round trip: entry at the position's open, exit at the fill
            trade = Trade(fill.symbol, fill.strategy_id, opened.side, fill.last_qty, opened.ts,
                          opened.avg_px, fill.ts, fill.last_px, 0.0, 0.0, 0.0, 0.0,
                          "", fill.client_order_id)
        else:
            trade = Trade(fill.symbol, fill.strategy_id, fill.side, fill.last_qty, fill.ts,
                          fill.last_px, None, None, 0.0, 0.0, 0.0, 0.0, fill.client_order_id,
                          None)
        node = self._control.node
        orders = [o for o in node.kernel.cache.orders.values() if o.symbol == fill.symbol] \
            if node is not None else []
        end = int(series.ts[-1]) + max(series.timeframe_ns, 1)
        levels = trade_levels([trade], orders, end) if opened is None else []
        title = f"{fill.symbol} {market.timeframe} \u00b7 {fill.side.value} " \
                f"{number(fill.last_qty)} @ {number(fill.last_px)}"
        return _ChartJob(series, trade, levels, title)


def _draw(job: _ChartJob) -> bytes | None:
    from tradeloop.analytics.charts import candle_chart

    try:
        with _DRAW_LOCK:
            return candle_chart(job.series, trades=[job.trade], levels=job.levels,
                                title=job.title, size=CHART_SIZE)
    except Exception as exc:  # a chart is a nicety: the alert goes without it
        logger.warning("fill chart not drawn: %s: %s", type(exc).__name__, exc)
        return None


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


__all__ = ["CHART_BARS", "CHART_TIMEFRAME", "AlertMaker", "number", "signed"]
