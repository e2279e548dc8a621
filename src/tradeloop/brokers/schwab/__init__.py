"""The Charles Schwab adapter: ``broker = "schwab"`` (``pip install 'tradeloop[schwab]'``).

Schwab's Trader API (accounts, orders), Market Data API (quotes, price history) and streamer,
implemented directly over httpx and websockets, with Schwab's OAuth login
(:func:`~tradeloop.brokers.schwab.auth.interactive_login`) and its tokens encrypted at rest
(``cryptography``). ``[broker.settings]`` are
:class:`~tradeloop.brokers.schwab.config.SchwabConfig`'s. See ``docs/schwab.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.schwab.auth import TokenManager, interactive_login, token_store
from tradeloop.brokers.schwab.client import SchwabClient
from tradeloop.brokers.schwab.config import SchwabConfig, load_config
from tradeloop.brokers.schwab.data import SchwabMarketDataClient
from tradeloop.brokers.schwab.errors import (
    SchwabFatalError,
    SchwabLoginError,
    SchwabOutcomeUnknownError,
    SchwabRetryableError,
)
from tradeloop.brokers.schwab.execution import SchwabExecutionClient
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

#: The name this adapter is registered under.
NAME = "schwab"
#: The order journal's file name under the adapter's home.
JOURNAL_FILE = "schwab-orders.json"


def capabilities() -> VenueCapabilities:
    """What Schwab does natively: market, limit, stop, stop-limit and trailing stop orders
    (no market-if-touched); DAY, GTC, IOC and FOK (no good-till-date); OCO groups and TRIGGER
    (OTO) orders held by Schwab, brackets as both; trailing stops moved by Schwab; changes by
    Schwab's replace; whole quantities only; order events polled, not pushed; streamed quotes
    (no trades, no bars: a node builds them from quotes) and price history."""
    return VenueCapabilities(
        order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                               OrderType.STOP_LIMIT, OrderType.TRAILING_STOP}),
        time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC,
                                 TimeInForce.FOK}),
        oco=True, oto=True, trailing_stop=True, modify=True, hedging=False, fractional=False,
        streaming=False, quotes=True, trades=False, bars=False, history=True)


class SchwabInstruments:
    """Instruments from Schwab's quotes and reference data."""

    def __init__(self, execution: SchwabExecutionClient) -> None:
        self._execution = execution

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The instruments (only ``symbols`` when given, else the settings' ``symbols``);
        ConfigError for one Schwab does not list."""
        client = self._execution.client
        if client.is_open:
            return await self._execution.instruments(symbols)
        client.tokens.check()
        await client.open()
        try:
            return await self._execution.instruments(symbols)
        finally:
            await client.close()


def build_adapter(config: SchwabConfig, home: Path, tokens: TokenManager | None = None
                  ) -> BrokerAdapter:
    """The adapter of ``config``: its order journal under ``home``, its tokens where
    ``config.token_path(home)`` says (``tokens``: a manager to share, for tests)."""
    manager = tokens or TokenManager(config, token_store(config, home))
    client = SchwabClient(config, manager)
    caps = capabilities()
    execution = SchwabExecutionClient(client, home / JOURNAL_FILE, caps)
    return BrokerAdapter(NAME, execution, SchwabInstruments(execution),
                         SchwabMarketDataClient(client, caps))


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The ``schwab`` broker.

    Raises
    ------
    ConfigError
        Settings the adapter refuses (one line naming the setting).
    """
    return build_adapter(load_config(settings), home)


__all__ = ["JOURNAL_FILE", "NAME", "SchwabConfig", "SchwabExecutionClient", "SchwabFatalError",
           "SchwabInstruments", "SchwabLoginError", "SchwabMarketDataClient",
           "SchwabOutcomeUnknownError", "SchwabRetryableError", "build_adapter", "capabilities",
           "create_adapter", "interactive_login", "load_config"]
