"""The domain model: instruments, market data, orders, events, positions, accounts."""

from tradeloop.model.account import Account, Valuation
from tradeloop.model.cache import Cache
from tradeloop.model.data import (
    Bar,
    BarSeries,
    MarketSeries,
    QuoteSeries,
    QuoteTick,
    TradeSeries,
    TradeTick,
)
from tradeloop.model.enums import (
    AccountType,
    AssetClass,
    ContingencyType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.instrument import Instrument, to_decimal
from tradeloop.model.orders import Order
from tradeloop.model.position import Position

__all__ = [
    "Account",
    "AccountType",
    "AssetClass",
    "Bar",
    "BarSeries",
    "Cache",
    "ContingencyType",
    "Instrument",
    "LiquiditySide",
    "MarketSeries",
    "OmsType",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "QuoteSeries",
    "QuoteTick",
    "TimeInForce",
    "TradeSeries",
    "TradeTick",
    "TrailingOffsetType",
    "Valuation",
    "to_decimal",
]
