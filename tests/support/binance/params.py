"""Reading request parameters the way Binance validates them (one error per bad field)."""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Collection, Mapping
from decimal import Decimal

from .errors import (
    CLIENT_ID_PATTERN,
    DECIMAL_PATTERN,
    BinanceError,
    illegal,
    invalid_symbol,
    invalid_value,
    mandatory,
)

Params = Mapping[str, str]
_DECIMAL = re.compile(DECIMAL_PATTERN)
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")
_SYMBOLS = re.compile(r"^\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\]$")
_ALPHABET = string.ascii_letters + string.digits


def text(params: Params, name: str, *, required: bool = False) -> str | None:
    """A string parameter (None when absent or empty and not required)."""
    value = params.get(name, "")
    if value == "":
        if required:
            raise mandatory(name)
        return None
    return value


def decimal(params: Params, name: str, *, required: bool = False) -> Decimal | None:
    """A non-negative decimal parameter such as ``price`` or ``quantity``."""
    value = text(params, name, required=required)
    if value is None:
        return None
    if not _DECIMAL.fullmatch(value):
        raise illegal(name, DECIMAL_PATTERN)
    return Decimal(value)


def integer(params: Params, name: str, *, required: bool = False) -> int | None:
    """An integer parameter such as ``orderId``, ``startTime`` or ``limit``."""
    value = text(params, name, required=required)
    if value is None:
        return None
    if not _INTEGER.fullmatch(value):
        raise illegal(name, "^[0-9]{1,20}$")
    return int(value)


def choice(params: Params, name: str, allowed: Collection[str], error: BinanceError | None = None,
           *, required: bool = False) -> str | None:
    """An enum parameter; ``error`` (default -1130) when the value is not one of ``allowed``."""
    value = text(params, name, required=required)
    if value is not None and value not in allowed:
        raise error if error is not None else invalid_value(name)
    return value


def flag(params: Params, name: str) -> bool:
    """A boolean parameter (``true``/``false``; absent is false)."""
    value = choice(params, name, ("true", "false", "TRUE", "FALSE", "True", "False"))
    return value is not None and value.lower() == "true"


def client_id(params: Params, name: str) -> str | None:
    """A client order id, checked against Binance's pattern."""
    value = text(params, name)
    if value is not None and not _CLIENT_ID.fullmatch(value):
        raise illegal(name, CLIENT_ID_PATTERN)
    return value


def new_client_id(prefix: str = "") -> str:
    """A fresh client id like the exchange generates (22 random characters)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def symbol(params: Params, known: Collection[str], *, required: bool = True) -> str | None:
    """The ``symbol`` parameter, which must be a listed symbol (-1121 otherwise)."""
    value = text(params, "symbol", required=required)
    if value is not None and value not in known:
        raise invalid_symbol()
    return value


def symbol_list(params: Params, known: Collection[str]) -> list[str] | None:
    """The ``symbols`` parameter (a JSON array of ids), when sent."""
    value = text(params, "symbols")
    if value is None:
        return None
    if not _SYMBOLS.fullmatch(value.replace(" ", "")):
        raise illegal("symbols", _SYMBOLS.pattern)
    chosen = [str(s) for s in json.loads(value)]
    if any(s not in known for s in chosen):
        raise invalid_symbol()
    return chosen


def limit(params: Params, default: int, maximum: int) -> int:
    """The ``limit`` parameter, clamped to ``[1, maximum]``."""
    value = integer(params, "limit")
    if value is None:
        return default
    if value <= 0:
        raise invalid_value("limit")
    return min(value, maximum)


def time_window(params: Params, max_span_ms: int | None) -> tuple[int | None, int | None]:
    """``startTime`` and ``endTime``, checked for order and (optionally) maximum span."""
    start, end = integer(params, "startTime"), integer(params, "endTime")
    if start is not None and end is not None:
        if start > end:
            raise BinanceError(400, -1023, "Start time is greater than end time.")
        if max_span_ms is not None and end - start > max_span_ms:
            hours = max_span_ms // 3_600_000
            raise BinanceError(400, -1127, f"More than {hours} hours between startTime and "
                                           "endTime.")
    return start, end
