"""Performance metrics, round trips, results and their files."""

from tradeloop.analytics.export import write_result
from tradeloop.analytics.results import BacktestResult, build_result
from tradeloop.analytics.trades import Trade, round_trips

__all__ = ["BacktestResult", "Trade", "build_result", "round_trips", "write_result"]
