"""Paper to live is a change of settings: the bundled ``sma_cross`` strategy, unchanged, runs as
a LIVE node (``mode = "live"``, ``[broker] name = "fyers"``) against the local Fyers, on a
replayed slice of the bundled GOOG daily bars renamed to the Fyers symbol ``NSE:SBIN-EQ``,
until the replay ends.

Before the strategies see each bar, its close becomes the local Fyers' market
(``set_price``), so the strategy's market orders fill there at that bar's prices. What the
node recorded in its audit database (orders and fills) is compared with Fyers' trade book.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from support.fyers import FyersServer
from support.fyers.adapter import store_login
from tradeloop.brokers.fyers.ids import tag_of
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data.bundled import bundled_path
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.live import run_live

SYMBOL = "NSE:SBIN-EQ"
#: Rows of the bundled GOOG file replayed: sma_cross (10/30) buys at the 34th bar of this slice
#: and sells at the 43rd.
SLICE = slice(85, 135)
SECONDS_PER_BAR = 0.1
TICK = Decimal("0.05")


class FyersMarket:
    """What sees each bar before the strategies do: the bar's close becomes Fyers' market."""

    def __init__(self, fyers: FyersServer) -> None:
        self.fyers = fyers
        self.closes: list[Decimal] = []

    def on_bar(self, bar: Bar) -> None:
        mid = (Decimal(repr(bar.close)) / TICK).quantize(Decimal(1)) * TICK
        self.fyers.set_price(bar.symbol, mid - TICK, mid + TICK)
        self.closes.append(mid)

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


class ShowTheMarket:
    """Beside the node: puts Fyers' market in front of the strategies."""

    def __init__(self, market: FyersMarket) -> None:
        self.market = market
        self._stopped = asyncio.Event()

    async def run(self, control: NodeControl) -> None:
        node = control.node
        assert node is not None and node.venue_feed is None
        node.venue_feed = self.market
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def _toml(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists read the same in TOML


def node_config(tmp_path: Path, settings: dict[str, Any]) -> NodeConfig:
    bars = pd.read_csv(bundled_path("GOOG")).iloc[SLICE]
    data = tmp_path / f"{SYMBOL}.csv"
    bars.to_csv(data, index=False)
    broker = "\n".join(f"{key} = {_toml(value)}" for key, value in settings.items())
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "fyers-live"
cancel_open_orders_on_stop = true

[broker]
name = "fyers"

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


def test_sma_cross_runs_live_through_fyers_and_its_trades_are_recorded(
        fyers: FyersServer, settings: dict[str, Any], tmp_path: Path) -> None:
    config = node_config(tmp_path, settings)
    home = tmp_path / "home"
    store_login(fyers, settings, home / "brokers" / config.name)
    market = FyersMarket(fyers)
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
    assert [(o.symbol, o.side.value, o.order_type.value, o.quantity, o.status.value)
            for o in orders] == [(SYMBOL, "BUY", "MARKET", 1, "FILLED"),
                                 (SYMBOL, "SELL", "MARKET", 1, "FILLED")]
    with fyers.locked():
        booked = list(fyers.book.trades)
    # each order went with its client order id as its tag (hashed: ours carry a "-")
    assert [(tag_of(f.client_order_id), f.trade_id, f.last_qty, f.last_px) for f in fills] == [
        (t.order.tag, t.number, Decimal(t.qty), t.price) for t in booked]
    assert [tag_of(o.client_order_id) for o in orders] == [t.order.tag for t in booked]
    bought, sold = booked
    assert bought.price - TICK in market.closes and sold.price + TICK in market.closes
    assert fyers.net(SYMBOL) == 0  # flat at Fyers, as in the node's books
