"""The paper venue's wire protocol: the JSON messages of its REST API and WebSocket stream.

Every message is a ``msgspec`` struct; ``Decimal`` travels as a string, times as int UTC
nanoseconds. The full protocol (endpoints, status codes, reason codes, the stream and the
fault injection of the test server) is documented in ``docs/paper-venue-protocol.md``.

Order events travel in an :class:`EventMessage`: a per-venue sequence number ``seq`` (1, 2,
3, ... without gaps), the event's class name ``kind`` and the event itself. A client keeps the
highest ``seq`` it has handled, drops any message at or below it (a duplicate) and, when a
message skips ahead, first fetches what it missed from ``GET /v1/events?since_seq=N``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

import msgspec

from tradeloop.model import events as ev
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.reports import OrderStatusReport

#: Path prefix of the versioned API.
API_PREFIX = "/v1"
#: Environment variable holding the bearer token a served venue requires (unset: none).
TOKEN_ENV = "TRADELOOP_PAPER_TOKEN"
#: Close code of a stream the server dropped on purpose (fault injection or a slow reader).
STREAM_DROPPED = 4000


class ReasonCode(StrEnum):
    """Why the venue refused a request; each code has one HTTP status and one error class."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_VOLUME = "INVALID_VOLUME"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_ORDER = "INVALID_ORDER"
    UNSUPPORTED_ORDER = "UNSUPPORTED_ORDER"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    NO_PRICE = "NO_PRICE"
    MARKET_CLOSED = "MARKET_CLOSED"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    REQUOTE = "REQUOTE"
    BUSY = "BUSY"
    INTERNAL = "INTERNAL"


#: The HTTP status the server answers each reason code with.
HTTP_STATUS: dict[ReasonCode, int] = {
    ReasonCode.UNKNOWN_SYMBOL: 422,
    ReasonCode.INVALID_VOLUME: 422,
    ReasonCode.INVALID_PRICE: 422,
    ReasonCode.INVALID_ORDER: 422,
    ReasonCode.UNSUPPORTED_ORDER: 422,
    ReasonCode.INSUFFICIENT_FUNDS: 422,
    ReasonCode.INSUFFICIENT_MARGIN: 422,
    ReasonCode.NO_PRICE: 422,
    ReasonCode.MARKET_CLOSED: 422,
    ReasonCode.ORDER_NOT_FOUND: 404,
    ReasonCode.ORDER_NOT_OPEN: 409,
    ReasonCode.BAD_REQUEST: 400,
    ReasonCode.UNAUTHORIZED: 401,
    ReasonCode.FORBIDDEN: 403,
    ReasonCode.RATE_LIMITED: 429,
    ReasonCode.REQUOTE: 503,
    ReasonCode.BUSY: 503,
    ReasonCode.INTERNAL: 500,
}

#: Codes whose request did not take effect and may simply be sent again.
RETRYABLE_CODES = frozenset({ReasonCode.RATE_LIMITED, ReasonCode.REQUOTE, ReasonCode.BUSY})

#: Codes that reject a new order: the venue books the order as REJECTED under its id.
ORDER_REJECT_CODES = frozenset({
    ReasonCode.UNKNOWN_SYMBOL, ReasonCode.INVALID_VOLUME, ReasonCode.INVALID_PRICE,
    ReasonCode.INVALID_ORDER, ReasonCode.UNSUPPORTED_ORDER, ReasonCode.INSUFFICIENT_FUNDS,
    ReasonCode.INSUFFICIENT_MARGIN, ReasonCode.NO_PRICE, ReasonCode.MARKET_CLOSED,
})

#: The order events a venue reports, by class name (the ``kind`` of an event message).
EVENT_TYPES: dict[str, type[ev.OrderEvent]] = {
    t.__name__: t
    for t in (
        ev.OrderAccepted, ev.OrderRejected, ev.OrderCanceled, ev.OrderExpired, ev.OrderFilled,
        ev.OrderUpdated, ev.OrderTriggered, ev.OrderModifyRejected, ev.OrderCancelRejected,
    )
}


# -- REST bodies ---------------------------------------------------------------------------------


class OrderRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /v1/orders``: an order's fields as the node created them.

    ``owner`` names the node (or person) that sent it, so that several nodes can share one
    venue and list only their own orders; ``ts_init`` is the sender's time, kept for the record
    (the venue stamps the order with its own market data time).
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    strategy_id: str = ""
    owner: str = ""
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    trailing_offset: Decimal | None = None
    trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_ns: int | None = None
    reduce_only: bool = False
    contingency: ContingencyType = ContingencyType.NONE
    linked_ids: list[str] = msgspec.field(default_factory=list)
    parent_id: str | None = None
    position_id: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    ts_init: int = 0


class ModifyRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``PATCH /v1/orders/{client_order_id}``; omitted fields keep their value."""

    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


class SubmitAnswer(msgspec.Struct, kw_only=True):
    """The answer to a submit: the order as the venue holds it; ``duplicate`` when it already
    had that client order id (nothing new was created)."""

    order: OrderStatusReport
    duplicate: bool = False


class ErrorDetail(msgspec.Struct, kw_only=True):
    """What went wrong: a :class:`ReasonCode`, a one-line reason, and whether to retry."""

    code: str
    reason: str
    retryable: bool = False


class ErrorAnswer(msgspec.Struct, kw_only=True):
    """The body of every 4xx/5xx answer; ``order`` is set when the refusal concerns one."""

    error: ErrorDetail
    order: OrderStatusReport | None = None


class HealthAnswer(msgspec.Struct, kw_only=True):
    """``GET /health``: the venue is up; its last event seq and market data time."""

    status: str
    venue: str
    last_seq: int
    market_ns: int


# -- the stream ----------------------------------------------------------------------------------


class HelloMessage(msgspec.Struct, kw_only=True, tag="hello", tag_field="type"):
    """The first message of every stream connection: the venue's last event seq."""

    venue: str
    last_seq: int


class EventMessage(msgspec.Struct, kw_only=True, tag="event", tag_field="type"):
    """One order event with its per-venue sequence number and the owner of its order."""

    seq: int
    kind: str
    event: msgspec.Raw
    owner: str = ""


class BarMessage(msgspec.Struct, kw_only=True, tag="bar", tag_field="type"):
    """One bar the venue matched orders against (``ts`` is the bar's open)."""

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    timeframe: str = ""


class QuoteMessage(msgspec.Struct, kw_only=True, tag="quote", tag_field="type"):
    """One top-of-book quote."""

    symbol: str
    ts: int
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0


class TradeMessage(msgspec.Struct, kw_only=True, tag="trade", tag_field="type"):
    """One trade print."""

    symbol: str
    ts: int
    price: float
    size: float
    trade_id: str = ""


MarketMessage = BarMessage | QuoteMessage | TradeMessage
StreamMessage = HelloMessage | EventMessage | BarMessage | QuoteMessage | TradeMessage


class EventsAnswer(msgspec.Struct, kw_only=True):
    """``GET /v1/events?since_seq=N``: events after ``N`` in seq order, and the venue's last
    seq (more are waiting when it is above the last event returned)."""

    events: list[EventMessage]
    last_seq: int


# -- fault injection (test servers only) ---------------------------------------------------------

FaultKind = Literal[
    "delay_answer", "reject", "drop_stream", "duplicate_events", "fill_before_ack"
]


class FaultRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /v1/admin/faults``: one fault, armed for what comes next.

    Attributes
    ----------
    kind : str
        ``delay_answer``: the next submit is accepted and booked, then its answer waits
        ``delay_s`` seconds (longer than the client's timeout: the outcome is unknown to it).
        ``reject``: the next submit is refused with ``code`` (RATE_LIMITED, REQUOTE and BUSY are
        retryable and book nothing; an order-reject code books the order as REJECTED).
        ``drop_stream``: every stream connection is closed after ``after_events`` more events.
        ``duplicate_events``: the next ``count`` events are sent twice on the stream.
        ``fill_before_ack``: the acknowledgement of the next submit is held back on the stream
        until the next event of that order (its fill) has been sent.
    """

    kind: FaultKind
    code: str = ""
    reason: str = ""
    delay_s: float = 0.0
    after_events: int = 1
    count: int = 1


class FaultsAnswer(msgspec.Struct, kw_only=True):
    """The faults still armed."""

    armed: list[FaultRequest]
