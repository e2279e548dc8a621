"""Paper venue payloads to our events, reports and market data, and back.

Decoding raises :class:`~tradeloop.brokers.paper.errors.PaperFatalError` (code ``MALFORMED``)
when the venue sends something that is not its protocol: a client cannot act on it, and
sending the same request again would not help.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from tradeloop.brokers.paper.errors import PaperFatalError
from tradeloop.brokers.paper.protocol import (
    BarMessage,
    EventMessage,
    MarketMessage,
    OrderRequest,
    QuoteMessage,
    StreamMessage,
    TradeMessage,
)
from tradeloop.brokers.paper.state import StoredEvent, decode_event, encode_event
from tradeloop.model import events as ev
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.orders import Order

T = TypeVar("T")
MarketData = Bar | QuoteTick | TradeTick

_encoder = msgspec.json.Encoder(decimal_format="string")
_stream_decoder: msgspec.json.Decoder[StreamMessage] = msgspec.json.Decoder(StreamMessage)
_market_decoder: msgspec.json.Decoder[MarketMessage] = msgspec.json.Decoder(MarketMessage)


def encode(message: object) -> bytes:
    """Any protocol message as JSON bytes (``Decimal`` as a string)."""
    return _encoder.encode(message)


def decode(data: bytes | str, cls: type[T], what: str) -> T:
    """Decode a venue payload into ``cls``.

    Raises
    ------
    PaperFatalError
        ``MALFORMED`` with ``what`` and the decoder's reason.
    """
    try:
        return msgspec.json.decode(data, type=cls)
    except msgspec.DecodeError as exc:
        raise PaperFatalError("MALFORMED", f"{what}: {exc}") from None


def decode_stream(data: bytes | str) -> StreamMessage:
    """One stream message (hello, event, bar, quote or trade)."""
    try:
        return _stream_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise PaperFatalError("MALFORMED", f"stream message: {exc}") from None


def decode_market(data: bytes | str) -> MarketMessage:
    """A bar, quote or trade message (the body of ``POST /v1/admin/market``)."""
    try:
        return _market_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise PaperFatalError("MALFORMED", f"market data: {exc}") from None


# -- orders --------------------------------------------------------------------------------------


def order_request(order: Order, owner: str = "") -> OrderRequest:
    """The submit body for ``order``."""
    return OrderRequest(
        client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
        order_type=order.order_type, quantity=order.quantity, strategy_id=order.strategy_id,
        owner=owner, price=order.price, trigger_price=order.trigger_price,
        trailing_offset=order.trailing_offset, trailing_offset_type=order.trailing_offset_type,
        time_in_force=order.time_in_force, expire_ns=order.expire_ns,
        reduce_only=order.reduce_only, contingency=order.contingency,
        linked_ids=list(order.linked_ids), parent_id=order.parent_id,
        position_id=order.position_id, tags=list(order.tags), ts_init=order.ts_init,
    )


def order_from_request(request: OrderRequest) -> Order:
    """The order a submit body describes.

    Raises
    ------
    ValueError
        When the fields do not make an order (a limit order without a price...).
    """
    return Order(
        client_order_id=request.client_order_id, strategy_id=request.strategy_id,
        symbol=request.symbol, side=request.side, order_type=request.order_type,
        quantity=request.quantity, ts_init=request.ts_init, price=request.price,
        trigger_price=request.trigger_price, trailing_offset=request.trailing_offset,
        trailing_offset_type=request.trailing_offset_type,
        time_in_force=request.time_in_force, expire_ns=request.expire_ns,
        reduce_only=request.reduce_only, contingency=request.contingency,
        linked_ids=tuple(request.linked_ids), parent_id=request.parent_id,
        position_id=request.position_id, tags=tuple(request.tags),
    )


# -- events --------------------------------------------------------------------------------------


def event_message(stored: StoredEvent) -> EventMessage:
    """The stream message of a stored event."""
    return EventMessage(seq=stored.seq, kind=stored.event.kind,
                        event=msgspec.Raw(encode_event(stored.event)), owner=stored.owner)


def event_from_message(message: EventMessage) -> ev.OrderEvent:
    """Our order event from its stream message.

    Raises
    ------
    PaperFatalError
        ``MALFORMED`` for an unknown kind or fields that do not fit it.
    """
    try:
        return decode_event(message.kind, bytes(message.event))
    except ValueError as exc:
        raise PaperFatalError("MALFORMED", f"event seq {message.seq}: {exc}") from None


# -- market data ---------------------------------------------------------------------------------


def market_message(item: MarketData) -> MarketMessage:
    """The stream message of a bar, quote or trade."""
    if isinstance(item, Bar):
        return BarMessage(symbol=item.symbol, ts=item.ts, open=item.open, high=item.high,
                          low=item.low, close=item.close, volume=item.volume,
                          timeframe=item.timeframe)
    if isinstance(item, QuoteTick):
        return QuoteMessage(symbol=item.symbol, ts=item.ts, bid=item.bid, ask=item.ask,
                            bid_size=item.bid_size, ask_size=item.ask_size)
    return TradeMessage(symbol=item.symbol, ts=item.ts, price=item.price, size=item.size,
                        trade_id=item.trade_id)


def market_from_message(message: MarketMessage) -> MarketData:
    """Our bar, quote or trade from its message."""
    if isinstance(message, BarMessage):
        return Bar(message.symbol, message.ts, message.open, message.high, message.low,
                   message.close, message.volume, message.timeframe)
    if isinstance(message, QuoteMessage):
        return QuoteTick(message.symbol, message.ts, message.bid, message.ask,
                         message.bid_size, message.ask_size)
    return TradeTick(message.symbol, message.ts, message.price, message.size,
                     message.trade_id)
