"""Every trade server return code MetaTrader 5 documents, each with the class that decides what
the adapter does next.

The descriptions are our own short wording. The classes:

* ``SUCCESS``: the request took effect (done, placed, partially done, nothing to change).
* ``REQUOTE``: the price moved; a market order is priced again and resent, a bounded number of
  times within the configured deviation.
* ``BACKOFF``: the request did not take effect; retry later (busy, too many requests, locked).
* ``UNKNOWN``: the request may have taken effect (timeout, connection lost): the order is
  looked up by its tag before anything is resent.
* ``FATAL``: the request is wrong or the account cannot take it; never retried.
* ``HALT_SYMBOL``: the symbol cannot be traded now (trading disabled, market closed, close
  only...); the order is refused and the symbol is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RetcodeClass(StrEnum):
    """What a return code means for the caller."""

    SUCCESS = "success"
    REQUOTE = "requote"
    BACKOFF = "backoff"
    UNKNOWN = "unknown"
    FATAL = "fatal"
    HALT_SYMBOL = "halt_symbol"


@dataclass(frozen=True, slots=True)
class Retcode:
    """One documented return code.

    Attributes
    ----------
    code : int
    name : str
        The constant's name without ``TRADE_RETCODE_``.
    kind : RetcodeClass
    text : str
        A short description.
    """

    code: int
    name: str
    kind: RetcodeClass
    text: str


S, R, B, U, F, H = (RetcodeClass.SUCCESS, RetcodeClass.REQUOTE, RetcodeClass.BACKOFF,
                    RetcodeClass.UNKNOWN, RetcodeClass.FATAL, RetcodeClass.HALT_SYMBOL)

#: Code -> its entry: THE table (10004 to 10046 as documented; 10005 and 10037 are unused).
RETCODES: dict[int, Retcode] = {r.code: r for r in (
    Retcode(10004, "REQUOTE", R, "requote"),
    Retcode(10006, "REJECT", F, "request rejected"),
    Retcode(10007, "CANCEL", F, "request cancelled by the trader"),
    Retcode(10008, "PLACED", S, "order placed"),
    Retcode(10009, "DONE", S, "request completed"),
    Retcode(10010, "DONE_PARTIAL", S, "only part of the request was completed"),
    Retcode(10011, "ERROR", B, "request processing error"),
    Retcode(10012, "TIMEOUT", U, "request timed out"),
    Retcode(10013, "INVALID", F, "invalid request"),
    Retcode(10014, "INVALID_VOLUME", F, "invalid volume"),
    Retcode(10015, "INVALID_PRICE", F, "invalid price"),
    Retcode(10016, "INVALID_STOPS", F, "invalid stop-loss or take-profit"),
    Retcode(10017, "TRADE_DISABLED", H, "trading is disabled"),
    Retcode(10018, "MARKET_CLOSED", H, "the market is closed"),
    Retcode(10019, "NO_MONEY", F, "not enough money"),
    Retcode(10020, "PRICE_CHANGED", R, "prices changed"),
    Retcode(10021, "PRICE_OFF", R, "no quotes to process the request"),
    Retcode(10022, "INVALID_EXPIRATION", F, "invalid expiration date"),
    Retcode(10023, "ORDER_CHANGED", B, "the order state changed"),
    Retcode(10024, "TOO_MANY_REQUESTS", B, "too frequent requests"),
    Retcode(10025, "NO_CHANGES", S, "nothing to change in the request"),
    Retcode(10026, "SERVER_DISABLES_AT", F, "autotrading disabled by the server"),
    Retcode(10027, "CLIENT_DISABLES_AT", F, "autotrading disabled in the terminal"),
    Retcode(10028, "LOCKED", B, "request locked for processing"),
    Retcode(10029, "FROZEN", F, "order or position frozen"),
    Retcode(10030, "INVALID_FILL", F, "unsupported filling type"),
    Retcode(10031, "CONNECTION", U, "no connection with the trade server"),
    Retcode(10032, "ONLY_REAL", F, "allowed for live accounts only"),
    Retcode(10033, "LIMIT_ORDERS", F, "pending order limit reached"),
    Retcode(10034, "LIMIT_VOLUME", F, "volume limit for the symbol reached"),
    Retcode(10035, "INVALID_ORDER", F, "incorrect or prohibited order type"),
    Retcode(10036, "POSITION_CLOSED", F, "the position is already closed"),
    Retcode(10038, "INVALID_CLOSE_VOLUME", F, "close volume exceeds the position's volume"),
    Retcode(10039, "CLOSE_ORDER_EXIST", F, "a close order for the position exists already"),
    Retcode(10040, "LIMIT_POSITIONS", F, "open position limit reached"),
    Retcode(10041, "REJECT_CANCEL", F, "pending order activation rejected, order cancelled"),
    Retcode(10042, "LONG_ONLY", H, "only long positions are allowed for the symbol"),
    Retcode(10043, "SHORT_ONLY", H, "only short positions are allowed for the symbol"),
    Retcode(10044, "CLOSE_ONLY", H, "only closing positions is allowed for the symbol"),
    Retcode(10045, "FIFO_CLOSE", F, "positions may be closed by FIFO rule only"),
    Retcode(10046, "HEDGE_PROHIBITED", F, "opposite positions are not allowed (FIFO)"),
)}

#: ``order_check`` answers 0 when the request would be accepted.
CHECK_OK = 0


def classify(code: int) -> RetcodeClass:
    """The class of ``code``; an undocumented code is fatal (never retried blindly)."""
    entry = RETCODES.get(code)
    return entry.kind if entry is not None else RetcodeClass.FATAL


def describe(code: int) -> str:
    """``"10019 NO_MONEY (not enough money)"``, or ``"code 12345"`` for an unknown one."""
    entry = RETCODES.get(code)
    if entry is None:
        return f"code {code}"
    return f"{code} {entry.name} ({entry.text})"


__all__ = ["CHECK_OK", "RETCODES", "Retcode", "RetcodeClass", "classify", "describe"]
