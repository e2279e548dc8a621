"""Positions, PnL, FX conversion and account snapshots."""

from tradeloop.portfolio.curve import equity_and_exposure, equity_curve, in_market
from tradeloop.portfolio.fx import FxRates
from tradeloop.portfolio.portfolio import BookEntry, Portfolio, position_id_for

__all__ = [
    "BookEntry", "FxRates", "Portfolio", "equity_and_exposure", "equity_curve", "in_market",
    "position_id_for",
]
