"""tradeloop: write a strategy once; backtest, paper trade and run it live on one kernel."""

__version__ = "0.1.0"
