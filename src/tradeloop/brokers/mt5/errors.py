"""MetaTrader 5 failures in tradeloop's error tree.

A trade server return code maps through :mod:`.retcodes`; a terminal call that returned
``None`` maps through the code ``last_error()`` gave right after it: IPC failures (the terminal
went away) are retryable for reads and outcome-unknown for ``order_send``.
"""

from __future__ import annotations

from tradeloop.brokers.mt5.retcodes import RetcodeClass, classify, describe
from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError

#: ``last_error()`` codes of the Python module (``RES_E_*``) that mean the link to the terminal
#: broke: reconnect and try again.
IPC_ERRORS = frozenset({-10000, -10001, -10002, -10003, -10004, -10005})
#: ``RES_E_AUTH_FAILED``
AUTH_FAILED = -6
#: ``RES_E_NOT_FOUND``: also the code of an error about a symbol the terminal does not list.
UNKNOWN_SYMBOL = -4


class Mt5RetryableError(RetryableVenueError):
    """The request did not take effect (busy, requote exhausted, link down before sending)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class Mt5FatalError(FatalVenueError):
    """Refused for good (invalid request, no money, market closed...)."""

    def __init__(self, message: str, code: int = 0, *, halt_symbol: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.halt_symbol = halt_symbol


class Mt5OutcomeUnknownError(OutcomeUnknownError):
    """The request may have reached the trade server: look the order up by its tag."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def retcode_error(code: int, what: str, comment: str = ""
                  ) -> Mt5RetryableError | Mt5FatalError | Mt5OutcomeUnknownError | None:
    """The error of a trade server return code (None when it is a success)."""
    kind = classify(code)
    text = f"{what}: {describe(code)}" + (f": {comment}" if comment else "")
    if kind is RetcodeClass.SUCCESS:
        return None
    if kind in (RetcodeClass.REQUOTE, RetcodeClass.BACKOFF):
        return Mt5RetryableError(text, code)
    if kind is RetcodeClass.UNKNOWN:
        return Mt5OutcomeUnknownError(text, code)
    return Mt5FatalError(text, code, halt_symbol=kind is RetcodeClass.HALT_SYMBOL)


def call_error(what: str, code: int, message: str, *, state_change: bool
               ) -> Mt5RetryableError | Mt5FatalError | Mt5OutcomeUnknownError:
    """The error of a terminal call that returned None, from ``last_error()``."""
    text = f"{what} failed: last_error {code} {message}".rstrip()
    if code in IPC_ERRORS:
        if state_change:
            return Mt5OutcomeUnknownError(text, code)
        return Mt5RetryableError(text, code)
    if code == AUTH_FAILED:
        return Mt5FatalError(text, code)
    if state_change:
        return Mt5OutcomeUnknownError(text, code)
    return Mt5FatalError(text, code)


__all__ = ["AUTH_FAILED", "IPC_ERRORS", "UNKNOWN_SYMBOL", "Mt5FatalError", "Mt5OutcomeUnknownError",
           "Mt5RetryableError", "call_error", "retcode_error"]
