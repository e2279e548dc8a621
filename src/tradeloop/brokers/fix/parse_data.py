"""FIX messages about the account, instruments and market data, to our terms and back: pure
functions, no I/O.

RequestForPositions (AN) and PositionReport (AP), CollateralInquiry (BB) and CollateralReport
(BA), SecurityListRequest (x) and SecurityList (y), MarketDataRequest (V) with its snapshots
(W) and incremental refreshes (X). Repeating groups are read with
:func:`tradeloop.brokers.fix.parse.groups`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import simplefix

from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.parse import (
    COLLATERAL_INQUIRY,
    MARKET_DATA_REQUEST,
    POSITIONS_REQUEST,
    SECURITY_LIST_REQUEST,
    decimal,
    groups,
    message_of,
    number,
    required,
    text,
)


def positions_request(request_id: str, account: str | None, now_ns: int
                      ) -> simplefix.FixMessage:
    """RequestForPositions (AN) for the account's positions (724=0)."""
    day = wire.format_timestamp(now_ns)[:8]
    return message_of(POSITIONS_REQUEST, [
        (710, request_id), (724, "0"), (1, account), (581, "1"), (715, day),
        (60, wire.format_timestamp(now_ns)),
    ])


def collateral_inquiry(request_id: str, account: str | None, now_ns: int
                       ) -> simplefix.FixMessage:
    """CollateralInquiry (BB) for the account's balance."""
    return message_of(COLLATERAL_INQUIRY, [
        (909, request_id), (1, account), (60, wire.format_timestamp(now_ns)),
    ])


def security_list_request(request_id: str, symbol: str | None = None) -> simplefix.FixMessage:
    """SecurityListRequest (x): one symbol (559=0) or all securities (559=4)."""
    return message_of(SECURITY_LIST_REQUEST, [
        (320, request_id), (559, "0" if symbol else "4"), (55, symbol),
    ])


def market_data_request(request_id: str, symbol: str, subscribe: bool) -> simplefix.FixMessage:
    """MarketDataRequest (V) for the top of book of ``symbol``: snapshot and updates (263=1),
    or the end of them (263=2)."""
    message = message_of(MARKET_DATA_REQUEST, [
        (262, request_id), (263, "1" if subscribe else "2"), (264, "1"), (265, "1"),
        (267, "2"),
    ])
    message.append_pair(269, "0")
    message.append_pair(269, "1")
    message.append_pair(146, "1")
    message.append_pair(55, symbol)
    return message



# -- inbound ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookEntry:
    """One bid (``side`` "0") or offer ("1") of a market data message."""

    symbol: str
    side: str
    price: Decimal | None
    size: Decimal | None
    delete: bool = False


_MD_TAGS = (279, 269, 278, 55, 270, 15, 271, 272, 273, 290, 346)


def market_data_entries(message: simplefix.FixMessage) -> list[BookEntry]:
    """The bid and offer entries of a snapshot (W) or an incremental refresh (X)."""
    default_symbol = text(message, 55) or ""
    out = []
    for entry in groups(message, 268, _MD_TAGS):
        side = entry.get(269)
        if side not in ("0", "1"):
            continue
        out.append(BookEntry(
            symbol=entry.get(55, default_symbol), side=side,
            price=decimal(entry.get(270), 270), size=decimal(entry.get(271), 271),
            delete=entry.get(279) == "2"))
    return out


@dataclass(frozen=True, slots=True)
class PositionLine:
    """One PositionReport (AP): the net quantity (long minus short) and the average price."""

    symbol: str
    quantity: Decimal
    avg_px: Decimal | None
    last: bool


def position_report(message: simplefix.FixMessage) -> PositionLine:
    """Read a PositionReport; the TOT quantities when present, else the first entry's.

    Raises
    ------
    FixParseError
        No Symbol.
    """
    entries = groups(message, 702, (703, 704, 705, 706, 976))
    chosen = next((e for e in entries if e.get(703) == "TOT"), entries[0] if entries else {})
    long_qty = decimal(chosen.get(704), 704) or Decimal(0)
    short_qty = decimal(chosen.get(705), 705) or Decimal(0)
    avg = number(message, 730)
    return PositionLine(symbol=required(message, 55, "PositionReport"),
                        quantity=long_qty - short_qty, avg_px=avg if avg else None,
                        last=text(message, 912) == "Y")


@dataclass(frozen=True, slots=True)
class Collateral:
    """A CollateralReport (BA): cash, net value and buying power in ``currency``."""

    account: str
    currency: str
    cash: Decimal | None
    net_value: Decimal | None
    excess: Decimal | None


def collateral_report(message: simplefix.FixMessage) -> Collateral:
    """Read a CollateralReport."""
    return Collateral(account=text(message, 1) or "", currency=text(message, 15) or "",
                      cash=number(message, 901), net_value=number(message, 900),
                      excess=number(message, 899))


@dataclass(frozen=True, slots=True)
class Security:
    """One SecurityList entry: symbol, currency, round lot, minimum quantity and tick."""

    symbol: str
    currency: str | None
    lot: Decimal | None
    min_quantity: Decimal | None
    tick: Decimal | None


def security_list(message: simplefix.FixMessage, tick_tag: int) -> list[Security]:
    """The entries of a SecurityList (y); ``tick_tag`` holds the tick size (969, or the
    venue's own tag)."""
    tags = (55, 65, 48, 22, 460, 167, 15, 561, 562, 969, 107, tick_tag)
    out = []
    for entry in groups(message, 146, tags):
        symbol = entry.get(55)
        if symbol:
            out.append(Security(symbol, entry.get(15), decimal(entry.get(561), 561),
                                decimal(entry.get(562), 562),
                                decimal(entry.get(tick_tag), tick_tag)))
    return out


__all__ = [
    "BookEntry",
    "Collateral",
    "PositionLine",
    "Security",
    "collateral_inquiry",
    "collateral_report",
    "market_data_entries",
    "market_data_request",
    "position_report",
    "positions_request",
    "security_list",
    "security_list_request",
]
