"""The operations every control surface calls on a node: what it holds and does (status,
account, positions, orders, fills, signals, risk, runs, performance, configuration) and what it
is told (place, cancel and modify orders; pause, resume, kill, re-arm, flatten, stop).

A :class:`NodeControl` works on the node's audit database and, when the node runs in this
process (``tradeloop paper`` with its API), on the running node itself. Without a running node
(``tradeloop serve``), reads come from the database, the kill switch and flatten requests go
through the node's latch and control folder (a node running elsewhere acts on them within a
quarter of a second), and the commands that need the node in this process answer
:class:`NodeNotRunning`.

Every call runs on the thread that owns the node (the API calls it from the event loop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.identifiers import client_order_id
from tradeloop.core.time import NANOS_PER_DAY, ns_to_dt
from tradeloop.engine.live import TradingNode
from tradeloop.model import commands as cmd
from tradeloop.model.enums import ContingencyType, OrderSide, OrderType, TimeInForce
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditStore
from tradeloop.risk.base import DenialCode, TradingState
from tradeloop.risk.engine import EXECUTE
from tradeloop.services.market_bars import MAX_MARKET_BARS, BarBook, MarketBars
from tradeloop.services.node_views import (
    AccountTracker,
    AccountView,
    FillView,
    OrderView,
    PositionView,
    RiskEventView,
    RiskView,
    SignalView,
    StatusView,
    account_from_store,
    fill_view,
    order_view,
    position_from_event,
    position_from_node,
    risk_event_view,
)
from tradeloop.services.risk import flatten_node, kill_node, kill_status, resume_node

API = "API"
"""Strategy id of orders placed through a control surface."""


class NodeNotRunning(TradeloopError):
    """The operation needs the node running in this process."""


class OrderNotFound(TradeloopError):
    """No order with that client order id."""


@dataclass(frozen=True)
class OrderRequest:
    """A manual order as a surface asks for it (numbers as text, checked here).

    Attributes
    ----------
    symbol : str
    side : {"buy", "sell"}
    quantity : str
    limit_price, stop_price : str, optional
        A limit order with ``limit_price``, a stop with ``stop_price``, a stop-limit with both.
    time_in_force : str
    reduce_only : bool
    tag : str
        Kept with the order (``api``, ``telegram``, ``tradingview:<alert>``...).
    client_order_id : str, optional
        A caller-chosen id (a webhook derives it from the alert id); a second order with the
        same id is refused.
    stop_loss, take_profit : str, optional
        Together: a bracket (the entry, then a stop-loss and a take-profit that cancel each
        other once it fills); their ids derive from the entry's.
    strategy_id : str
        Whose position the order changes (``API`` for manual orders).
    """

    symbol: str
    side: str
    quantity: str
    limit_price: str | None = None
    stop_price: str | None = None
    time_in_force: str = "GTC"
    reduce_only: bool = False
    tag: str = "api"
    client_order_id: str | None = None
    stop_loss: str | None = None
    take_profit: str | None = None
    strategy_id: str = API


class NodeControl:
    """The node as the API, the CLI and Telegram see it.

    Parameters
    ----------
    config : NodeConfig
    store : AuditStore
        The node's audit database.
    node : TradingNode, optional
        The node, when it runs in this process.
    run_id : str, optional
        The node's current run, when it runs in this process.
    home : Path, optional
    """

    def __init__(self, config: NodeConfig, store: AuditStore, node: TradingNode | None = None,
                 run_id: str | None = None, home: Path | None = None) -> None:
        self.config = config
        self.store = store
        self.node = node
        self.run_id = run_id
        self.home = home or home_dir()
        self._paused_by: str | None = None
        self._seq = 0
        self.started_ns = time.time_ns()
        self._bar_book = BarBook()
        self._account: AccountTracker | None = None

    # -- reads ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True when the node runs in this process."""
        return self.node is not None

    def status(self) -> StatusView:
        """Name, mode, whether the node runs here, trading state, kill switch, counts."""
        latch = kill_status(self.config, self.home)
        risk = self.risk()
        node = self.node
        open_orders = (sum(1 for o in node.kernel.cache.orders.values() if o.is_open)
                       if node is not None else len(self.store.orders(open_only=True)))
        return StatusView(
            name=self.config.name, mode=self.config.mode, running=node is not None,
            run_id=self.run_id, started_ns=self.started_ns if node is not None else None,
            trading_state=risk.state, state_reason=risk.reason, paused=self._paused_by is not None,
            kill_engaged=latch.engaged, kill_since_ns=latch.since, kill_by=latch.by or None,
            kill_reason=latch.reason or None, open_orders=open_orders,
            positions=len(self.positions()),
            strategies=[r.strategy.id for r in node.kernel.runners] if node is not None
            else [s.id or s.strategy for s in self.config.strategies],
        )

    def account(self) -> AccountView:
        """Balance, equity, PnL of the day and drawdown from the peak."""
        if self.node is not None:
            if self._account is None:
                self._account = AccountTracker(self.store.account_snapshots(run_id=self.run_id)
                                               if self.run_id else [])
            return self._account.view(self.node.kernel)
        snapshots = self.store.account_snapshots(run_id=self.run_id) if self.run_id else \
            self.store.account_snapshots()
        return account_from_store(snapshots, self.config.account.currency.upper())

    def positions(self) -> list[PositionView]:
        """Open positions, by symbol."""
        if self.node is not None:
            return position_from_node(self.node.kernel)
        return [position_from_event(p) for p in self.store.latest_positions()]

    def orders(self, open_only: bool = False, limit: int = 200) -> list[OrderView]:
        """Orders, newest first."""
        if self.node is not None:
            found = list(self.node.kernel.cache.orders.values())
        else:
            found = self.store.orders(open_only=open_only)
        if open_only:
            found = [o for o in found if o.is_open]
        found.sort(key=lambda o: (o.ts_last or o.ts_init, o.client_order_id), reverse=True)
        return [order_view(o) for o in found[:_limit(limit)]]

    def order(self, client_order_id: str) -> OrderView:
        """One order by its client order id.

        Raises
        ------
        OrderNotFound
        """
        return order_view(self._order(client_order_id))

    def fills(self, limit: int = 200) -> list[FillView]:
        """Fills, newest first."""
        fills = self.store.fills()
        fills.sort(key=lambda f: (f.ts, f.trade_id), reverse=True)
        return [fill_view(f) for f in fills[:_limit(limit)]]

    def signals(self, limit: int = 100) -> list[SignalView]:
        """Inbound signals (TradingView alerts), newest first."""
        return [SignalView(s.dedupe_key, s.source, s.status, s.received_ns, dict(s.payload))
                for s in self.store.signals(limit=_limit(limit))]

    def risk(self) -> RiskView:
        """The trading state with its holds, and the latest risk decisions."""
        if self.node is not None:
            engine = self.node.kernel.risk
            holds = [{"state": str(h.state), "code": str(h.code), "reason": h.reason,
                      "latched": h.latched} for h in engine.holds]
            return RiskView(str(engine.state), engine.halted_reason, holds,
                            self.risk_events(limit=20))
        latch = kill_status(self.config, self.home)
        state = TradingState.HALTED if latch.engaged else TradingState.ACTIVE
        reason = f"kill switch: {latch.reason}" if latch.engaged else ""
        return RiskView(str(state), reason, [], self.risk_events(limit=20))

    def risk_events(self, limit: int = 100) -> list[RiskEventView]:
        """Risk decisions, newest first."""
        events = self.store.risk_events()
        return [risk_event_view(e) for e in reversed(events[-_limit(limit):])]

    def redacted_config(self) -> dict[str, Any]:
        """The node's settings with every secret masked."""
        return self.config.redacted()

    # -- commands ---------------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> OrderView:
        """Send a manual order through the risk gate and the execution path, as a strategy's.

        Raises
        ------
        NodeNotRunning
        ConfigError
            For an unknown symbol or side, a bad number, or a client order id already used.
        """
        node = self._running("place orders")
        kernel = node.kernel
        if request.symbol not in kernel.cache.instruments:
            known = ", ".join(sorted(kernel.cache.instruments))
            raise ConfigError(f"symbol {request.symbol!r}: this node trades {known}")
        side = request.side.strip().upper()
        if side not in ("BUY", "SELL"):
            raise ConfigError(f"side {request.side!r}: use buy or sell")
        inst = kernel.cache.instrument(request.symbol)
        quantity = _positive(request.quantity, "quantity")
        limit = _positive(request.limit_price, "limit_price")
        stop = _positive(request.stop_price, "stop_price")
        try:
            tif = TimeInForce(request.time_in_force.strip().upper())
        except ValueError:
            raise ConfigError(f"time_in_force {request.time_in_force!r}: use one of "
                              f"{', '.join(t.value for t in TimeInForce)}") from None
        kind = (OrderType.STOP_LIMIT if limit and stop else OrderType.LIMIT if limit
                else OrderType.STOP if stop else OrderType.MARKET)
        stop_loss = _positive(request.stop_loss, "stop_loss")
        take_profit = _positive(request.take_profit, "take_profit")
        if (stop_loss is None) != (take_profit is None):
            raise ConfigError("stop_loss and take_profit go together (a bracket): give both")
        now = kernel.clock.now_ns()
        self._seq += 1
        order_id = request.client_order_id or client_order_id(API, time.time_ns(), self._seq)
        if kernel.cache.order(order_id) is not None:
            raise ConfigError(f"client order id {order_id} is taken: an order was already "
                              "placed with it")
        order = Order(
            client_order_id=order_id, strategy_id=request.strategy_id, symbol=request.symbol,
            side=OrderSide(side), order_type=kind, quantity=inst.make_quantity(quantity or 0),
            ts_init=now, price=inst.make_price(limit) if limit else None,
            trigger_price=inst.make_price(stop) if stop else None, time_in_force=tif,
            reduce_only=request.reduce_only, tags=(request.tag,),
        )
        if order.quantity <= 0:
            raise ConfigError(f"quantity {request.quantity} rounds to 0 lots of {inst.symbol} "
                              f"(lot step {inst.lot_step})")
        if stop_loss is None or take_profit is None:
            kernel.cache.add_order(order)
            kernel.bus.send(EXECUTE, cmd.SubmitOrder(order, now))
            return order_view(order)
        exit_side = order.side.opposite
        legs = [Order(
            client_order_id=client_order_id(f"{request.strategy_id}|{order_id}", 0, k),
            strategy_id=request.strategy_id, symbol=request.symbol, side=exit_side,
            order_type=kind_, quantity=order.quantity, ts_init=now,
            price=inst.make_price(take_profit) if kind_ is OrderType.LIMIT else None,
            trigger_price=inst.make_price(stop_loss) if kind_ is OrderType.STOP else None,
            time_in_force=TimeInForce.GTC, reduce_only=True, tags=(request.tag, name),
            parent_id=order_id) for k, (kind_, name) in enumerate(
                ((OrderType.STOP, "stop_loss"), (OrderType.LIMIT, "take_profit")), start=1)]
        sl, tp = legs
        order.contingency, order.linked_ids = ContingencyType.OTO, (sl.client_order_id,
                                                                    tp.client_order_id)
        sl.contingency, sl.linked_ids = ContingencyType.OCO, (tp.client_order_id,)
        tp.contingency, tp.linked_ids = ContingencyType.OCO, (sl.client_order_id,)
        for item in (order, sl, tp):
            kernel.cache.add_order(item)
        kernel.bus.send(EXECUTE, cmd.SubmitOrderList((order, sl, tp), now))
        return order_view(order)

    def cancel_order(self, client_order_id: str) -> OrderView:
        """Ask the venue to cancel a working order.

        Raises
        ------
        NodeNotRunning, OrderNotFound
        ConfigError
            When the order is no longer working.
        """
        node = self._running("cancel orders")
        order = self._order(client_order_id)
        if not order.is_open:
            raise ConfigError(f"order {client_order_id} is {order.status.value}: nothing to "
                              "cancel")
        node.kernel.bus.send(EXECUTE, cmd.CancelOrder(client_order_id, node.kernel.clock.now_ns()))
        return order_view(order)

    def modify_order(self, client_order_id: str, *, quantity: str | None = None,
                     limit_price: str | None = None,
                     stop_price: str | None = None) -> OrderView:
        """Change a working order's quantity or prices (through the risk gate).

        Raises
        ------
        NodeNotRunning, OrderNotFound
        ConfigError
            When nothing changes, a number is bad, or the order is no longer working.
        """
        node = self._running("modify orders")
        order = self._order(client_order_id)
        if not order.is_open:
            raise ConfigError(f"order {client_order_id} is {order.status.value}: it cannot be "
                              "modified")
        inst = node.kernel.cache.instrument(order.symbol)
        qty = _positive(quantity, "quantity")
        price = _positive(limit_price, "limit_price")
        trigger = _positive(stop_price, "stop_price")
        if qty is None and price is None and trigger is None:
            raise ConfigError("give quantity, limit_price or stop_price to change")
        node.kernel.bus.send(EXECUTE, cmd.ModifyOrder(
            client_order_id, node.kernel.clock.now_ns(),
            quantity=inst.make_quantity(qty) if qty is not None else None,
            price=inst.make_price(price) if price is not None else None,
            trigger_price=inst.make_price(trigger) if trigger is not None else None))
        return order_view(order)

    def pause(self, by: str, reason: str = "") -> RiskView:
        """Stop new entries: the gate lets only orders that reduce positions through, until
        :meth:`resume`. Not latched: a restart trades again (the kill switch is latched)."""
        node = self._running("pause")
        self._paused_by = by or "api"
        node.kernel.risk.hold(TradingState.REDUCING, DenialCode.TRADING_STATE,
                              f"paused by {self._paused_by}" + (f": {reason}" if reason else ""),
                              by=self._paused_by)
        self.store.record_risk_event("PAUSE", "REDUCING", reason or "paused", by=self._paused_by)
        return self.risk()

    def resume(self, by: str, reason: str = "") -> RiskView:
        """Lift a pause (the kill switch needs :meth:`rearm`)."""
        node = self._running("resume")
        if self._paused_by is not None:
            # releases the pause's hold only: breakers and the kill switch keep theirs
            node.kernel.risk.hold(TradingState.ACTIVE, DenialCode.TRADING_STATE,
                                  reason or "resumed", by=by or "api")
            self.store.record_risk_event("PAUSE", "RESUMED", reason or "resumed", by=by or "api")
            self._paused_by = None
        return self.risk()

    def kill(self, by: str, reason: str, flatten: bool = False) -> RiskView:
        """Engage the kill switch: latched across restarts until :meth:`rearm`; a node here
        halts at once, one elsewhere within a quarter of a second."""
        kill_node(self.config, by=by, reason=reason or "kill from the API", flatten=flatten,
                  home=self.home)
        if self.node is not None:
            self.node.check_controls()
        return self.risk()

    def rearm(self, by: str, reason: str) -> RiskView:
        """Re-arm the kill switch (who and why are required and kept)."""
        resume_node(self.config, by=by, reason=reason, home=self.home)
        if self.node is not None:
            self.node.check_controls()
        return self.risk()

    def flatten(self, symbol: str | None, by: str) -> list[str]:
        """Close positions (all, or ``symbol``'s) with market orders; the orders' ids."""
        if self.node is not None:
            orders = self.node.kernel.flatten(f"flatten requested by {by or 'api'}", symbol)
            return [o.client_order_id for o in orders]
        result = flatten_node(self.config, symbol, by=by, home=self.home)
        return list(result.orders)

    def stop(self, reason: str = "stop requested from the API") -> None:
        """Ask the node to stop (it cancels or keeps orders as configured, then exits)."""
        self._running("stop").request_stop(reason)

    # -- market data ------------------------------------------------------------------------

    def market_symbols(self) -> list[str]:
        """The instruments of the running node, sorted (none when it runs elsewhere)."""
        if self.node is None:
            return []
        return sorted(self.node.kernel.cache.instruments)

    def bars(self, symbol: str | None, timeframe: str, limit: int = 500) -> MarketBars:
        """OHLCV bars of the market data the running node has seen, oldest first; the last
        one may still be forming (see :class:`~tradeloop.services.market_bars.BarBook`).

        Raises
        ------
        NodeNotRunning
        ConfigError
            For an unknown symbol or timeframe, or a timeframe the recorded bars cannot make.
        """
        node = self._running("show market data")
        return self._bar_book.bars(node, self.market_symbols(), symbol, timeframe,
                                   min(_limit(limit), MAX_MARKET_BARS))

    # -- profit and loss ----------------------------------------------------------------------

    def pnl(self, period: str = "day") -> PnlView:
        """The equity change over the current UTC day, week (from Monday) or month.

        The reference is the equity of the last account snapshot recorded before the period
        began (of this run when the node runs here), else of the first one within it; the end
        is the account now, as :meth:`account` gives it.

        Raises
        ------
        ConfigError
            For a period other than day, week or month.
        """
        now = self.node.kernel.clock.now_ns() if self.node is not None else time.time_ns()
        since = pnl_period_start(period, now)
        snapshots = (self.store.account_snapshots(run_id=self.run_id) if self.run_id
                     else self.store.account_snapshots())
        account = self.account()
        before = [s for s in snapshots if s.ts < since]
        within = [s for s in snapshots if s.ts >= since]
        reference = before[-1] if before else (within[0] if within else None)
        start = reference.equity if reference is not None else account.equity
        change = account.equity - start
        fraction = float(change / start) if start > 0 else 0.0
        return PnlView(period.strip().lower(), since, account.currency, start, account.equity,
                       change, fraction, len(within))

    # -- helpers ----------------------------------------------------------------------------

    def _running(self, what: str) -> TradingNode:
        if self.node is None:
            raise NodeNotRunning(f"to {what}, the node must run in this process: start it with "
                                 f"tradeloop paper (its API is embedded)")
        return self.node

    def _order(self, client_order_id: str) -> Order:
        order = (self.node.kernel.cache.order(client_order_id) if self.node is not None
                 else self.store.order(client_order_id))
        if order is None:
            raise OrderNotFound(f"no order {client_order_id!r}")
        return order


def _limit(limit: int) -> int:
    if limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    return min(limit, 10_000)


def _positive(text: str | None, what: str) -> Decimal | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ConfigError(f"{what} {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{what} must be positive, got {text}")
    return value


# -- profit and loss ------------------------------------------------------------------------

PNL_PERIODS = ("day", "week", "month")
"""The periods :meth:`NodeControl.pnl` knows."""


@dataclass(frozen=True)
class PnlView:
    """The equity change over a period.

    Attributes
    ----------
    period : {"day", "week", "month"}
    since_ns : int
        When the period began (UTC midnight; Monday for a week, the 1st for a month).
    currency : str
    start_equity, equity : Decimal
        At the period's start (as recorded) and now.
    pnl : Decimal
        ``equity - start_equity``.
    pnl_fraction : float
        ``pnl / start_equity`` (0.012 is 1.2 %).
    snapshots : int
        Account snapshots recorded within the period.
    """

    period: str
    since_ns: int
    currency: str
    start_equity: Decimal
    equity: Decimal
    pnl: Decimal
    pnl_fraction: float
    snapshots: int


def pnl_period_start(period: str, now_ns: int) -> int:
    """When the UTC day, week (Monday) or month holding ``now_ns`` began, in nanoseconds.

    Raises
    ------
    ConfigError
        For a period other than day, week or month.
    """
    name = period.strip().lower()
    if name not in PNL_PERIODS:
        raise ConfigError(f"period {period!r}: use one of {', '.join(PNL_PERIODS)}")
    day = now_ns - now_ns % NANOS_PER_DAY
    if name == "day":
        return day
    moment = ns_to_dt(day)
    if name == "week":
        return day - moment.weekday() * NANOS_PER_DAY
    return day - (moment.day - 1) * NANOS_PER_DAY
