"""IB's records (``Trade``, ``Fill``, ``Position``, ``AccountValue``, bars) in our terms.

IB speaks floats; what reaches the books is ``Decimal``: a price is written with as many places
as the instrument's tick has (``0.25`` -> two, ``0.00005`` -> five) and quantities through
their shortest representation (``100.0`` -> ``100``). Times are UTC nanoseconds. Our client
order id travels in the order's ``orderRef``; an order without one (placed in TWS, or by another
program) is named ``IB-<permId>``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from ib_async import AccountValue, Fill, Position, Trade
from ib_async.order import OrderStatus as IbStatus

from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

#: What IB writes in a float field that was never set.
UNSET = 1.7976931348623157e308
_ZERO = Decimal(0)

#: IB order type -> ours.
ORDER_TYPES: dict[str, OrderType] = {
    "MKT": OrderType.MARKET, "LMT": OrderType.LIMIT, "STP": OrderType.STOP,
    "STP LMT": OrderType.STOP_LIMIT, "TRAIL": OrderType.TRAILING_STOP,
    "TRAIL LIMIT": OrderType.TRAILING_STOP, "MIT": OrderType.MARKET_IF_TOUCHED,
    "LIT": OrderType.LIMIT,
}
#: IB time in force -> ours.
TIME_IN_FORCE: dict[str, TimeInForce] = {
    "DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK, "GTD": TimeInForce.GTD,
}
#: IB statuses of an order that IB holds and may still fill.
WORKING = frozenset({IbStatus.PreSubmitted, IbStatus.Submitted, IbStatus.PendingCancel,
                     IbStatus.ApiUpdate})
#: Statuses a freshly placed order has before IB answered anything.
UNANSWERED = frozenset({"", IbStatus.PendingSubmit, IbStatus.ApiPending})
CANCELLED = frozenset({IbStatus.Cancelled, IbStatus.ApiCancelled})


def is_set(value: float | Decimal | None) -> bool:
    """False for IB's "unset" marker, None and NaN."""
    if value is None:
        return False
    number = float(value)
    return not math.isnan(number) and abs(number) < UNSET / 2


def plain(value: float | int | str | Decimal) -> Decimal:
    """A number as an exact Decimal through its shortest form, without exponent
    (``100.0`` -> ``100``, ``5e-05`` -> ``0.00005``)."""
    number = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(
        value, float) else str(value))
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return Decimal(format(number.normalize(), "f"))


def places(tick: Decimal | None) -> int:
    """Decimal places of a price increment (``0.25`` -> 2)."""
    if tick is None:
        return 8
    exponent = tick.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 8


def price(value: float, tick: Decimal | None) -> Decimal:
    """An IB price as a Decimal with the tick's places."""
    return Decimal(f"{value:.{places(tick)}f}")


def quantity(value: float | Decimal) -> Decimal:
    """An IB quantity (float or Decimal) as an exact Decimal."""
    return plain(value)


def ts_ns(when: dt.datetime | dt.date | None) -> int:
    """UTC nanoseconds of an IB time (a naive datetime is taken as UTC; a date is its UTC
    midnight)."""
    if when is None:
        return 0
    if not isinstance(when, dt.datetime):
        when = dt.datetime(when.year, when.month, when.day, tzinfo=dt.UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = int(when.timestamp())
    return seconds * 1_000_000_000 + when.microsecond * 1000


def side(action: str) -> OrderSide:
    """``BUY``/``BOT`` -> BUY, ``SELL``/``SLD``/``SSHORT`` -> SELL."""
    return OrderSide.BUY if action.upper() in ("BUY", "BOT") else OrderSide.SELL


def client_order_id(order_ref: str, perm_id: int) -> str:
    """Our id of an IB order: its ``orderRef``, or ``IB-<permId>`` when it has none."""
    return order_ref or f"IB-{perm_id}"


def status(ib_status: str, filled: Decimal, rejected: bool = False) -> OrderStatus:
    """Our status of an IB order status (``rejected``: IB refused it with an error)."""
    if ib_status == IbStatus.Filled:
        return OrderStatus.FILLED
    if ib_status in CANCELLED or ib_status == IbStatus.Inactive:
        if rejected and filled == 0:
            return OrderStatus.REJECTED
        if ib_status == IbStatus.Inactive and filled == 0:
            return OrderStatus.REJECTED
        return OrderStatus.CANCELED
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED


def last_error(trade: Trade) -> tuple[int, str]:
    """The error code and message that moved a trade to its current status (0 when none)."""
    if trade.log:
        entry = trade.log[-1]
        if entry.errorCode and entry.status == trade.orderStatus.status:
            return int(entry.errorCode), str(entry.message)
    return 0, ""


def order_report(trade: Trade, symbol: str, tick: Decimal | None,
                 fills: Sequence[FillReport] = ()) -> OrderStatusReport:
    """A ``Trade`` (its order, status and fills) as a report."""
    order = trade.order
    total = quantity(order.totalQuantity)
    done = sum((f.quantity for f in fills), _ZERO)
    filled = max(done, quantity(trade.orderStatus.filled or 0))
    code, message = last_error(trade)
    state = status(trade.orderStatus.status, filled, rejected=bool(code) and code != 202)
    if state in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED) and filled >= total > 0:
        state = OrderStatus.FILLED
    otype = ORDER_TYPES.get(order.orderType, OrderType.LIMIT if is_set(order.lmtPrice)
                            else OrderType.MARKET)
    limit = trigger = None
    if otype in (OrderType.LIMIT, OrderType.STOP_LIMIT) and is_set(order.lmtPrice):
        limit = price(float(order.lmtPrice or 0), tick)
    if otype in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED) \
            and is_set(order.auxPrice):
        trigger = price(float(order.auxPrice or 0), tick)
    if otype is OrderType.TRAILING_STOP and is_set(order.trailStopPrice):
        trigger = price(float(order.trailStopPrice), tick)
    if done > 0:
        avg: Decimal | None = sum((f.quantity * f.price for f in fills), _ZERO) / done
    elif filled > 0 and is_set(trade.orderStatus.avgFillPrice):
        avg = plain(trade.orderStatus.avgFillPrice)
    else:
        avg = None
    times = [ts_ns(e.time) for e in trade.log if isinstance(e.time, dt.datetime)
             and e.time.year > 1970] + [f.ts for f in fills if f.ts]
    first = min(times, default=0)
    return OrderStatusReport(
        client_order_id=client_order_id(order.orderRef, order.permId),
        venue_order_id=str(order.orderId or order.permId), symbol=symbol,
        side=side(order.action), order_type=otype, quantity=total, filled_qty=filled,
        avg_px=avg, status=state, price=limit, trigger_price=trigger,
        time_in_force=TIME_IN_FORCE.get(order.tif, TimeInForce.DAY),
        reason=f"IB error {code}: {message}" if code else "",
        ts_accepted=first, ts_last=max(times, default=first))


def commission(fill: Fill) -> tuple[Decimal, str]:
    """The commission of a fill (0 and "" until its report arrived)."""
    report = fill.commissionReport
    if not report.execId or not is_set(report.commission):
        return _ZERO, ""
    return plain(report.commission), str(report.currency)


def fill_report(fill: Fill, symbol: str, tick: Decimal | None,
                client_id: str = "", commission_of: Fill | None = None) -> FillReport:
    """An IB ``Fill`` as a report (``commission_of``: the fill whose commission report was
    applied, when IB sent the execution again)."""
    execution = fill.execution
    paid, currency = commission(commission_of or fill)
    return FillReport(
        client_order_id=client_id or client_order_id(execution.orderRef, execution.permId),
        venue_order_id=str(execution.orderId or execution.permId), trade_id=execution.execId,
        symbol=symbol, side=side(execution.side), quantity=quantity(execution.shares),
        price=price(execution.price, tick), commission=paid, commission_currency=currency,
        ts=ts_ns(execution.time) or ts_ns(fill.time))


def position_report(symbol: str, held: Iterable[tuple[Position, Decimal]],
                    tick: Decimal | None) -> PositionReport | None:
    """One net report of ``(position, multiplier)`` pairs of one symbol (IB's average cost
    includes the multiplier); None when flat."""
    net = _ZERO
    cost = _ZERO
    for pos, multiplier in held:
        size = quantity(pos.position)
        net += size
        cost += size * plain(pos.avgCost) / (multiplier or Decimal(1))
    if net == 0:
        return None
    avg = (cost / net).quantize(Decimal(1).scaleb(-places(tick))) if cost else None
    return PositionReport(symbol=symbol, quantity=net, avg_px=avg)


def account_values(values: Iterable[AccountValue], account: str) -> tuple[str, dict[str, Decimal]]:
    """The base currency and the account's values in it (``NetLiquidation``,
    ``TotalCashValue``, ``AvailableFunds``, ``BuyingPower``, ``MaintMarginReq``...)."""
    mine = [v for v in values if not account or v.account == account]
    base = next((v.currency for v in mine if v.tag == "NetLiquidation"
                 and v.currency not in ("", "BASE")), "")
    if not base:
        base = next((v.value for v in mine if v.tag == "Currency" and v.currency == "BASE"), "")
    out: dict[str, Decimal] = {}
    for v in mine:
        if v.currency != base or v.modelCode:
            continue
        try:
            out[v.tag] = plain(v.value)
        except ArithmeticError:
            continue
    return base, out


def account_report(values: Iterable[AccountValue], account: str, now_ns: int) -> AccountReport:
    """The account's balances: cash (``TotalCashValue``), equity (``NetLiquidation``) and
    margin (``MaintMarginReq``), in the base currency."""
    base, found = account_values(values, account)
    equity = found.get("NetLiquidation", _ZERO)
    return AccountReport(account_id=account, currency=base,
                         balance=found.get("TotalCashValue", equity), equity=equity,
                         margin_used=found.get("MaintMarginReq", _ZERO), ts=now_ns)


def bar_rows(bars: Iterable[Any]) -> list[tuple[int, float, float, float, float, float]]:
    """``(ts, open, high, low, close, volume)`` of IB bars (``BarData`` or ``RealTimeBar``;
    an unknown volume counts as 0)."""
    out = []
    for bar in bars:
        when = getattr(bar, "date", None) or getattr(bar, "time", None)
        volume = float(bar.volume) if is_set(float(bar.volume)) and bar.volume > 0 else 0.0
        first = bar.open_ if hasattr(bar, "open_") else bar.open  # RealTimeBar: open_
        out.append((ts_ns(when), float(first), float(bar.high), float(bar.low),
                    float(bar.close), volume))
    return out


__all__ = ["CANCELLED", "ORDER_TYPES", "TIME_IN_FORCE", "UNANSWERED", "UNSET", "WORKING",
           "account_report", "account_values", "bar_rows", "client_order_id", "commission",
           "fill_report", "is_set", "last_error", "order_report", "places", "plain",
           "position_report", "price", "quantity", "side", "status", "ts_ns"]
