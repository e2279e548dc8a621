"""Pre-trade risk checks and trading state."""

from tradeloop.risk.engine import (
    DEFAULT_CHECKS,
    AccountView,
    BuyingPowerCheck,
    PreTradeCheck,
    RiskEngine,
)

__all__ = ["DEFAULT_CHECKS", "AccountView", "BuyingPowerCheck", "PreTradeCheck", "RiskEngine"]
