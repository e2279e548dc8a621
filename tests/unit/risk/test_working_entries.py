"""The working entries the position, exposure and buying-power rules add up are kept between
gate decisions; they must always equal the sums over the cache's open orders as they are."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.risk.base import ZERO, RiskContext

PRICES = {"EURUSD": 1.1, "USDJPY": 150.0, "ABC": 20.0}
STRATEGIES = ("S1", "S2")


def _kernel() -> tuple[Kernel, SimulatedVenue, TestClock]:
    clock = TestClock(1_000)
    kernel = Kernel(clock, Account("A", "USD", AccountType.MARGIN, Decimal(10**9), Decimal(1)))
    for instrument in (Instrument.fx_pair("EURUSD"), Instrument.fx_pair("USDJPY"),
                       Instrument.equity("ABC")):
        kernel.add_instrument(instrument)
    kernel.cache.last_prices.update(PRICES)
    venue = SimulatedVenue(kernel.cache, clock)
    kernel.add_execution_client(venue)
    return kernel, venue, clock


def _order(rng: random.Random, n: int, clock: TestClock) -> Order:
    symbol = rng.choice(sorted(PRICES))
    kind = rng.choice((OrderType.MARKET, OrderType.LIMIT, OrderType.STOP))
    side = rng.choice((OrderSide.BUY, OrderSide.SELL))
    tick = 3 if symbol == "USDJPY" else 5 if symbol == "EURUSD" else 2
    away = Decimal(str(round(PRICES[symbol] * rng.choice((0.9, 1.1)), tick)))
    if (kind is OrderType.LIMIT) == (side is OrderSide.SELL):  # keep it resting
        away = Decimal(str(round(PRICES[symbol] * (2 - float(away) / PRICES[symbol]), tick)))
    return Order(
        client_order_id=f"O-{n}", strategy_id=rng.choice(STRATEGIES), symbol=symbol, side=side,
        order_type=kind, quantity=Decimal(rng.choice((1000, 2000, 5000))), ts_init=clock.now_ns(),
        price=away if kind is OrderType.LIMIT else None,
        trigger_price=away if kind is OrderType.STOP else None,
        reduce_only=rng.random() < 0.15,
    )


def _expected(ctx: RiskContext, order: Order) -> tuple[dict[tuple[str, OrderSide, str | None],
                                                            Decimal], Decimal, dict[str, int]]:
    others = [o for o in ctx.cache.open_orders() if o is not order and not o.reduce_only]
    leaves: dict[tuple[str, OrderSide, str | None], Decimal] = {}
    value = ZERO
    counts: dict[str, int] = {}
    for o in others:
        left = o.quantity - o.filled_qty
        for key in ((o.symbol, o.side, None), (o.symbol, o.side, o.strategy_id)):
            leaves[key] = leaves.get(key, ZERO) + left
        worth = ctx.notional(o, left)
        value += worth if worth is not None else ZERO
        counts[o.symbol] = counts.get(o.symbol, 0) + 1
    return leaves, value, counts


def _agree(ctx: RiskContext, order: Order) -> None:
    ctx.reset()
    working = ctx.working_entries(order)
    leaves, value, counts = _expected(ctx, order)
    for symbol in PRICES:
        for side in (OrderSide.BUY, OrderSide.SELL):
            for strategy in (None, *STRATEGIES):
                assert working.leaves(symbol, side, strategy) == leaves.get(
                    (symbol, side, strategy), ZERO), (symbol, side, strategy)
    assert abs(working.value(ctx) - value) <= abs(value) * Decimal("1e-20")
    assert working.symbol_counts() == counts
    assert sorted(o.client_order_id for o in working.orders) == sorted(
        o.client_order_id for o in ctx.cache.open_orders()
        if o is not order and not o.reduce_only)


@pytest.mark.parametrize("seed", range(6))
def test_kept_sums_follow_every_change_of_the_orders(seed: int) -> None:
    rng = random.Random(seed)
    kernel, venue, clock = _kernel()
    ctx = kernel.risk.context
    cache = kernel.cache
    sent: list[Order] = []
    for n in range(60):
        step = rng.random()
        live = [o for o in sent if not o.is_closed]
        if step < 0.45 or not live:
            order = _order(rng, n, clock)
            cache.add_order(order)
            _agree(ctx, order)  # checked while it is itself in the cache, as the gate sees it
            kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, clock.now_ns()))
            sent.append(order)
        elif step < 0.6:
            target = rng.choice(live)
            kernel.bus.send("RiskEngine.execute",
                            cmd.CancelOrder(target.client_order_id, clock.now_ns()))
        elif step < 0.75:
            target = rng.choice(live)
            kernel.bus.send("RiskEngine.execute", cmd.ModifyOrder(
                target.client_order_id, clock.now_ns(),
                quantity=target.filled_qty + Decimal(rng.choice((1000, 3000)))))
        else:  # a bar: market orders fill, and so do some resting ones as prices move
            symbol = rng.choice(sorted(PRICES))
            price = PRICES[symbol] * rng.choice((0.85, 1.0, 1.15))
            clock.advance_to(clock.now_ns() + 60_000_000_000)
            venue.process_bar(symbol, clock.now_ns(), price, price, price, price, 1e9)
        _agree(ctx, _order(rng, 1000 + n, clock))  # a new order, not in the cache
        for o in rng.sample(sent, min(3, len(sent))):
            _agree(ctx, o)  # orders of the cache, working or finished
    assert any(o.is_closed for o in sent) and any(not o.is_closed for o in sent)
