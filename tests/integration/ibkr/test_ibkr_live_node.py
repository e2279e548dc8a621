"""Paper to live is a change of settings: the bundled ``sma_cross`` strategy, unchanged, runs as
a LIVE node (``mode = "live"``, ``[broker] name = "ibkr"``) against the stand-in IB Gateway
(``client_factory = "support.ib_standin:client_factory"``), on a replayed slice of the bundled
GOOG daily bars, until the replay ends.

Before the strategies see each bar, its close becomes the Gateway's market for GOOG
(``GATEWAY.set_price``), so the strategy's market orders fill at IB at that bar's prices. What
the node recorded in its audit database (orders and fills) is compared with the executions the
Gateway booked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from support.ib_standin import GATEWAY
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data.bundled import bundled_path
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.live import run_live

#: Rows of the bundled GOOG file replayed: sma_cross (10/30) buys at the 34th bar of this slice
#: and sells at the 43rd.
SLICE = slice(85, 135)
#: Seconds of replay per daily bar: time for an order's round trip to the Gateway and back.
SECONDS_PER_BAR = 0.1
SPREAD = 0.01


@pytest.fixture
def gateway() -> Iterator[None]:
    GATEWAY.reset()
    yield
    GATEWAY.reset()


class GatewayMarket:
    """What sees each bar before the strategies do: the bar's close becomes IB's market."""

    def __init__(self) -> None:
        self.closes: list[float] = []

    def on_bar(self, bar: Bar) -> None:
        GATEWAY.set_price(bar.symbol, round(bar.close - SPREAD, 2),
                          round(bar.close + SPREAD, 2), round(bar.close, 2))
        self.closes.append(bar.close)

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


class ShowTheMarket:
    """Beside the node: puts the Gateway's market in front of the strategies."""

    def __init__(self, market: GatewayMarket) -> None:
        self.market = market
        self._stopped = asyncio.Event()

    async def run(self, control: NodeControl) -> None:
        node = control.node
        assert node is not None
        assert node.venue_feed is None  # IB prices its own orders: the node shows it nothing
        node.venue_feed = self.market
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def node_config(tmp_path: Path) -> NodeConfig:
    bars = pd.read_csv(bundled_path("GOOG")).iloc[SLICE]
    data = tmp_path / "GOOG.csv"
    bars.to_csv(data, index=False)
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "ibkr-live"
cancel_open_orders_on_stop = true

[broker]
name = "ibkr"

[broker.settings]
client_factory = "support.ib_standin:client_factory"
client_id = 7
ack_timeout_s = 5

[broker.settings.contracts.GOOG]
sec_type = "STK"
primary_exchange = "NASDAQ"

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


def test_sma_cross_runs_live_through_ibkr_and_its_trades_are_recorded(
        tmp_path: Path, gateway: None) -> None:
    config = node_config(tmp_path)
    home = tmp_path / "home"
    market = GatewayMarket()
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
    # sma_cross bought once and closed once, with market orders, at IB
    assert [(o.symbol, o.side.value, o.order_type.value, o.quantity, o.status.value)
            for o in orders] == [("GOOG", "BUY", "MARKET", 1, "FILLED"),
                                 ("GOOG", "SELL", "MARKET", 1, "FILLED")]
    booked = [e for e in GATEWAY.executions if e.client_id == 7]
    assert [(f.client_order_id, f.trade_id, f.last_qty, f.last_px) for f in fills] == [
        (e.order_ref, e.exec_id, Decimal(repr(e.shares)), Decimal(repr(e.price)).quantize(
            Decimal("0.01"))) for e in booked]
    assert [o.client_order_id for o in orders] == [e.order_ref for e in booked]
    # each fill paid IB's commission, recorded with it
    assert [f.commission for f in fills] == [Decimal(repr(e.commission)) for e in booked]
    # the market orders filled at the touch of the bar they were sent on
    bought, sold = booked
    assert any(round(c + SPREAD, 2) == bought.price for c in market.closes)
    assert any(round(c - SPREAD, 2) == sold.price for c in market.closes)
    assert GATEWAY.positions == {}  # flat at IB, as in the node's books
