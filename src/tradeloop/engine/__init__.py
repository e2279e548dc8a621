"""The kernel that wires bus, cache, risk, execution and portfolio, and the backtest shell."""

from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.engine.kernel import Kernel, StrategyFailure, StrategyRunner

__all__ = [
    "BacktestConfig",
    "BacktestEngine",
    "BacktestRun",
    "Kernel",
    "StrategyFailure",
    "StrategyRunner",
]
