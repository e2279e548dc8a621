"""Parity: re-run the market data a paper or live run recorded through the backtester, with the
same strategies and parameters, and list where orders and fills differ. On a paper run the list
is empty: the modes share one kernel."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.config.home import home_dir
from tradeloop.core.errors import ConfigError
from tradeloop.data.store import DataStore
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.model import events as ev
from tradeloop.model.data import MarketSeries
from tradeloop.model.enums import AccountType
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.node import PAPER_VENUE
from tradeloop.services.strategies import resolve_strategy

OrderKey = tuple[str, str, str, str, str, str]
FillKey = tuple[str, int, str, str]


def order_key(order: Order) -> OrderKey:
    """What must agree between two runs for one order."""
    return (order.client_order_id, order.symbol, order.side.value, order.order_type.value,
            f"{order.quantity.normalize():f}", f"{order.price}" if order.price else "")


def fill_key(fill: ev.OrderFilled) -> FillKey:
    """What must agree between two runs for one fill."""
    return (fill.client_order_id, fill.ts, f"{fill.last_px.normalize():f}",
            f"{fill.last_qty.normalize():f}")


@dataclass
class ReplayReport:
    """Where a recorded run and its backtest differ (empty lists: they agree)."""

    run_id: str
    orders_run: int = 0
    orders_backtest: int = 0
    fills_run: int = 0
    fills_backtest: int = 0
    only_in_run: list[str] = field(default_factory=list)
    only_in_backtest: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when orders and fills agree."""
        return not self.only_in_run and not self.only_in_backtest


def replay_run(run_id: str, home: Path | None = None, store: AuditStore | None = None
               ) -> ReplayReport:
    """Backtest the market data recorded by run ``run_id`` and compare.

    Raises
    ------
    ConfigError
        Unknown run, or a run without recorded market data.
    """
    home = home or home_dir()
    store = store or AuditStore(open_database(None, home))
    run = store.run(run_id)
    if run is None:
        known = ", ".join(r.run_id for r in store.runs(limit=5)) or "none yet"
        raise ConfigError(f"no run {run_id} in the audit database (latest: {known})")
    config: dict[str, Any] = dict(run.config or {})
    market = home / "runs" / run_id / "market"
    if not market.is_dir():
        raise ConfigError(f"run {run_id} recorded no market data ({market} is missing)")
    data = DataStore(market)
    account = config.get("account", {})
    engine = BacktestEngine(BacktestConfig(
        cash=Decimal(str(account.get("cash", 100_000))),
        currency=str(account.get("currency", "USD")).upper(),
        account_type=AccountType.CASH if account.get("type") == "cash" else AccountType.MARGIN,
        leverage=Decimal(str(account.get("leverage", 1))),
        venue=SimulatedVenueConfig(venue=PAPER_VENUE),
        precompute_indicators=False,  # the node updates indicators bar by bar
    ))
    recorded = store.orders(run_id=run_id)
    instruments = {o.symbol for o in recorded}
    for entry in data.catalog():
        series: MarketSeries
        if entry.kind == "bars" and entry.timeframe:
            series = data.read_bars(entry.symbol, entry.timeframe)
        else:
            series = data.read_ticks(entry.symbol, "quote" if entry.kind == "quotes" else "trade")
        engine.add_data(series)
        instruments.add(entry.symbol)
    for spec in config.get("strategies", []):
        cls = resolve_strategy(spec["strategy"])
        params = spec.get("params") or {}
        strategy = cls(spec["id"], **params) if spec.get("id") else cls(**params)
        engine.add_strategy(strategy, spec.get("symbols") or None)
    result = engine.run()
    report = ReplayReport(run_id)
    run_orders = {order_key(o) for o in recorded}
    bt_orders = {order_key(o) for o in result.orders}
    run_fills = {fill_key(f) for f in store.fills(run_id=run_id)}
    bt_fills = {fill_key(f) for f in result.fills}
    report.orders_run, report.orders_backtest = len(run_orders), len(bt_orders)
    report.fills_run, report.fills_backtest = len(run_fills), len(bt_fills)
    report.only_in_run = [f"order {k}" for k in sorted(run_orders - bt_orders)] + [
        f"fill {k}" for k in sorted(run_fills - bt_fills)]
    report.only_in_backtest = [f"order {k}" for k in sorted(bt_orders - run_orders)] + [
        f"fill {k}" for k in sorted(bt_fills - run_fills)]
    return report


__all__ = ["ReplayReport", "fill_key", "order_key", "replay_run"]
