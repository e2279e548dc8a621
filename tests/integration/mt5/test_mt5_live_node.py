"""Backtest to live through MetaTrader 5 is a change of settings: the bundled ``sma_cross``
strategy, unchanged, runs as a LIVE node (``mode = "live"``, ``[broker] name = "mt5"``) on a
replayed slice of the bundled EURUSD hourly bars, its orders going to the stand-in terminal,
either through the RPC bridge (``bridge = "127.0.0.1:PORT"``, the bridge server a subprocess)
or in-process (``module = "support.mt5_standin"``).

The strategy trades half a lot (``params = { size = 0.5 }`` in the node's file, as a backtest
could set it). The node takes the account's leverage from the terminal (the stand-in's 1:100),
so its buying-power check weighs a lot (about 109,000 USD on these bars) against 100 times the
stand-in's 100,000 USD.

MetaTrader fills market orders at its own bid and ask, so before the strategy sees each bar the
test shows the stand-in that bar's close as its bid (ask one pip above), through the bridge
when there is one. What the node recorded in its audit database (orders and fills) is compared
with the deals the stand-in booked under our tags.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import support.mt5_standin as standin
from support.mt5_bridge import TOKEN, BridgeProcess
from tradeloop.brokers.mt5.parse import tag
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data.bundled import bundled_path
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.live import run_live

#: Rows of the bundled EURUSD file replayed: sma_cross (10/30) buys at the 37th bar of this
#: slice and closes at the 44th.
SLICE = slice(105, 160)
#: Seconds of replay per hourly bar: time for the orders to reach the stand-in and fill.
SECONDS_PER_BAR = 0.15
PIP = 0.0001
SetPrice = Callable[[str, float, float], Any]


class ShowThePrices:
    """Beside the node: makes each bar's close the stand-in's market before the strategies see
    the bar (MetaTrader prices nothing from the node's data: the node has no venue feed)."""

    def __init__(self, set_price: SetPrice) -> None:
        self.set_price = set_price
        self.quotes: list[tuple[Decimal, Decimal]] = []  # bid, ask
        self.leverage: Decimal | None = None  # the node's account's, once it runs
        self._stopped = asyncio.Event()

    async def run(self, control: NodeControl) -> None:
        node = control.node
        assert node is not None and node.venue_feed is None
        self.leverage = node.kernel.portfolio.account.leverage
        node.venue_feed = self
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()

    def on_bar(self, bar: Bar) -> None:
        bid = round(bar.close, 5)
        ask = round(bid + PIP, 5)
        self.set_price(bar.symbol, bid, ask)
        self.quotes.append((Decimal(f"{bid:.5f}"), Decimal(f"{ask:.5f}")))

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


def node_config(tmp_path: Path, broker_settings: str) -> NodeConfig:
    data = tmp_path / "EURUSD.csv"
    pd.read_csv(bundled_path("EURUSD")).iloc[SLICE].to_csv(data, index=False)
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "mt5-live"
cancel_open_orders_on_stop = true

[broker]
name = "mt5"

[broker.settings]
{broker_settings}
symbols = ["EURUSD"]
poll_interval_s = 0.05

[data]
source = "replay"
files = ["{data}"]
speed = {3600 / SECONDS_PER_BAR}
max_gap_s = {SECONDS_PER_BAR}

[logging]
file = ""

[[strategies]]
strategy = "sma_cross"
params = {{ size = 0.5 }}
''', encoding="utf-8")
    return load_node_config(path, environ={})


@pytest.fixture
def local_terminal() -> Iterator[Any]:
    standin.TERMINAL.reset()
    yield standin
    standin.TERMINAL.reset()


@pytest.mark.parametrize("route", ["bridge", "in-process"])
def test_sma_cross_runs_live_through_mt5_and_its_trades_are_recorded(
        route: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        local_terminal: Any) -> None:
    bridge = None
    if route == "bridge":
        bridge = BridgeProcess(tmp_path / "bridge", TOKEN).start()
        monkeypatch.setenv("MT5_BRIDGE_TOKEN", TOKEN)
        settings = (f'bridge = "{bridge.address}"\n'
                    'bridge_token_env = "MT5_BRIDGE_TOKEN"')
        steering: Any = bridge.steering()
        set_price: SetPrice = steering.standin_set_price
    else:
        settings = 'module = "support.mt5_standin"'
        steering = local_terminal
        set_price = local_terminal.TERMINAL.set_price
    try:
        config = node_config(tmp_path, settings)
        home = tmp_path / "home"
        shown = ShowThePrices(set_price)
        session = run_live(config, home, beside=(shown,))
        deals = steering.standin_deals()
    finally:
        if bridge is not None:
            bridge.stop()

    assert session.summary.failures == []
    assert shown.leverage == 100  # the terminal's, as no [account] leverage was given
    assert len(shown.quotes) == SLICE.stop - SLICE.start  # the replay ran to its end
    database = open_database(None, home)
    try:
        store = AuditStore(database)
        orders = store.orders(run_id=session.run_id)
        fills = store.fills(run_id=session.run_id)
    finally:
        database.close()
    # sma_cross bought half a lot once and closed it, with market orders
    assert [(o.symbol, o.side.value, o.order_type.value, o.quantity, o.status.value)
            for o in orders] == [("EURUSD", "BUY", "MARKET", Decimal("0.5"), "FILLED"),
                                 ("EURUSD", "SELL", "MARKET", Decimal("0.5"), "FILLED")]
    # the fills recorded are the deals the stand-in booked under our tags, deal for deal
    booked = [(d["comment"], str(d["ticket"]), Decimal(f"{d['volume']:.2f}"),
               Decimal(f"{d['price']:.5f}")) for d in deals if d["type"] in (0, 1)]
    recorded = [(tag(f.client_order_id), f.trade_id, f.last_qty, f.last_px) for f in fills]
    assert recorded == booked
    assert [tag(o.client_order_id) for o in orders] == [b[0] for b in booked]
    # at the prices the node showed it: the buy paid an ask, the sell got a bid
    (_, _, _, bought), (_, _, _, sold) = recorded
    assert bought in {ask for _, ask in shown.quotes}
    assert sold in {bid for bid, _ in shown.quotes}
    if bridge is not None:
        assert "Traceback" not in bridge.output() and TOKEN not in bridge.output()
