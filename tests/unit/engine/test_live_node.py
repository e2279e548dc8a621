"""The trading node's loop on a real paper venue in process: items in order with orders settled
between them, a stop that interrupts a source that never answers, a failing source, a refusal to
start when positions differ, and strategies that start only after reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.brokers.paper import InProcessPaperClient, PaperVenue
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import Kernel
from tradeloop.engine.live import NodeSettings, ReconciliationFailed, TradingNode
from tradeloop.indicators import SMA
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.data import Bar
from tradeloop.model.enums import AccountType, OrderSide, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.strategy import Above, Strategy

T0 = 1_704_153_600_000_000_000
HOUR = 3_600_000_000_000
EURUSD = Instrument.fx_pair("EURUSD", venue="PAPER")


def bars(n: int) -> list[Bar]:
    return [Bar("EURUSD", T0 + k * HOUR, 1.1, 1.101, 1.099, 1.1 + k * 1e-4, 10.0, "1h")
            for k in range(n)]


class ListSource:
    name = "list"

    def __init__(self, items: list[Bar], hang: bool = False, fail_at: int | None = None) -> None:
        self.items, self.hang, self.fail_at = items, hang, fail_at
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self._items()

    async def _items(self) -> AsyncIterator[Bar]:
        for k, item in enumerate(self.items):
            if k == self.fail_at:
                raise ConnectionError("feed lost")
            yield item
        if self.hang:
            await asyncio.Event().wait()  # a live feed that goes quiet


class BuyEveryBar(Strategy):
    def on_start(self) -> None:
        self.seen_at_start = self.position().quantity

    def on_bar(self, bar: Bar) -> None:
        self.buy(1000)


def node_for(tmp_path: Path, source: ListSource, venue: PaperVenue | None = None
             ) -> tuple[TradingNode, BuyEveryBar, PaperVenue]:
    venue = venue or PaperVenue(tmp_path / "venue.db", [EURUSD],
                                config=SimulatedVenueConfig(venue="PAPER"))
    clock = TestClock()
    kernel = Kernel(clock, Account("A", "USD", AccountType.MARGIN, Decimal(100_000)))
    kernel.add_instrument(EURUSD)
    strategy = BuyEveryBar()
    kernel.add_strategy(strategy, ("EURUSD",))
    node = TradingNode(kernel, source, InProcessPaperClient(venue),
                       NodeSettings(replay_clock=True, settle_orders=True, reconcile_every_s=0),
                       venue_feed=venue)
    return node, strategy, venue


def test_items_in_order_with_each_order_filled_at_the_next_bars_open(tmp_path: Path) -> None:
    node, _strategy, venue = node_for(tmp_path, ListSource(bars(5)))
    summary = asyncio.run(node.run(install_signals=False))
    assert summary.items == 5 and summary.stopped_by == "end of data"
    fills = venue.fills_since(0)
    assert [f.ts for f in fills] == [T0 + k * HOUR for k in range(1, 5)]  # next bar's open
    assert all(f.price == Decimal("1.10000") for f in fills)
    position = next(iter(venue.positions()))
    assert position.quantity == Decimal(4000)
    assert node.kernel.cache.net_quantity("EURUSD") == Decimal(4000)
    assert len(node.kernel.cache.open_orders()) == 1  # the last bar's order rests


def test_a_stop_interrupts_a_source_that_never_answers(tmp_path: Path) -> None:
    source = ListSource(bars(2), hang=True)
    node, _, _ = node_for(tmp_path, source)

    async def main() -> None:
        running = asyncio.ensure_future(node.run(install_signals=False))
        while node.summary.items < 2:
            await asyncio.sleep(0.01)
        node.request_stop("test")
        summary = await asyncio.wait_for(running, 5)
        assert summary.stopped_by == "test"

    asyncio.run(main())
    assert source.stopped


def test_a_failing_source_ends_the_run_with_its_error(tmp_path: Path) -> None:
    source = ListSource(bars(3), fail_at=2)
    node, _, _ = node_for(tmp_path, source)
    with pytest.raises(ConnectionError, match="feed lost"):
        asyncio.run(node.run(install_signals=False))
    assert source.stopped and node.summary.items == 2


def test_the_node_refuses_to_start_when_positions_differ(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "venue.db", [EURUSD], config=SimulatedVenueConfig(
        venue="PAPER"))
    # someone traded the account while this node knew nothing of it: the node adopts the
    # order and its fill as external, so positions agree...
    venue.submit(Order(client_order_id="HAND-1", strategy_id="X", symbol="EURUSD",
                       side=OrderSide.BUY, order_type=OrderType.MARKET,
                       quantity=Decimal(500), ts_init=T0))
    venue.on_bar(bars(1)[0])
    node, strategy, _ = node_for(tmp_path, ListSource([]), venue)
    report = asyncio.run(node.start())
    assert report.adopted_orders == ["HAND-1"] and report.ok
    assert node.kernel.cache.net_quantity("EURUSD") == Decimal(500)
    assert strategy.seen_at_start == 0  # the strategy's own position; the 500 are external



def test_the_node_refuses_to_trade_when_positions_cannot_be_reconciled(tmp_path: Path) -> None:
    node, strategy, _ = node_for(tmp_path, ListSource(bars(3)))
    # the local books hold a fill the venue never made (a lost state file, another account):
    # reconciliation must not invent a fill to flatten it, so the node refuses
    kernel = node.kernel
    kernel.cache.add_order(Order(client_order_id="OLD-1", strategy_id="BuyEveryBar",
                                 symbol="EURUSD", side=OrderSide.BUY,
                                 order_type=OrderType.MARKET, quantity=Decimal(1000),
                                 ts_init=T0))
    for event in (
        ev.OrderSubmitted(ts=T0, client_order_id="OLD-1", strategy_id="BuyEveryBar",
                          symbol="EURUSD"),
        ev.OrderAccepted(ts=T0, client_order_id="OLD-1", strategy_id="BuyEveryBar",
                         symbol="EURUSD", venue_order_id="V-OLD"),
        ev.OrderFilled(ts=T0, client_order_id="OLD-1", strategy_id="BuyEveryBar",
                       symbol="EURUSD", venue_order_id="V-OLD", trade_id="T-OLD",
                       side=OrderSide.BUY, last_qty=Decimal(1000), last_px=Decimal("1.1")),
    ):
        kernel.execution.process(event)
    with pytest.raises(ReconciliationFailed, match="EURUSD: local 1000, venue 0"):
        asyncio.run(node.run(install_signals=False))
    assert not hasattr(strategy, "seen_at_start")  # on_start never ran
    assert node.summary.items == 0


class BuysAboveLevel(Strategy):
    """Declares a wake condition: on_bar runs only while the 2-bar average is above a level."""

    def on_start(self) -> None:
        self.average = self.indicator(SMA(2))
        self.wake_when(Above(self.average, 1.1004))
        self.woken: list[int] = []

    def on_bar(self, bar: Bar) -> None:
        self.woken.append(bar.ts)
        self.buy(1000)


def test_the_node_calls_on_bar_only_where_a_wake_condition_holds(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "venue.db", [EURUSD], config=SimulatedVenueConfig(venue="PAPER"))
    kernel = Kernel(TestClock(), Account("A", "USD", AccountType.MARGIN, Decimal(100_000)))
    kernel.add_instrument(EURUSD)
    strategy = BuysAboveLevel()
    kernel.add_strategy(strategy, ("EURUSD",))
    node = TradingNode(kernel, ListSource(bars(8)), InProcessPaperClient(venue),
                       NodeSettings(replay_clock=True, settle_orders=True, reconcile_every_s=0),
                       venue_feed=venue)
    asyncio.run(node.run(install_signals=False))
    # closes 1.1000, 1.1001, ...: the average of two is above 1.1004 from the sixth bar on
    assert strategy.woken == [T0 + k * HOUR for k in range(5, 8)]
    assert len(venue.fills_since(0)) == 2  # the last bar's order rests
