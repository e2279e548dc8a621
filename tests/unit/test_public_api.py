"""The public API, pinned: a name added or removed here is a deliberate change of the API.

Update this file in the same commit as the change, and say so in the commit message.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "tradeloop.core": [
        "ClientOrderIdGenerator",
        "Clock",
        "ConfigError",
        "DataError",
        "FatalVenueError",
        "InvalidStateTransition",
        "LiveClock",
        "MessageBus",
        "OutcomeUnknownError",
        "RetryableVenueError",
        "StrategyError",
        "TestClock",
        "TradeloopError",
        "UserError",
        "VenueError",
        "client_order_id",
    ],
    "tradeloop.model": [
        "Account",
        "AccountType",
        "AssetClass",
        "Bar",
        "BarSeries",
        "Cache",
        "ContingencyType",
        "Instrument",
        "LiquiditySide",
        "MarketSeries",
        "OmsType",
        "Order",
        "OrderSide",
        "OrderStatus",
        "OrderType",
        "Position",
        "QuoteSeries",
        "QuoteTick",
        "TimeInForce",
        "TradeSeries",
        "TradeTick",
        "TrailingOffsetType",
        "to_decimal",
    ],
    "tradeloop.indicators": [
        "ADX",
        "ATR",
        "BollingerBands",
        "Donchian",
        "EMA",
        "Highest",
        "Indicator",
        "Lowest",
        "MACD",
        "RSI",
        "SMA",
        "Stochastic",
        "VWAP",
        "WMA",
    ],
    "tradeloop.data": [
        "Gap",
        "LoadResult",
        "ValidationReport",
        "bundled_names",
        "bundled_path",
        "find_gaps",
        "load_bars",
    ],
    "tradeloop.strategy": [
        "Strategy",
        "crossed_above",
        "crossed_below",
    ],
    "tradeloop.risk": [
        "AccountView",
        "BuyingPowerCheck",
        "DEFAULT_CHECKS",
        "PreTradeCheck",
        "RiskEngine",
    ],
    "tradeloop.execution": [
        "ExecutionClient",
        "ExecutionEngine",
        "OrderEmulator",
        "VenueCapabilities",
    ],
    "tradeloop.portfolio": [
        "BookEntry",
        "FxRates",
        "Portfolio",
        "equity_curve",
        "in_market",
        "position_id_for",
    ],
    "tradeloop.brokers.simulated": [
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
    ],
    "tradeloop.engine": [
        "BacktestConfig",
        "BacktestEngine",
        "BacktestRun",
        "Kernel",
        "StrategyFailure",
        "StrategyRunner",
    ],
    "tradeloop.analytics": [
        "BacktestResult",
        "Trade",
        "build_result",
        "round_trips",
        "write_result",
    ],
    "tradeloop.services": [
        "BacktestOutcome",
        "BacktestRequest",
        "parse_params",
        "resolve_strategy",
        "run_backtest",
        "run_demo",
    ],
    "tradeloop.examples": [
        "EXAMPLES",
        "EXAMPLE_DATA",
        "load_example",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name} is exported but missing"
