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
)
from tradeloop.risk.engine import Hold, RiskEngine, default_rules
from tradeloop.risk.rules import BuyingPower, InstrumentPrecision, ReduceOnly
from tradeloop.risk.trading_day import TradingDay

__all__ = [
    "ACCOUNT",
    "AccountView",
    "BuyingPower",
    "Denial",
    "DenialCode",
    "Hold",
    "InstrumentPrecision",
    "ReduceOnly",
    "RiskContext",
    "RiskEngine",
    "Rule",
    "Scope",
    "StateRequest",
    "TradingDay",
    "TradingState",
    "default_rules",
]
