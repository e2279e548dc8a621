"""Paper to live is a change of settings: the bundled ``sma_cross`` strategy, unchanged, runs as
a LIVE node (``mode = "live"``, ``[broker] name = "fix"``) against QuickFIX's ``ordermatch``
on 127.0.0.1, on a replayed slice of the bundled GOOG daily bars, until the replay ends.

``ordermatch`` fills nothing by itself: it matches orders against each other. A liquidity
provider, a second FIX session in the test (:class:`~support.quickfix.MakerSession`), runs a
small market-making strategy on the same bars: before the strategies see each bar it quotes a
bid and an ask around its close (cancelling the previous quotes). ``ordermatch`` takes no
MARKET orders, so the strategy's market orders go out as marketable limits
(``market_orders = "limit"``) priced from the node's bars, which the node shows its broker.

What the node recorded in its audit database (orders and fills) is compared with what
``ordermatch`` printed it sent to the node's session.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pandas as pd
import pytest

from support.quickfix import MakerSession, QuickFixAcceptor, session_config
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data.bundled import bundled_path
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.live import run_live

#: Rows of the bundled GOOG file replayed: sma_cross (10/30) buys at the 34th bar of this slice
#: and sells at the 43rd.
SLICE = slice(85, 135)
#: Seconds of replay per daily bar: time for a round trip to ordermatch and back.
SECONDS_PER_BAR = 0.15
SIZE = 100
TICK = Decimal("0.01")


@pytest.fixture
def ordermatch(quickfix_ordermatch) -> QuickFixAcceptor:
    return quickfix_ordermatch(extra_target_comp_ids=("MAKER",))


@pytest.fixture
def maker(ordermatch: QuickFixAcceptor, tmp_path: Path) -> Iterator[MakerSession]:
    session = MakerSession(session_config(ordermatch, "MAKER", tmp_path / "maker")).start()
    yield session
    session.stop()


class MarketMaker:
    """Quotes ``SIZE`` on each side, 0.1 % around each bar's close, on ordermatch."""

    def __init__(self, session: MakerSession) -> None:
        self.session = session
        self.quotes: list[tuple[Decimal, Decimal, Decimal]] = []  # close, bid, ask

    def on_bar(self, bar: Bar) -> None:
        close = Decimal(str(bar.close))
        bid = (close * Decimal("0.999") / TICK).to_integral_value(ROUND_FLOOR) * TICK
        ask = (close * Decimal("1.001") / TICK).to_integral_value(ROUND_CEILING) * TICK
        self.session.cancel_all()
        self.session.place(bar.symbol, "1", SIZE, bid)
        self.session.place(bar.symbol, "2", SIZE, ask)
        self.quotes.append((close, bid, ask))

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


class Market:
    """What sees each bar before the strategies do: the market maker, then the broker."""

    def __init__(self, *feeds: object) -> None:
        self.feeds = feeds

    def on_bar(self, bar: Bar) -> None:
        for feed in self.feeds:
            feed.on_bar(bar)  # type: ignore[attr-defined]

    def on_quote(self, quote: QuoteTick) -> None:
        return None

    def on_trade(self, trade: TradeTick) -> None:
        return None


class ShowTheMarket:
    """Beside the node: puts the market maker in front of the feed that sees each bar first
    (the live service made the broker that feed: it prices its marketable limits from it)."""

    def __init__(self, maker: MarketMaker) -> None:
        self.maker = maker
        self._stopped = asyncio.Event()

    async def run(self, control: NodeControl) -> None:
        node = control.node
        assert node is not None
        assert node.venue_feed is node.client  # the FIX client sees the node's prices
        node.venue_feed = Market(self.maker, node.venue_feed)
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def node_config(tmp_path: Path, ordermatch: QuickFixAcceptor) -> NodeConfig:
    bars = pd.read_csv(bundled_path("GOOG")).iloc[SLICE]
    data = tmp_path / "GOOG.csv"
    bars.to_csv(data, index=False)
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "fix-live"
cancel_open_orders_on_stop = true

[broker]
name = "fix"

[broker.settings]
venue = "ORDERMATCH"
market_orders = "limit"
market_protection_pct = "2"
account_balance = "1000000"
request_timeout_s = 5

[broker.settings.session]
port = {ordermatch.port}
begin_string = "FIX.4.2"
sender_comp_id = "CLIENT"
target_comp_id = "ORDERMATCH"
heartbeat_s = 5

[broker.settings.capabilities]
order_types = ["LIMIT"]
time_in_force = ["DAY"]
modify = false
status_requests = false

[[broker.settings.instruments]]
symbol = "GOOG"
tick_size = "0.01"
lot_step = "1"

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


_OUTGOING = re.compile(r"8=FIX\.4\.2\x01.*?\x0110=\d{3}\x01")


def fills_ordermatch_sent(output: str, target: str) -> list[tuple[str, Decimal, Decimal]]:
    """(ClOrdID, LastShares, LastPx) of every fill report ordermatch logged for ``target``."""
    out = []
    for raw in _OUTGOING.findall(output):
        fields = dict(pair.split("=", 1) for pair in raw.strip("\x01").split("\x01"))
        if fields.get("35") == "8" and fields.get("56") == target \
                and fields.get("150") in ("1", "2"):
            out.append((fields["11"], Decimal(fields["32"]), Decimal(fields["31"])))
    return list(dict.fromkeys(out))  # a report logged twice (resent) is one fill


def test_sma_cross_runs_live_on_ordermatch_and_its_trades_are_recorded(
        tmp_path: Path, ordermatch: QuickFixAcceptor, maker: MakerSession) -> None:
    config = node_config(tmp_path, ordermatch)
    home = tmp_path / "home"
    market_maker = MarketMaker(maker)
    session = run_live(config, home, beside=(ShowTheMarket(market_maker),))

    assert session.summary.failures == []
    assert len(market_maker.quotes) == SLICE.stop - SLICE.start  # the replay ran to its end
    database = open_database(None, home)
    try:
        store = AuditStore(database)
        orders = store.orders(run_id=session.run_id)
        fills = store.fills(run_id=session.run_id)
    finally:
        database.close()
    # sma_cross bought once and closed once, with market orders
    assert [(o.symbol, o.side.value, o.order_type.value, o.quantity, o.status.value)
            for o in orders] == [("GOOG", "BUY", "MARKET", 1, "FILLED"),
                                 ("GOOG", "SELL", "MARKET", 1, "FILLED")]
    recorded = [(f.client_order_id, f.last_qty, f.last_px) for f in fills]
    assert recorded == fills_ordermatch_sent(ordermatch.output(), "CLIENT")
    # ordermatch prices every match at the offer: the buy paid the market maker's ask of its
    # bar, the sell (the offer this time) got its own marketable limit, 2 % under the close,
    # against the market maker's bid
    (_, _, bought), (_, _, sold) = recorded
    assert any(bought == ask for _, _, ask in market_maker.quotes)
    assert any(sold == (close * Decimal("0.98") / TICK).to_integral_value(ROUND_CEILING) * TICK
               and sold <= bid for close, bid, _ in market_maker.quotes)
