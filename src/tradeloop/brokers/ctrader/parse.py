"""cTrader's records (symbols, orders, deals, positions, the trader, trendbars) in our terms.

Quantities: cTrader counts volume in cents of a unit (``100000`` = 1000.00 units); ours are
units, so ``volume / 100``. Prices: order and deal prices are doubles, written here with the
symbol's ``digits`` places; spot, trendbar and relative prices are integers in 1/100000.
Money: integers scaled by ``10**moneyDigits``. Times: Unix milliseconds (trendbars: minutes),
to UTC nanoseconds.

Our order types map onto cTrader's as MARKET, LIMIT, STOP and STOP_LIMIT; cTrader's stop-limit
takes a stop price and a distance in points (``slippageInPoints``, one point being the
symbol's smallest price step) instead of a limit price, so the limit price is the stop price
plus (buy) or minus (sell) that distance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tradeloop.brokers.ctrader import messages as m
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

NS_PER_MS = 1_000_000
NS_PER_MINUTE = 60_000_000_000
_ZERO = Decimal(0)
_FIAT = frozenset({"USD", "EUR", "JPY", "GBP", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "DKK",
                   "HKD", "SGD", "CNH", "MXN", "ZAR", "PLN", "TRY", "HUF", "CZK", "ILS"})

#: Our order type -> cTrader's.
ORDER_TYPES: dict[OrderType, m.OrderType] = {
    OrderType.MARKET: m.OrderType.MARKET, OrderType.LIMIT: m.OrderType.LIMIT,
    OrderType.STOP: m.OrderType.STOP, OrderType.STOP_LIMIT: m.OrderType.STOP_LIMIT,
}
_OUR_TYPES: dict[int, OrderType] = {
    m.OrderType.MARKET: OrderType.MARKET, m.OrderType.MARKET_RANGE: OrderType.MARKET,
    m.OrderType.LIMIT: OrderType.LIMIT, m.OrderType.STOP: OrderType.STOP,
    m.OrderType.STOP_LIMIT: OrderType.STOP_LIMIT,
    m.OrderType.STOP_LOSS_TAKE_PROFIT: OrderType.STOP,
}
#: Our time in force -> cTrader's.
TIME_IN_FORCE: dict[TimeInForce, m.TimeInForce] = {
    TimeInForce.GTC: m.TimeInForce.GOOD_TILL_CANCEL,
    TimeInForce.GTD: m.TimeInForce.GOOD_TILL_DATE,
    TimeInForce.IOC: m.TimeInForce.IMMEDIATE_OR_CANCEL,
    TimeInForce.FOK: m.TimeInForce.FILL_OR_KILL,
}
_OUR_TIF: dict[int, TimeInForce] = {v: k for k, v in TIME_IN_FORCE.items()}
_STATUSES: dict[int, OrderStatus] = {
    m.OrderStatus.ORDER_STATUS_ACCEPTED: OrderStatus.ACCEPTED,
    m.OrderStatus.ORDER_STATUS_FILLED: OrderStatus.FILLED,
    m.OrderStatus.ORDER_STATUS_REJECTED: OrderStatus.REJECTED,
    m.OrderStatus.ORDER_STATUS_EXPIRED: OrderStatus.EXPIRED,
    m.OrderStatus.ORDER_STATUS_CANCELLED: OrderStatus.CANCELED,
}
_DEAL_DONE = frozenset({m.DealStatus.FILLED, m.DealStatus.PARTIALLY_FILLED})


@dataclass(frozen=True)
class SymbolInfo:
    """What the adapter knows of one cTrader symbol.

    Attributes
    ----------
    symbol_id : int
    name : str
        The broker's name (``EURUSD``), our symbol.
    digits : int
        Price decimals; one point is ``10**-digits``.
    pip_position : int
    min_volume, step_volume, max_volume, lot_size : int
        In cents of a unit.
    base, quote : str
        Asset names.
    """

    symbol_id: int
    name: str
    digits: int
    pip_position: int
    min_volume: int
    step_volume: int
    max_volume: int
    lot_size: int
    base: str
    quote: str

    @property
    def tick(self) -> Decimal:
        """The price increment (one point)."""
        return Decimal(1).scaleb(-self.digits)


def symbol_info(light: Mapping[str, Any], full: Mapping[str, Any],
                assets: Mapping[int, str]) -> SymbolInfo:
    """A symbol from its light entry (name, assets) and its full entry (digits, volumes)."""
    step = int(full.get("stepVolume", 0) or 0) or int(full.get("minVolume", 0) or 0) or 100
    return SymbolInfo(
        symbol_id=int(light["symbolId"]), name=str(light.get("symbolName", "")),
        digits=int(full.get("digits", 5)), pip_position=int(full.get("pipPosition", 4)),
        min_volume=int(full.get("minVolume", step) or step), step_volume=step,
        max_volume=int(full.get("maxVolume", 0) or 0), lot_size=int(full.get("lotSize", 0) or 0),
        base=assets.get(int(light.get("baseAssetId", 0) or 0), ""),
        quote=assets.get(int(light.get("quoteAssetId", 0) or 0), ""))


def instrument(info: SymbolInfo, venue: str, margin_rate: Decimal = Decimal(1)) -> Instrument:
    """The instrument of a symbol: tick one point, lot and minimum from the volume steps."""
    fx = info.base in _FIAT and info.quote in _FIAT
    return Instrument(
        info.name, venue, AssetClass.FX if fx else AssetClass.CFD, info.base or info.name,
        info.quote or "USD", info.tick, volume_to_quantity(info.step_volume),
        volume_to_quantity(info.min_volume), Decimal(1), margin_rate)


def margin_rate(leverage_in_cents: int) -> Decimal:
    """Margin as a fraction of notional for an account leverage (``5000`` = 1:50 -> 0.02)."""
    if leverage_in_cents <= 0:
        return Decimal(1)
    rate = (Decimal(100) / Decimal(leverage_in_cents)).quantize(Decimal("0.00000001"))
    return min(Decimal(1), max(rate, Decimal("0.00000001"))).normalize()


# -- numbers ----------------------------------------------------------------------------------


def plain(value: Decimal) -> Decimal:
    """Without trailing zeros or an exponent (``100.00`` -> ``100``)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def volume_to_quantity(volume: int) -> Decimal:
    """Cents of a unit -> units."""
    return plain(Decimal(int(volume)) / 100)


def quantity_to_volume(quantity: Decimal) -> int:
    """Units -> cents of a unit.

    Raises
    ------
    ValueError
        A quantity finer than a cent of a unit.
    """
    cents = quantity * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"quantity {quantity} is finer than cTrader's 0.01 of a unit")
    return int(cents)


def price(value: float, digits: int) -> Decimal:
    """A double price written with ``digits`` places."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_EVEN)


def scaled_price(value: int, digits: int) -> Decimal:
    """An integer price in 1/100000 -> a Decimal with ``digits`` places."""
    return (Decimal(int(value)) / m.PRICE_SCALE).quantize(Decimal(1).scaleb(-digits),
                                                        ROUND_HALF_EVEN)


def to_relative(distance: Decimal) -> int:
    """A price distance as cTrader's relative stop (an integer in 1/100000)."""
    return int((distance * m.PRICE_SCALE).to_integral_value(ROUND_HALF_EVEN))


def money(value: int, money_digits: int) -> Decimal:
    """An integer amount scaled by ``10**moneyDigits``."""
    return plain(Decimal(int(value)).scaleb(-int(money_digits)))


def ms_to_ns(ms: int | None) -> int:
    """Unix milliseconds -> UTC nanoseconds (0 stays 0)."""
    return int(ms or 0) * NS_PER_MS


def side(trade_side: int) -> OrderSide:
    """``ProtoOATradeSide`` -> ours."""
    return OrderSide.BUY if int(trade_side) == m.TradeSide.BUY else OrderSide.SELL


def trade_side(our: OrderSide) -> m.TradeSide:
    """Ours -> ``ProtoOATradeSide``."""
    return m.TradeSide.BUY if our is OrderSide.BUY else m.TradeSide.SELL


# -- orders, deals, positions -----------------------------------------------------------------


def limit_of_stop_limit(stop: Decimal, points: int, our_side: OrderSide,
                        info: SymbolInfo) -> Decimal:
    """The limit price of a stop-limit order: the stop price moved by ``points`` against us."""
    distance = info.tick * points
    return stop + distance if our_side is OrderSide.BUY else stop - distance


def points_between(stop: Decimal, limit: Decimal, our_side: OrderSide,
                   info: SymbolInfo) -> int:
    """``slippageInPoints`` of a stop-limit order with our ``limit`` price.

    Raises
    ------
    ValueError
        A limit on the wrong side of the stop (cTrader's range only widens the fill).
    """
    distance = (limit - stop) if our_side is OrderSide.BUY else (stop - limit)
    if distance < 0:
        raise ValueError(f"a {our_side.value.lower()} stop-limit needs its limit "
                         f"{'at or above' if our_side is OrderSide.BUY else 'at or below'} "
                         "the stop price on cTrader")
    points = distance / info.tick
    if points != points.to_integral_value():
        raise ValueError(f"limit {limit} is not a whole number of points from stop {stop}")
    return int(points)


def status(order: Mapping[str, Any]) -> OrderStatus:
    """Our status of a cTrader order (accepted with some volume executed: partly filled)."""
    found = _STATUSES.get(int(order.get("orderStatus", 0)), OrderStatus.ACCEPTED)
    if found is OrderStatus.ACCEPTED and int(order.get("executedVolume", 0) or 0) > 0:
        return OrderStatus.PARTIALLY_FILLED
    return found


def order_report(order: Mapping[str, Any], info: SymbolInfo, deals: Sequence[FillReport] = (),
                 reason: str = "") -> OrderStatusReport:
    """A ``ProtoOAOrder`` (and its fills, when known) as a report."""
    data = order.get("tradeData", {})
    our_side = side(data.get("tradeSide", m.TradeSide.BUY))
    kind = int(order.get("orderType", m.OrderType.MARKET))
    otype = _OUR_TYPES.get(kind, OrderType.MARKET)
    limit = trigger = None
    if kind == m.OrderType.LIMIT and "limitPrice" in order:
        limit = price(order["limitPrice"], info.digits)
    if kind in (m.OrderType.STOP, m.OrderType.STOP_LIMIT) and "stopPrice" in order:
        trigger = price(order["stopPrice"], info.digits)
        if kind == m.OrderType.STOP_LIMIT:
            limit = limit_of_stop_limit(trigger, int(order.get("slippageInPoints", 0) or 0),
                                        our_side, info)
    filled = max(volume_to_quantity(int(order.get("executedVolume", 0) or 0)),
                 sum((d.quantity for d in deals), _ZERO))
    avg: Decimal | None = None
    if deals:
        done = sum((d.quantity for d in deals), _ZERO)
        avg = sum((d.quantity * d.price for d in deals), _ZERO) / done if done else None
    elif filled > 0 and order.get("executionPrice"):
        avg = price(order["executionPrice"], info.digits)
    state = status(order)
    if state is OrderStatus.PARTIALLY_FILLED and filled == 0:
        state = OrderStatus.ACCEPTED
    opened = ms_to_ns(data.get("openTimestamp"))
    return OrderStatusReport(
        client_order_id=str(order.get("clientOrderId") or f"CT-{order['orderId']}"),
        venue_order_id=str(order["orderId"]), symbol=info.name, side=our_side,
        order_type=otype, quantity=volume_to_quantity(int(data.get("volume", 0))),
        filled_qty=filled, avg_px=avg, status=state, price=limit, trigger_price=trigger,
        time_in_force=_OUR_TIF.get(int(order.get("timeInForce",
                                                 m.TimeInForce.GOOD_TILL_CANCEL)),
                                   TimeInForce.GTC),
        reason=reason, ts_accepted=opened,
        ts_last=ms_to_ns(order.get("utcLastUpdateTimestamp")) or opened)


def fill_report(deal: Mapping[str, Any], info: SymbolInfo, client_order_id: str,
                currency: str = "") -> FillReport | None:
    """A ``ProtoOADeal`` that executed as a fill (None for a rejected or empty deal)."""
    if int(deal.get("dealStatus", m.DealStatus.FILLED)) not in _DEAL_DONE:
        return None
    volume = int(deal.get("filledVolume", 0) or 0)
    if volume <= 0:
        return None
    digits = int(deal.get("moneyDigits", 2))
    return FillReport(
        client_order_id=client_order_id, venue_order_id=str(deal["orderId"]),
        trade_id=str(deal["dealId"]), symbol=info.name,
        side=side(deal.get("tradeSide", m.TradeSide.BUY)), quantity=volume_to_quantity(volume),
        price=price(deal.get("executionPrice", 0.0), info.digits),
        commission=abs(money(int(deal.get("commission", 0) or 0), digits)),
        commission_currency=currency, ts=ms_to_ns(deal.get("executionTimestamp")))


def position_reports(positions: Iterable[Mapping[str, Any]],
                     symbols: Mapping[int, SymbolInfo]) -> list[PositionReport]:
    """Net positions per symbol (a hedging account's positions summed, shorts negative); the
    average price when every position of the symbol is on one side."""
    by_symbol: dict[int, list[tuple[Decimal, Decimal | None]]] = {}
    stamps: dict[int, int] = {}
    for pos in positions:
        if int(pos.get("positionStatus", m.PositionStatus.POSITION_STATUS_OPEN)) \
                != m.PositionStatus.POSITION_STATUS_OPEN:
            continue
        data = pos.get("tradeData", {})
        symbol_id = int(data.get("symbolId", 0))
        size = volume_to_quantity(int(data.get("volume", 0)))
        signed = size if side(data.get("tradeSide", 1)) is OrderSide.BUY else -size
        info = symbols.get(symbol_id)
        px = price(pos["price"], info.digits) if info is not None and pos.get("price") else None
        by_symbol.setdefault(symbol_id, []).append((signed, px))
        stamps[symbol_id] = max(stamps.get(symbol_id, 0),
                                ms_to_ns(pos.get("utcLastUpdateTimestamp")))
    out = []
    for symbol_id, rows in by_symbol.items():
        net = sum((q for q, _ in rows), _ZERO)
        info = symbols.get(symbol_id)
        if net == 0 or info is None:
            continue
        one_side = all((q > 0) == (net > 0) for q, _ in rows)
        avg = None
        if one_side and all(p is not None for _, p in rows):
            avg = (sum((abs(q) * p for q, p in rows if p is not None), _ZERO)
                   / abs(net)).quantize(info.tick)
        out.append(PositionReport(symbol=info.name, quantity=net, avg_px=avg,
                                  ts=stamps[symbol_id]))
    return out


def account_report(trader: Mapping[str, Any], currency: str, equity: Decimal | None,
                   margin_used: Decimal, now_ns: int) -> AccountReport:
    """The trader's balance (and equity when known: balance plus unrealised PnL)."""
    balance = money(int(trader.get("balance", 0)), int(trader.get("moneyDigits", 2)))
    cents = int(trader.get("leverageInCents", 0) or 0)  # 5000 for 1:50
    return AccountReport(account_id=str(trader.get("ctidTraderAccountId", "")),
                         currency=currency, balance=balance,
                         equity=equity if equity is not None else balance,
                         margin_used=margin_used, ts=now_ns,
                         leverage=Decimal(cents) / 100 if cents > 0 else None)


# -- prices -----------------------------------------------------------------------------------


def trendbar_row(bar: Mapping[str, Any], digits: int
                 ) -> tuple[int, float, float, float, float, float]:
    """``(open time ns, open, high, low, close, volume)`` of a trendbar: low plus deltas."""
    low = int(bar.get("low", 0))
    values = [low + int(bar.get(k, 0) or 0) for k in ("deltaOpen", "deltaHigh")] + [low] + \
        [low + int(bar.get("deltaClose", 0) or 0)]
    o, h, lo, c = (float(scaled_price(v, digits)) for v in values)
    return (int(bar.get("utcTimestampInMinutes", 0)) * NS_PER_MINUTE, o, h, lo, c,
            float(bar.get("volume", 0) or 0))


__all__ = ["NS_PER_MINUTE", "NS_PER_MS", "ORDER_TYPES", "TIME_IN_FORCE", "SymbolInfo",
           "account_report", "fill_report", "instrument", "limit_of_stop_limit", "margin_rate",
           "money", "ms_to_ns", "order_report", "plain", "points_between", "position_reports",
           "price", "quantity_to_volume", "scaled_price", "side", "status", "symbol_info",
           "to_relative", "trade_side", "trendbar_row", "volume_to_quantity"]
