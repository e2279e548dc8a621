"""Venue adapters, one sub-package each, and the simulated venue used by backtest and paper."""
