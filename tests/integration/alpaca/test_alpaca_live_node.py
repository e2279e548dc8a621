"""Paper to live is a change of settings: the bundled ``sma_cross`` strategy, unchanged, runs as
a LIVE node (``mode = "live"``, ``[broker] name = "alpaca"``) against the local Alpaca, on a
replayed slice of the bundled GOOG daily bars, until the replay ends.

Before the strategies see each bar, its close becomes Alpaca's quote for GOOG
(``server.set_price``), so the strategy's market orders fill at Alpaca at that bar's prices.
What the node recorded in its audit database (orders and fills) is compared with the fills
Alpaca booked (its account activities).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import alpaca_harness as h
import pandas as pd

from support.alpaca import AlpacaServer
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data.bundled import bundled_path
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.live import run_live

#: Rows of the bundled GOOG file replayed: sma_cross (10/30) buys at the 34th bar of this slice
#: and sells at the 43rd.
SLICE = slice(85, 135)
#: Seconds of replay per daily bar: time for an order's round trip to Alpaca and back.
SECONDS_PER_BAR = 0.1
SPREAD = 0.01


class AlpacaMarket:
    """What sees each bar before the strategies do: the bar's close becomes Alpaca's quote."""

    def __init__(self, server: AlpacaServer) -> None:
        self.server = server
        self.closes: list[float] = []

    def on_bar(self, bar: Bar) -> None:
        self.server.set_price(bar.symbol, f"{bar.close - SPREAD:.2f}",
                              f"{bar.close + SPREAD:.2f}")
        self.closes.append(bar.close)

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


class ShowTheMarket:
    """Beside the node: puts Alpaca's market in front of the strategies."""

    def __init__(self, market: AlpacaMarket) -> None:
        self.market = market
        self._stopped = asyncio.Event()

    async def run(self, control: NodeControl) -> None:
        node = control.node
        assert node is not None
        assert node.venue_feed is None  # Alpaca prices its own orders: the node shows nothing
        node.venue_feed = self.market
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def node_config(tmp_path: Path, server: AlpacaServer) -> NodeConfig:
    bars = pd.read_csv(bundled_path("GOOG")).iloc[SLICE]
    data = tmp_path / "GOOG.csv"
    bars.to_csv(data, index=False)
    settings = h.settings(server, symbols=["GOOG"])
    lines = "\n".join(f"{k} = {_toml(v)}" for k, v in settings.items())
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "alpaca-live"
cancel_open_orders_on_stop = true

[broker]
name = "alpaca"

[broker.settings]
{lines}

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


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"\"{value}\""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def test_sma_cross_runs_live_through_alpaca_and_its_trades_are_recorded(
        tmp_path: Path, alpaca: AlpacaServer) -> None:
    config = node_config(tmp_path, alpaca)
    home = tmp_path / "home"
    market = AlpacaMarket(alpaca)
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
    # sma_cross bought once and closed once, with market orders, at Alpaca
    assert [(o.symbol, o.side.value, o.order_type.value, o.quantity, o.status.value)
            for o in orders] == [("GOOG", "BUY", "MARKET", 1, "FILLED"),
                                 ("GOOG", "SELL", "MARKET", 1, "FILLED")]
    booked = alpaca.account().activities
    by_id = {o.id: o.client_order_id for o in alpaca.orders()}
    assert [(f.client_order_id, f.trade_id, f.last_qty, f.last_px) for f in fills] == [
        (by_id[a.order_id], a.execution_id, a.qty, a.price) for a in booked]
    assert [o.client_order_id for o in orders] == [by_id[a.order_id] for a in booked]
    # the market orders filled at the touch of the bar they were sent on
    bought, sold = booked
    assert any(Decimal(f"{c + SPREAD:.2f}") == bought.price for c in market.closes)
    assert any(Decimal(f"{c - SPREAD:.2f}") == sold.price for c in market.closes)
    assert alpaca.position("GOOG") == 0  # flat at Alpaca, as in the node's books
