"""The simulated venue shared by backtests and paper trading."""

from tradeloop.brokers.simulated.fees import (
    Commission,
    CommissionModel,
    NoCommission,
    NoSlippage,
    PercentSlippage,
    SlippageModel,
    SpreadSlippage,
    TickSlippage,
    parse_commission,
    parse_slippage,
)
from tradeloop.brokers.simulated.venue import SimulatedVenue, SimulatedVenueConfig

__all__ = [
    "Commission",
    "CommissionModel",
    "NoCommission",
    "NoSlippage",
    "PercentSlippage",
    "SimulatedVenue",
    "SimulatedVenueConfig",
    "SlippageModel",
    "SpreadSlippage",
    "TickSlippage",
    "parse_commission",
    "parse_slippage",
]
