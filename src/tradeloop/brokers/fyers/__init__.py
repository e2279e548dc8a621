"""The Fyers adapter: ``broker = "fyers"`` (``pip install 'tradeloop[fyers]'``).

Fyers' API v3 spoken directly over httpx and websockets (Fyers' own SDK pins old versions of
shared libraries): REST for orders, positions, funds, the order book, the trade book and
history; the order socket for order updates; the binary data socket for quotes and trades. NSE
and BSE equities, NSE/BSE futures and options, and MCX commodities, by their Fyers symbols
(``NSE:SBIN-EQ``, ``NSE:NIFTY24DECFUT``, ``MCX:CRUDEOIL24DECFUT``).

Fyers' access token lasts a day: ``tradeloop broker login fyers --settings node.toml`` stores a
new one (see :mod:`.auth`); ``[broker.settings]`` are
:class:`~tradeloop.brokers.fyers.config.FyersConfig`'s. See ``docs/fyers.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.fyers.client import FyersClient
from tradeloop.brokers.fyers.config import FyersConfig, load_config
from tradeloop.brokers.fyers.data import FyersMarketDataClient
from tradeloop.brokers.fyers.errors import (
    FyersFatalError,
    FyersOutcomeUnknownError,
    FyersRetryableError,
    FyersTokenError,
)
from tradeloop.brokers.fyers.execution import FyersExecutionClient
from tradeloop.brokers.fyers.ids import OrderIds
from tradeloop.brokers.fyers.symbols import SymbolBook
from tradeloop.brokers.fyers.tokens import TokenStore
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

#: The name this adapter is registered under.
NAME = "fyers"


def capabilities(*, streaming: bool = True) -> VenueCapabilities:
    """What Fyers does natively: market, limit, stop (SL-M) and stop-limit (SL-L) orders,
    DAY and IOC validity, changes of quantity and prices in place, whole quantities, pushed
    order events (the order socket; polled without it), streamed quotes and trades, and
    history. Fyers cannot link orders the node makes (its cover and bracket orders are its own
    kind, sent on request through order tags: see :mod:`.native`), trail a stop, or stream
    bars: the order emulator and the bar builder do those."""
    return VenueCapabilities(
        order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                               OrderType.STOP_LIMIT}),
        time_in_force=frozenset({TimeInForce.DAY, TimeInForce.IOC}), oco=False, oto=False,
        trailing_stop=False, modify=True, hedging=False, fractional=False,
        streaming=streaming, quotes=True, trades=True, bars=False, history=True)


class FyersInstruments:
    """Instruments from Fyers' symbol master."""

    def __init__(self, execution: FyersExecutionClient) -> None:
        self._execution = execution

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The instruments of ``symbols`` (the configured ones when None).

        Raises
        ------
        ConfigError
            A symbol Fyers does not list (with the closest one it does).
        """
        client = self._execution.client
        if client.is_open:
            return await self._execution.instruments(symbols)
        await client.open()
        try:
            return await self._execution.instruments(symbols)
        finally:
            await client.close()


def build_adapter(config: FyersConfig, home: Path, *,
                  transport: httpx.AsyncBaseTransport | None = None) -> BrokerAdapter:
    """The adapter of ``config``, its state (tags, symbol master copies) kept under ``home``
    and its tokens read from the login's store (``transport``: the network, for tests)."""
    store = TokenStore(config.token_path(home, adapter_home=True), config.token_key)
    client = FyersClient(config, store, transport=transport)
    symbols = SymbolBook(client, home / "fyers-symbols")
    ids = OrderIds(home / f"fyers-orders-{config.client_id}.json")
    execution = FyersExecutionClient(client, symbols, ids,
                                     capabilities(streaming=config.use_websockets))
    market = FyersMarketDataClient(client, capabilities(streaming=config.use_websockets))
    return BrokerAdapter(NAME, execution, FyersInstruments(execution), market)


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The ``fyers`` broker.

    Raises
    ------
    ConfigError
        Settings the adapter refuses.
    """
    return build_adapter(load_config(settings), home)


__all__ = ["NAME", "FyersClient", "FyersConfig", "FyersExecutionClient", "FyersFatalError",
           "FyersInstruments", "FyersMarketDataClient", "FyersOutcomeUnknownError",
           "FyersRetryableError", "FyersTokenError", "build_adapter", "capabilities",
           "create_adapter", "load_config"]
