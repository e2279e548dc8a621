"""Binance's error answers: ``{"code": <negative int>, "msg": "..."}`` with an HTTP status.

Codes and messages follow Binance's public error-code pages for the spot API and for USD-M
futures. The helpers below build the ones the local exchange answers, so that every module
spells a given error the same way.
"""

from __future__ import annotations

from typing import Any

CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
"""What Binance accepts as ``newClientOrderId`` / ``clientAlgoId``."""

DECIMAL_PATTERN = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
UNKNOWN_AFTER_BOOKING_MSG = "Unknown error, please check your request or try again later."
SERVICE_UNAVAILABLE_MSG = "Service Unavailable."


class BinanceError(Exception):
    """An error answer: raised by handlers, turned into the HTTP response by the server.

    Parameters
    ----------
    status : int
        HTTP status (400 for most rejections, 401 for key problems, 429, 503...).
    code : int or None
        Binance's error code; None for the bodies that carry only a message (HTTP 503).
    msg : str
    headers : dict of str to str, optional
        Extra response headers (``Retry-After`` on 429).
    """

    def __init__(self, status: int, code: int | None, msg: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = headers or {}

    def body(self, path: str, now_ms: int) -> dict[str, Any]:
        """The JSON body Binance sends for this error."""
        if self.code is None:
            return {"timestamp": now_ms, "path": path, "msg": self.msg}
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    """-1102: a mandatory parameter is missing or empty."""
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def one_of(first: str, second: str) -> BinanceError:
    """-1102: neither of two alternative parameters was sent."""
    return BinanceError(
        400, -1102, f"Param '{first}' or '{second}' must be sent, but both were empty/null!")


def illegal(name: str, legal: str) -> BinanceError:
    """-1100: a parameter does not match its pattern."""
    return BinanceError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def invalid_value(name: str) -> BinanceError:
    """-1130: a parameter has a well-formed but unacceptable value."""
    return BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def not_required(name: str) -> BinanceError:
    """-1106: a parameter was sent that the order type does not take."""
    return BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


def invalid_symbol() -> BinanceError:
    """-1121: unknown symbol."""
    return BinanceError(400, -1121, "Invalid symbol.")


def invalid_interval() -> BinanceError:
    """-1120: unknown kline interval."""
    return BinanceError(400, -1120, "Invalid interval.")


def invalid_side() -> BinanceError:
    """-1117."""
    return BinanceError(400, -1117, "Invalid side.")


def invalid_type() -> BinanceError:
    """-1116."""
    return BinanceError(400, -1116, "Invalid orderType.")


def invalid_tif() -> BinanceError:
    """-1115."""
    return BinanceError(400, -1115, "Invalid timeInForce.")


def filter_failure(name: str) -> BinanceError:
    """-1013 (spot): an order breaks a symbol filter (PRICE_FILTER, LOT_SIZE, NOTIONAL...)."""
    return BinanceError(400, -1013, f"Filter failure: {name}")


def new_order_rejected(msg: str) -> BinanceError:
    """-2010: the matching engine refused the new order (message says why)."""
    return BinanceError(400, -2010, msg)


def insufficient_balance() -> BinanceError:
    """-2010 with the spot message for missing funds."""
    return new_order_rejected("Account has insufficient balance for requested action.")


def margin_insufficient() -> BinanceError:
    """-2019 (futures): not enough available margin."""
    return BinanceError(400, -2019, "Margin is insufficient.")


def unknown_order() -> BinanceError:
    """-2011: cancel of an order that is not open (or does not exist)."""
    return BinanceError(400, -2011, "Unknown order sent.")


def no_such_order() -> BinanceError:
    """-2013: query of an order that does not exist."""
    return BinanceError(400, -2013, "Order does not exist.")


def rate_limited(retry_after_s: int) -> BinanceError:
    """-1003 with HTTP 429 and ``Retry-After``."""
    return BinanceError(
        429, -1003,
        "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
        {"Retry-After": str(retry_after_s)})


def unknown_outcome() -> BinanceError:
    """HTTP 503 "Unknown error...": the request reached the engine, its outcome is unknown."""
    return BinanceError(503, None, UNKNOWN_AFTER_BOOKING_MSG)


def service_unavailable() -> BinanceError:
    """HTTP 503 "Service Unavailable.": the request was not executed."""
    return BinanceError(503, None, SERVICE_UNAVAILABLE_MSG)


def not_found() -> BinanceError:
    """HTTP 404 for a path the exchange does not serve."""
    return BinanceError(404, None, "Not Found")
