"""The example strategies bundled with tradeloop, by name.

Each example lives in its own module, imported only when asked for, so importing this package
costs next to nothing:

>>> from tradeloop.examples import EXAMPLE_DATA, load_example
>>> load_example("sma_cross").__name__, EXAMPLE_DATA["sma_cross"]
('SmaCross', 'GOOG')
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from tradeloop.core.errors import ConfigError

if TYPE_CHECKING:
    from tradeloop.strategy.base import Strategy

__all__ = ["EXAMPLES", "EXAMPLE_DATA", "load_example"]

#: Example name -> (module path, class name).
EXAMPLES: dict[str, tuple[str, str]] = {
    "sma_cross": ("tradeloop.examples.sma_cross", "SmaCross"),
    "rsi_reversion": ("tradeloop.examples.rsi_reversion", "RsiReversion"),
    "bollinger_breakout": ("tradeloop.examples.bollinger_breakout", "BollingerBreakout"),
    "ma_rsi_atr": ("tradeloop.examples.ma_rsi_atr", "MaRsiAtr"),
    "gotobi": ("tradeloop.examples.gotobi", "Gotobi"),
}

#: Example name -> the bundled data set (see :func:`tradeloop.data.bundled_path`) it runs on by
#: default. No USDJPY data ships, so ``gotobi`` demonstrates on EURUSD (selling EUR buys USD).
EXAMPLE_DATA: dict[str, str] = {
    "sma_cross": "GOOG",
    "rsi_reversion": "GOOG",
    "bollinger_breakout": "GOOG",
    "ma_rsi_atr": "GOOG",
    "gotobi": "EURUSD",
}


def load_example(name: str) -> type[Strategy]:
    """Import a bundled example strategy and return its class.

    Parameters
    ----------
    name : str
        A key of :data:`EXAMPLES`, such as ``"sma_cross"``; case, surrounding spaces and
        hyphens for underscores are forgiven.

    Returns
    -------
    type of Strategy
        The strategy class, ready to instantiate with its parameters.

    Raises
    ------
    ConfigError
        For an unknown name, with a "did you mean" hint and the list of examples.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in EXAMPLES:
        close = difflib.get_close_matches(key, list(EXAMPLES), n=1)
        hint = f", did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown example '{name}'{hint} (examples: {', '.join(EXAMPLES)})"
        )
    module_path, class_name = EXAMPLES[key]
    module = importlib.import_module(module_path)
    strategy: type[Strategy] = getattr(module, class_name)
    return strategy
