"""Schwab's JSON to our reports, instruments and market data.

Numbers arrive as JSON numbers; each becomes a ``Decimal`` through its shortest repr. Times
arrive as ``2024-05-06T14:30:00+0000`` (orders) or epoch milliseconds (quotes, candles) and
leave as UTC nanoseconds. Each execution of an order (an ``orderActivityCollection`` entry of
type EXECUTION) is one fill whose trade id is Schwab's ``activityId`` (with the leg's place
when an execution has several legs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from tradeloop.model.data import BarSeries, QuoteTick
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument, to_decimal
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

NS_PER_MS = 1_000_000
ZERO = Decimal(0)
CHICAGO = ZoneInfo("America/Chicago")

#: Schwab's order statuses -> ours (open ones become PARTIALLY_FILLED once something filled).
STATUSES: dict[str, OrderStatus] = {
    "FILLED": OrderStatus.FILLED, "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED, "REJECTED": OrderStatus.REJECTED,
    "REPLACED": OrderStatus.CANCELED,
}
OPEN_STATUSES = frozenset({
    "AWAITING_PARENT_ORDER", "AWAITING_CONDITION", "AWAITING_STOP_CONDITION",
    "AWAITING_MANUAL_REVIEW", "ACCEPTED", "AWAITING_UR_OUT", "PENDING_ACTIVATION", "QUEUED",
    "WORKING", "PENDING_CANCEL", "PENDING_REPLACE", "NEW", "AWAITING_RELEASE_TIME",
    "PENDING_ACKNOWLEDGEMENT", "PENDING_RECALL", "UNKNOWN"})
TYPES: dict[str, OrderType] = {"MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT,
                               "STOP": OrderType.STOP, "STOP_LIMIT": OrderType.STOP_LIMIT,
                               "TRAILING_STOP": OrderType.TRAILING_STOP}
DURATIONS: dict[str, TimeInForce] = {
    "DAY": TimeInForce.DAY, "GOOD_TILL_CANCEL": TimeInForce.GTC,
    "IMMEDIATE_OR_CANCEL": TimeInForce.IOC, "FILL_OR_KILL": TimeInForce.FOK}
BUYS = frozenset({"BUY", "BUY_TO_COVER", "BUY_TO_OPEN", "BUY_TO_CLOSE"})


def dec(value: Any) -> Decimal | None:
    """A JSON number (or text) as a Decimal; None and "" stay None."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return to_decimal(value)
    return Decimal(str(value))


def time_ns(text: Any) -> int:
    """Schwab's ``2024-05-06T14:30:00+0000`` (or with milliseconds) as UTC ns; 0 if absent."""
    if not text:
        return 0
    value = str(text)
    if value.endswith("Z"):
        value = value[:-1] + "+0000"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _leg(node: Mapping[str, Any]) -> Mapping[str, Any]:
    legs = node.get("orderLegCollection") or [{}]
    return legs[0] if isinstance(legs[0], Mapping) else {}


def symbol_of(node: Mapping[str, Any]) -> str:
    """The security of a (single-leg) order."""
    return str((_leg(node).get("instrument") or {}).get("symbol", ""))


def side_of(node: Mapping[str, Any]) -> OrderSide:
    """BUY or SELL from the order's instruction."""
    return OrderSide.BUY if _leg(node).get("instruction") in BUYS else OrderSide.SELL


def executions(node: Mapping[str, Any]) -> list[tuple[str, Decimal, Decimal, int]]:
    """(trade id, quantity, price, ts) of each execution leg, duplicates dropped, oldest
    first."""
    seen: dict[str, tuple[str, Decimal, Decimal, int]] = {}
    for activity in node.get("orderActivityCollection") or []:
        if not isinstance(activity, Mapping) or activity.get("activityType") != "EXECUTION":
            continue
        legs = [x for x in activity.get("executionLegs") or [] if isinstance(x, Mapping)]
        for k, leg in enumerate(legs):
            trade_id = str(activity.get("activityId"))
            if len(legs) > 1:
                trade_id += f"/{k}"
            quantity, price = dec(leg.get("quantity")), dec(leg.get("price"))
            if quantity is None or price is None or quantity <= 0:
                continue
            seen.setdefault(trade_id, (trade_id, quantity, price, time_ns(leg.get("time"))))
    return sorted(seen.values(), key=lambda e: (e[3], e[0]))


def order_report(node: Mapping[str, Any], client_order_id: str,
                 chain: Sequence[Mapping[str, Any]] = ()) -> OrderStatusReport:
    """One Schwab order (a node of a tree) as our report.

    Parameters
    ----------
    chain : sequence of mapping
        Orders this one replaced: their executions count too.
    """
    raw_status = str(node.get("status", ""))
    filled = sum((e[1] for n in (*chain, node) for e in executions(n)), ZERO)
    quantity = dec(node.get("quantity")) or dec(_leg(node).get("quantity")) or ZERO
    status = STATUSES.get(raw_status)
    if status is None:  # open, or a status Schwab added later: open
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    if status is OrderStatus.FILLED and filled < quantity:
        status = OrderStatus.PARTIALLY_FILLED
    fills = [e for n in (*chain, node) for e in executions(n)]
    avg = (sum((q * p for _, q, p, _ in fills), ZERO) / filled) if filled > 0 else None
    kind = TYPES.get(str(node.get("orderType", "")), OrderType.MARKET)
    return OrderStatusReport(
        client_order_id=client_order_id, venue_order_id=str(node.get("orderId", "")),
        symbol=symbol_of(node), side=side_of(node), order_type=kind, quantity=quantity,
        filled_qty=filled, avg_px=avg, status=status, price=dec(node.get("price")),
        trigger_price=None if kind is OrderType.TRAILING_STOP else dec(node.get("stopPrice")),
        time_in_force=DURATIONS.get(str(node.get("duration", "")), TimeInForce.DAY),
        reason=str(node.get("statusDescription") or ""),
        ts_accepted=time_ns(node.get("enteredTime")),
        ts_last=max([time_ns(node.get("closeTime")), time_ns(node.get("enteredTime")),
                     *(e[3] for e in fills)]))


def fill_reports(node: Mapping[str, Any], client_order_id: str) -> list[FillReport]:
    """The executions of one Schwab order as fills (no commission: Schwab's order JSON carries
    none; the account is in USD)."""
    side = side_of(node)
    symbol = symbol_of(node)
    venue_id = str(node.get("orderId", ""))
    return [FillReport(client_order_id=client_order_id, venue_order_id=venue_id,
                       trade_id=trade_id, symbol=symbol, side=side, quantity=quantity,
                       price=price, commission_currency="USD", ts=ts)
            for trade_id, quantity, price, ts in executions(node)]


def position_reports(account: Mapping[str, Any]) -> list[PositionReport]:
    """Net positions of ``GET /accounts/{hash}?fields=positions``."""
    out = []
    for raw in (account.get("securitiesAccount") or {}).get("positions") or []:
        long = dec(raw.get("longQuantity")) or ZERO
        short = dec(raw.get("shortQuantity")) or ZERO
        net = long - short
        if net == 0:
            continue
        out.append(PositionReport(symbol=str((raw.get("instrument") or {}).get("symbol", "")),
                                  quantity=net, avg_px=dec(raw.get("averagePrice"))))
    return out


def account_report(account: Mapping[str, Any], now_ns: int) -> AccountReport:
    """Balances: cash as the balance, liquidation value as equity, the maintenance
    requirement as margin used (USD)."""
    securities = account.get("securitiesAccount") or {}
    balances = securities.get("currentBalances") or {}
    number = str(securities.get("accountNumber", ""))
    cash = dec(balances.get("cashBalance")) or ZERO
    equity = dec(balances.get("liquidationValue")) or dec(
        (account.get("aggregatedBalance") or {}).get("liquidationValue")) or cash
    return AccountReport(account_id=f"SCHWAB-{number[-4:]}" if number else "SCHWAB",
                         currency="USD", balance=cash, equity=equity,
                         margin_used=dec(balances.get("maintenanceRequirement")) or ZERO,
                         ts=now_ns)


def instrument_of(symbol: str, quote: Mapping[str, Any], venue: str,
                  option_multiplier: int) -> Instrument:
    """Our instrument for a ``/quotes`` entry: tick 0.01, whole units, options with their
    multiplier (Schwab's, else the setting)."""
    reference = quote.get("reference") or {}
    option = quote.get("assetMainType") == "OPTION"
    multiplier = (dec(reference.get("multiplier")) or Decimal(option_multiplier)) if option \
        else Decimal(1)
    return Instrument(symbol=symbol, venue=venue, asset_class=AssetClass.EQUITY,
                      base_currency="USD", quote_currency="USD", tick_size=Decimal("0.01"),
                      lot_step=Decimal(1), min_quantity=Decimal(1),
                      multiplier=multiplier.normalize())


def quote_tick(symbol: str, state: Mapping[str, float], ts: int) -> QuoteTick:
    """A quote from the merged streamer fields of one key."""
    return QuoteTick(symbol, ts, float(state["bid"]), float(state["ask"]),
                     float(state.get("bid_size", 0.0)), float(state.get("ask_size", 0.0)))


def candle_ts_ns(datetime_ms: int, daily: bool) -> int:
    """A candle's open time: minute candles as Schwab stamps them; daily candles (stamped at
    midnight America/Chicago) at midnight UTC of the same date."""
    if not daily:
        return datetime_ms * NS_PER_MS
    day = datetime.fromtimestamp(datetime_ms / 1000, CHICAGO).date()
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9


def bars_from_candles(candles: Sequence[Mapping[str, Any]], symbol: str, timeframe_ns: int,
                      daily: bool, source: str) -> BarSeries:
    """Candles as a bar series (sorted, one bar per open time)."""
    rows: dict[int, tuple[float, float, float, float, float]] = {}
    for c in candles:
        try:
            ts = candle_ts_ns(int(c["datetime"]), daily)
            rows[ts] = (float(c["open"]), float(c["high"]), float(c["low"]),
                        float(c["close"]), float(c.get("volume") or 0.0))
        except (KeyError, TypeError, ValueError):
            continue
    ordered = sorted(rows)
    data = np.asarray([rows[t] for t in ordered], dtype=np.float64).reshape(-1, 5)
    return BarSeries(symbol, np.asarray(ordered, dtype=np.int64), data[:, 0].copy(),
                     data[:, 1].copy(), data[:, 2].copy(), data[:, 3].copy(),
                     data[:, 4].copy(), timeframe_ns=timeframe_ns, source=source)


__all__ = ["BUYS", "DURATIONS", "OPEN_STATUSES", "STATUSES", "TYPES", "account_report",
           "bars_from_candles", "candle_ts_ns", "dec", "executions", "fill_reports",
           "instrument_of", "order_report", "position_reports", "quote_tick", "side_of",
           "symbol_of", "time_ns"]
