"""tradeloop: write a strategy once; backtest, paper trade and run it live on one kernel."""

from tradeloop.core import native as _native

__version__ = "0.1.0"

_native.install()  # the compiled risk gate, when it is built and current
