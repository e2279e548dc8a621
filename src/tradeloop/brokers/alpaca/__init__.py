"""The Alpaca adapter: ``broker = "alpaca"`` (``pip install 'tradeloop[alpaca]'``).

Over alpaca-py: US stocks and crypto pairs on Alpaca's paper (``paper = true``, the default)
or live account, every order type Alpaca has (trailing stops included), brackets, OTO and OCO
groups held by Alpaca, fractional shares, extended hours, the trade updates stream with REST
sweeps, market data streams and historical bars. ``[broker.settings]`` are
:class:`~tradeloop.brokers.alpaca.config.AlpacaConfig`'s; keys come from the environment
variables named by ``api_key_env`` and ``secret_env``. See ``docs/alpaca.md``. alpaca-py is
imported in :mod:`.client`, :mod:`.errors`, :mod:`.orders` and :mod:`.data` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeloop.brokers.alpaca.client import AlpacaClient
from tradeloop.brokers.alpaca.config import AlpacaConfig, load_config
from tradeloop.brokers.alpaca.data import AlpacaMarketDataClient
from tradeloop.brokers.alpaca.errors import (
    AlpacaAuthenticationError,
    AlpacaFatalError,
    AlpacaOutcomeUnknownError,
    AlpacaRetryableError,
)
from tradeloop.brokers.alpaca.execution import AlpacaExecutionClient
from tradeloop.brokers.alpaca.ids import LegBook
from tradeloop.brokers.alpaca.parse import DayTradingStatus
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

#: The name this adapter is registered under.
NAME = "alpaca"


def capabilities() -> VenueCapabilities:
    """What Alpaca does natively: market, limit, stop, stop-limit and trailing stop orders
    (no market-if-touched), DAY, GTC, IOC and FOK (no GTD; crypto takes GTC and IOC), brackets,
    OTO and OCO groups held by Alpaca (``oco``, ``oto``), trailing stops moved by Alpaca,
    in-place changes (Alpaca's replace), fractional quantities (crypto, fractional shares),
    pushed order events, streamed quotes, trades and bars, and history."""
    return VenueCapabilities(
        order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                               OrderType.STOP_LIMIT, OrderType.TRAILING_STOP}),
        time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC,
                                 TimeInForce.FOK}),
        oco=True, oto=True, trailing_stop=True, modify=True, hedging=False, fractional=True,
        streaming=True, quotes=True, trades=True, bars=True, history=True)


class AlpacaInstruments:
    """Alpaca's assets as instruments."""

    def __init__(self, execution: AlpacaExecutionClient) -> None:
        self._execution = execution

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The instruments of ``symbols`` (the configured ``symbols`` when None).

        Raises
        ------
        ConfigError
            A symbol Alpaca does not list or trade.
        """
        return await self._execution.instruments(symbols)


def build_adapter(config: AlpacaConfig, home: Path) -> BrokerAdapter:
    """The adapter of ``config``; the map of bracket legs is kept under ``home``."""
    client = AlpacaClient(config)
    caps = capabilities()
    account = "paper" if config.paper else "live"
    legs = LegBook(home / f"alpaca-{account}-legs.json")
    execution = AlpacaExecutionClient(client, legs, caps, config.venue)
    return BrokerAdapter(NAME, execution, AlpacaInstruments(execution),
                         AlpacaMarketDataClient(client, caps, config.venue))


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The ``alpaca`` broker.

    Raises
    ------
    ConfigError
        Settings the adapter refuses (or keys that are not set).
    """
    return build_adapter(load_config(settings), home)


__all__ = ["NAME", "AlpacaAuthenticationError", "AlpacaConfig", "AlpacaExecutionClient",
           "AlpacaFatalError", "AlpacaInstruments", "AlpacaMarketDataClient",
           "AlpacaOutcomeUnknownError", "AlpacaRetryableError", "DayTradingStatus",
           "build_adapter", "capabilities", "create_adapter", "load_config"]
