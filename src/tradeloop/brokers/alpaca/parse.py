"""Alpaca's payloads (the raw JSON alpaca-py returns with ``raw_data=True``) in our terms:
order snapshots and trade updates as reports, account activities as fills, assets as
instruments, positions, the account, bars and streamed quotes, trades and bars.

Quantities and prices arrive as strings and become ``Decimal`` as they are; times are RFC
3339 (nanoseconds) on REST and the trading stream, MessagePack timestamps on the data streams.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from tradeloop.model.data import Bar, BarSeries, QuoteTick, TradeTick
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

ZERO = Decimal(0)

#: Alpaca order status -> ours. A replaced order lives on as its replacement.
STATUS: dict[str, OrderStatus] = {
    "new": OrderStatus.ACCEPTED, "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED, "accepted_for_bidding": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED, "calculated": OrderStatus.ACCEPTED,
    "stopped": OrderStatus.ACCEPTED, "suspended": OrderStatus.ACCEPTED,
    "replaced": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED, "filled": OrderStatus.FILLED,
    "pending_cancel": OrderStatus.PENDING_CANCEL, "pending_replace": OrderStatus.PENDING_UPDATE,
    "canceled": OrderStatus.CANCELED, "expired": OrderStatus.EXPIRED,
    "done_for_day": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED,
}
ORDER_TYPES: dict[str, OrderType] = {
    "market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT, "trailing_stop": OrderType.TRAILING_STOP,
}
TIME_IN_FORCE: dict[str, TimeInForce] = {
    "day": TimeInForce.DAY, "gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK, "opg": TimeInForce.DAY, "cls": TimeInForce.DAY,
}
_REPLACEMENT = re.compile(r"^(?P<ours>.+)\.r(?P<n>\d+)$")


def dec(value: Any) -> Decimal | None:
    """A decimal from Alpaca's string (or number); None for null or garbage."""
    if value is None or value == "":
        return None
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def iso_to_ns(text: str | None) -> int:
    """UTC ns of an RFC 3339 time (nanoseconds kept); 0 for None."""
    if not text:
        return 0
    text = text.strip()
    head, _, rest = text.partition(".")
    nanos = 0
    zone = ""
    if rest:
        digits = re.match(r"\d*", rest)
        frac = digits.group(0) if digits else ""
        zone = rest[len(frac):]
        nanos = int((frac + "000000000")[:9]) if frac else 0
    else:
        found = re.search(r"(Z|[+-]\d\d:?\d\d)$", head)
        zone = found.group(0) if found else ""
        head = head[:len(head) - len(zone)] if zone else head
    zone = "+00:00" if zone in ("Z", "") else zone
    moment = datetime.fromisoformat(head + zone)
    return int(moment.timestamp()) * 10**9 + nanos


def replacement_id(ours: str, n: int) -> str:
    """The client order id of the ``n``-th replacement of our order ``ours``."""
    return f"{ours}.r{n}"


def split_replacement(client_order_id: str) -> tuple[str, int]:
    """(our id, replacement number) of a client order id Alpaca echoes (0: the original)."""
    found = _REPLACEMENT.match(client_order_id)
    if found is None:
        return client_order_id, 0
    return found.group("ours"), int(found.group("n"))


def slashed(symbol: str, crypto: Iterable[str]) -> str:
    """Our symbol of one Alpaca writes without the slash (``BTCUSD`` in positions)."""
    if "/" in symbol:
        return symbol
    for known in crypto:
        if known.replace("/", "") == symbol:
            return known
    return symbol


@dataclass(frozen=True)
class Snapshot:
    """One Alpaca order snapshot, read."""

    venue_order_id: str
    venue_client_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    filled_qty: Decimal
    avg_px: Decimal | None
    status: str
    price: Decimal | None
    trigger_price: Decimal | None
    time_in_force: TimeInForce
    order_class: str
    replaced_by: str
    ts_accepted: int
    ts_last: int
    legs: tuple[Mapping[str, Any], ...]

    @property
    def our_status(self) -> OrderStatus:
        """The status in our terms."""
        return STATUS.get(self.status, OrderStatus.ACCEPTED)

    def report(self, client_order_id: str, carried: Decimal = ZERO,
               carried_value: Decimal = ZERO) -> OrderStatusReport:
        """The report of our order ``client_order_id``; ``carried`` is what earlier orders of
        its replacement chain filled (``carried_value``: their quantity times price)."""
        filled = carried + self.filled_qty
        value = carried_value + (self.avg_px or ZERO) * self.filled_qty
        return OrderStatusReport(
            client_order_id=client_order_id, venue_order_id=self.venue_order_id,
            symbol=self.symbol, side=self.side, order_type=self.order_type,
            quantity=carried + self.quantity, filled_qty=filled,
            avg_px=(value / filled) if filled else None, status=self.our_status,
            price=self.price, trigger_price=self.trigger_price,
            time_in_force=self.time_in_force,
            reason=f"Alpaca status {self.status}" if self.status in (
                "rejected", "canceled", "expired", "done_for_day") else "",
            ts_accepted=self.ts_accepted, ts_last=self.ts_last)


def snapshot(raw: Mapping[str, Any]) -> Snapshot:
    """An Alpaca order as a :class:`Snapshot`."""
    kind = ORDER_TYPES.get(str(raw.get("type") or raw.get("order_type") or "market"),
                           OrderType.MARKET)
    trigger = dec(raw.get("stop_price")) if kind is not OrderType.TRAILING_STOP else None
    return Snapshot(
        venue_order_id=str(raw.get("id") or ""),
        venue_client_id=str(raw.get("client_order_id") or ""),
        symbol=str(raw.get("symbol") or ""),
        side=OrderSide.BUY if raw.get("side") == "buy" else OrderSide.SELL,
        order_type=kind, quantity=dec(raw.get("qty")) or ZERO,
        filled_qty=dec(raw.get("filled_qty")) or ZERO,
        avg_px=dec(raw.get("filled_avg_price")), status=str(raw.get("status") or "new"),
        price=dec(raw.get("limit_price")), trigger_price=trigger,
        time_in_force=TIME_IN_FORCE.get(str(raw.get("time_in_force")), TimeInForce.GTC),
        order_class=str(raw.get("order_class") or "simple"),
        replaced_by=str(raw.get("replaced_by") or ""),
        ts_accepted=iso_to_ns(raw.get("submitted_at") or raw.get("created_at")),
        ts_last=iso_to_ns(raw.get("updated_at") or raw.get("created_at")),
        legs=tuple(raw.get("legs") or ()))


def fill_from_update(data: Mapping[str, Any], client_order_id: str) -> FillReport | None:
    """The execution a ``fill``/``partial_fill`` trade update carries (None for others)."""
    qty, price = dec(data.get("qty")), dec(data.get("price"))
    execution = data.get("execution_id")
    order = data.get("order") or {}
    if not execution or qty is None or price is None or qty <= 0:
        return None
    return FillReport(
        client_order_id=client_order_id, venue_order_id=str(order.get("id") or ""),
        trade_id=str(execution), symbol=str(order.get("symbol") or ""),
        side=OrderSide.BUY if order.get("side") == "buy" else OrderSide.SELL,
        quantity=qty, price=price, commission=ZERO, commission_currency="USD",
        ts=iso_to_ns(data.get("timestamp")))


def trade_id_of_activity(activity_id: str) -> str:
    """The execution id in an activity id (``<time>::<execution id>``)."""
    return activity_id.rpartition("::")[2] or activity_id


def fill_from_activity(raw: Mapping[str, Any], client_order_id: str,
                       crypto: Iterable[str] = ()) -> FillReport:
    """A ``FILL`` account activity as a fill (its trade id is the stream's execution id)."""
    return FillReport(
        client_order_id=client_order_id, venue_order_id=str(raw.get("order_id") or ""),
        trade_id=trade_id_of_activity(str(raw.get("id") or "")),
        symbol=slashed(str(raw.get("symbol") or ""), crypto),
        side=OrderSide.BUY if raw.get("side") == "buy" else OrderSide.SELL,
        quantity=dec(raw.get("qty")) or ZERO, price=dec(raw.get("price")) or ZERO,
        commission=ZERO, commission_currency="USD",
        ts=iso_to_ns(raw.get("transaction_time")))


def position_report(raw: Mapping[str, Any], symbol: str) -> PositionReport | None:
    """A position (``symbol`` already ours); None when flat."""
    qty = dec(raw.get("qty")) or ZERO
    if raw.get("side") == "short" and qty > 0:
        qty = -qty
    if qty == 0:
        return None
    return PositionReport(symbol=symbol, quantity=qty, avg_px=dec(raw.get("avg_entry_price")))


def account_report(raw: Mapping[str, Any], ts: int) -> AccountReport:
    """``/v2/account`` as balances: cash, equity and the initial margin used."""
    return AccountReport(
        account_id=str(raw.get("account_number") or raw.get("id") or ""),
        currency=str(raw.get("currency") or "USD"), balance=dec(raw.get("cash")) or ZERO,
        equity=dec(raw.get("equity")) or ZERO,
        margin_used=dec(raw.get("initial_margin")) or ZERO, ts=ts,
        pattern_day_trader=_flag(raw.get("pattern_day_trader")),
        day_trade_count=_count(raw.get("daytrade_count")))


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class DayTradingStatus:
    """What Alpaca reports for FINRA's pattern day trader rule.

    Attributes
    ----------
    pattern_day_trader : bool or None
        The account is flagged as a pattern day trader (None: Alpaca did not say).
    day_trade_count : int or None
        Day trades in the last five business days, today included.
    daytrading_buying_power : Decimal or None
    equity, last_equity : Decimal or None
        Equity now and at the last close (Alpaca's protection looks at the last close).
    ts : int
        When it was read (UTC ns).
    """

    pattern_day_trader: bool | None
    day_trade_count: int | None
    daytrading_buying_power: Decimal | None
    equity: Decimal | None
    last_equity: Decimal | None
    ts: int


def day_trading_status(raw: Mapping[str, Any], ts: int) -> DayTradingStatus:
    """The PDT fields of ``/v2/account``."""
    flag = raw.get("pattern_day_trader")
    count = raw.get("daytrade_count")
    return DayTradingStatus(
        pattern_day_trader=flag if isinstance(flag, bool) else None,
        day_trade_count=int(count) if isinstance(count, int | str) and str(count).isdigit()
        else None,
        daytrading_buying_power=dec(raw.get("daytrading_buying_power")),
        equity=dec(raw.get("equity")), last_equity=dec(raw.get("last_equity")), ts=ts)


def instrument(raw: Mapping[str, Any], venue: str, fractional_shares: bool) -> Instrument:
    """An asset as an instrument: crypto with its price increment, minimum size and
    quantity step; stocks on the cent, whole shares (a billionth with
    ``fractional_shares`` and a fractionable asset)."""
    symbol = str(raw.get("symbol") or "")
    if raw.get("class") == "crypto":
        base, _, quote = symbol.partition("/")
        step = dec(raw.get("min_trade_increment")) or Decimal("0.000000001")
        return Instrument(symbol, venue, AssetClass.CRYPTO, base, quote or "USD",
                          dec(raw.get("price_increment")) or Decimal("0.01"), step,
                          dec(raw.get("min_order_size")) or step)
    step = Decimal("0.000000001") if fractional_shares and raw.get("fractionable") \
        else Decimal(1)
    return Instrument(symbol, venue, AssetClass.EQUITY, "USD", "USD", Decimal("0.01"), step,
                      step)


def bar_series(rows: list[Mapping[str, Any]], symbol: str, timeframe_ns: int, start_ns: int,
               end_ns: int, complete_before: int, source: str) -> BarSeries:
    """REST bars opening in ``[start_ns, end_ns)`` that were complete at
    ``complete_before``, oldest first, without duplicates."""
    by_ts: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        ts = iso_to_ns(row.get("t"))
        if start_ns <= ts < end_ns and ts + timeframe_ns <= complete_before:
            by_ts[ts] = row
    ordered = sorted(by_ts)
    values = np.asarray([[float(by_ts[t].get(k) or 0.0) for k in ("o", "h", "l", "c", "v")]
                         for t in ordered], dtype=np.float64).reshape(-1, 5)
    return BarSeries(symbol, np.asarray(ordered, dtype=np.int64), values[:, 0].copy(),
                     values[:, 1].copy(), values[:, 2].copy(), values[:, 3].copy(),
                     values[:, 4].copy(), timeframe_ns=timeframe_ns, source=source)


def stream_ts(value: Any) -> int:
    """UTC ns of a data stream's ``t`` (a MessagePack timestamp, or RFC 3339 text)."""
    to_ns = getattr(value, "to_unix_nano", None)
    if to_ns is not None:
        return int(to_ns())
    if isinstance(value, datetime):
        return int(value.timestamp() * 1e9)
    return iso_to_ns(str(value)) if value else 0


def quote_tick(msg: Mapping[str, Any]) -> QuoteTick:
    """A streamed ``q`` message."""
    return QuoteTick(str(msg.get("S")), stream_ts(msg.get("t")), float(msg.get("bp") or 0.0),
                     float(msg.get("ap") or 0.0), float(msg.get("bs") or 0.0),
                     float(msg.get("as") or 0.0))


def trade_tick(msg: Mapping[str, Any]) -> TradeTick:
    """A streamed ``t`` message."""
    return TradeTick(str(msg.get("S")), stream_ts(msg.get("t")), float(msg.get("p") or 0.0),
                     float(msg.get("s") or 0.0), str(msg.get("i") or ""))


def minute_bar(msg: Mapping[str, Any]) -> Bar:
    """A streamed ``b`` message (a one-minute bar)."""
    return Bar(str(msg.get("S")), stream_ts(msg.get("t")), float(msg.get("o") or 0.0),
               float(msg.get("h") or 0.0), float(msg.get("l") or 0.0),
               float(msg.get("c") or 0.0), float(msg.get("v") or 0.0), "1m")


__all__ = [
    "ORDER_TYPES",
    "STATUS",
    "TIME_IN_FORCE",
    "DayTradingStatus",
    "Snapshot",
    "account_report",
    "bar_series",
    "day_trading_status",
    "dec",
    "fill_from_activity",
    "fill_from_update",
    "instrument",
    "iso_to_ns",
    "minute_bar",
    "position_report",
    "quote_tick",
    "replacement_id",
    "slashed",
    "snapshot",
    "split_replacement",
    "stream_ts",
    "trade_id_of_activity",
    "trade_tick",
]
