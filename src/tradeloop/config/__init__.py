"""Typed settings. Everything tradeloop stores lives under one home directory."""

from tradeloop.config.home import home_dir

__all__ = ["home_dir"]
