"""ccxt's unified structures to our instruments, reports, events and market data, and our
orders to ccxt's arguments.

ccxt hands numbers over as floats; each becomes a ``Decimal`` through its shortest repr
(``0.1`` -> ``Decimal("0.1")``) and prices and quantities are then put on the market's grid, so
nothing inexact reaches an order or the books. Times are ccxt's milliseconds, returned as UTC
nanoseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from tradeloop.brokers.ccxt.errors import CcxtFatalError
from tradeloop.model.data import Bar, BarSeries, QuoteTick, TradeTick
from tradeloop.model.enums import (
    AssetClass,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.instrument import Instrument, to_decimal
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

NS_PER_MS = 1_000_000
ZERO = Decimal(0)
ONE = Decimal(1)
_TICK_SIZE, _DECIMAL_PLACES, _SIGNIFICANT_DIGITS = 4, 2, 3  # ccxt's precision modes

#: ccxt's (and Binance's) order type names -> ours.
ORDER_TYPES: dict[str, OrderType] = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "limit_maker": OrderType.LIMIT,
    "stop_loss": OrderType.STOP,
    "stop_market": OrderType.STOP,
    "stop_loss_limit": OrderType.STOP_LIMIT,
    "stop": OrderType.STOP_LIMIT,
    "take_profit": OrderType.MARKET_IF_TOUCHED,
    "take_profit_market": OrderType.MARKET_IF_TOUCHED,
    "take_profit_limit": OrderType.LIMIT,
    "trailing_stop_market": OrderType.TRAILING_STOP,
}

_TIF = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK,
        "GTD": TimeInForce.GTD, "DAY": TimeInForce.DAY, "PO": TimeInForce.GTC,
        "GTX": TimeInForce.GTC}


def dec(value: Any) -> Decimal | None:
    """A ccxt number (float, int or text) as a Decimal; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        return to_decimal(value)
    return Decimal(str(value))


def ms_to_ns(value: Any, default: int = 0) -> int:
    """ccxt's millisecond timestamp as UTC nanoseconds (``default`` when missing)."""
    if value is None:
        return default
    return int(value) * NS_PER_MS


def _step(value: Any, mode: int) -> Decimal | None:
    number = dec(value)
    if number is None or number <= 0:
        return None
    if mode in (_DECIMAL_PLACES, _SIGNIFICANT_DIGITS):
        return ONE.scaleb(-int(number))
    return number.normalize()


def instrument_from_market(market: Mapping[str, Any], venue: str, precision_mode: int = 4,
                           leverage: int | None = None) -> Instrument:
    """Our instrument of a ccxt market.

    The tick is the market's price precision (Binance's PRICE_FILTER tickSize), the lot step
    its amount precision (LOT_SIZE stepSize), the minimum quantity its amount limit. A
    perpetual's multiplier is its contract size; its margin rate is ``1 / leverage`` when the
    leverage is known, else 1. The minimum notional has no place on the instrument; the
    exchange enforces it.

    Raises
    ------
    CcxtFatalError
        BAD_MARKET when the market has no price or amount precision.
    """
    symbol = str(market["symbol"])
    precision = market.get("precision") or {}
    tick = _step(precision.get("price"), precision_mode)
    lot = _step(precision.get("amount"), precision_mode)
    if tick is None or lot is None:
        raise CcxtFatalError("BAD_MARKET", f"{symbol}: the exchange gives no price or amount "
                             "precision")
    limits = market.get("limits") or {}
    min_qty = dec((limits.get("amount") or {}).get("min")) or lot
    contract = bool(market.get("contract"))
    multiplier = (dec(market.get("contractSize")) or ONE) if contract else ONE
    margin = ONE / Decimal(leverage) if contract and leverage else ONE
    quote = str(market.get("settle") or market.get("quote") or "") if contract \
        else str(market.get("quote") or "")
    return Instrument(
        symbol=symbol, venue=venue, asset_class=AssetClass.CRYPTO,
        base_currency=str(market.get("base") or ""), quote_currency=quote,
        tick_size=tick, lot_step=lot, min_quantity=max(min_qty, ZERO),
        multiplier=multiplier.normalize(), margin_rate=min(margin, ONE),
    )


# -- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderArgs:
    """ccxt ``create_order`` arguments of one of our orders."""

    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    params: dict[str, Any] = field(default_factory=dict)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def order_args(order: Order, venue_client_id: str, market_type: str) -> OrderArgs:
    """The ``create_order`` call of ``order`` (the client order id as the exchange's).

    Raises
    ------
    CcxtFatalError
        NOT_SUPPORTED for an order type or time in force the market does not take.
    """
    side = "buy" if order.side is OrderSide.BUY else "sell"
    params: dict[str, Any] = {"clientOrderId": venue_client_id}
    kind = order.order_type
    price = float(order.price) if order.price is not None else None
    trigger = _text(order.trigger_price) if order.trigger_price is not None else None
    spot = market_type == "spot"
    if kind is OrderType.MARKET:
        ccxt_type = "market"
    elif kind is OrderType.LIMIT:
        ccxt_type = "limit"
    elif kind in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED):
        if trigger is None:
            raise CcxtFatalError("INVALID_ORDER", f"{order.client_order_id}: {kind.value} "
                                 "needs a trigger price")
        limit = kind is OrderType.STOP_LIMIT
        ccxt_type = "limit" if limit else "market"
        # stop-loss types trigger a buy at or above, a sell at or below the trigger;
        # take-profit types the other way round (a market-if-touched). Spot: STOP_LOSS(_LIMIT)
        # and TAKE_PROFIT; USD-M: STOP_MARKET, STOP and TAKE_PROFIT_MARKET (Algo Service).
        key = "takeProfitPrice" if kind is OrderType.MARKET_IF_TOUCHED else "stopLossPrice"
        params[key] = trigger
    elif kind is OrderType.TRAILING_STOP and not spot:
        ccxt_type = "market"
        params["trailingPercent"] = _text(_trailing_percent(order))
    else:
        raise CcxtFatalError("NOT_SUPPORTED", f"{order.client_order_id}: {kind.value} orders "
                             f"are not supported on {market_type}")
    if kind is not OrderType.MARKET:
        tif = order.time_in_force
        if tif not in (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK):
            raise CcxtFatalError("NOT_SUPPORTED", f"{order.client_order_id}: time in force "
                                 f"{tif.value} is not supported")
        if ccxt_type == "limit":
            params["timeInForce"] = tif.value
    if order.reduce_only and not spot:
        params["reduceOnly"] = True
    amount = float(order.quantity)
    return OrderArgs(order.symbol, ccxt_type, side, amount, price if ccxt_type == "limit"
                     else None, params)


def _trailing_percent(order: Order) -> Decimal:
    offset = order.trailing_offset
    if offset is None:
        raise CcxtFatalError("INVALID_ORDER", f"{order.client_order_id}: a trailing stop needs "
                             "an offset")
    if order.trailing_offset_type is TrailingOffsetType.PERCENT:
        return offset
    reference = order.trigger_price or order.price
    if reference is None or reference <= 0:
        raise CcxtFatalError("INVALID_ORDER", f"{order.client_order_id}: a price offset needs "
                             "a reference price (trigger_price) to become a percentage")
    return (offset / reference * 100).quantize(Decimal("0.1"))


def order_type_of(raw: Mapping[str, Any]) -> OrderType:
    """Our order type of a ccxt order (from the exchange's own type name when it has one)."""
    info = raw.get("info") or {}
    name = str(info.get("origType") or info.get("orderType") or info.get("type")
               or raw.get("type") or "").lower()
    return ORDER_TYPES.get(name, ORDER_TYPES.get(str(raw.get("type") or "").lower(),
                                                 OrderType.LIMIT))


def status_of(raw: Mapping[str, Any]) -> OrderStatus:
    """Our status of a ccxt order."""
    status = str(raw.get("status") or "open")
    filled = dec(raw.get("filled")) or ZERO
    amount = dec(raw.get("amount")) or ZERO
    if status == "open":
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    if status == "closed":
        return OrderStatus.FILLED if amount > 0 and filled >= amount else OrderStatus.TRIGGERED
    if status == "canceled":
        return OrderStatus.CANCELED
    if status == "expired":
        return OrderStatus.EXPIRED
    if status == "rejected":
        return OrderStatus.REJECTED
    if status == "canceling":
        return OrderStatus.PENDING_CANCEL
    return OrderStatus.ACCEPTED


def order_report(raw: Mapping[str, Any], client_order_id: str) -> OrderStatusReport:
    """A ccxt order as our report (``client_order_id`` already mapped back to ours)."""
    info = raw.get("info") or {}
    trigger = dec(raw.get("triggerPrice") or raw.get("stopPrice")
                  or raw.get("stopLossPrice") or raw.get("takeProfitPrice"))
    order_type = order_type_of(raw)
    price = dec(raw.get("price")) if order_type not in (
        OrderType.MARKET, OrderType.STOP, OrderType.MARKET_IF_TOUCHED,
        OrderType.TRAILING_STOP) else None
    filled = dec(raw.get("filled")) or ZERO
    average = dec(raw.get("average"))
    ts = ms_to_ns(raw.get("timestamp"))
    last = ms_to_ns(raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp"), ts)
    tif = _TIF.get(str(raw.get("timeInForce") or info.get("timeInForce") or "GTC").upper(),
                   TimeInForce.GTC)
    return OrderStatusReport(
        client_order_id=client_order_id, venue_order_id=str(raw.get("id") or ""),
        symbol=str(raw.get("symbol") or ""),
        side=OrderSide.BUY if str(raw.get("side")).lower() == "buy" else OrderSide.SELL,
        order_type=order_type, quantity=dec(raw.get("amount")) or ZERO, filled_qty=filled,
        avg_px=average if filled > 0 and average else None, status=status_of(raw),
        price=price if price else None, trigger_price=trigger if trigger else None,
        time_in_force=tif, reason=str(info.get("rejectReason") or ""),
        ts_accepted=ts, ts_last=last,
    )


def fill_report(raw: Mapping[str, Any], client_order_id: str, base: str = "",
                quote: str = "") -> FillReport:
    """A ccxt trade of the account as our fill report.

    A commission the exchange took in the pair's ``base`` currency (Binance spot buys) is
    reported in its ``quote`` currency at the fill's own price, the rate the books would use.
    """
    fee = raw.get("fee") or {}
    maker = str(raw.get("takerOrMaker") or "taker") == "maker"
    price = dec(raw.get("price")) or ZERO
    commission = dec(fee.get("cost")) or ZERO
    currency = str(fee.get("currency") or "")
    if base and quote and currency == base:
        commission, currency = commission * price, quote
    return FillReport(
        client_order_id=client_order_id, venue_order_id=str(raw.get("order") or ""),
        trade_id=str(raw["id"]), symbol=str(raw.get("symbol") or ""),
        side=OrderSide.BUY if str(raw.get("side")).lower() == "buy" else OrderSide.SELL,
        quantity=dec(raw.get("amount")) or ZERO, price=price, commission=commission,
        commission_currency=currency,
        liquidity=LiquiditySide.MAKER if maker else LiquiditySide.TAKER,
        ts=ms_to_ns(raw.get("timestamp")),
    )


# -- positions and balances --------------------------------------------------------------------


def position_report(raw: Mapping[str, Any]) -> PositionReport | None:
    """A ccxt position as our net position (None when flat)."""
    contracts = dec(raw.get("contracts")) or ZERO
    if contracts == 0:
        return None
    info = raw.get("info") or {}
    signed = dec(info.get("positionAmt"))
    if signed is None:
        signed = -contracts if str(raw.get("side")) == "short" else contracts
    return PositionReport(symbol=str(raw["symbol"]), quantity=signed,
                          avg_px=dec(raw.get("entryPrice")),
                          ts=ms_to_ns(raw.get("timestamp")))


def net_of_trades(symbol: str, trades: Sequence[Mapping[str, Any]]) -> PositionReport | None:
    """The net quantity the account's trades in ``symbol`` add up to (None when flat), with
    the average price of the trades that built it."""
    quantity = ZERO
    cost = ZERO
    last = 0
    for trade in trades:
        amount = dec(trade.get("amount")) or ZERO
        price = dec(trade.get("price")) or ZERO
        signed = amount if str(trade.get("side")).lower() == "buy" else -amount
        if quantity == 0 or (quantity > 0) == (signed > 0):
            cost += signed * price
        elif abs(signed) > abs(quantity):
            cost = (quantity + signed) * price
        else:
            cost = cost * (quantity + signed) / quantity
        quantity += signed
        last = max(last, ms_to_ns(trade.get("timestamp")))
    if quantity == 0:
        return None
    return PositionReport(symbol=symbol, quantity=quantity, avg_px=cost / quantity, ts=last)


def account_report(raw: Mapping[str, Any], currency: str, account_id: str,
                   contract: bool) -> AccountReport:
    """A ccxt balance as our account: ``currency``'s total, with unrealised profit in the
    equity of a derivatives account (Binance USD-M's wallet and margin balances)."""
    entry = raw.get(currency) or {}
    total = dec(entry.get("total")) or ZERO
    used = dec(entry.get("used")) or ZERO
    balance = equity = total
    if contract:
        for asset in (raw.get("info") or {}).get("assets") or ():
            if asset.get("asset") == currency:
                balance = dec(asset.get("walletBalance")) or balance
                equity = dec(asset.get("marginBalance")) or equity
                used = dec(asset.get("initialMargin")) or used
    ts = ms_to_ns(raw.get("timestamp"))
    return AccountReport(account_id=account_id, currency=currency, balance=balance,
                         equity=equity, margin_used=used, ts=ts)


# -- market data -------------------------------------------------------------------------------


def quote_from_ticker(raw: Mapping[str, Any], symbol: str, now_ns: int) -> QuoteTick | None:
    """A ticker's best bid and offer as a quote (None when it has none)."""
    bid, ask = raw.get("bid"), raw.get("ask")
    if bid is None or ask is None:
        return None
    ts = ms_to_ns(raw.get("timestamp"), now_ns)
    return QuoteTick(symbol, ts, float(bid), float(ask), float(raw.get("bidVolume") or 0.0),
                     float(raw.get("askVolume") or 0.0))


def trade_tick(raw: Mapping[str, Any], symbol: str) -> TradeTick:
    """A public trade as a trade tick."""
    return TradeTick(symbol, ms_to_ns(raw.get("timestamp")), float(raw["price"]),
                     float(raw["amount"]), str(raw.get("id") or ""))


def bar_from_ohlcv(row: Sequence[Any], symbol: str, timeframe: str) -> Bar:
    """One ccxt OHLCV row ``[ms, open, high, low, close, volume]`` as a bar."""
    return Bar(symbol, ms_to_ns(row[0]), float(row[1]), float(row[2]), float(row[3]),
               float(row[4]), float(row[5] or 0.0), timeframe)


def bars_from_ohlcv(rows: Sequence[Sequence[Any]], symbol: str, timeframe_ns: int,
                    source: str = "") -> BarSeries:
    """OHLCV rows (sorted, no duplicates) as a bar series."""
    data = np.asarray([[float(x or 0.0) for x in row[1:6]] for row in rows],
                      dtype=np.float64).reshape(-1, 5)
    ts = np.asarray([int(row[0]) * NS_PER_MS for row in rows], dtype=np.int64)
    return BarSeries(symbol, ts, data[:, 0].copy(), data[:, 1].copy(), data[:, 2].copy(),
                     data[:, 3].copy(), data[:, 4].copy(), timeframe_ns=timeframe_ns,
                     source=source)


__all__ = [
    "ORDER_TYPES",
    "OrderArgs",
    "account_report",
    "bar_from_ohlcv",
    "bars_from_ohlcv",
    "dec",
    "fill_report",
    "instrument_from_market",
    "ms_to_ns",
    "net_of_trades",
    "order_args",
    "order_report",
    "order_type_of",
    "position_report",
    "quote_from_ticker",
    "status_of",
    "trade_tick",
]
