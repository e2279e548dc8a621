"""Pre-trade rules, the risk gate that runs them, and the trading state it enforces."""

from tradeloop.risk.base import (
    ACCOUNT,
    AccountView,
    Denial,
    DenialCode,
    RiskContext,
    Rule,
    Scope,
    StateRequest,
    TradingState,
    WorkingEntries,
)
from tradeloop.risk.calendar_rules import NewsBlackout, PatternDayTrader, TradingSessionRule
from tradeloop.risk.engine import Hold, RiskEngine, default_rules
from tradeloop.risk.limits import (
    ExposureLimit,
    MaxOpenPositions,
    MaxPosition,
    OrderNotionalLimit,
    OrderQuantityLimit,
    PriceBand,
)
from tradeloop.risk.loss import DailyLossLimit, DrawdownLimit
from tradeloop.risk.pacing import LossStreakCooldown, OrderRateLimit, TradeCooldown, TradesPerDay
from tradeloop.risk.rules import BuyingPower, InstrumentPrecision, ReduceOnly
from tradeloop.risk.sizing import max_quantity
from tradeloop.risk.trading_day import TradingDay

__all__ = [
    "ACCOUNT",
    "AccountView",
    "BuyingPower",
    "DailyLossLimit",
    "Denial",
    "DenialCode",
    "DrawdownLimit",
    "ExposureLimit",
    "Hold",
    "InstrumentPrecision",
    "LossStreakCooldown",
    "MaxOpenPositions",
    "MaxPosition",
    "NewsBlackout",
    "OrderNotionalLimit",
    "OrderQuantityLimit",
    "OrderRateLimit",
    "PatternDayTrader",
    "PriceBand",
    "ReduceOnly",
    "RiskContext",
    "RiskEngine",
    "Rule",
    "Scope",
    "StateRequest",
    "TradeCooldown",
    "TradesPerDay",
    "TradingDay",
    "TradingSessionRule",
    "TradingState",
    "WorkingEntries",
    "default_rules",
    "max_quantity",
]
