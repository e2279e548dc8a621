"""Paper to live is a change of settings: the bundled ``sma_cross`` strategy, unchanged, runs as
a LIVE node (``mode = "live"``, ``[broker] name = "ctrader"``) against the local cTrader Open
API proxy over TLS, on a replayed slice of the bundled EURUSD hourly bars, until the replay
ends.

Before the strategies see each bar, its close becomes the proxy's market for EURUSD (one
point either side), so the strategy's market orders fill at cTrader at that bar's prices.
What the node recorded in its audit database (orders and fills) is compared with the deals
the proxy booked; the closing sell closed the long position on the hedging account rather
than opening a hedge.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pandas as pd

from support.ctrader import CtraderServer, adapter_settings
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data.bundled import bundled_path
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.live import run_live

#: Rows of the bundled EURUSD file replayed: sma_cross (10/30) buys at the 42nd bar of this
#: slice and closes at the 49th.
SLICE = slice(100, 155)
#: Seconds of replay per hourly bar: time for an order's round trip to the proxy and back.
SECONDS_PER_BAR = 0.1
POINT = 0.00001


class ProxyMarket:
    """What sees each bar before the strategies do: the bar's close becomes the market."""

    def __init__(self, proxy: CtraderServer) -> None:
        self.proxy = proxy
        self.closes: list[float] = []

    def on_bar(self, bar: Bar) -> None:
        self.proxy.set_price(bar.symbol, f"{bar.close - POINT:.5f}", f"{bar.close + POINT:.5f}")
        self.closes.append(bar.close)

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


class ShowTheMarket:
    """Beside the node: puts the proxy's market in front of the strategies."""

    def __init__(self, market: ProxyMarket) -> None:
        self.market = market
        self._stopped = asyncio.Event()

    async def run(self, control: NodeControl) -> None:
        node = control.node
        assert node is not None
        assert node.venue_feed is None  # cTrader prices its own orders: the node shows it none
        node.venue_feed = self.market
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def node_config(tmp_path: Path, proxy: CtraderServer) -> NodeConfig:
    bars = pd.read_csv(bundled_path("EURUSD")).iloc[SLICE]
    data = tmp_path / "EURUSD.csv"
    bars.to_csv(data, index=False)
    settings = "\n".join(f"{k} = {v!r}".replace("'", '"')
                         for k, v in adapter_settings(proxy).items())
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "ctrader-live"
cancel_open_orders_on_stop = true

[broker]
name = "ctrader"

[broker.settings]
{settings}

[data]
source = "replay"
files = ["{data}"]
speed = {3_600 / SECONDS_PER_BAR}
max_gap_s = {SECONDS_PER_BAR}

[logging]
file = ""

[[strategies]]
strategy = "sma_cross"
params = {{ size = 1000 }}
''', encoding="utf-8")
    return load_node_config(path, environ={})


def test_sma_cross_runs_live_through_ctrader_and_its_trades_are_recorded(
        tmp_path: Path, proxy: CtraderServer) -> None:
    config = node_config(tmp_path, proxy)
    home = tmp_path / "home"
    market = ProxyMarket(proxy)
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
    # sma_cross bought once and closed once, with market orders, at cTrader
    assert [(o.symbol, o.side.value, o.order_type.value, o.quantity, o.status.value)
            for o in orders] == [("EURUSD", "BUY", "MARKET", 1000, "FILLED"),
                                 ("EURUSD", "SELL", "MARKET", 1000, "FILLED")]
    deals = proxy.account.deals
    assert [(f.trade_id, f.last_qty, f.last_px, f.commission) for f in fills] == [
        (str(d.deal_id), Decimal(d.volume) / 100, Decimal(d.price).scaleb(-5), d.commission)
        for d in deals]
    by_id = {o.order_id: o for o in proxy.account.orders.values()}
    assert [o.client_order_id for o in orders] == [by_id[d.order_id].client_order_id
                                                   for d in deals]
    bought, sold = deals
    assert any(round(c + POINT, 5) == bought.price / 100_000 for c in market.closes)
    assert any(round(c - POINT, 5) == sold.price / 100_000 for c in market.closes)
    assert sold.closed is not None  # the sell closed the long position
    assert proxy.account.open_positions() == []  # flat at cTrader, as in the node's books
