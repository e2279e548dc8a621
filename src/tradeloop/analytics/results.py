"""The result of a backtest: orders, fills, round trips, equity and drawdown, and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.analytics.metrics import compute_metrics, drawdown_curve
from tradeloop.analytics.trades import Trade, round_trips
from tradeloop.engine.backtest import BacktestRun
from tradeloop.model.enums import OrderStatus
from tradeloop.model.events import OrderDenied
from tradeloop.model.orders import Order
from tradeloop.portfolio.portfolio import position_id_for

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DeniedOrder:
    """An order the risk gate refused, with the rule's reason code and figures."""

    ts: int
    client_order_id: str
    strategy_id: str
    symbol: str
    side: str
    quantity: Decimal
    code: str
    reason: str
    limit: str
    value: str


def denied_orders(orders: list[Order]) -> list[DeniedOrder]:
    """The denied orders among ``orders``, in time order."""
    out = []
    for order in orders:
        if order.status is not OrderStatus.DENIED:
            continue
        denial = next((e for e in reversed(order.events) if isinstance(e, OrderDenied)), None)
        out.append(DeniedOrder(
            ts=denial.ts if denial else order.ts_init, client_order_id=order.client_order_id,
            strategy_id=order.strategy_id, symbol=order.symbol, side=order.side.value,
            quantity=order.quantity, code=denial.code if denial else "",
            reason=denial.reason if denial else order.reason,
            limit=denial.limit if denial else "", value=denial.value if denial else "",
        ))
    out.sort(key=lambda d: (d.ts, d.client_order_id))
    return out


@dataclass
class BacktestResult:
    """What a backtest produced, ready to inspect or write out.

    Attributes
    ----------
    run : BacktestRun
        The raw record from the engine (orders, fills, positions, curves).
    trades : list of Trade
        Round trips; open trades come last with no exit.
    drawdown : ndarray
        Fraction below the running equity peak at each bar (<= 0).
    metrics : dict
        Every performance figure, plus ``start_equity``, ``final_equity``, ``num_trades``.
    """

    run: BacktestRun
    trades: list[Trade]
    drawdown: FloatArray
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def equity(self) -> FloatArray:
        """Equity at each bar time."""
        return self.run.equity

    @property
    def timeline(self) -> npt.NDArray[np.int64]:
        """The bar times of the equity curve (UTC nanoseconds)."""
        return self.run.timeline

    @property
    def final_equity(self) -> Decimal:
        """Exact final equity: balance plus open positions marked at the last close."""
        return self.run.final_equity

    @property
    def denials(self) -> list[DeniedOrder]:
        """Orders the risk gate refused, in time order."""
        return denied_orders(self.run.orders)

    @property
    def closed_trades(self) -> list[Trade]:
        """Round trips with an exit."""
        return [t for t in self.trades if not t.is_open]


def build_result(run: BacktestRun) -> BacktestResult:
    """Turn an engine run into a :class:`BacktestResult` with trades and metrics."""
    timeline = run.timeline

    booked = {(entry.symbol, entry.ts): entry.rate for entry in run.book}

    def rate_at(symbol: str, ts: int) -> float:
        # a fill converts at the rate the portfolio booked it at; the open end at the last mark
        rate = booked.get((symbol, ts))
        if rate is not None:
            return rate
        k = int(np.searchsorted(timeline, ts, side="right")) - 1
        return float(run.to_account[symbol][max(k, 0)])

    marks = {symbol: float(values[-1]) for symbol, values in run.marks.items()}
    oms = run.config.oms
    trades = round_trips(
        run.fills, {s: i.multiplier for s, i in run.instruments.items()}, rate_at, marks,
        int(timeline[-1]), lambda fill: position_id_for(fill, oms),
    )
    closed = np.array([t.pnl for t in trades if not t.is_open], dtype=np.float64)
    metrics: dict[str, Any] = compute_metrics(timeline, run.equity, closed, run.in_market)
    metrics["start_equity"] = float(run.start_equity)
    metrics["final_equity"] = float(run.final_equity)
    metrics["num_trades"] = len(trades)
    metrics["num_closed_trades"] = int(closed.shape[0])
    metrics["num_orders"] = len(run.orders)
    metrics["num_denied_orders"] = sum(o.status is OrderStatus.DENIED for o in run.orders)
    metrics["num_fills"] = len(run.fills)
    metrics["commissions"] = sum(t.commission for t in trades)
    return BacktestResult(run, trades, drawdown_curve(run.equity), metrics)
