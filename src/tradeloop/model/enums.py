"""Enumerations of the domain model."""

from __future__ import annotations

from enum import StrEnum


class OrderSide(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        """The other side."""
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    """How an order executes."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"
    MARKET_IF_TOUCHED = "MARKET_IF_TOUCHED"


class TimeInForce(StrEnum):
    """How long an order stays working."""

    GTC = "GTC"
    DAY = "DAY"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"


class OrderStatus(StrEnum):
    """States of the order state machine."""

    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    TRIGGERED = "TRIGGERED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class TrailingOffsetType(StrEnum):
    """Unit of a trailing stop's offset."""

    PRICE = "PRICE"
    PERCENT = "PERCENT"


class ContingencyType(StrEnum):
    """How an order is linked to others."""

    NONE = "NONE"
    OCO = "OCO"
    OTO = "OTO"


class AssetClass(StrEnum):
    """Broad kind of instrument."""

    EQUITY = "EQUITY"
    FX = "FX"
    CRYPTO = "CRYPTO"
    FUTURE = "FUTURE"
    CFD = "CFD"
    INDEX = "INDEX"
    COMMODITY = "COMMODITY"


class OmsType(StrEnum):
    """Position bookkeeping: one net position per instrument, or one per opening order."""

    NETTING = "NETTING"
    HEDGING = "HEDGING"


class AccountType(StrEnum):
    """Cash accounts cannot borrow; margin accounts trade with leverage."""

    CASH = "CASH"
    MARGIN = "MARGIN"


class LiquiditySide(StrEnum):
    """Whether a fill added or removed liquidity."""

    MAKER = "MAKER"
    TAKER = "TAKER"
