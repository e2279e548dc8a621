"""What the paper venue checks before it takes an order, a modification or market data.

Each order check returns None when the request is fine, else a reason code and a one-line
reason, the way a real broker answers: unknown symbol, quantity off the lot step or under the
minimum, price off the tick, not enough cash (cash accounts) or free margin (margin accounts).
Market data checks raise :class:`~tradeloop.core.errors.DataError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal

from tradeloop.brokers.paper.protocol import ReasonCode
from tradeloop.brokers.simulated.fees import CommissionModel
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.cache import Cache
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import (
    AccountType,
    ContingencyType,
    OrderSide,
    OrderType,
    TrailingOffsetType,
)
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.position import Position

Problem = tuple[ReasonCode, str]
ZERO = Decimal(0)
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_TRIGGERED = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED})


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def quantity_problem(quantity: Decimal, inst: Instrument) -> Problem | None:
    """A quantity under the minimum or off the lot step."""
    if quantity <= 0:
        return ReasonCode.INVALID_VOLUME, f"quantity {quantity} must be positive"
    if quantity < inst.min_quantity:
        return (ReasonCode.INVALID_VOLUME,
                f"quantity {quantity} is below the minimum {inst.min_quantity} of {inst.symbol}")
    if quantity % inst.lot_step != 0:
        return (ReasonCode.INVALID_VOLUME, f"quantity {quantity} is not a multiple of the lot "
                f"step {inst.lot_step} of {inst.symbol}")
    return None


def price_problem(name: str, price: Decimal | None, inst: Instrument) -> Problem | None:
    """A price that is not positive or not on the tick."""
    if price is None:
        return None
    if price <= 0:
        return ReasonCode.INVALID_PRICE, f"{name} {price} must be positive"
    if not inst.is_price_on_tick(price):
        return (ReasonCode.INVALID_PRICE,
                f"{name} {price} is not on the tick {inst.tick_size} of {inst.symbol}")
    return None


def order_problem(
    order: Order,
    instruments: Mapping[str, Instrument],
    capabilities: VenueCapabilities,
    currency: str,
) -> Problem | None:
    """What is wrong with a new order on its own (before funds are looked at)."""
    if not capabilities.supports(order):
        return (ReasonCode.UNSUPPORTED_ORDER,
                f"the venue does not take {order.order_type} {order.time_in_force} orders")
    inst = instruments.get(order.symbol)
    if inst is None:
        known = ", ".join(sorted(instruments)) or "none"
        return ReasonCode.UNKNOWN_SYMBOL, f"unknown symbol {order.symbol} (known: {known})"
    if inst.quote_currency != currency:
        return (ReasonCode.UNSUPPORTED_ORDER,
                f"{inst.symbol} is quoted in {inst.quote_currency}; this paper account books "
                f"{currency} only (no FX conversion yet)")
    problem = quantity_problem(order.quantity, inst)
    if problem is None:
        problem = price_problem("price", order.price, inst)
    if problem is None:
        problem = price_problem("trigger price", order.trigger_price, inst)
    if (problem is None and order.order_type is OrderType.TRAILING_STOP
            and order.trailing_offset_type is TrailingOffsetType.PRICE):
        problem = price_problem("trailing offset", order.trailing_offset, inst)
    return problem


def modify_problem(
    order: Order, inst: Instrument, quantity: Decimal | None, price: Decimal | None,
    trigger_price: Decimal | None,
) -> Problem | None:
    """What is wrong with a modification of ``order``."""
    if price is not None and order.order_type not in _PRICED:
        return ReasonCode.INVALID_ORDER, f"a {order.order_type} order has no limit price"
    if trigger_price is not None and order.order_type not in _TRIGGERED:
        return ReasonCode.INVALID_ORDER, f"a {order.order_type} order has no trigger price"
    if quantity is not None:
        problem = quantity_problem(quantity, inst)
        if problem is not None:
            return problem
    return (price_problem("price", price, inst)
            or price_problem("trigger price", trigger_price, inst))


def closed_oco_sibling(order: Order, cache: Cache) -> str | None:
    """The id of an OCO sibling of ``order`` that already ended (the legs arrived one by one,
    so ``order`` must not work), if any."""
    if order.contingency is not ContingencyType.OCO:
        return None
    for sibling_id in order.linked_ids:
        sibling = cache.order(sibling_id)
        if sibling is not None and sibling.is_closed:
            return sibling_id
    return None


def reference_price(order: Order, last_prices: Mapping[str, float]) -> Decimal | None:
    """The price an order is expected to fill at: its limit, else its trigger, else the last."""
    if order.price is not None:
        return order.price
    if order.trigger_price is not None:
        return order.trigger_price
    last = last_prices.get(order.symbol)
    return None if last is None else Decimal(repr(last))


def funds_problem(
    order: Order,
    instruments: Mapping[str, Instrument],
    *,
    account_type: AccountType,
    balance: Decimal,
    equity: Decimal,
    positions: Mapping[str, Position],
    open_orders: Iterable[Order],
    last_prices: Mapping[str, float],
    commission: CommissionModel,
) -> Problem | None:
    """Whether the account can pay for ``order``.

    A cash account cannot sell more than it holds (nor short), and pays for a buy with the cash
    left after what its holdings cost and what its open buys reserve (with the commission). A
    margin account needs free margin (equity less the margin of positions and of open orders
    that add exposure) for an order that adds exposure; without a price to value the order
    with, the margin check is skipped (a cash account refuses the order: NO_PRICE).
    """
    inst = instruments[order.symbol]
    position = positions.get(order.symbol)
    held = position.quantity if position is not None else ZERO
    others = [o for o in open_orders if o.client_order_id != order.client_order_id]
    if account_type is AccountType.CASH:
        return _cash_problem(order, inst, held, balance, positions, others, instruments,
                             last_prices, commission)
    if not _adds_exposure(order.side, order.leaves_qty, held):
        return None
    ref = reference_price(order, last_prices)
    if ref is None:
        return None
    required = inst.notional(order.leaves_qty, ref) * inst.margin_rate
    used = ZERO
    for symbol, pos in positions.items():
        pos_inst = instruments.get(symbol)
        if pos_inst is None or pos.is_flat:
            continue
        mark = last_prices.get(symbol)
        price = pos.avg_px if mark is None else Decimal(repr(mark))
        used += abs(pos_inst.notional(pos.quantity, price)) * pos_inst.margin_rate
    for other in others:
        other_held = positions[other.symbol].quantity if other.symbol in positions else ZERO
        other_ref = reference_price(other, last_prices)
        if other_ref is not None and _adds_exposure(other.side, other.leaves_qty, other_held):
            other_inst = instruments[other.symbol]
            used += other_inst.notional(other.leaves_qty, other_ref) * other_inst.margin_rate
    free = equity - used
    if required > free:
        return (ReasonCode.INSUFFICIENT_MARGIN,
                f"{order.side} {order.quantity} {order.symbol} needs {_money(required)} "
                f"{inst.quote_currency} of margin; {_money(max(free, ZERO))} is free")
    return None


def _adds_exposure(side: OrderSide, quantity: Decimal, held: Decimal) -> bool:
    signed = quantity if side is OrderSide.BUY else -quantity
    return held == 0 or (held > 0) == (signed > 0) or abs(signed) > abs(held)


def _cash_problem(
    order: Order, inst: Instrument, held: Decimal, balance: Decimal,
    positions: Mapping[str, Position], others: list[Order],
    instruments: Mapping[str, Instrument], last_prices: Mapping[str, float],
    commission: CommissionModel,
) -> Problem | None:
    if order.side is OrderSide.SELL:
        selling = sum((o.leaves_qty for o in others
                       if o.symbol == order.symbol and o.side is OrderSide.SELL), ZERO)
        if order.leaves_qty + selling > max(held, ZERO):
            return (ReasonCode.INSUFFICIENT_FUNDS,
                    f"a cash account cannot sell {order.leaves_qty} {order.symbol}: it holds "
                    f"{max(held, ZERO)} and has {selling} on open sells (no short selling)")
        return None
    ref = reference_price(order, last_prices)
    if ref is None:
        return (ReasonCode.NO_PRICE, f"no price of {order.symbol} yet to value a "
                f"{order.order_type} buy on a cash account; send a limit order or wait for data")
    cost = inst.notional(order.leaves_qty, ref) + commission.fee(inst, order.leaves_qty, ref)
    spent = sum((instruments[s].notional(p.quantity, p.avg_px)
                 for s, p in positions.items() if p.quantity > 0 and s in instruments), ZERO)
    reserved = ZERO
    for other in others:
        other_ref = reference_price(other, last_prices)
        if other.side is OrderSide.BUY and other_ref is not None:
            reserved += instruments[other.symbol].notional(other.leaves_qty, other_ref)
    free = balance - spent - reserved
    if cost > free:
        return (ReasonCode.INSUFFICIENT_FUNDS,
                f"buying {order.leaves_qty} {order.symbol} costs about {_money(cost)} "
                f"{inst.quote_currency}; {_money(max(free, ZERO))} is free")
    return None


def _check_values(what: str, *prices: float) -> None:
    for price in prices:
        if not (math.isfinite(price) and price > 0):
            raise DataError(f"{what}: price {price} must be positive and finite")


def _check_sizes(what: str, *sizes: float) -> None:
    for size in sizes:
        if not (math.isfinite(size) and size >= 0):
            raise DataError(f"{what}: size {size} must be zero or more and finite")


def check_bar(bar: Bar) -> int:
    """Check a bar and return its length in nanoseconds (0 when unknown)."""
    what = f"bar {bar.symbol} at {bar.ts}"
    _check_values(what, bar.open, bar.high, bar.low, bar.close)
    _check_sizes(what, bar.volume)
    if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        raise DataError(f"{what}: open {bar.open} high {bar.high} low {bar.low} close "
                        f"{bar.close} are not a bar (low <= open, close <= high)")
    if not bar.timeframe:
        return 0
    try:
        return parse_timeframe(bar.timeframe).ns
    except ConfigError as exc:
        raise DataError(f"{what}: {exc}") from None




def check_quote(quote: QuoteTick) -> None:
    """Refuse a quote whose prices are not positive and finite or whose bid is above its ask."""
    what = f"quote {quote.symbol} at {quote.ts}"
    _check_values(what, quote.bid, quote.ask)
    _check_sizes(what, quote.bid_size, quote.ask_size)
    if quote.bid > quote.ask:
        raise DataError(f"{what}: bid {quote.bid} is above ask {quote.ask}")


def check_trade(trade: TradeTick) -> None:
    """Refuse a trade whose price is not positive and finite or whose size is negative."""
    what = f"trade {trade.symbol} at {trade.ts}"
    _check_values(what, trade.price)
    _check_sizes(what, trade.size)
