"""Paper to live is a change of settings: the bundled ``sma_cross`` strategy, unchanged, runs as
a LIVE node (``mode = "live"``, ``[broker] name = "schwab"``) against the local Schwab, on a
replayed slice of the bundled GOOG daily bars, until the replay ends.

Before the strategies see each bar, its close becomes Schwab's quote for GOOG, so the
strategy's market orders fill at Schwab at that bar's prices. What the node recorded in its
audit database (orders and fills) is compared with the executions Schwab booked.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from support.schwab import SchwabServer
from support.schwab.harness import adapter_settings, log_in
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data.bundled import bundled_path
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.live import run_live

#: Rows of the bundled GOOG file replayed: sma_cross (10/30) buys once and sells once in them.
SLICE = slice(85, 135)
#: Seconds of replay per daily bar: time for an order's round trip to Schwab and back.
SECONDS_PER_BAR = 0.1
SPREAD = Decimal("0.01")


class SchwabMarket:
    """What sees each bar before the strategies do: the bar's close becomes Schwab's quote."""

    def __init__(self, server: SchwabServer) -> None:
        self.server = server
        self.closes: list[Decimal] = []

    def on_bar(self, bar: Bar) -> None:
        close = Decimal(str(round(bar.close, 2)))
        self.server.set_price(bar.symbol, close - SPREAD, close + SPREAD)
        self.closes.append(close)

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


class ShowTheMarket:
    """Beside the node: puts Schwab's market in front of the strategies."""

    def __init__(self, market: SchwabMarket) -> None:
        self.market = market
        self._stopped = asyncio.Event()

    async def run(self, control: NodeControl) -> None:
        node = control.node
        assert node is not None and node.venue_feed is None  # Schwab prices its own orders
        node.venue_feed = self.market
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def node_config(tmp_path: Path, settings: dict[str, Any]) -> NodeConfig:
    bars = pd.read_csv(bundled_path("GOOG")).iloc[SLICE]
    data = tmp_path / "GOOG.csv"
    bars.to_csv(data, index=False)
    broker = "\n".join(f"{k} = {_toml(v)}" for k, v in dict(settings, symbols=["GOOG"]).items())
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "schwab-live"
cancel_open_orders_on_stop = true

[broker]
name = "schwab"

[broker.settings]
{broker}

[data]
source = "replay"
files = ["{data}"]
speed = {86_400 / SECONDS_PER_BAR}
max_gap_s = {SECONDS_PER_BAR}

[logging]
file = ""

[[strategies]]
strategy = "sma_cross"
''', encoding="utf-8")
    return load_node_config(path, environ={})


def test_sma_cross_runs_live_through_schwab_and_its_trades_are_recorded(
        schwab: SchwabServer, environment: None, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = adapter_settings(schwab)
    log_in(settings, home)  # `tradeloop broker login schwab` under the node's home
    config = node_config(tmp_path, settings)
    market = SchwabMarket(schwab)
    session = run_live(config, home, beside=(ShowTheMarket(market),))

    assert session.summary.failures == []
    assert len(market.closes) == SLICE.stop - SLICE.start  # the replay ran to its end
    database = open_database(None, home)
    try:
        store = AuditStore(database)
        orders = store.orders(run_id=session.run_id)
        fills = store.fills(run_id=session.run_id)
    finally:
        database.close()
    # sma_cross bought once and closed once, with market orders, at Schwab
    assert [(o.symbol, o.side.value, o.order_type.value, o.quantity, o.status.value)
            for o in orders] == [("GOOG", "BUY", "MARKET", 1, "FILLED"),
                                 ("GOOG", "SELL", "MARKET", 1, "FILLED")]
    booked = schwab.orders()
    assert [(o.instruction, o.order_type, o.duration) for o in booked] == [
        ("BUY", "MARKET", "DAY"), ("SELL", "MARKET", "DAY")]
    executions = [(str(o.order_id), str(e.activity_id), e.quantity, e.price)
                  for o in booked for e in o.executions]
    assert [(f.venue_order_id, f.trade_id, f.last_qty, f.last_px) for f in fills] == executions
    bought, sold = (o.executions[0].price for o in booked)
    assert bought - SPREAD in market.closes and sold + SPREAD in market.closes
    assert schwab.positions() == {}  # flat at Schwab, as in the node's books
