"""The trading node: the kernel driven by asyncio, for paper and live trading.

One kernel, as in backtests; only three things change. The clock follows the data when the data
is a replay (so a replay gives the backtest's times and client order ids) and the wall clock
otherwise. Market data arrives from a :class:`~tradeloop.data.feeds.MarketDataSource` through a
queue. Orders leave through a :class:`~tradeloop.execution.live.LiveOrderRouter`, which never
blocks the loop.

Start-up is strict: the node restores its books from its own history (every order and fill it
recorded), connects, reconciles with the venue, and only then starts strategies. When positions
cannot be reconciled it refuses to trade and says why.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import LiveClock, TestClock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.logging import get_logger
from tradeloop.core.time import ns_to_iso
from tradeloop.data.feeds import MarketDataSource
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.engine.kernel import Kernel, StrategyRunner
from tradeloop.execution.live import LiveOrderRouter
from tradeloop.execution.ports import IntentJournal, LiveExecutionClient
from tradeloop.execution.reconciliation import Reconciler, ReconciliationReport
from tradeloop.indicators.base import Indicator
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.orders import Order
from tradeloop.risk.base import DenialCode
from tradeloop.risk.engine import EXECUTE as RISK_EXECUTE
from tradeloop.risk.kill_switch import (
    RESUMED,
    FlattenRequests,
    FlattenResult,
    KillState,
    KillSwitch,
)

log = get_logger(__name__)

MarketItem = Bar | QuoteTick | TradeTick


@runtime_checkable
class VenueFeed(Protocol):
    """An in-process venue that must see market data before strategies do (paper mode)."""

    def on_bar(self, bar: Bar) -> None:
        """Match resting orders against a bar."""
        ...

    def on_quote(self, quote: QuoteTick) -> None:
        """Match resting orders against a quote."""
        ...

    def on_trade(self, trade: TradeTick) -> None:
        """Match resting orders against a trade print."""
        ...


class NodeStore(Protocol):
    """What the node needs of the audit database (implemented by the service layer)."""

    journal: IntentJournal

    def orders(self) -> list[Order]:
        """Every order this node recorded, in its latest known state."""
        ...

    def fills(self) -> list[ev.OrderFilled]:
        """Every fill this node recorded, oldest first."""
        ...

    def subscribe(self, bus: MessageBus) -> None:
        """Start recording what is published on the bus."""
        ...

    def record_snapshot(self, ts: int, balance: Decimal, equity: Decimal, currency: str) -> None:
        """Record the account's figures."""
        ...


class ReconciliationFailed(TradeloopError):
    """Local positions differ from the venue's after reconciliation: the node will not trade."""


@dataclass
class NodeSettings:
    """How a node runs.

    Attributes
    ----------
    name : str
    replay_clock : bool
        Follow the data's time (replays) instead of the wall clock.
    settle_orders : bool
        Wait for every order request to be answered before the next market data item: right
        for an in-process venue (its answers are immediate, and backtest parity needs them in
        order); wrong for a networked one.
    cancel_open_orders_on_stop : bool
    reconcile_every_s : float
        Periodic reconciliation; 0 turns it off.
    kill_switch : KillSwitch or None
        The node's latch: polled once per market data item (and every ``control_every_s``
        while no data comes); engaged, it halts the risk gate, even across restarts.
    cancel_on_kill : bool
        Cancel every open order when the kill switch engages.
    flatten_on_kill : bool
        Close every position when it engages (also done when the latch itself asks for it:
        ``tradeloop kill --flatten``).
    control_every_s : float
        How often the node looks at its control folder (flatten requests) and, between data
        items, at its kill switch.
    """

    name: str = "node"
    replay_clock: bool = False
    settle_orders: bool = False
    cancel_open_orders_on_stop: bool = False
    reconcile_every_s: float = 60.0
    kill_switch: KillSwitch | None = None
    cancel_on_kill: bool = True
    flatten_on_kill: bool = False
    control_every_s: float = 0.25


@dataclass
class SessionSummary:
    """What a session did, printed when it ends."""

    started_ns: int
    ended_ns: int = 0
    items: int = 0
    orders: int = 0
    fills: int = 0
    balance: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    positions: dict[str, Decimal] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    stopped_by: str = "end of data"

    def lines(self) -> list[str]:
        """The summary as short lines."""
        out = [
            f"session {ns_to_iso(self.started_ns)} to {ns_to_iso(self.ended_ns)} "
            f"({self.stopped_by})",
            f"{self.items:,} market data items, {self.orders} orders, {self.fills} fills",
            f"balance {self.balance:,.2f}, equity {self.equity:,.2f}",
        ]
        if self.positions:
            out.append("open positions: " + ", ".join(
                f"{s} {q.normalize():f}" for s, q in sorted(self.positions.items())))
        out.extend(f"strategy failure: {f}" for f in self.failures)
        return out


class TradingNode:
    """Runs strategies on live or replayed data against a networked or in-process venue.

    Parameters
    ----------
    kernel : Kernel
        With instruments and strategies added; its clock must be a ``TestClock`` when
        ``settings.replay_clock`` and a ``LiveClock`` otherwise.
    source : MarketDataSource
    client : LiveExecutionClient
    settings : NodeSettings
    store : NodeStore, optional
        The audit database; without it nothing is recorded and there is no write-ahead.
    venue_feed : VenueFeed, optional
        The in-process paper venue, fed each item before the strategies see it.
    on_market : callable, optional
        Receives every market data item (the service layer records them for ``replay``).
    """

    def __init__(self, kernel: Kernel, source: MarketDataSource, client: LiveExecutionClient,
                 settings: NodeSettings, store: NodeStore | None = None,
                 venue_feed: VenueFeed | None = None,
                 on_market: Callable[[MarketItem], None] | None = None) -> None:
        self.kernel = kernel
        self.source = source
        self.client = client
        self.settings = settings
        self.store = store
        self.venue_feed = venue_feed
        self.on_market = on_market
        self.router = LiveOrderRouter(client, kernel.clock)
        kernel.add_execution_client(self.router, default=True)
        if store is not None:
            kernel.execution.journal = store.journal
        self.reconciler = Reconciler(kernel.cache, client, kernel.execution.process,
                                     kernel.clock)
        self.summary = SessionSummary(started_ns=time.time_ns())
        self._stop = asyncio.Event()
        self._handlers: dict[str, list[tuple[StrategyRunner, Callable[[Any], None]]]] = {}
        self._indicators: dict[str, list[Indicator]] = {}
        self._steps: dict[str, int] = {}
        self._started = False
        self._pulling = False  # the pump is waiting for the source
        self._tick_handlers: dict[str, list[tuple[StrategyRunner, Callable[[Any], None]]]] = {}
        self._killed = False  # the kill switch's halt is on
        self._kill_flattened = False
        self.item_perf_ns = 0  # perf_counter_ns of the market data item being handled
        switch = settings.kill_switch
        self.flatten_requests = (None if switch is None
                                 else FlattenRequests(switch.control_dir))

    # -- start-up ---------------------------------------------------------------------------

    def restore(self) -> int:
        """Rebuild orders, positions and the balance from the node's own history.

        Returns
        -------
        int
            Fills replayed into the books.
        """
        if self.store is None:
            return 0
        cache, portfolio = self.kernel.cache, self.kernel.portfolio
        for order in self.store.orders():
            if cache.order(order.client_order_id) is None:
                cache.add_order(order)
        fills = self.store.fills()
        for fill in fills:
            portfolio.on_fill(fill)
        log.info("restored", extra={"fields": {"orders": len(cache.orders),
                                               "fills": len(fills)}})
        return len(fills)

    async def reconcile(self) -> ReconciliationReport:
        """Compare with the venue and apply what it reports; raise when positions differ."""
        report = await self.reconciler.reconcile(self._fills_since())
        if not report.ok:
            raise ReconciliationFailed(
                "positions differ from the venue's after reconciliation, so the node will not "
                "trade: " + "; ".join(report.position_mismatches))
        return report

    def _fills_since(self) -> int:
        """From when to ask the venue for fills. Fill times are the venue's (market data
        time), never the node's clock, so only local fills bound the search: with an order
        whose outcome is still open, every fill is asked for (trade ids make that safe)."""
        if any(not o.is_closed for o in self.kernel.cache.orders.values()):
            return 0
        # every fill restored or booked is in the portfolio's book: no database read needed
        return max((entry.ts for entry in self.kernel.portfolio.book), default=0)

    async def start(self) -> ReconciliationReport:
        """Restore, connect, reconcile, then start strategies (in that order)."""
        self.restore()
        if self.store is not None:
            self.store.subscribe(self.kernel.bus)
        await self.client.connect()
        try:
            report = await self.reconcile()
        except BaseException:
            await self.client.disconnect()
            raise
        switch = self.settings.kill_switch
        if switch is not None:
            # before any strategy runs: a latch engaged in an earlier session still holds
            self.on_kill_state(switch.poll() or switch.state())
        self.kernel.start()
        self._wire()  # after on_start, which declares the wake conditions
        self._started = True
        return report

    def on_kill_state(self, state: KillState) -> None:
        """Act on the kill switch's state: engaged, halt the gate (latched), cancel open
        orders and close positions as configured; re-armed, resume trading."""
        kernel = self.kernel
        settings = self.settings
        if state.engaged:
            newly = not self._killed
            if newly:
                self._killed = True
                log.warning("kill switch engaged: trading halted", extra={"fields": {
                    "by": state.by, "reason": state.reason, "flatten": state.flatten}})
                kernel.risk.halt(f"kill switch: {state.reason}", code=DenialCode.KILL_SWITCH,
                                 latched=True, by=state.by)
                if settings.cancel_on_kill:
                    kernel.cancel_all(f"kill switch: {state.reason}")
            if (settings.flatten_on_kill or state.flatten) and not self._kill_flattened:
                self._kill_flattened = True
                kernel.flatten(f"kill switch: {state.reason}")
            return
        if self._killed:
            last = state.history[-1] if state.history else None
            by, reason = ((last.by, last.reason) if last is not None and last.action == RESUMED
                          else ("", "kill switch re-armed"))
            log.warning("kill switch re-armed: trading resumes", extra={"fields": {
                "by": by, "reason": reason}})
            self._killed = self._kill_flattened = False
            kernel.risk.resume(by, reason)

    def check_controls(self) -> list[FlattenResult]:
        """Poll the kill switch and carry out the flatten requests waiting in the control
        folder (the node does this every ``control_every_s``).

        Returns
        -------
        list of FlattenResult
            The requests carried out.
        """
        switch = self.settings.kill_switch
        if switch is not None:
            changed = switch.poll()
            if changed is not None:
                self.on_kill_state(changed)
        requests = self.flatten_requests
        if requests is None:
            return []
        results = []
        for request in requests.pending():
            if not requests.take(request):
                continue
            try:
                orders = self.kernel.flatten(
                    f"flatten requested by {request.by or 'tradeloop flatten'}", request.symbol)
                result = FlattenResult(request.request_id,
                                       tuple(o.client_order_id for o in orders))
            except Exception as exc:  # the request is answered whatever happens
                log.exception("flatten request failed")
                result = FlattenResult(request.request_id, (), f"{type(exc).__name__}: {exc}")
            requests.complete(request, result)
            results.append(result)
        return results

    def _wire(self) -> None:
        for runner in self.kernel.runners:
            for symbol in runner.symbols:
                self._handlers.setdefault(symbol, []).append((runner, runner.bar_handler(symbol)))
        self._tick_handlers = {
            symbol: [(r, r.strategy.on_tick) for r in self.kernel.runners if symbol in r.symbols]
            for symbol in {s for r in self.kernel.runners for s in r.symbols}
        }

    def _wire_indicators(self) -> None:
        for runner in self.kernel.runners:
            runner.wired = True
            for indicator, symbol, timeframe in runner.indicators:
                if timeframe is not None:
                    raise TradeloopError(
                        f"{runner.strategy.id}: indicators on other timeframes "
                        f"({indicator.name} on {timeframe}) are not supported in paper and "
                        "live trading yet")
                self._indicators.setdefault(symbol, []).append(indicator)

    # -- running ----------------------------------------------------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the node to stop after the current item (signal handlers call this)."""
        self.summary.stopped_by = reason
        self._stop.set()

    async def run(self, install_signals: bool = True) -> SessionSummary:
        """Start, consume market data until it ends or a stop is requested, then stop."""
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        try:
            await self.start()
            self._wire_indicators()
            await self.source.start()
            ticker = (loop.create_task(self._periodic_reconcile())
                      if self.settings.reconcile_every_s > 0 else None)
            controls = (loop.create_task(self._control_loop())
                        if self.flatten_requests is not None else None)
            try:
                await self._consume()
            finally:
                for task in (ticker, controls):
                    if task is not None:
                        task.cancel()
                await self.source.stop()
            await self.stop()
        finally:
            if install_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
        return self.summary

    async def _consume(self) -> None:
        # One task pulls and processes the items; this one waits for it or for a stop request.
        # A stop interrupts only a pull (a source may never answer): an item being processed,
        # and the orders it sent, are finished first.
        pump = asyncio.ensure_future(self._pump())
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((pump, stopper), return_when=asyncio.FIRST_COMPLETED)
            if not pump.done() and self._pulling:
                pump.cancel()
            await asyncio.wait((pump,))
        finally:
            stopper.cancel()
            pump.cancel()  # only matters when this task itself is cancelled
        if not pump.cancelled():
            pump.result()  # the source's or the item's failure, as if raised here

    async def _pump(self) -> None:
        iterator = aiter(self.source)
        settle = self.settings.settle_orders
        stop = self._stop
        switch = self.settings.kill_switch
        while not stop.is_set():
            self._pulling = True
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                return
            finally:
                self._pulling = False
            if switch is not None:  # before the item: no order leaves after the kill is seen
                changed = switch.poll()
                if changed is not None:
                    self.on_kill_state(changed)
                    # the cancels and closing orders reach the venue before it sees the item
                    await self.router.settle()
            self.on_item(item)
            if settle and self.router.in_flight:
                await self.router.settle()
            else:
                await asyncio.sleep(0)  # a source with items at hand never yields: let others run

    async def _control_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.control_every_s)
            try:
                if self.check_controls():
                    await self.router.settle()
            except OSError as exc:
                log.error("control folder unreadable", extra={"fields": {"error": str(exc)}})

    async def _periodic_reconcile(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_every_s)
            try:
                await self.reconcile()
            except ReconciliationFailed as exc:
                log.error(str(exc))
                self.request_stop("reconciliation failed")
                return
            except TradeloopError as exc:
                log.warning("periodic reconciliation failed", extra={"fields": {
                    "error": str(exc)}})

    def on_item(self, item: MarketItem) -> None:
        """Process one market data item: the venue matches it, it marks the price, indicators
        update, and the strategies see it, as in a backtest."""
        self.item_perf_ns = time.perf_counter_ns()  # tick-to-order latency starts here
        self.summary.items += 1
        clock = self.kernel.clock
        replay = self.settings.replay_clock
        if replay:
            assert isinstance(clock, TestClock)
            if item.ts > clock.now_ns():
                clock.advance_to(item.ts)
        feed = self.venue_feed
        handlers: list[tuple[StrategyRunner, Callable[[Any], None]]]
        if isinstance(item, Bar):
            if feed is not None:
                feed.on_bar(item)
            mark = item.close
            hook = "on_bar"
            handlers = self._handlers.get(item.symbol, [])
        else:
            if isinstance(item, QuoteTick):
                if feed is not None:
                    feed.on_quote(item)
                mark = (item.bid + item.ask) / 2
            else:
                if feed is not None:
                    feed.on_trade(item)
                mark = item.price
            hook = "on_tick"
            handlers = self._tick_handlers.get(item.symbol, [])
        symbol = item.symbol
        self.kernel.cache.last_prices[symbol] = mark
        if isinstance(clock, TestClock):
            if replay and isinstance(item, Bar):
                clock.advance_to(max(clock.now_ns(), item.ts + self._step(item)))
        elif isinstance(clock, LiveClock):
            clock.poll()
        if isinstance(item, Bar):
            for indicator in self._indicators.get(symbol, ()):
                indicator.update_bar(item)
        emulator = self.kernel.execution.emulator
        if emulator.watching:
            emulator.on_price(symbol, mark)
        risk = self.kernel.risk
        if risk.has_breakers:
            risk.on_market()
        for runner, handler in handlers:
            if not runner.active:
                continue
            try:
                handler(item)
            except Exception as exc:  # user code stops, the node goes on
                runner.fail(hook, exc, item.ts)
        if self.on_market is not None:
            self.on_market(item)
        self.item_perf_ns = 0  # orders from now on are not this item's

    def _step(self, bar: Bar) -> int:
        step = self._steps.get(bar.timeframe)
        if step is None:
            step = parse_timeframe(bar.timeframe).ns if bar.timeframe else 0
            self._steps[bar.timeframe] = step
        return step

    # -- stopping ---------------------------------------------------------------------------

    async def stop(self) -> SessionSummary:
        """Stop strategies, optionally cancel open orders, wait for answers, snapshot."""
        kernel = self.kernel
        if self._started:
            kernel.stop()
            self._started = False
        if self.settings.cancel_open_orders_on_stop:
            for order in kernel.cache.open_orders():
                kernel.bus.send(RISK_EXECUTE, cmd.CancelOrder(order.client_order_id,
                                                              kernel.clock.now_ns()))
        await self.router.settle()
        account = kernel.portfolio.account
        equity = kernel.portfolio.equity
        if self.store is not None:
            self.store.record_snapshot(kernel.clock.now_ns(), account.balance, equity,
                                       account.currency)
        await self.client.disconnect()
        summary = self.summary
        summary.ended_ns = time.time_ns()
        summary.orders = len(kernel.cache.orders)
        summary.fills = sum(len(o.trade_ids) for o in kernel.cache.orders.values())
        summary.balance, summary.equity = account.balance, equity
        summary.positions = {}
        for position in kernel.cache.positions.values():
            if not position.is_flat:
                summary.positions[position.symbol] = (
                    summary.positions.get(position.symbol, Decimal(0)) + position.quantity)
        summary.failures = [str(f) for f in kernel.failures]
        for line in summary.lines():
            log.info(line)
        return summary


__all__ = [
    "NodeSettings",
    "NodeStore",
    "ReconciliationFailed",
    "SessionSummary",
    "TradingNode",
    "VenueFeed",
]
