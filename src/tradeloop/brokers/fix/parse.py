"""FIX messages to our orders, reports and market data, and back: pure functions, no I/O.

Two dialects are read alike. FIX 4.2 reports a fill as ExecType 1 (partial) or 2 (fill) with
ExecTransType 0, and a bust or correction as ExecTransType 1 or 2; FIX 4.4 reports every fill
as ExecType F, busts and corrections as H and G, and status answers as I (4.2: ExecTransType
3). Both are classified into one :class:`ExecKind`. Numbers become ``Decimal`` exactly as sent;
timestamps become UTC nanoseconds.

Outbound builders return a :class:`simplefix.FixMessage` holding MsgType and body only: the
session adds the header and trailer.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import msgspec
import simplefix

from tradeloop.brokers.fix import wire
from tradeloop.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order

#: Application message types the adapter sends or reads.
NEW_ORDER, CANCEL, REPLACE, STATUS_REQUEST = "D", "F", "G", "H"
EXECUTION_REPORT, CANCEL_REJECT, BUSINESS_REJECT = "8", "9", "j"
MARKET_DATA_REQUEST, MD_SNAPSHOT, MD_INCREMENTAL, MD_REJECT = "V", "W", "X", "Y"
POSITIONS_REQUEST, POSITIONS_ACK, POSITION_REPORT = "AN", "AO", "AP"
COLLATERAL_INQUIRY, COLLATERAL_REPORT = "BB", "BA"
SECURITY_LIST_REQUEST, SECURITY_LIST = "x", "y"

_SIDE_OUT = {OrderSide.BUY: "1", OrderSide.SELL: "2"}
_SIDE_IN = {"1": OrderSide.BUY, "2": OrderSide.SELL, "5": OrderSide.SELL, "6": OrderSide.SELL}
_TYPE_OUT = {OrderType.MARKET: "1", OrderType.LIMIT: "2", OrderType.STOP: "3",
             OrderType.STOP_LIMIT: "4"}
_TYPE_IN = {v: k for k, v in _TYPE_OUT.items()}
_TIF_OUT = {TimeInForce.DAY: "0", TimeInForce.GTC: "1", TimeInForce.IOC: "3",
            TimeInForce.FOK: "4", TimeInForce.GTD: "6"}
_TIF_IN = {v: k for k, v in _TIF_OUT.items()}


class FixParseError(ValueError):
    """A counterparty message lacks a field we need, or holds one we cannot read."""


class ExecKind(enum.Enum):
    """What an ExecutionReport says happened, whatever the dialect."""

    NEW = "new"
    FILL = "fill"
    CANCELED = "canceled"
    REPLACED = "replaced"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DONE_FOR_DAY = "done_for_day"
    PENDING = "pending"
    STATUS = "status"
    RESTATED = "restated"
    TRADE_CANCEL = "trade_cancel"
    TRADE_CORRECT = "trade_correct"
    OTHER = "other"


_EXEC_TYPES = {
    "0": ExecKind.NEW, "1": ExecKind.FILL, "2": ExecKind.FILL, "F": ExecKind.FILL,
    "3": ExecKind.DONE_FOR_DAY, "4": ExecKind.CANCELED, "5": ExecKind.REPLACED,
    "6": ExecKind.PENDING, "A": ExecKind.PENDING, "E": ExecKind.PENDING,
    "8": ExecKind.REJECTED, "C": ExecKind.EXPIRED, "D": ExecKind.RESTATED,
    "G": ExecKind.TRADE_CORRECT, "H": ExecKind.TRADE_CANCEL, "I": ExecKind.STATUS,
}
_EXEC_TRANS = {"1": ExecKind.TRADE_CANCEL, "2": ExecKind.TRADE_CORRECT, "3": ExecKind.STATUS}
_OPEN_STATUS = {"0", "1", "5", "6", "7", "9", "A", "D", "E"}
_FINAL_STATUS = {"2": OrderStatus.FILLED, "3": OrderStatus.EXPIRED, "4": OrderStatus.CANCELED,
                 "8": OrderStatus.REJECTED, "C": OrderStatus.EXPIRED}


def exec_kind(exec_type: str | None, exec_trans_type: str | None = None) -> ExecKind:
    """Classify ExecType (150) with FIX 4.2's ExecTransType (20) when present."""
    if exec_trans_type in _EXEC_TRANS:
        return _EXEC_TRANS[exec_trans_type]
    return _EXEC_TYPES.get(exec_type or "", ExecKind.OTHER)


def order_status(ord_status: str | None, cum_qty: Decimal, leaves_qty: Decimal | None
                 ) -> OrderStatus:
    """Our status for OrdStatus (39): open states become ACCEPTED or PARTIALLY_FILLED by the
    filled quantity; Calculated (B) is FILLED once nothing is left.

    Raises
    ------
    FixParseError
        An OrdStatus that FIX does not define.
    """
    code = ord_status or ""
    if code in _FINAL_STATUS:
        return _FINAL_STATUS[code]
    if code == "B":
        return OrderStatus.FILLED if not leaves_qty else OrderStatus.PARTIALLY_FILLED
    if code in _OPEN_STATUS:
        return OrderStatus.PARTIALLY_FILLED if cum_qty > 0 else OrderStatus.ACCEPTED
    raise FixParseError(f"unknown OrdStatus (39) {ord_status!r}")


# -- fields ----------------------------------------------------------------------------------


def text(message: simplefix.FixMessage, tag: int) -> str | None:
    """The field's text, or None."""
    return wire.field(message, tag)


def _code(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def required(message: simplefix.FixMessage, tag: int, what: str) -> str:
    """The field's text.

    Raises
    ------
    FixParseError
        It is missing or empty.
    """
    value = wire.field(message, tag)
    if not value:
        raise FixParseError(f"{what} without tag {tag}")
    return value


def decimal(value: str | None, tag: int = 0) -> Decimal | None:
    """``value`` as an exact Decimal (None stays None).

    Raises
    ------
    FixParseError
        Not a finite number.
    """
    if value is None or value == "":
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise FixParseError(f"tag {tag}: {value!r} is not a number") from None
    if not number.is_finite():
        raise FixParseError(f"tag {tag}: {value!r} is not a finite number")
    return number


def number(message: simplefix.FixMessage, tag: int) -> Decimal | None:
    """Tag ``tag`` as a Decimal, or None."""
    return decimal(wire.field(message, tag), tag)


def fix_decimal(value: Decimal) -> str:
    """A Decimal as FIX wants it: plain digits, no exponent, no trailing zeros."""
    plain = format(value.normalize(), "f")
    return "0" if plain in ("-0", "") else plain


def timestamp(message: simplefix.FixMessage, *tags: int) -> int:
    """UTC nanoseconds of the first of ``tags`` holding a valid UTCTimestamp; 0 if none."""
    for tag in tags:
        value = wire.field(message, tag)
        if value:
            try:
                return fast_timestamp(value)
            except ValueError:
                continue
    return 0


def groups(message: simplefix.FixMessage, count_tag: int, entry_tags: Iterable[int]
           ) -> list[dict[int, str]]:
    """The entries of a repeating group: each a dict of its fields.

    Parameters
    ----------
    count_tag : int
        The group's NoXXX tag.
    entry_tags : iterable of int
        The tags an entry may hold; the first of them that follows ``count_tag`` starts each
        entry, and the group ends at the first tag outside them.
    """
    allowed = set(entry_tags)
    entries: list[dict[int, str]] = []
    inside = False
    first: int | None = None
    for raw_tag, raw_value in message.pairs:
        tag = int(raw_tag)
        value = bytes(raw_value).decode("latin-1")
        if not inside:
            inside = tag == count_tag
            continue
        if tag not in allowed:
            break
        if first is None:
            first = tag
        if tag == first or not entries:
            entries.append({})
        entries[-1].setdefault(tag, value)
    return entries


# -- outbound --------------------------------------------------------------------------------


def side_code(side: OrderSide) -> str:
    """Side (54) of ``side``."""
    return _SIDE_OUT[side]


def message_of(msg_type: str, fields: Sequence[tuple[int, str | None]]
               ) -> simplefix.FixMessage:
    """A message of ``msg_type`` with ``fields`` in order (None values left out)."""
    message = simplefix.FixMessage()
    message.message_type = msg_type.encode()
    message.pairs = [(b"35", message.message_type), *(
        (b"%d" % tag, value.encode()) for tag, value in fields if value is not None)]
    return message


@dataclass(frozen=True, slots=True)
class WireOrder:
    """What goes on the wire for one order: its fields after the adapter's choices (a
    market order sent as a marketable limit, the time in force the venue takes).

    Attributes
    ----------
    cl_ord_id : str
    symbol : str
    side : OrderSide
    order_type : OrderType
    quantity : Decimal
    price, trigger_price : Decimal or None
    time_in_force : TimeInForce
    expire_ns : int or None
    """

    cl_ord_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    time_in_force: TimeInForce
    expire_ns: int | None = None

    @classmethod
    def of(cls, order: Order) -> WireOrder:
        """The order as it is."""
        return cls(order.client_order_id, order.symbol, order.side, order.order_type,
                   order.quantity, order.price, order.trigger_price, order.time_in_force,
                   order.expire_ns)

    def _order_fields(self) -> list[tuple[int, str | None]]:
        limit = self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        stop = self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        expire = self.expire_ns if self.time_in_force is TimeInForce.GTD else None
        return [
            (38, fix_decimal(self.quantity)),
            (40, _TYPE_OUT[self.order_type]),
            (44, fix_decimal(self.price) if limit and self.price is not None else None),
            (99, fix_decimal(self.trigger_price)
             if stop and self.trigger_price is not None else None),
            (59, _TIF_OUT[self.time_in_force]),
            (126, wire.format_timestamp(expire) if expire is not None else None),
        ]


def new_order_single(order: WireOrder, now_ns: int, account: str | None = None,
                     handl_inst: str | None = "1") -> simplefix.FixMessage:
    """NewOrderSingle (D).

    ``handl_inst`` (21, required in FIX 4.2): 1 automated execution, no intervention.
    """
    return message_of(NEW_ORDER, [
        (11, order.cl_ord_id), (1, account), (21, handl_inst), (55, order.symbol),
        (54, _SIDE_OUT[order.side]), (60, wire.format_timestamp(now_ns)),
        *order._order_fields(),
    ])


def cancel_request(cl_ord_id: str, orig_cl_ord_id: str, symbol: str, side: OrderSide,
                   quantity: Decimal, now_ns: int, account: str | None = None,
                   order_id: str | None = None) -> simplefix.FixMessage:
    """OrderCancelRequest (F) for the order now known as ``orig_cl_ord_id``."""
    return message_of(CANCEL, [
        (41, orig_cl_ord_id), (37, order_id), (11, cl_ord_id), (1, account), (55, symbol),
        (54, _SIDE_OUT[side]), (60, wire.format_timestamp(now_ns)),
        (38, fix_decimal(quantity)),
    ])


def replace_request(order: WireOrder, orig_cl_ord_id: str, now_ns: int,
                    account: str | None = None, order_id: str | None = None,
                    handl_inst: str | None = "1") -> simplefix.FixMessage:
    """OrderCancelReplaceRequest (G): ``order`` is the whole order as it should become,
    under its new ClOrdID."""
    return message_of(REPLACE, [
        (41, orig_cl_ord_id), (37, order_id), (11, order.cl_ord_id), (1, account),
        (21, handl_inst), (55, order.symbol), (54, _SIDE_OUT[order.side]),
        (60, wire.format_timestamp(now_ns)), *order._order_fields(),
    ])


def status_request(cl_ord_id: str, request_id: str, symbol: str | None,
                   side: OrderSide | None, order_id: str | None = None
                   ) -> simplefix.FixMessage:
    """OrderStatusRequest (H) with OrdStatusReqID (790)."""
    return message_of(STATUS_REQUEST, [
        (37, order_id), (11, cl_ord_id), (790, request_id), (55, symbol),
        (54, _SIDE_OUT[side] if side is not None else None),
    ])


# -- inbound ---------------------------------------------------------------------------------


class ExecReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One ExecutionReport (8), read.

    ``last_qty``/``last_px`` are set for fills; ``ts`` is TransactTime (60), else the
    SendingTime (52) of the message.
    """

    cl_ord_id: str
    orig_cl_ord_id: str | None
    order_id: str
    exec_id: str
    kind: ExecKind
    ord_status: str
    status: OrderStatus
    symbol: str
    side: OrderSide | None
    order_type: OrderType | None
    quantity: Decimal | None
    price: Decimal | None
    stop_px: Decimal | None
    time_in_force: TimeInForce | None
    cum_qty: Decimal
    leaves_qty: Decimal | None
    avg_px: Decimal | None
    last_qty: Decimal | None
    last_px: Decimal | None
    commission: Decimal
    commission_currency: str
    liquidity: LiquiditySide
    text: str
    rej_reason: int | None
    ts: int
    status_request_id: str | None

    @property
    def is_fill(self) -> bool:
        """A new execution with a quantity and a price."""
        return (self.kind is ExecKind.FILL and self.last_qty is not None and self.last_qty > 0
                and self.last_px is not None and self.last_px > 0)

    @property
    def unknown_order(self) -> bool:
        """A status answer saying the venue has no such order."""
        return self.status is OrderStatus.REJECTED and (
            self.rej_reason == 5 or self.order_id in ("", "NONE")
            or "unknown order" in self.text.lower())


def field_map(message: simplefix.FixMessage) -> dict[int, str]:
    """Every field of ``message`` by tag (the first of a repeated tag), read once; read only
    (a received message's own table)."""
    if isinstance(message, wire.ReceivedMessage):
        return message.texts()
    return {int(tag): value.decode("latin-1") for tag, value in reversed(message.pairs)}


def _need(fields: dict[int, str], tag: int, what: str) -> str:
    value = fields.get(tag)
    if not value:
        raise FixParseError(f"{what} without tag {tag}")
    return value


def _number(fields: dict[int, str], tag: int) -> Decimal | None:
    return decimal(fields.get(tag), tag)


def fast_timestamp(value: str) -> int:
    """UTC nanoseconds of a FIX UTCTimestamp (``YYYYMMDD-HH:MM:SS[.fff...]``).

    Raises
    ------
    ValueError
        Not such a timestamp.
    """
    if len(value) < 17 or value[8] != "-" or value[11] != ":" or value[14] != ":":
        raise ValueError(f"not a FIX UTCTimestamp: {value!r}")
    seconds = calendar.timegm((int(value[0:4]), int(value[4:6]), int(value[6:8]),
                               int(value[9:11]), int(value[12:14]), int(value[15:17])))
    fraction = value[18:] if len(value) > 18 and value[17] == "." else ""
    if len(value) > 17 and not fraction.isdigit():
        raise ValueError(f"not a FIX UTCTimestamp: {value!r}")
    return seconds * 1_000_000_000 + int(fraction[:9].ljust(9, "0") or 0)


def _timestamp(fields: dict[int, str], *tags: int) -> int:
    for tag in tags:
        value = fields.get(tag)
        if value:
            try:
                return fast_timestamp(value)
            except ValueError:
                continue
    return 0


def execution_report(message: simplefix.FixMessage) -> ExecReport:
    """Read an ExecutionReport of either dialect.

    Raises
    ------
    FixParseError
        ClOrdID, ExecID, ExecType or OrdStatus missing, or a number that is not one.
    """
    what = "ExecutionReport"
    f = field_map(message)
    cum = _number(f, 14) or Decimal(0)
    leaves = _number(f, 151)
    ord_status = _need(f, 39, what)
    commission = _number(f, 12) or Decimal(0)
    avg = _number(f, 6)
    return ExecReport(
        cl_ord_id=_need(f, 11, what),
        orig_cl_ord_id=f.get(41),
        order_id=f.get(37, ""),
        exec_id=_need(f, 17, what),
        kind=exec_kind(_need(f, 150, what), f.get(20)),
        ord_status=ord_status,
        status=order_status(ord_status, cum, leaves),
        symbol=f.get(55, ""),
        side=_SIDE_IN.get(f.get(54, "")),
        order_type=_TYPE_IN.get(f.get(40, "")),
        quantity=_number(f, 38),
        price=_number(f, 44),
        stop_px=_number(f, 99),
        time_in_force=_TIF_IN.get(f.get(59) or "0"),
        cum_qty=cum,
        leaves_qty=leaves,
        avg_px=avg if avg else None,
        last_qty=_number(f, 32),
        last_px=_number(f, 31),
        commission=abs(commission),
        commission_currency=f.get(479) or f.get(15) or "",
        liquidity=LiquiditySide.MAKER if f.get(851) == "1" else LiquiditySide.TAKER,
        text=f.get(58, ""),
        rej_reason=_code(f.get(103)),
        ts=_timestamp(f, 60, 52),
        status_request_id=f.get(790),
    )


@dataclass(frozen=True, slots=True)
class CancelReject:
    """One OrderCancelReject (9): a cancel (``for_replace`` False) or a replace refused."""

    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    ord_status: str
    for_replace: bool
    reason_code: int | None
    text: str
    ts: int


def cancel_reject(message: simplefix.FixMessage) -> CancelReject:
    """Read an OrderCancelReject.

    Raises
    ------
    FixParseError
        ClOrdID missing.
    """
    return CancelReject(
        cl_ord_id=required(message, 11, "OrderCancelReject"),
        orig_cl_ord_id=text(message, 41) or "",
        order_id=text(message, 37) or "",
        ord_status=text(message, 39) or "",
        for_replace=text(message, 434) == "2",
        reason_code=_code(text(message, 102)),
        text=text(message, 58) or "",
        ts=timestamp(message, 60, 52),
    )


@dataclass(frozen=True, slots=True)
class BusinessReject:
    """One BusinessMessageReject (j): an application message the venue did not process."""

    ref_seq: int | None
    ref_msg_type: str
    ref_id: str
    reason_code: int | None
    text: str


def business_reject(message: simplefix.FixMessage) -> BusinessReject:
    """Read a BusinessMessageReject."""
    return BusinessReject(
        ref_seq=wire.int_field(message, 45), ref_msg_type=text(message, 372) or "",
        ref_id=text(message, 379) or "",
        reason_code=_code(text(message, 380)),
        text=text(message, 58) or "")


@dataclass(frozen=True, slots=True)
class SessionReject:
    """One session-level Reject (3): a message the counterparty's FIX engine refused."""

    ref_seq: int | None
    ref_msg_type: str
    ref_tag: int | None
    reason_code: int | None
    text: str


def session_reject(message: simplefix.FixMessage) -> SessionReject:
    """Read a session-level Reject."""
    return SessionReject(
        ref_seq=wire.int_field(message, 45), ref_msg_type=text(message, 372) or "",
        ref_tag=wire.int_field(message, 371),
        reason_code=_code(text(message, 373)),
        text=text(message, 58) or "")


__all__ = [
    "BusinessReject",
    "CancelReject",
    "ExecKind",
    "ExecReport",
    "FixParseError",
    "SessionReject",
    "WireOrder",
    "business_reject",
    "cancel_reject",
    "cancel_request",
    "decimal",
    "exec_kind",
    "execution_report",
    "fast_timestamp",
    "field_map",
    "fix_decimal",
    "groups",
    "message_of",
    "new_order_single",
    "order_status",
    "replace_request",
    "session_reject",
    "side_code",
    "status_request",
    "timestamp",
]
