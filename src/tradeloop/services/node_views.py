"""What the control surfaces show of a node: plain, JSON-ready views of its status, account,
positions, orders, fills, signals and risk, built from the running kernel or from the audit
database. Money, prices and quantities stay ``Decimal`` (the API sends them as text)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.model import events as ev
from tradeloop.model.orders import Order
from tradeloop.persistence.records import RiskEventRecord

if TYPE_CHECKING:
    from tradeloop.engine.kernel import Kernel


@dataclass(frozen=True)
class StatusView:
    """A node at a glance."""

    name: str
    mode: str
    running: bool
    run_id: str | None
    started_ns: int | None
    trading_state: str
    state_reason: str
    paused: bool
    kill_engaged: bool
    kill_since_ns: int | None
    kill_by: str | None
    kill_reason: str | None
    open_orders: int
    positions: int
    strategies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccountView:
    """The account now: ``daily_pnl`` is the equity change since the last snapshot before
    today (UTC), ``drawdown`` the fall from the highest equity recorded (0 or negative)."""

    currency: str
    balance: Decimal
    equity: Decimal
    unrealized_pnl: Decimal
    daily_pnl: Decimal
    peak_equity: Decimal
    drawdown: float
    ts: int | None


@dataclass(frozen=True)
class PositionView:
    """An open position."""

    symbol: str
    strategy_id: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    last_price: Decimal | None
    currency: str


@dataclass(frozen=True)
class OrderView:
    """An order and where it stands."""

    client_order_id: str
    strategy_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    filled_quantity: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    avg_fill_price: Decimal | None
    time_in_force: str
    status: str
    reason: str
    venue_order_id: str | None
    created_ns: int
    updated_ns: int
    tags: list[str]


@dataclass(frozen=True)
class FillView:
    """One execution."""

    client_order_id: str
    trade_id: str
    strategy_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    ts: int


@dataclass(frozen=True)
class SignalView:
    """An inbound signal and what became of it."""

    dedupe_key: str
    source: str
    status: str
    received_ns: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class RiskEventView:
    """A risk decision."""

    ts: int
    rule: str
    decision: str
    reason: str
    client_order_id: str
    strategy_id: str
    symbol: str
    limit: str | None
    value: str | None
    by: str | None


@dataclass(frozen=True)
class RiskView:
    """The trading state, what holds it, and the latest risk decisions (newest first)."""

    state: str
    reason: str
    holds: list[dict[str, Any]]
    events: list[RiskEventView]


def order_view(order: Order) -> OrderView:
    """The view of an order."""
    return OrderView(
        client_order_id=order.client_order_id, strategy_id=order.strategy_id,
        symbol=order.symbol, side=order.side.value, type=order.order_type.value,
        quantity=order.quantity, filled_quantity=order.filled_qty, price=order.price,
        trigger_price=order.trigger_price, avg_fill_price=order.avg_px,
        time_in_force=order.time_in_force.value, status=order.status.value, reason=order.reason,
        venue_order_id=order.venue_order_id, created_ns=order.ts_init,
        updated_ns=order.ts_last or order.ts_init, tags=list(order.tags))


def fill_view(fill: ev.OrderFilled) -> FillView:
    """The view of a fill."""
    return FillView(fill.client_order_id, fill.trade_id, fill.strategy_id, fill.symbol,
                    fill.side.value, fill.last_qty, fill.last_px, fill.commission, fill.ts)


def risk_event_view(record: RiskEventRecord) -> RiskEventView:
    """The view of a recorded risk decision."""
    return RiskEventView(record.ts, record.rule, record.decision, record.reason,
                         record.client_order_id, record.strategy_id, record.symbol,
                         record.limit, record.value, record.by)


def position_from_event(event: ev.PositionEvent) -> PositionView:
    """A recorded position (no live price: unrealized PnL unknown)."""
    return PositionView(event.symbol, event.strategy_id, event.quantity, event.avg_px,
                        event.realized_pnl, None, None, event.currency)


def position_from_node(kernel: Kernel) -> list[PositionView]:
    """The running node's open positions, valued at the last prices."""
    portfolio = kernel.portfolio
    out = []
    for position in sorted(kernel.cache.positions.values(),
                           key=lambda p: (p.symbol, p.strategy_id, p.position_id)):
        if position.quantity == 0:
            continue
        mark = portfolio.mark(position.symbol)
        unrealized = None
        if mark is not None:
            # a mid price has one digit more than the tick; the float's tail is noise
            tick = kernel.cache.instrument(position.symbol).tick_size
            mark = mark.quantize(tick / 10)
            unrealized = (mark - position.avg_px) * position.quantity * position.multiplier
        out.append(PositionView(position.symbol, position.strategy_id, position.quantity,
                                position.avg_px, position.realized_pnl, unrealized, mark,
                                position.currency))
    return out


class AccountTracker:
    """The running node's account with the day's PnL and the drawdown, kept up in memory: the
    recorded snapshots are read once, then each call only looks at the equity now (the
    dashboard asks every second)."""

    def __init__(self, snapshots: Sequence[ev.AccountState]) -> None:
        self._snapshots = list(snapshots)
        self._peak: Decimal | None = None
        self._day = -1
        self._day_reference = Decimal(0)
        self._last_equity: Decimal | None = None

    def view(self, kernel: Kernel) -> AccountView:
        """The account now."""
        portfolio = kernel.portfolio
        now = kernel.clock.now_ns()
        equity = portfolio.equity
        day = now // NANOS_PER_DAY
        if self._peak is None:  # first call: from the recorded history
            first = _account(portfolio.account.currency, portfolio.balance, equity,
                             portfolio.unrealized_pnl(), self._snapshots, now)
            self._peak, self._day = first.peak_equity, day
            self._day_reference = equity - first.daily_pnl
            self._snapshots = []
        elif day != self._day:  # a new UTC day starts from the last equity seen
            self._day = day
            self._day_reference = self._last_equity if self._last_equity is not None else equity
        self._peak = max(self._peak, equity)
        self._last_equity = equity
        drawdown = float(equity / self._peak - 1) if self._peak > 0 else 0.0
        return AccountView(portfolio.account.currency, portfolio.balance, equity,
                           portfolio.unrealized_pnl(), equity - self._day_reference, self._peak,
                           drawdown, now)


def account_from_store(snapshots: Sequence[ev.AccountState], currency: str) -> AccountView:
    """The account as last recorded (zeros before the first snapshot)."""
    if not snapshots:
        zero = Decimal(0)
        return AccountView(currency, zero, zero, zero, zero, zero, 0.0, None)
    last = snapshots[-1]
    return _account(last.currency, last.balance, last.equity, last.equity - last.balance,
                    snapshots, last.ts)


def _account(currency: str, balance: Decimal, equity: Decimal, unrealized: Decimal,
             snapshots: Sequence[ev.AccountState], now_ns: int) -> AccountView:
    day_start = now_ns - now_ns % NANOS_PER_DAY
    before = [s for s in snapshots if s.ts < day_start]
    reference = before[-1].equity if before else (snapshots[0].equity if snapshots else equity)
    peak = max([equity, *(s.equity for s in snapshots)])
    drawdown = float(equity / peak - 1) if peak > 0 else 0.0
    return AccountView(currency, balance, equity, unrealized, equity - reference, peak,
                       drawdown, now_ns)
