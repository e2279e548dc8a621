"""FIX refusals mapped to the error tree of :mod:`tradeloop.core.errors`, with reasons.

* An order rejected by the venue (ExecutionReport 39=8, OrdRejReason 103): the order is booked
  as rejected, so resending it cannot help: :class:`FixOrderRejectedError` (fatal), its text
  naming the reason code and the venue's words.
* A cancel or replace refused (OrderCancelReject 9, CxlRejReason 102): fatal for that request
  (:class:`FixCancelRejectedError`); the order stays as it was.
* A message the venue's application did not process (BusinessMessageReject j,
  BusinessRejectReason 380): retryable when the venue is busy or throttling (4, 7, 8, 9, 10),
  fatal otherwise (an unsupported message type, a missing field, not authorised).
* No answer in time: for a state change the outcome is unknown
  (:class:`FixNoAnswerError`, look the order up before anything else); for a query it is
  retryable (:class:`FixQueryTimeoutError`).

The session's own errors (:mod:`tradeloop.brokers.fix.protocol`) keep their meaning:
``FixNotLoggedOnError`` and ``FixConnectError`` are retryable, ``FixSendError`` is
outcome-unknown, ``FixLogonError`` and ``FixSequenceError`` are fatal.
"""

from __future__ import annotations

from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError

#: OrdRejReason (103).
ORD_REJ_REASONS = {
    0: "broker / exchange option", 1: "unknown symbol", 2: "exchange closed",
    3: "order exceeds limit", 4: "too late to enter", 5: "unknown order",
    6: "duplicate order", 7: "duplicate of a verbally communicated order", 8: "stale order",
    9: "trade along required", 10: "invalid investor id",
    11: "unsupported order characteristic", 12: "surveillance option",
    13: "incorrect quantity", 14: "incorrect allocated quantity", 15: "unknown account",
    16: "price exceeds current price band", 18: "invalid price increment", 99: "other",
}
#: CxlRejReason (102).
CXL_REJ_REASONS = {
    0: "too late to cancel", 1: "unknown order", 2: "broker / exchange option",
    3: "order already pending cancel or replace", 4: "unable to process mass cancel",
    5: "OrigOrdModTime mismatch", 6: "duplicate ClOrdID", 18: "invalid price increment",
    99: "other",
}
#: BusinessRejectReason (380).
BUSINESS_REJECT_REASONS = {
    0: "other", 1: "unknown ID", 2: "unknown security", 3: "unsupported message type",
    4: "application not available", 5: "conditionally required field missing",
    6: "not authorized", 7: "DeliverTo firm not available at this time",
    8: "throttle limit exceeded", 9: "throttle limit exceeded, session will be disconnected",
    10: "throttled messages rejected on request", 18: "invalid price increment",
}
#: BusinessRejectReasons after which the same message may succeed later.
RETRYABLE_BUSINESS_REASONS = frozenset({4, 7, 8, 9, 10})
#: OrdRejReason of a ClOrdID the venue already has: the message was refused, not the order.
DUPLICATE_ORDER = 6


def describe(code: int | None, table: dict[int, str], text: str) -> str:
    """``"13 incorrect quantity: <venue text>"``; the venue's text alone without a code."""
    if code is None:
        return text or "no reason given"
    name = table.get(code, "reason")
    return f"{code} {name}: {text}" if text else f"{code} {name}"


class FixOrderRejectedError(FatalVenueError):
    """The venue rejected the order (its OrderRejected event was delivered).

    Attributes
    ----------
    code : int or None
        OrdRejReason (103).
    reason : str
    """

    def __init__(self, client_order_id: str, code: int | None, text: str) -> None:
        self.code = code
        self.reason = describe(code, ORD_REJ_REASONS, text)
        super().__init__(f"FIX venue rejected order {client_order_id}: {self.reason}")


class FixCancelRejectedError(FatalVenueError):
    """The venue refused a cancel or a replace; the order is as it was.

    Attributes
    ----------
    code : int or None
        CxlRejReason (102).
    reason : str
    """

    def __init__(self, client_order_id: str, what: str, code: int | None, text: str) -> None:
        self.code = code
        self.reason = describe(code, CXL_REJ_REASONS, text)
        super().__init__(f"FIX venue refused to {what} order {client_order_id}: {self.reason}")


class FixBusinessRejectError(FatalVenueError):
    """The venue's application refused a message for good (BusinessMessageReject).

    Attributes
    ----------
    code : int or None
        BusinessRejectReason (380).
    msg_type : str
        The refused message's type.
    """

    def __init__(self, msg_type: str, code: int | None, text: str) -> None:
        self.code = code
        self.msg_type = msg_type
        super().__init__(f"FIX venue refused a {msg_type} message: "
                         f"{describe(code, BUSINESS_REJECT_REASONS, text)}")


#: SessionRejectReason (373): why the counterparty's FIX engine refused a message.
SESSION_REJECT_REASONS = {
    0: "invalid tag number", 1: "required tag missing",
    2: "tag not defined for this message type", 3: "undefined tag",
    4: "tag specified without a value", 5: "value is incorrect (out of range) for this tag",
    6: "incorrect data format for value", 7: "decryption problem", 8: "signature problem",
    9: "CompID problem", 10: "SendingTime accuracy problem", 11: "invalid MsgType",
    12: "XML validation error", 13: "tag appears more than once",
    14: "tag specified out of required order", 15: "repeating group fields out of order",
    16: "incorrect NumInGroup count for repeating group",
    17: "non-data value includes field delimiter", 99: "other",
}


class FixSessionRejectError(FatalVenueError):
    """The counterparty's FIX engine refused a message as malformed (a session-level Reject):
    it never reached the venue's application, and the same message would be refused again.

    Attributes
    ----------
    code : int or None
        SessionRejectReason (373).
    msg_type : str
        The refused message's type.
    tag : int or None
        RefTagID (371): the field at fault, when the counterparty names it.
    """

    def __init__(self, msg_type: str, code: int | None, tag: int | None, text: str) -> None:
        self.code = code
        self.msg_type = msg_type
        self.tag = tag
        at = f" (tag {tag})" if tag is not None else ""
        super().__init__(f"FIX session refused a {msg_type} message{at}: "
                         f"{describe(code, SESSION_REJECT_REASONS, text)}")


class FixBusyError(RetryableVenueError):
    """The venue's application did not process a message for now (busy, throttled)."""

    def __init__(self, msg_type: str, code: int | None, text: str) -> None:
        self.code = code
        self.msg_type = msg_type
        super().__init__(f"FIX venue did not process a {msg_type} message for now: "
                         f"{describe(code, BUSINESS_REJECT_REASONS, text)}")


class FixNoAnswerError(OutcomeUnknownError):
    """A state change was sent and its answer did not come in time."""


class FixQueryTimeoutError(RetryableVenueError):
    """A query got no answer in time (nothing changed: ask again)."""


class FixSubscriptionError(FatalVenueError):
    """The venue refused a market data subscription (unknown symbol, unsupported request)."""


class FixUnsupportedError(FatalVenueError):
    """The venue cannot do what was asked (as its declared capabilities say); nothing sent."""


def business_error(msg_type: str, code: int | None, text: str
                   ) -> FixBusinessRejectError | FixBusyError:
    """The error a BusinessMessageReject of a ``msg_type`` message means."""
    if code in RETRYABLE_BUSINESS_REASONS:
        return FixBusyError(msg_type, code, text)
    return FixBusinessRejectError(msg_type, code, text)


__all__ = [
    "BUSINESS_REJECT_REASONS",
    "CXL_REJ_REASONS",
    "DUPLICATE_ORDER",
    "ORD_REJ_REASONS",
    "RETRYABLE_BUSINESS_REASONS",
    "SESSION_REJECT_REASONS",
    "FixBusinessRejectError",
    "FixBusyError",
    "FixCancelRejectedError",
    "FixNoAnswerError",
    "FixOrderRejectedError",
    "FixQueryTimeoutError",
    "FixSessionRejectError",
    "FixSubscriptionError",
    "FixUnsupportedError",
    "business_error",
    "describe",
]
