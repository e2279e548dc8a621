"""The kernel that wires bus, cache, risk, execution and portfolio; the backtest shell and the
trading node that runs it live."""

from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.engine.kernel import Kernel, StrategyFailure, StrategyRunner
from tradeloop.engine.live import NodeSettings, ReconciliationFailed, SessionSummary, TradingNode

__all__ = [
    "BacktestConfig",
    "BacktestEngine",
    "BacktestRun",
    "Kernel",
    "NodeSettings",
    "ReconciliationFailed",
    "SessionSummary",
    "StrategyFailure",
    "StrategyRunner",
    "TradingNode",
]
