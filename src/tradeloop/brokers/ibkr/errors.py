"""IB's error codes in tradeloop's error tree, decided once, here.

IB reports everything through one ``error(reqId, code, message)`` callback: real failures,
order rejections, cancellations, connectivity news and plain notices ("market data farm
connection is OK"). :data:`ERROR_CLASSES` sorts the codes the adapter meets into

* ``INFO``: a notice; nothing to do.
* ``CONNECTIVITY``: the Gateway lost (1100) or regained (1101, 1102) its link to IB, or the
  socket is gone: the adapter re-synchronises once the link is back.
* ``RETRYABLE``: the request did not take effect (message rate, pacing, not connected):
  safe to send again after a pause.
* ``FATAL``: refused for good (rejected, invalid price, unknown contract...).
* ``CANCELLED``: IB's confirmation that an order was cancelled (202).
* ``OUTCOME_UNKNOWN``: the order may exist (a duplicate order id): look it up first.

Codes not in the table are ``INFO`` from 2100 to 2199 (warnings) and ``FATAL`` otherwise.
"""

from __future__ import annotations

from enum import StrEnum

from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError


class ErrorClass(StrEnum):
    """What an IB error code means for the caller."""

    INFO = "info"
    CONNECTIVITY = "connectivity"
    RETRYABLE = "retryable"
    FATAL = "fatal"
    CANCELLED = "cancelled"
    OUTCOME_UNKNOWN = "outcome_unknown"


_I, _C, _R, _F, _X, _U = (ErrorClass.INFO, ErrorClass.CONNECTIVITY, ErrorClass.RETRYABLE,
                            ErrorClass.FATAL, ErrorClass.CANCELLED, ErrorClass.OUTCOME_UNKNOWN)

#: IB error code -> (class, what it means).
ERROR_CLASSES: dict[int, tuple[ErrorClass, str]] = {
    100: (_R, "max rate of messages per second exceeded"),
    101: (_R, "max number of tickers reached"),
    102: (_F, "duplicate ticker id"),
    103: (_U, "duplicate order id"),
    104: (_F, "cannot modify a filled order"),
    105: (_F, "order being modified does not match the original order"),
    106: (_F, "cannot transmit order id"),
    107: (_F, "cannot transmit incomplete order"),
    109: (_F, "price out of the range of the percentage setting"),
    110: (_F, "price does not conform to the minimum price variation"),
    111: (_F, "time in force and order type are incompatible"),
    113: (_F, "time in force must be DAY for MOC and LOC orders"),
    116: (_F, "the order cannot be transmitted to a dead exchange"),
    133: (_F, "submit new order failed"),
    134: (_F, "modify order failed"),
    135: (_F, "cannot find the order"),
    136: (_F, "this order cannot be cancelled"),
    161: (_F, "cancel attempted when the order is not in a cancellable state"),
    162: (_R, "historical market data service error (pacing violation)"),
    165: (_I, "historical market data service query message"),
    200: (_F, "no security definition found"),
    201: (_F, "order rejected"),
    202: (_X, "order cancelled"),
    203: (_F, "the security is not available or allowed for this account"),
    300: (_I, "cannot find the ticker id"),
    309: (_R, "max number of market depth requests reached"),
    317: (_I, "market depth data reset"),
    321: (_F, "error validating the request"),
    322: (_F, "error processing the request"),
    354: (_F, "market data not subscribed"),
    366: (_I, "no historical data query found"),
    399: (_I, "order message (warning)"),
    404: (_I, "shares not available for short sale: the order is held"),
    420: (_F, "invalid real-time query"),
    434: (_F, "the order size cannot be zero"),
    435: (_F, "an account must be specified"),
    436: (_F, "an account must be specified for advisor orders"),
    502: (_C, "could not connect to TWS or IB Gateway"),
    503: (_F, "TWS is out of date"),
    504: (_C, "not connected"),
    507: (_C, "bad message length: the socket was closed"),
    1100: (_C, "connectivity between IB and the Gateway lost"),
    1101: (_C, "connectivity restored, data lost: subscriptions must be made again"),
    1102: (_C, "connectivity restored, data maintained"),
    1300: (_C, "socket port reset during an active connection"),
    2100: (_I, "new account data requested: unsubscribed from the old one"),
    2103: (_I, "a market data farm is disconnected"),
    2104: (_I, "market data farm connection is OK"),
    2105: (_I, "a historical data farm is disconnected"),
    2106: (_I, "historical data farm connection is OK"),
    2107: (_I, "historical data farm connection is inactive"),
    2108: (_I, "market data farm connection is inactive"),
    2109: (_I, "the outside-regular-hours flag is ignored for this order"),
    2110: (_C, "connectivity between TWS and the server is broken"),
    2137: (_I, "the order would cross a resting order of the account"),
    2157: (_I, "a security definition farm is disconnected"),
    2158: (_I, "security definition farm connection is OK"),
    10147: (_F, "the order to cancel was not found"),
    10148: (_F, "the order cannot be cancelled in its state"),
    10149: (_F, "invalid order id"),
    10167: (_I, "displaying delayed market data"),
    10168: (_F, "market data not subscribed and delayed data is disabled"),
    10197: (_R, "no market data during a competing live session"),
}

#: Codes that refuse a cancel (the order keeps working, or has already filled).
CANCEL_REFUSED = frozenset({135, 136, 161, 10147, 10148})
#: Codes after which the Gateway's link to IB is back (1101: subscriptions were lost).
RESTORED = frozenset({1101, 1102})
LOST = frozenset({1100, 2110})


def classify(code: int) -> ErrorClass:
    """The class of an IB error code (warnings 2100-2199 not listed are notices)."""
    found = ERROR_CLASSES.get(code)
    if found is not None:
        return found[0]
    return ErrorClass.INFO if 2100 <= code < 2200 else ErrorClass.FATAL


def describe(code: int, message: str = "") -> str:
    """``"IB error 201 (order rejected): <message>"``."""
    meaning = ERROR_CLASSES.get(code, (None, ""))[1]
    head = f"IB error {code}" + (f" ({meaning})" if meaning else "")
    return f"{head}: {message}" if message else head


def is_pacing(code: int, message: str) -> bool:
    """True for a historical-data pacing violation (162 is also "no data")."""
    return code == 162 and "pacing" in message.lower()


class IbkrRetryableError(RetryableVenueError):
    """The request did not take effect (message rate, pacing, Gateway unreachable)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class IbkrFatalError(FatalVenueError):
    """Refused for good (rejected, invalid order, unknown contract)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class IbkrOutcomeUnknownError(OutcomeUnknownError):
    """The order may have reached IB: look it up by its ``orderRef`` before anything else."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


IbkrError = IbkrRetryableError | IbkrFatalError | IbkrOutcomeUnknownError


def error_for(code: int, message: str) -> IbkrError:
    """The exception of an error IB answered to a request (info and cancellation codes, when
    they answer an order, mean it did not go through: fatal)."""
    text = describe(code, message)
    kind = classify(code)
    if kind in (ErrorClass.RETRYABLE, ErrorClass.CONNECTIVITY):
        if code == 162 and not is_pacing(code, message):
            return IbkrFatalError(text, code)
        return IbkrRetryableError(text, code)
    if kind is ErrorClass.OUTCOME_UNKNOWN:
        return IbkrOutcomeUnknownError(text, code)
    return IbkrFatalError(text, code)


__all__ = ["CANCEL_REFUSED", "ERROR_CLASSES", "LOST", "RESTORED", "ErrorClass", "IbkrError",
           "IbkrFatalError", "IbkrOutcomeUnknownError", "IbkrRetryableError", "classify",
           "describe", "error_for", "is_pacing"]
