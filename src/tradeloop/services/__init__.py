"""Use cases shared by the CLI, the API and Telegram."""

from tradeloop.services.backtest import (
    BacktestOutcome,
    BacktestRequest,
    parse_params,
    run_backtest,
)
from tradeloop.services.demo import run_demo
from tradeloop.services.strategies import resolve_strategy

__all__ = [
    "BacktestOutcome",
    "BacktestRequest",
    "parse_params",
    "resolve_strategy",
    "run_backtest",
    "run_demo",
]
