"""MetaTrader 5 records (``SymbolInfo``, ``TradeOrder``, ``TradeDeal``, ``TradePosition``,
``AccountInfo``) in our terms, and our orders as ``order_send`` requests.

MetaTrader has no client order id: our id travels in the order's ``comment`` (the tag, at most
31 characters) and each strategy has its own ``magic`` number. Volumes are lots; prices are
quantised to the symbol's ``point``; times are converted from the server's clock to UTC.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal
from typing import Any

from tradeloop.brokers.mt5.config import server_ms_to_utc_ns, server_to_utc_ns
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

#: The longest comment MetaTrader keeps.
COMMENT_LIMIT = 31
_TAG_PREFIX = "tl:"

# ORDER_TYPE_* and friends, as the MetaTrader5 module defines them (checked against the module
# at connect by the execution client).
BUY, SELL, BUY_LIMIT, SELL_LIMIT, BUY_STOP, SELL_STOP, BUY_STOP_LIMIT, SELL_STOP_LIMIT = range(8)
FILLING_FOK, FILLING_IOC, FILLING_RETURN = 0, 1, 2
SYMBOL_FILLING_FOK, SYMBOL_FILLING_IOC = 1, 2
EXECUTION_REQUEST, EXECUTION_INSTANT, EXECUTION_MARKET, EXECUTION_EXCHANGE = range(4)
TIME_GTC, TIME_DAY, TIME_SPECIFIED = 0, 1, 2
STATE_STARTED, STATE_PLACED, STATE_CANCELED, STATE_PARTIAL = 0, 1, 2, 3
STATE_FILLED, STATE_REJECTED, STATE_EXPIRED = 4, 5, 6
DEAL_BUY, DEAL_SELL = 0, 1
POSITION_BUY = 0
MARGIN_HEDGING = 2
TRADE_MODE_NAMES = {0: "disabled", 1: "long only", 2: "short only", 3: "close only",
                    4: "full"}

_STATUS = {STATE_STARTED: OrderStatus.ACCEPTED, STATE_PLACED: OrderStatus.ACCEPTED,
           STATE_PARTIAL: OrderStatus.PARTIALLY_FILLED, STATE_FILLED: OrderStatus.FILLED,
           STATE_CANCELED: OrderStatus.CANCELED, STATE_REJECTED: OrderStatus.REJECTED,
           STATE_EXPIRED: OrderStatus.EXPIRED, 7: OrderStatus.ACCEPTED,
           8: OrderStatus.ACCEPTED, 9: OrderStatus.ACCEPTED}
_TYPES = {BUY: (OrderSide.BUY, OrderType.MARKET), SELL: (OrderSide.SELL, OrderType.MARKET),
          BUY_LIMIT: (OrderSide.BUY, OrderType.LIMIT),
          SELL_LIMIT: (OrderSide.SELL, OrderType.LIMIT),
          BUY_STOP: (OrderSide.BUY, OrderType.STOP), SELL_STOP: (OrderSide.SELL, OrderType.STOP),
          BUY_STOP_LIMIT: (OrderSide.BUY, OrderType.STOP_LIMIT),
          SELL_STOP_LIMIT: (OrderSide.SELL, OrderType.STOP_LIMIT)}
_TIF = {TIME_GTC: TimeInForce.GTC, TIME_DAY: TimeInForce.DAY, TIME_SPECIFIED: TimeInForce.GTD,
        3: TimeInForce.GTD}


def tag(client_order_id: str) -> str:
    """Our client order id as an order comment: itself when it fits, else a stable hash."""
    if len(client_order_id) <= COMMENT_LIMIT and not client_order_id.startswith(_TAG_PREFIX):
        return client_order_id
    return _TAG_PREFIX + hashlib.sha1(client_order_id.encode()).hexdigest()[:COMMENT_LIMIT - 3]


def magic_for(strategy_id: str, base: int, fixed: Mapping[str, int]) -> int:
    """The magic number of a strategy: configured, or ``base`` plus a hash of its id."""
    if strategy_id in fixed:
        return int(fixed[strategy_id])
    return base + zlib.crc32(strategy_id.encode()) % 100_000


def dec(value: float, digits: int) -> Decimal:
    """A MetaTrader float as an exact Decimal with ``digits`` places."""
    return Decimal(f"{float(value):.{digits}f}")


def step_digits(step: float) -> int:
    """Places after the point of a volume step (0.01 -> 2)."""
    text = f"{step:.8f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def asset_class(info: Any) -> AssetClass:
    """Forex pairs as FX, metals as commodities, the rest as CFDs."""
    path = str(getattr(info, "path", "")).lower()
    name = str(info.name)
    if name.startswith(("XAU", "XAG", "XPT", "XPD")) or "metal" in path:
        return AssetClass.COMMODITY
    if "forex" in path or (len(name) == 6 and name.isalpha()):
        return AssetClass.FX
    return AssetClass.CFD


def instrument(info: Any, venue: str, leverage: int) -> Instrument:
    """An Instrument of a ``SymbolInfo``: tick = point, lot = volume step, minimum = volume
    min, multiplier = contract size."""
    digits = int(info.digits)
    vdigits = step_digits(float(info.volume_step))
    return Instrument(
        symbol=str(info.name), venue=venue, asset_class=asset_class(info),
        base_currency=str(info.currency_base or info.currency_margin or info.name[:3]),
        quote_currency=str(info.currency_profit or "USD"),
        tick_size=dec(info.point, digits), lot_step=dec(info.volume_step, vdigits),
        min_quantity=dec(info.volume_min, vdigits),
        multiplier=Decimal(f"{float(info.trade_contract_size):g}"),
        margin_rate=Decimal(1) / Decimal(max(1, leverage)))


@dataclass(frozen=True)
class SymbolRules:
    """What ``order_send`` needs of a symbol."""

    name: str
    digits: int
    volume_digits: int
    filling_mode: int
    trade_mode: int
    point: float
    execution_mode: int = EXECUTION_MARKET

    @classmethod
    def of(cls, info: Any) -> SymbolRules:
        """The rules of a ``SymbolInfo``."""
        return cls(str(info.name), int(info.digits), step_digits(float(info.volume_step)),
                   int(info.filling_mode), int(info.trade_mode), float(info.point),
                   int(getattr(info, "trade_exemode", EXECUTION_MARKET)))

    def market_filling(self, tif: TimeInForce) -> int:
        """The filling mode of a market deal. Instant and request execution fill or kill
        whatever the symbol's flags say; otherwise as the time in force asks when the symbol
        allows it, else FOK, else IOC, else RETURN (exchange execution)."""
        if self.execution_mode in (EXECUTION_REQUEST, EXECUTION_INSTANT):
            return FILLING_FOK
        fok = bool(self.filling_mode & SYMBOL_FILLING_FOK)
        ioc = bool(self.filling_mode & SYMBOL_FILLING_IOC)
        if tif is TimeInForce.IOC and ioc:
            return FILLING_IOC
        if fok:
            return FILLING_FOK
        return FILLING_IOC if ioc else FILLING_RETURN


def order_type_code(side: OrderSide, order_type: OrderType) -> int:
    """The ORDER_TYPE_* of a side and type (market, limit, stop, stop-limit)."""
    for code, pair in _TYPES.items():
        if pair == (side, order_type):
            return code
    raise ValueError(f"MetaTrader 5 has no {order_type.value} orders")


def time_type(tif: TimeInForce) -> int:
    """ORDER_TIME_* of a time in force (GTC, DAY, GTD)."""
    return {TimeInForce.DAY: TIME_DAY, TimeInForce.GTD: TIME_SPECIFIED}.get(tif, TIME_GTC)


def parse_tags(tags: Iterable[str]) -> tuple[Decimal | None, Decimal | None]:
    """Stop-loss and take-profit of an order's tags (``"sl=1.0800"``, ``"tp=1.0950"``).

    Raises
    ------
    ValueError
        An ``sl`` or ``tp`` tag whose value is not a positive price.
    """
    found: dict[str, Decimal] = {}
    for item in tags:
        key, _, value = item.partition("=")
        name = key.strip().lower()
        if name not in ("sl", "tp") or not value:
            continue
        try:
            price = Decimal(value.strip())
        except ArithmeticError:
            price = Decimal("NaN")
        if not price.is_finite() or price <= 0:
            raise ValueError(f"order tag {item!r}: {name} must be a positive price")
        found[name] = price
    return found.get("sl"), found.get("tp")


def order_report(order: Any, client_order_id: str, digits: int, vdigits: int, zone: tzinfo,
                 avg_px: Decimal | None = None, reason: str = "") -> OrderStatusReport:
    """A ``TradeOrder`` (working or from history) as a report."""
    side, otype = _TYPES.get(int(order.type), (OrderSide.BUY, OrderType.MARKET))
    quantity = dec(order.volume_initial, vdigits)
    filled = quantity - dec(order.volume_current, vdigits)
    status = _STATUS.get(int(order.state), OrderStatus.ACCEPTED)
    if status is OrderStatus.ACCEPTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    price = trigger = None
    if otype is OrderType.LIMIT:
        price = dec(order.price_open, digits)
    elif otype is OrderType.STOP:
        trigger = dec(order.price_open, digits)
    elif otype is OrderType.STOP_LIMIT:
        trigger, price = dec(order.price_open, digits), dec(order.price_stoplimit, digits)
    if otype is OrderType.MARKET and avg_px is None and order.price_open:
        avg_px = dec(order.price_open, digits)
    accepted = server_ms_to_utc_ns(int(order.time_setup_msc), zone)
    done = int(order.time_done_msc or 0)
    return OrderStatusReport(
        client_order_id=client_order_id, venue_order_id=str(order.ticket),
        symbol=str(order.symbol), side=side, order_type=otype, quantity=quantity,
        filled_qty=filled, avg_px=avg_px if filled > 0 else None, status=status, price=price,
        trigger_price=trigger, time_in_force=_TIF.get(int(order.type_time), TimeInForce.GTC),
        reason=reason, ts_accepted=accepted,
        ts_last=server_ms_to_utc_ns(done, zone) if done else accepted)


def fill_report(deal: Any, client_order_id: str, digits: int, vdigits: int, currency: str,
                zone: tzinfo) -> FillReport:
    """A ``TradeDeal`` as a fill (commission and fee as a positive cost)."""
    cost = -(Decimal(str(deal.commission)) + Decimal(str(getattr(deal, "fee", 0.0))))
    return FillReport(
        client_order_id=client_order_id, venue_order_id=str(deal.order),
        trade_id=str(deal.ticket), symbol=str(deal.symbol),
        side=OrderSide.BUY if int(deal.type) == DEAL_BUY else OrderSide.SELL,
        quantity=dec(deal.volume, vdigits), price=dec(deal.price, digits),
        commission=cost, commission_currency=currency,
        ts=server_ms_to_utc_ns(int(deal.time_msc), zone) if getattr(deal, "time_msc", 0)
        else server_to_utc_ns(float(deal.time), zone))


def net_positions(positions: Iterable[Any], digits: Mapping[str, tuple[int, int]],
                  zone: tzinfo) -> list[PositionReport]:
    """One net report per symbol of ``TradePosition`` records (hedging accounts hold several
    per symbol; their sum is what the node books)."""
    sums: dict[str, tuple[Decimal, Decimal, int]] = {}
    for p in positions:
        pdig, vdig = digits.get(str(p.symbol), (5, 2))
        volume = dec(p.volume, vdig)
        signed = volume if int(p.type) == POSITION_BUY else -volume
        qty, cost, ts = sums.get(str(p.symbol), (Decimal(0), Decimal(0), 0))
        sums[str(p.symbol)] = (qty + signed, cost + signed * dec(p.price_open, pdig),
                               max(ts, server_ms_to_utc_ns(int(p.time_msc), zone)))
    out = []
    for symbol, (qty, cost, ts) in sums.items():
        if qty != 0:
            pdig = digits.get(symbol, (5, 2))[0]
            avg = (cost / qty).quantize(Decimal(1).scaleb(-pdig))
            out.append(PositionReport(symbol=symbol, quantity=qty, avg_px=avg, ts=ts))
    return out


def account_report(info: Any, ts: int) -> AccountReport:
    """An ``AccountInfo`` as balances."""
    places = int(getattr(info, "currency_digits", 2) or 2)
    leverage = int(getattr(info, "leverage", 0) or 0)  # 100 for 1:100
    return AccountReport(account_id=str(info.login), currency=str(info.currency),
                         balance=dec(info.balance, places), equity=dec(info.equity, places),
                         margin_used=dec(info.margin, places), ts=ts,
                         leverage=Decimal(leverage) if leverage > 0 else None)


__all__ = ["COMMENT_LIMIT", "SymbolRules", "account_report", "dec", "fill_report",
           "instrument", "magic_for", "net_positions", "order_report", "order_type_code",
           "parse_tags", "step_digits", "tag", "time_type"]
