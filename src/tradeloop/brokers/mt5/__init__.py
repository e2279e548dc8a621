"""The MetaTrader 5 adapter: ``broker = "mt5"`` (``pip install 'tradeloop[mt5]'`` on Windows).

Over the official ``MetaTrader5`` package, which runs only on Windows beside a terminal; from
Linux, through the RPC bridge (``bridge = "host:port"``, see ``docs/mt5.md``). The module is
imported in :mod:`.client` only. ``[broker.settings]`` are
:class:`~tradeloop.brokers.mt5.config.Mt5Config`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.mt5.client import Mt5Client
from tradeloop.brokers.mt5.config import Mt5Config, load_config
from tradeloop.brokers.mt5.data import Mt5MarketDataClient
from tradeloop.brokers.mt5.errors import Mt5FatalError, Mt5OutcomeUnknownError, Mt5RetryableError
from tradeloop.brokers.mt5.execution import Mt5ExecutionClient
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

#: The name this adapter is registered under.
NAME = "mt5"
VENUE = "MT5"


def capabilities(*, hedging: bool = False) -> VenueCapabilities:
    """What MetaTrader 5 does natively here: market, limit, stop and stop-limit orders, GTC,
    DAY and GTD; no volume change of a pending order (``modify`` is False: prices can be
    changed, quantities cannot); stop-loss and take-profit ride on positions, not as linked
    orders; quotes polled, no trade prints, bars built from quotes; history."""
    return VenueCapabilities(
        order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                               OrderType.STOP_LIMIT}),
        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.DAY, TimeInForce.GTD}),
        oco=False, oto=False, trailing_stop=False, modify=False, hedging=hedging,
        fractional=True, streaming=False, quotes=True, trades=False, bars=False,
        history=True)


class Mt5Instruments:
    """The terminal's symbols as instruments."""

    def __init__(self, execution: Mt5ExecutionClient) -> None:
        self._execution = execution

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The instruments (only ``symbols`` when given); ConfigError for an unknown one."""
        client = self._execution.client
        if client.is_open:
            return await self._execution.instruments(symbols)
        await client.open()
        try:
            return await self._execution.instruments(symbols)
        finally:
            await client.close()


def build_adapter(config: Mt5Config, *, module: Any = None) -> BrokerAdapter:
    """The adapter of ``config`` (``module``: the terminal's module, for tests)."""
    client = Mt5Client(config, module)
    caps = capabilities(hedging=config.account_type == "hedging")
    execution = Mt5ExecutionClient(client, caps, VENUE)
    return BrokerAdapter(NAME, execution, Mt5Instruments(execution),
                         Mt5MarketDataClient(client, caps, VENUE))


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The ``mt5`` broker.

    Raises
    ------
    ConfigError
        Settings the adapter refuses.
    """
    return build_adapter(load_config(settings))


__all__ = ["NAME", "Mt5Config", "Mt5ExecutionClient", "Mt5FatalError", "Mt5Instruments",
           "Mt5MarketDataClient", "Mt5OutcomeUnknownError", "Mt5RetryableError",
           "build_adapter", "capabilities", "create_adapter", "load_config"]
