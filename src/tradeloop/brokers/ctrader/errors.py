"""cTrader's error codes in tradeloop's error tree, decided once, here.

The Open API names its errors (``errorCode`` of ``ProtoOAErrorRes``, ``ProtoErrorRes``,
``ProtoOAOrderErrorEvent`` and rejected execution events): common codes (``UNKNOWN_ERROR``,
``BLOCKED_PAYLOAD_TYPE``...), authorisation codes (``CH_ACCESS_TOKEN_INVALID``...) and trading
codes (``NOT_ENOUGH_MONEY``...). :data:`ERROR_CLASSES` sorts them into

* ``RETRYABLE``: nothing took effect (rate limit, maintenance, the account session to be
  authorised again): safe to send again after a pause;
* ``FATAL``: refused for good (funds, volume, prices, market closed, unknown order...);
* ``AUTH``: the application or the access token is refused: fatal, with a message that says
  what to do (a new access token, or the client id and secret);
* ``OUTCOME_UNKNOWN``: the request may have taken effect: look the order up first.

Codes not in the table are fatal.
"""

from __future__ import annotations

from enum import StrEnum

from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError


class ErrorClass(StrEnum):
    """What a cTrader error code means for the caller."""

    RETRYABLE = "retryable"
    FATAL = "fatal"
    AUTH = "auth"
    OUTCOME_UNKNOWN = "outcome_unknown"


_R, _F, _A, _U = (ErrorClass.RETRYABLE, ErrorClass.FATAL, ErrorClass.AUTH,
                  ErrorClass.OUTCOME_UNKNOWN)

#: cTrader error code -> (class, what it means).
ERROR_CLASSES: dict[str, tuple[ErrorClass, str]] = {
    # common
    "UNKNOWN_ERROR": (_U, "generic error"),
    "UNSUPPORTED_MESSAGE": (_F, "message not supported"),
    "INVALID_REQUEST": (_F, "invalid request"),
    "TIMEOUT_ERROR": (_F, "deal execution timed out and was rejected"),
    "ENTITY_NOT_FOUND": (_F, "not found"),
    "CANT_ROUTE_REQUEST": (_R, "the connection to the trading server is lost"),
    "FRAME_TOO_LONG": (_F, "message too large"),
    "MARKET_CLOSED": (_F, "market closed"),
    "CONCURRENT_MODIFICATION": (_R, "the order is under execution; the change was not applied"),
    "BLOCKED_PAYLOAD_TYPE": (_R, "rate limit reached for this message type"),
    # authorisation
    "OA_AUTH_TOKEN_EXPIRED": (_A, "the access token has expired"),
    "ACCOUNT_NOT_AUTHORIZED": (_R, "the account session is not authorised"),
    "RET_NO_SUCH_LOGIN": (_A, "the trading account no longer exists"),
    "ALREADY_LOGGED_IN": (_F, "the account is already authorised"),
    "RET_ACCOUNT_DISABLED": (_A, "the trading account is disabled"),
    "CH_CLIENT_AUTH_FAILURE": (_A, "the application's client id or secret is refused"),
    "CH_CLIENT_NOT_AUTHENTICATED": (_R, "the application is not authorised on this "
                                        "connection"),
    "CH_CLIENT_ALREADY_AUTHENTICATED": (_F, "the application is already authorised"),
    "CH_ACCESS_TOKEN_INVALID": (_A, "the access token is invalid"),
    "CH_SERVER_NOT_REACHABLE": (_R, "the trading service is not available"),
    "CH_CTID_TRADER_ACCOUNT_NOT_FOUND": (_A, "the trading account is not found"),
    "CH_OA_CLIENT_NOT_FOUND": (_A, "no such Open API application"),
    # general
    "REQUEST_FREQUENCY_EXCEEDED": (_R, "request frequency exceeded"),
    "SERVER_IS_UNDER_MAINTENANCE": (_R, "server under maintenance"),
    "CHANNEL_IS_BLOCKED": (_A, "operations are not allowed for this account"),
    "CONNECTIONS_LIMIT_EXCEEDED": (_R, "connection limit of the application reached"),
    "WORSE_GSL_NOT_ALLOWED": (_F, "a worse guaranteed stop loss is not allowed"),
    "SYMBOL_HAS_HOLIDAY": (_F, "the symbol has a holiday"),
    # pricing
    "NOT_SUBSCRIBED_TO_SPOTS": (_F, "not subscribed to spots"),
    "ALREADY_SUBSCRIBED": (_F, "already subscribed"),
    "SYMBOL_NOT_FOUND": (_F, "symbol not found"),
    "UNKNOWN_SYMBOL": (_F, "unknown symbol"),
    "INCORRECT_BOUNDARIES": (_F, "the requested period is too large or invalid"),
    # trading
    "NO_QUOTES": (_R, "no quotes to trade on"),
    "NOT_ENOUGH_MONEY": (_F, "not enough money"),
    "MAX_EXPOSURE_REACHED": (_F, "maximum exposure reached"),
    "POSITION_NOT_FOUND": (_F, "position not found"),
    "ORDER_NOT_FOUND": (_F, "order not found"),
    "POSITION_NOT_OPEN": (_F, "position not open"),
    "POSITION_LOCKED": (_R, "position locked"),
    "TOO_MANY_POSITIONS": (_F, "too many positions and orders"),
    "TRADING_BAD_VOLUME": (_F, "invalid volume"),
    "TRADING_BAD_STOPS": (_F, "invalid stop price"),
    "TRADING_BAD_PRICES": (_F, "invalid price"),
    "TRADING_BAD_STAKE": (_F, "invalid stake"),
    "PROTECTION_IS_TOO_CLOSE_TO_MARKET": (_F, "stop loss or take profit too close to the "
                                              "market"),
    "TRADING_BAD_EXPIRATION_DATE": (_F, "invalid expiration"),
    "PENDING_EXECUTION": (_R, "an order of the position is under execution"),
    "TRADING_DISABLED": (_F, "trading is disabled for the symbol"),
    "TRADING_NOT_ALLOWED": (_F, "the account is read-only"),
    "UNABLE_TO_CANCEL_ORDER": (_F, "unable to cancel the order"),
    "UNABLE_TO_AMEND_ORDER": (_F, "unable to amend the order"),
    "SHORT_SELLING_NOT_ALLOWED": (_F, "short selling is not allowed"),
}

#: Codes that say a cancel or an amendment found nothing to act on.
NOT_WORKING = frozenset({"ORDER_NOT_FOUND", "UNABLE_TO_CANCEL_ORDER", "ENTITY_NOT_FOUND"})


def classify(code: str) -> ErrorClass:
    """The class of a cTrader error code (unknown codes are fatal)."""
    found = ERROR_CLASSES.get(code)
    return found[0] if found is not None else ErrorClass.FATAL


def describe(code: str, description: str = "") -> str:
    """``"cTrader NOT_ENOUGH_MONEY (not enough money): <description>"``."""
    meaning = ERROR_CLASSES.get(code, (None, ""))[1]
    head = f"cTrader {code}" + (f" ({meaning})" if meaning else "")
    same = description.strip().rstrip(".").lower() == meaning.lower()
    return f"{head}: {description}" if description and not same else head


class CtraderRetryableError(RetryableVenueError):
    """The request did not take effect (rate limit, maintenance, not connected).

    Attributes
    ----------
    code : str
    retry_after_s : float
        How long cTrader asked to wait (``retryAfter``), 0 when it did not say.
    """

    def __init__(self, message: str, code: str = "", retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


class CtraderFatalError(FatalVenueError):
    """Refused for good."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class CtraderAuthError(CtraderFatalError):
    """The application or the access token is refused: nothing works until the user acts."""


class CtraderOutcomeUnknownError(OutcomeUnknownError):
    """The order may have reached cTrader: look it up by its ``clientOrderId`` first."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


CtraderError = (CtraderRetryableError | CtraderFatalError | CtraderAuthError
                | CtraderOutcomeUnknownError)


def auth_advice(code: str) -> str:
    """What the user should do about an authorisation error."""
    if code in ("CH_CLIENT_AUTH_FAILURE", "CH_OA_CLIENT_NOT_FOUND"):
        return ("check the Open API application's client id and secret (the variables named "
                "by client_id_env and client_secret_env)")
    if code in ("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", "RET_NO_SUCH_LOGIN"):
        return "check account_id: the access token does not grant that trading account"
    if code in ("RET_ACCOUNT_DISABLED", "CHANNEL_IS_BLOCKED"):
        return "the broker has disabled the account for the Open API; contact the broker"
    return ("get a new access token for the account (cTrader's OAuth flow), put it in the "
            "variable named by access_token_env and restart, or set refresh_token_env so the "
            "adapter renews it itself")


def error_for(code: str, description: str = "", retry_after_s: float = 0.0) -> CtraderError:
    """The exception of an error cTrader answered to a request."""
    text = describe(code, description)
    kind = classify(code)
    if kind is ErrorClass.RETRYABLE:
        return CtraderRetryableError(text, code, retry_after_s)
    if kind is ErrorClass.OUTCOME_UNKNOWN:
        return CtraderOutcomeUnknownError(text, code)
    if kind is ErrorClass.AUTH:
        return CtraderAuthError(f"{text}: {auth_advice(code)}", code)
    return CtraderFatalError(text, code)


__all__ = ["ERROR_CLASSES", "NOT_WORKING", "CtraderAuthError", "CtraderError",
           "CtraderFatalError", "CtraderOutcomeUnknownError", "CtraderRetryableError",
           "ErrorClass", "auth_advice", "classify", "describe", "error_for"]
