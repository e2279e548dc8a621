"""The paper venue fills exactly like the simulated venue of a backtest, also across restarts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from venue_harness import Harness

from tradeloop.brokers.paper.protocol import EVENT_TYPES
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.brokers.simulated.fees import parse_commission
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.time import NANOS_PER_HOUR
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.data import Bar
from tradeloop.model.enums import AccountType, OrderSide, TimeInForce
from tradeloop.model.orders import Order

BUY, SELL = OrderSide.BUY, OrderSide.SELL


@dataclass
class Step:
    """One action of a scenario: build orders, or a bar, or cancel / modify an order."""

    orders: Callable[[Harness], list[Order]] | None = None
    bar: tuple[float, float, float, float, float] | None = None
    cancel: str | None = None
    modify: tuple[str, dict[str, Decimal]] | None = None


@dataclass
class Run:
    fills: list[tuple[str, str, Decimal, Decimal, int, Decimal]] = field(default_factory=list)
    kinds: dict[str, list[str]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)


def _bracket(h: Harness) -> list[Order]:
    parent, sl, tp = h.bracket_orders(BUY, 4, stop_loss=96, take_profit=104)
    return [parent, sl, tp]


SCENARIO = [
    Step(bar=(100, 101, 99, 100.5, 1000)),
    Step(orders=lambda h: [h.order(BUY, 10), h.order(BUY, 5, price=99.2),
                           h.order(SELL, 5, trigger=97.1),
                           h.order(BUY, 3, trigger=103, price=103.5)]),
    Step(bar=(100.2, 101.5, 99.1, 101, 1000)),
    Step(orders=lambda h: [h.order(SELL, 5, trail=1.5), h.order(BUY, 4, price=95,
                                                                  tif=TimeInForce.IOC),
                           h.order(SELL, 2, price=120, tif=TimeInForce.DAY)]),
    Step(bar=(101, 102.5, 100.5, 102, 1000)),
    Step(orders=_bracket),
    Step(bar=(102, 103.6, 101.8, 103.2, 1000)),
    Step(bar=(103.2, 104.5, 102.9, 104.1, 600)),
    Step(orders=lambda h: [h.order(BUY, 6, price=98)]),
    Step(bar=(104, 104.2, 100.2, 100.9, 1000)),
    Step(modify=("O-11", {"price": Decimal("99.8")})),
    Step(bar=(100.9, 101.2, 99.5, 99.9, 1000)),
    Step(orders=lambda h: [h.order(SELL, 3, price=130)]),
    Step(bar=(99.9, 100.4, 96.5, 97, 1000)),
    Step(cancel="O-12"),
    *[Step(bar=(97 + k * 0.3, 98 + k * 0.3, 96.5 + k * 0.3, 97.5 + k * 0.3, 1000))
      for k in range(8)],  # past midnight UTC: the DAY order expires
]

CONFIGS = {
    "plain": SimulatedVenueConfig(venue="SIM"),
    "fees_and_volume": SimulatedVenueConfig(venue="SIM", commission=parse_commission("0.1%"),
                                            volume_limit=0.004),
}


def _record(events: list[ev.OrderEvent], orders: dict[str, str]) -> Run:
    run = Run(status=orders)
    for event in events:
        if event.kind not in EVENT_TYPES:
            continue
        run.kinds.setdefault(event.client_order_id, []).append(event.kind)
        if isinstance(event, ev.OrderFilled):
            run.fills.append((event.client_order_id, event.trade_id, event.last_qty,
                              event.last_px, event.ts, event.commission))
    return run


def _backtest(config: SimulatedVenueConfig) -> Run:
    h = Harness(config)
    for step in SCENARIO:
        if step.bar is not None:
            h.bar(*step.bar)
        elif step.orders is not None:
            orders = step.orders(h)
            if len(orders) > 1 and orders[0].linked_ids:
                h.submit_list(*orders)
            else:
                for o in orders:
                    h.submit(o)
        elif step.cancel is not None:
            h.cancel(h.kernel.cache.order(step.cancel))  # type: ignore[arg-type]
        elif step.modify is not None:
            cid, changes = step.modify
            h.kernel.bus.send("RiskEngine.execute",
                              cmd.ModifyOrder(cid, h.clock.now_ns(), **changes))
    statuses = {cid: str(o.status) for cid, o in h.kernel.cache.orders.items()}
    return _record(h.events, statuses)


def _paper(config: SimulatedVenueConfig, path: Path, restart_after: set[int]) -> Run:
    """The scenario on a paper venue; closed and reopened after the steps in ``restart_after``."""
    account = Account("PAPER-001", "USD", AccountType.MARGIN, Decimal(10_000_000))
    h = Harness(config)  # builds the same orders (ids, ts_init) as the backtest does
    venue = PaperVenue(path, [h.instrument], account=account, config=config)
    events: list[ev.OrderEvent] = []
    unsubscribe = venue.subscribe(lambda stored: events.append(stored.event))
    for i, step in enumerate(SCENARIO):
        if step.bar is not None:
            ts = h.bar(*step.bar)  # keeps the harness clock (order ts_init) in step
            venue.on_bar(Bar(h.symbol, ts, *step.bar, timeframe="1h"))
        elif step.orders is not None:
            for o in step.orders(h):
                venue.submit(o)
        elif step.cancel is not None:
            venue.cancel(step.cancel)
        elif step.modify is not None:
            cid, changes = step.modify
            venue.modify(cid, **changes)
        if i in restart_after:
            unsubscribe()
            venue.close()
            venue = PaperVenue(path, [h.instrument], account=account, config=config)
            unsubscribe = venue.subscribe(lambda stored: events.append(stored.event))
    statuses = {r.client_order_id: str(r.status) for r in venue.orders()}
    venue.close()
    return _record(events, statuses)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_fills_as_the_simulated_venue(name: str, tmp_path: Path) -> None:
    config = CONFIGS[name]
    expected = _backtest(config)
    assert len(expected.fills) >= 8  # the scenario does trade
    assert {"OrderExpired", "OrderCanceled", "OrderUpdated", "OrderTriggered"} <= {
        k for kinds in expected.kinds.values() for k in kinds}
    got = _paper(config, tmp_path / "paper.db", restart_after=set())
    assert got.fills == expected.fills
    assert got.kinds == expected.kinds
    assert got.status == expected.status


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_restarts_do_not_change_the_fills(name: str, tmp_path: Path) -> None:
    config = CONFIGS[name]
    expected = _backtest(config)
    every_step = set(range(len(SCENARIO)))
    got = _paper(config, tmp_path / "paper.db", restart_after=every_step)
    assert got.fills == expected.fills  # trade ids go on from where they were
    assert got.kinds == expected.kinds
    assert got.status == expected.status


def test_an_order_fills_from_the_bar_after_it_arrived(tmp_path: Path) -> None:
    h = Harness()
    venue = PaperVenue(tmp_path / "p.db", [h.instrument])
    venue.on_bar(Bar(h.symbol, 0, 100, 101, 99, 100, 1e6, "1h"))
    venue.submit(h.order(BUY, 1))
    assert venue.market_ns == NANOS_PER_HOUR  # the clock is at the bar's close
    venue.on_bar(Bar(h.symbol, NANOS_PER_HOUR, 105, 106, 104, 105, 1e6, "1h"))
    [fill] = venue.fills_since(0)
    assert (fill.price, fill.ts) == (Decimal(105), NANOS_PER_HOUR)
    venue.close()
