"""Cost of the full pre-trade rule chain per order, beside a bare call chain of the same length.

Every rule the risk engine offers is switched on (built from a ``[risk]`` table, as a node or
``backtest --risk`` builds them), at account, strategy, symbol and venue scope where that is
how traders set them, plus the three default rules (precision, reduce-only, buying power). The
account holds open positions in three symbols and has working orders, so the position,
exposure and open-position rules have something to add up. Each measured order passes every
rule (a denial would stop the chain early and flatter the figure): the verdict of
``RiskEngine.check``, which is what the gate runs for each order before forwarding it. Every
price moves by a pip before each order, as ticks would, so nothing valued for one order can
be reused for the next; the price updates are timed with the orders.

The gate runs as ``make`` builds it: compiled with mypyc when a C compiler is there (the first
line says which; ``TRADELOOP_PURE_PYTHON=1`` measures the Python source).

The baseline, in the same run: a loop calling a chain of plain Python methods, as many as the
rules, each taking the order and returning None.

    python bench/risk_chain.py [--orders N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.config.risk import build_rules, parse_risk_config
from tradeloop.core import native
from tradeloop.core.clock import TestClock
from tradeloop.data.economic import EconomicCalendar, EconomicEvent
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.risk.engine import EXECUTE

TARGET_US = 20.0
T0 = 1_736_254_800_000_000_000  # Tue 2025-01-07 13:00 UTC: London and New York both open
MINUTE = 60_000_000_000
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD")
PRICES = {"EURUSD": 1.03, "GBPUSD": 1.25, "USDJPY": 157.5, "AUDUSD": 0.62}

RISK = {
    "daily_loss_limit": "5000", "max_drawdown_pct": "20", "pattern_day_trader": True,
    "trading_day": {"timezone": "America/New_York", "reset": "17:00"},
    "account": {
        "min_order_quantity": "1000", "max_order_quantity": "1000000",
        "min_order_notional": "100", "max_order_notional": "5000000",
        "max_gross_exposure": "50000000", "max_net_exposure": "50000000", "max_leverage": "50",
        "max_open_positions": 10, "max_orders_per_second": 1_000_000,
        "max_orders_per_minute": 10_000_000, "max_trades_per_day": 1_000_000,
        "loss_streak": {"losses": 5, "pause": "1h"},
    },
    "strategies": {"bench": {"max_trades_per_day": 1_000_000, "max_position": "10000000"}},
    "symbols": {"EURUSD": {
        "max_position": "10000000", "max_position_notional": "50000000", "price_band_pct": "2",
        "sessions": "london_new_york", "cooldown_after_trade": "5m",
        "news_blackout": {"before": "30m", "after": "15m", "impact": "high"},
    }},
    "venues": {"SIM": {"max_orders_per_second": 1_000_000}},
}


def calendar(folder: Path) -> EconomicCalendar:
    """A calendar with high-impact USD and EUR releases around, none at the measured time."""
    book = EconomicCalendar(folder / "economic.parquet")
    book.add(EconomicEvent(T0 + k * 240 * MINUTE, ccy, "", "high", f"release {k}")
             for k in range(-40, 40) if k != 0 for ccy in ("USD", "EUR"))
    return book


def build(folder: Path) -> Kernel:
    """A margin account with open positions and working orders, every rule on."""
    clock = TestClock(T0)
    kernel = Kernel(clock, Account("bench", "USD", AccountType.MARGIN, Decimal(10_000),
                                   Decimal(50)))
    for symbol in SYMBOLS:
        kernel.add_instrument(Instrument.fx_pair(symbol))
        kernel.cache.last_prices[symbol] = PRICES[symbol]
    kernel.add_execution_client(SimulatedVenue(kernel.cache, clock))
    kernel.risk.add_rules(build_rules(parse_risk_config(RISK),
                                      economic_calendar=lambda _path: calendar(folder)))
    for k, symbol in enumerate(SYMBOLS[1:]):  # positions the account already holds
        fill_market(kernel, symbol, k)
    for k in range(5):  # working limit orders away from the market
        working = order(f"W-{k}", Decimal(1000), "1.02000")
        kernel.cache.add_order(working)
        kernel.bus.send(EXECUTE, cmd.SubmitOrder(working, T0))
    assert len(kernel.cache.open_orders()) == 5 and len(kernel.cache.open_positions()) == 3
    return kernel


def fill_market(kernel: Kernel, symbol: str, k: int) -> None:
    o = Order(client_order_id=f"P-{k}", strategy_id="bench", symbol=symbol, side=OrderSide.BUY,
              order_type=OrderType.MARKET, quantity=Decimal(10_000), ts_init=T0)
    kernel.cache.add_order(o)
    kernel.bus.send(EXECUTE, cmd.SubmitOrder(o, T0))
    price = PRICES[symbol]
    kernel.execution.client_for(o).process_bar(  # type: ignore[attr-defined]
        symbol, T0, price, price, price, price, 1e9)


def order(cid: str, qty: Decimal, limit: str | None = None) -> Order:
    return Order(client_order_id=cid, strategy_id="bench", symbol="EURUSD", side=OrderSide.BUY,
                 order_type=OrderType.LIMIT if limit else OrderType.MARKET, quantity=qty,
                 ts_init=T0, price=Decimal(limit) if limit else None)


class _Plain:
    def check(self, order: Order) -> None:
        return None


def bare_chain(n: int, length: int) -> float:
    """Seconds per order for a chain of ``length`` plain method calls."""
    chain = [_Plain() for _ in range(length)]
    orders = [order(f"B-{k}", Decimal(1000)) for k in range(n)]
    start = time.perf_counter()
    for o in orders:
        for link in chain:
            if link.check(o) is not None:
                break
    return (time.perf_counter() - start) / n


def rule_chain(kernel: Kernel, n: int) -> float:
    """Seconds per order for the gate's verdict with every rule on."""
    orders = [order(f"R-{k}", Decimal(1000), "1.03000") for k in range(n)]
    check = kernel.risk.check
    last = kernel.cache.last_prices
    ticks = [{s: p + k * 0.0001 * (100 if s == "USDJPY" else 1) for s, p in PRICES.items()}
             for k in (1, 2)]
    for prices in ticks:
        last.update(prices)
        denial = check(orders[0])
        if denial is not None:
            raise SystemExit(f"the measured order must pass every rule, but: {denial}")
    start = time.perf_counter()
    for k, o in enumerate(orders):
        last.update(ticks[k & 1])
        check(o)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        kernel = build(Path(folder))
        rules = kernel.risk.rules
        best_rules = min(rule_chain(kernel, args.orders) for _ in range(3))
        best_bare = min(bare_chain(args.orders, len(rules)) for _ in range(3))
    names = sorted({type(r).__name__ for r in rules})
    print(f"risk gate build: {native.status()} (TRADELOOP_PURE_PYTHON=1 runs the source)")
    print(f"{len(rules)} rules in the chain ({len(names)} kinds): {', '.join(names)}")
    print(f"  full rule chain    {best_rules * 1e6:8.2f} us per order")
    print(f"  bare call chain    {best_bare * 1e6:8.2f} us per order ({len(rules)} calls)  "
          f"rule chain = {best_rules / best_bare:,.0f}x bare")
    print(f"  target: < {TARGET_US:.0f} us per order with every rule on: "
          f"{'met' if best_rules * 1e6 < TARGET_US else 'NOT met'}")


if __name__ == "__main__":
    main()
