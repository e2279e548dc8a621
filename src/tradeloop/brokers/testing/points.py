"""The conformance points: what every adapter must do, each an async check on a :class:`Target`.

A point runs only where the adapter claims the capability it tests and the counterparty can be
steered into the situation it needs; otherwise :func:`exclusion` says why, and the report lists
it as excluded. Each point starts from a flat venue (the counterparty's ``reset``).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from tradeloop.brokers.testing.harness import (
    COUNT_SUBMITS,
    DROP_CONNECTION,
    DUPLICATE_REPORTS,
    FILL,
    LOSE_ANSWER,
    OUT_OF_ORDER,
    PRICE,
    REJECT_FATAL,
    REJECT_RETRYABLE,
    Desk,
    Target,
    TargetSpec,
    eventually,
)
from tradeloop.core.errors import ConfigError
from tradeloop.data.bars import BarBuilder, TickBars
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.data import Bar, QuoteTick
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order

BUY, SELL = OrderSide.BUY, OrderSide.SELL
Check = Callable[[Target], Awaitable[None]]
Needs = Callable[[VenueCapabilities], str | None]
CLOSED_UNFILLED = (OrderStatus.CANCELED, OrderStatus.EXPIRED)


@dataclass(frozen=True)
class Point:
    """One conformance point.

    Attributes
    ----------
    name : str
    what : str
        What it shows, one line.
    check : callable
    needs : callable
        Returns why the capabilities exclude the point, or None.
    steering : frozenset of str
        What the counterparty must be able to do.
    """

    name: str
    what: str
    check: Check
    needs: Needs
    steering: frozenset[str] = frozenset()


def exclusion(point: Point, spec: TargetSpec) -> str | None:
    """Why ``point`` does not run against ``spec``, or None when it does."""
    reason = point.needs(spec.capabilities)
    if reason is not None:
        return f"capability: {reason}"
    missing = sorted(point.steering - spec.steering)
    if missing:
        return f"counterparty cannot: {', '.join(missing)}"
    return None


def _always(_: VenueCapabilities) -> str | None:
    return None


def _needs_type(order_type: OrderType) -> Needs:
    def needs(caps: VenueCapabilities) -> str | None:
        return None if order_type in caps.order_types else f"no {order_type.value} orders"
    return needs


def _needs_tif(tif: TimeInForce) -> Needs:
    def needs(caps: VenueCapabilities) -> str | None:
        if OrderType.LIMIT not in caps.order_types:
            return "no LIMIT orders"
        return None if tif in caps.time_in_force else f"no {tif.value} time in force"
    return needs


def _needs(*flags: str) -> Needs:
    def needs(caps: VenueCapabilities) -> str | None:
        if OrderType.LIMIT not in caps.order_types:
            return "no LIMIT orders"
        off = [f for f in flags if not getattr(caps, f)]
        return f"no {', '.join(off)}" if off else None
    return needs


# -- prices ----------------------------------------------------------------------------------


def _round(t: Target, price: Decimal, up: bool) -> Decimal:
    steps = (price / t.tick).to_integral_value(ROUND_UP if up else ROUND_DOWN)
    return steps * t.tick


def below(t: Target) -> Decimal:
    """A buy limit price that rests: 2 % under the bid."""
    return _round(t, t.bid * Decimal("0.98"), up=False)


def above(t: Target) -> Decimal:
    """A buy stop or sell limit price that rests: 2 % over the ask."""
    return _round(t, t.ask * Decimal("1.02"), up=True)


def through(t: Target) -> Decimal:
    """A buy limit price that fills at once: 1 % over the ask."""
    return _round(t, t.ask * Decimal("1.01"), up=True)


def _tif(t: Target, tif: TimeInForce) -> TimeInForce:
    return tif if tif in t.spec.capabilities.time_in_force else next(
        x for x in (TimeInForce.GTC, TimeInForce.DAY, TimeInForce.GTD)
        if x in t.spec.capabilities.time_in_force)


async def _desk(t: Target) -> Desk:
    await t.counterparty.reset()
    if PRICE in t.spec.steering:
        await t.counterparty.set_price(t.symbol, t.bid, t.ask)
    return await Desk(t, t.connect()).open()


async def _resting(desk: Desk, tif: TimeInForce | None = None,
                   quantity: Decimal | None = None) -> Order:
    t = desk.target
    order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=below(t), quantity=quantity,
                                   tif=tif or _tif(t, TimeInForce.GTC)))
    await desk.until_status(order, OrderStatus.ACCEPTED)
    return order


async def _cancel(desk: Desk, order: Order) -> None:
    desk.cancel(order)
    await desk.until_status(order, OrderStatus.CANCELED)


def _one_fill_each(desk: Desk, order: Order) -> None:
    fills = desk.fills(order)
    assert len({f.trade_id for f in fills}) == len(fills), "a fill was booked twice"
    assert sum((f.last_qty for f in fills), Decimal(0)) == order.quantity == order.filled_qty, (
        f"{order.client_order_id}: filled {order.filled_qty} of {order.quantity} in "
        f"{len(fills)} fills")


def _position(desk: Desk) -> Decimal:
    return desk.cache.net_quantity(desk.target.symbol)


async def _venue_position(desk: Desk) -> Decimal:
    return sum((p.quantity for p in await desk.adapter.execution.positions()
                if p.symbol == desk.target.symbol), Decimal(0))


async def _filled_buy(desk: Desk, order_type: OrderType = OrderType.MARKET) -> Order:
    t = desk.target
    price = through(t) if order_type is OrderType.LIMIT else None
    order = desk.submit(desk.order(BUY, order_type, price=price, tif=_tif(t, TimeInForce.GTC)))
    await desk.until_status(order, OrderStatus.FILLED)
    return order


def _taker(t: Target) -> OrderType:
    return OrderType.MARKET if OrderType.MARKET in t.spec.capabilities.order_types \
        else OrderType.LIMIT


# -- the points ------------------------------------------------------------------------------


async def check_connect(t: Target) -> None:
    """Connect, read the account, disconnect, and connect a new client again."""
    await t.counterparty.reset()
    first = t.connect()
    await first.execution.connect()
    await first.execution.account()
    await first.close()
    second = t.connect()
    await second.execution.connect()
    assert (await second.execution.account()).currency, "the account has no currency"
    await second.close()


async def check_reconnect(t: Target) -> None:
    """After the venue cuts the connection, the client reconnects and orders go through."""
    desk = await _desk(t)
    try:
        await t.counterparty.drop_connections()
        order = await _resting(desk)
        assert await desk.venue_open(order)
        await _cancel(desk, order)
    finally:
        await desk.close()


async def check_instruments(t: Target) -> None:
    """The venue's instrument comes with a tick and a lot; an unknown symbol is refused."""
    adapter = t.connect()
    await adapter.execution.connect()
    try:
        found = await adapter.instruments.instruments([t.symbol])
        assert [i.symbol for i in found] == [t.symbol]
        inst = found[0]
        assert inst.tick_size > 0 and inst.lot_step > 0, inst
        try:
            await adapter.instruments.instruments(["NO-SUCH-SYMBOL-42"])
        except ConfigError:
            pass
        else:
            raise AssertionError("an unknown symbol was not refused")
    finally:
        await adapter.close()


async def check_account(t: Target) -> None:
    """Balances in the account currency, as Decimals."""
    adapter = t.connect()
    await adapter.execution.connect()
    try:
        report = await adapter.execution.account()
        assert report.currency and report.balance > 0, report
        assert isinstance(report.balance, Decimal) and isinstance(report.equity, Decimal)
    finally:
        await adapter.close()


def _order_type_check(order_type: OrderType) -> Check:
    async def check(t: Target) -> None:
        desk = await _desk(t)
        try:
            if order_type is OrderType.MARKET:
                order = await _filled_buy(desk)
                assert order.avg_px is not None and order.avg_px > 0
                _one_fill_each(desk, order)
                assert _position(desk) == order.quantity
                return
            if order_type is OrderType.LIMIT:
                resting = await _resting(desk)
                assert await desk.venue_open(resting), "the venue does not list the order"
                await _cancel(desk, resting)
                order = await _filled_buy(desk, OrderType.LIMIT)
                assert order.avg_px is not None and order.avg_px <= order.price  # type: ignore[operator]
                _one_fill_each(desk, order)
                return
            # stops, touches and trailing stops rest until the market reaches them
            price = trigger = None
            side = BUY
            if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
                trigger = above(t)
                price = trigger + 10 * t.tick if order_type is OrderType.STOP_LIMIT else None
            elif order_type is OrderType.MARKET_IF_TOUCHED:
                trigger = below(t)
            offset = above(t) - t.ask if order_type is OrderType.TRAILING_STOP else None
            order = desk.submit(desk.order(side, order_type, price=price, trigger=trigger,
                                           trailing_offset=offset))
            await desk.until_status(order, OrderStatus.ACCEPTED)
            assert order.filled_qty == 0
            if PRICE in t.spec.steering and order_type is not OrderType.TRAILING_STOP:
                assert trigger is not None
                if side is BUY and order_type is not OrderType.MARKET_IF_TOUCHED:
                    await t.counterparty.set_price(t.symbol, trigger + t.tick, trigger + 2 * t.tick)
                else:
                    await t.counterparty.set_price(t.symbol, trigger - 2 * t.tick, trigger - t.tick)
                await desk.until_status(order, OrderStatus.FILLED)
                _one_fill_each(desk, order)
            else:
                await _cancel(desk, order)
        finally:
            await desk.close()
    return check


def _tif_check(tif: TimeInForce) -> Check:
    async def check(t: Target) -> None:
        desk = await _desk(t)
        try:
            if tif in (TimeInForce.IOC, TimeInForce.FOK):
                order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=below(t), tif=tif))
                await desk.until_status(order, *CLOSED_UNFILLED)
                assert order.filled_qty == 0 and not await desk.venue_open(order)
                filled = desk.submit(desk.order(BUY, OrderType.LIMIT, price=through(t), tif=tif))
                await desk.until_status(filled, OrderStatus.FILLED)
                _one_fill_each(desk, filled)
                return
            expire = desk.clock.now_ns() + 86_400 * 10**9 if tif is TimeInForce.GTD else None
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=below(t), tif=tif,
                                           expire_ns=expire))
            await desk.until_status(order, OrderStatus.ACCEPTED)
            report = await desk.adapter.execution.order_status(order.client_order_id)
            assert report is not None and report.is_open, report
            await _cancel(desk, order)
        finally:
            await desk.close()
    return check


async def check_modify(t: Target) -> None:
    """A resting order's price and quantity change in place."""
    desk = await _desk(t)
    try:
        order = await _resting(desk)
        new_price = order.price - 5 * t.tick  # type: ignore[operator]
        desk.modify(order, price=new_price)
        await desk.until(lambda: order.price == new_price, "the new price")
        report = await desk.adapter.execution.order_status(order.client_order_id)
        assert report is not None and report.price == new_price, report
        more = order.quantity * 2
        desk.modify(order, quantity=more)
        await desk.until(lambda: order.quantity == more, "the new quantity")
        await _cancel(desk, order)
    finally:
        await desk.close()


async def check_cancel(t: Target) -> None:
    """Cancel one order, then every open order at once."""
    desk = await _desk(t)
    try:
        order = await _resting(desk)
        await _cancel(desk, order)
        assert not await desk.venue_open(order)
        orders = [await _resting(desk), await _resting(desk)]
        await desk.adapter.execution.cancel_all_orders(t.symbol)
        for o in orders:
            await desk.until_status(o, OrderStatus.CANCELED)
        assert not await desk.adapter.execution.open_orders()
    finally:
        await desk.close()


async def check_partial_fills(t: Target) -> None:
    """A resting order fills in two parts, each booked once."""
    desk = await _desk(t)
    try:
        order = await _resting(desk, quantity=t.quantity * 3)
        await t.counterparty.fill(order.client_order_id, t.quantity)
        await desk.until_status(order, OrderStatus.PARTIALLY_FILLED)
        assert order.filled_qty == t.quantity
        await t.counterparty.fill(order.client_order_id, t.quantity * 2)
        await desk.until_status(order, OrderStatus.FILLED)
        _one_fill_each(desk, order)
        assert _position(desk) == t.quantity * 3
    finally:
        await desk.close()


async def _armed(desk: Desk, fault: str) -> Order:
    t = desk.target
    await t.counterparty.arm(fault)
    return desk.submit(desk.order(BUY, OrderType.LIMIT, price=below(t),
                                  tif=_tif(t, TimeInForce.GTC)))


async def check_reject_fatal(t: Target) -> None:
    """A refused order ends REJECTED with the venue's reason and is never retried."""
    desk = await _desk(t)
    try:
        order = await _armed(desk, REJECT_FATAL)
        await desk.until_status(order, OrderStatus.REJECTED)
        assert order.reason, "no reason given"
        assert desk.router.sends == 1, f"sent {desk.router.sends} times"
    finally:
        await desk.close()


async def check_reject_retryable(t: Target) -> None:
    """A transient refusal is retried, and the venue ends up with one order."""
    desk = await _desk(t)
    try:
        order = await _armed(desk, REJECT_RETRYABLE)
        await desk.until_status(order, OrderStatus.ACCEPTED)
        assert desk.router.sends >= 2, "the refusal was not retried"
        if COUNT_SUBMITS in t.spec.steering:
            assert await t.counterparty.submits(order.client_order_id) == 1
        await _cancel(desk, order)
    finally:
        await desk.close()


async def check_outcome_unknown(t: Target) -> None:
    """The venue took the order but the answer was lost: it is looked up, never resent."""
    desk = await _desk(t)
    try:
        order = await _armed(desk, LOSE_ANSWER)
        await desk.until_status(order, OrderStatus.ACCEPTED)
        await desk.close()  # every request answered or given up
        assert desk.router.sends == 1, f"sent {desk.router.sends} times"
        if COUNT_SUBMITS in t.spec.steering:
            assert await t.counterparty.submits(order.client_order_id) == 1
        desk = await Desk(t, t.connect()).open()
        assert await desk.venue_open(order), "the venue has no such order"
    finally:
        await desk.close()


def _fault_check(fault: str) -> Check:
    async def check(t: Target) -> None:
        desk = await _desk(t)
        try:
            await t.counterparty.arm(fault)
            order = await _filled_buy(desk, _taker(t))
            await desk.until(lambda: _position(desk) == order.quantity, "the position")
            _one_fill_each(desk, order)
        finally:
            await desk.close()
    return check


async def check_reconcile_restart(t: Target) -> None:
    """After a restart, open orders and positions are reconciled with the venue, including a
    fill that happened while the node was down."""
    desk = await _desk(t)
    try:
        held = await _filled_buy(desk, _taker(t))
        resting = await _resting(desk)
    finally:
        await desk.close()
    if FILL in t.spec.steering:
        await t.counterparty.fill(resting.client_order_id, t.quantity)
    # a new node: orders and fills restored from its own records, then reconciled
    restarted = await Desk(t, t.connect()).open()
    try:
        for order in (held, resting):
            restarted.cache.add_order(copy.deepcopy(order))
        for fill in desk.fills(held):
            restarted.portfolio.on_fill(fill)
        report = await restarted.reconcile()
        assert report.ok, report.position_mismatches
        mine = restarted.cache.order(resting.client_order_id)
        assert mine is not None
        expected = OrderStatus.FILLED if FILL in t.spec.steering else OrderStatus.ACCEPTED
        assert mine.status is expected, (mine.status, report)
        assert _position(restarted) == await _venue_position(restarted)
        if expected is OrderStatus.ACCEPTED:
            await _cancel(restarted, mine)
    finally:
        await restarted.close()


async def check_history(t: Target) -> None:
    """Historical bars for a range: in order, inside the range, consistent."""
    assert t.history is not None, "the target gave no history range"
    adapter = t.connect()
    assert adapter.market_data is not None
    await adapter.market_data.connect()
    try:
        start, end = t.history
        bars = await adapter.market_data.historical_bars(t.symbol, t.timeframe, start, end)
        assert len(bars) > 0, "no bars"
        ts = bars.ts.tolist()
        assert ts == sorted(set(ts)) and start <= ts[0] and ts[-1] < end
        assert (bars.low <= bars.open).all() and (bars.open <= bars.high).all()
        assert (bars.low <= bars.close).all() and (bars.close <= bars.high).all()
    finally:
        await adapter.close()


async def check_quotes_to_bars(t: Target) -> None:
    """Streamed quotes reach the bar builder and make bars."""
    await t.counterparty.reset()
    adapter = t.connect()
    market = adapter.market_data
    assert market is not None
    await market.connect()
    builder = BarBuilder(t.symbol, TickBars(2))
    quotes: list[QuoteTick] = []
    bars: list[Bar] = []
    try:
        await market.subscribe_quotes(t.symbol)
        stream = market.stream()
        for k in range(1, 5):
            bid = t.bid + k * t.tick
            await t.counterparty.set_price(t.symbol, bid, bid + (t.ask - t.bid))

        final = t.bid + 4 * t.tick

        async def got_all() -> bool:
            while not quotes or Decimal(str(quotes[-1].bid)) != final:
                item = await anext(stream)
                if isinstance(item, QuoteTick) and item.symbol == t.symbol:
                    quotes.append(item)
                    bars.extend(builder.on_quote(item.ts, item.bid, item.ask))
            return True

        await eventually(got_all, "the quotes set", t.settle_s)
        seen = [Decimal(str(q.bid)) for q in quotes]
        wanted = [t.bid + k * t.tick for k in range(1, 5)]
        assert [b for b in dict.fromkeys(seen) if b in wanted] == wanted, seen
        assert all(a.ts <= b.ts for a, b in itertools.pairwise(quotes))
        assert len(bars) >= 1, "no bar closed"
        assert all(b.low <= b.open <= b.high and b.low <= b.close <= b.high for b in bars)
    finally:
        await adapter.close()


def _all_points() -> list[Point]:
    points = [
        Point("connect", "connect, read the account, reconnect with a new client",
              check_connect, _always),
        Point("reconnect", "the venue drops the connection; the next order goes through",
              check_reconnect, _needs(), frozenset({DROP_CONNECTION})),
        Point("instruments", "instruments with tick and lot; unknown symbols refused",
              check_instruments, _always),
        Point("account", "balances as Decimals in the account currency",
              check_account, _always),
    ]
    for order_type in OrderType:
        points.append(Point(f"order_type[{order_type.value}]",
                            f"a {order_type.value} order behaves as its type says",
                            _order_type_check(order_type), _needs_type(order_type)))
    for tif in TimeInForce:
        points.append(Point(f"time_in_force[{tif.value}]",
                            f"a LIMIT order with {tif.value} behaves as it says",
                            _tif_check(tif), _needs_tif(tif)))
    points += [
        Point("modify", "a resting order's price and quantity change in place",
              check_modify, _needs("modify")),
        Point("cancel", "cancel one order, then all", check_cancel, _needs()),
        Point("partial_fills", "an order fills in parts, each booked once",
              check_partial_fills, _needs(), frozenset({FILL})),
        Point("reject_fatal", "a fatal refusal: REJECTED with the reason, not retried",
              check_reject_fatal, _needs(), frozenset({REJECT_FATAL})),
        Point("reject_retryable", "a transient refusal is retried; one order at the venue",
              check_reject_retryable, _needs(), frozenset({REJECT_RETRYABLE})),
        Point("outcome_unknown", "answer lost after the venue took the order: looked up, "
              "never resent", check_outcome_unknown, _needs(), frozenset({LOSE_ANSWER})),
        Point("duplicate_reports", "every report twice: one fill booked",
              _fault_check(DUPLICATE_REPORTS), _needs(), frozenset({DUPLICATE_REPORTS})),
        Point("out_of_order_reports", "the fill before the acknowledgement: one fill booked",
              _fault_check(OUT_OF_ORDER), _needs(), frozenset({OUT_OF_ORDER})),
        Point("reconcile_after_restart", "open orders and positions reconciled after a "
              "restart, with a fill that happened meanwhile", check_reconcile_restart,
              _needs()),
        Point("historical_bars", "bars for a range", check_history,
              lambda c: None if c.history else "no historical bars"),
        Point("quotes_to_bars", "streamed quotes make bars", check_quotes_to_bars,
              lambda c: None if c.quotes else "no quote stream", frozenset({PRICE})),
    ]
    return points


#: Every conformance point, in the order the report lists them.
POINTS: list[Point] = _all_points()

__all__ = ["POINTS", "Point", "exclusion"]
