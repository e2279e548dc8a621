"""Positions, PnL, FX conversion and account snapshots."""

from tradeloop.portfolio.curve import equity_curve, in_market
from tradeloop.portfolio.fx import FxRates
from tradeloop.portfolio.portfolio import BookEntry, Portfolio

__all__ = ["BookEntry", "FxRates", "Portfolio", "equity_curve", "in_market"]
