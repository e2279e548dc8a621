"""The crypto adapter over ccxt: ``broker = "ccxt:<exchange id>"``.

Built for Binance spot (``ccxt:binance``) and USD-M perpetuals (``ccxt:binanceusdm``), and
written against ccxt's unified API, so other exchanges ccxt supports may work with the
capabilities they declare. ccxt is imported only inside this package (``pip install
'tradeloop[ccxt]'``).

``[broker.settings]`` are :class:`~tradeloop.brokers.ccxt.config.CcxtConfig`'s: keys come from
the environment variables named by ``api_key_env`` and ``secret_env``. See ``docs/ccxt.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ccxt.client import CcxtClient, exchange_class
from tradeloop.brokers.ccxt.config import CcxtConfig, load_config
from tradeloop.brokers.ccxt.data import CcxtMarketDataClient
from tradeloop.brokers.ccxt.errors import (
    CcxtAuthenticationError,
    CcxtFatalError,
    CcxtOutcomeUnknownError,
    CcxtRetryableError,
)
from tradeloop.brokers.ccxt.execution import CcxtExecutionClient
from tradeloop.brokers.ccxt.ids import ClientIdMap
from tradeloop.core.errors import ConfigError
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

#: The name this adapter is registered under.
NAME = "ccxt"

_TIF = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK})


def capabilities_for(market: str, *, streaming: bool) -> VenueCapabilities:
    """What the adapter does natively on Binance ``spot`` or ``swap`` (USD-M perpetuals).

    Both take market, limit and stop orders (spot: STOP_LOSS, STOP_LOSS_LIMIT and TAKE_PROFIT
    as market-if-touched; USD-M: STOP_MARKET, STOP and TAKE_PROFIT_MARKET in Binance's Algo
    Service). Spot cannot amend an order; perpetuals amend limit orders in place. Neither links
    orders (OCO/OTO) or trails natively here: the order emulator does.
    """
    if market == "spot":
        types = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                           OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED})
        modify = False
    else:
        types = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                           OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED})
        modify = True
    return VenueCapabilities(order_types=types, time_in_force=_TIF, oco=False, oto=False,
                             trailing_stop=False, modify=modify, hedging=False,
                             fractional=True, streaming=streaming, quotes=True, trades=True,
                             bars=True, history=True)


class CcxtInstruments:
    """The exchange's instruments (markets are loaded on demand)."""

    def __init__(self, execution: CcxtExecutionClient) -> None:
        self._execution = execution

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The instruments of the adapter's market type (only ``symbols`` when given).

        Raises
        ------
        ConfigError
            A symbol the exchange does not list.
        """
        client = self._execution.client
        if client.is_open:
            return await self._execution.instruments(symbols)
        await client.open()
        try:
            return await self._execution.instruments(symbols)
        finally:
            await client.close()


def build_adapter(config: CcxtConfig, home: Path, *, name: str | None = None) -> BrokerAdapter:
    """The adapter of ``config``, its client order id map kept under ``home``."""
    client = CcxtClient(config)
    market = config.market or ("swap" if config.exchange.endswith("usdm") else "spot")
    streaming = client.streams and config.has_keys
    caps = capabilities_for(market, streaming=streaming)
    data_caps = capabilities_for(market, streaming=client.streams)
    ids = ClientIdMap(home / f"ccxt-{config.exchange}-client-ids.json")
    execution = CcxtExecutionClient(client, ids, caps)
    return BrokerAdapter(name or f"{NAME}:{config.exchange}", execution,
                         CcxtInstruments(execution), CcxtMarketDataClient(client, data_caps))


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The ``ccxt:<variant>`` broker: ``variant`` is the ccxt exchange id.

    Raises
    ------
    ConfigError
        No or an unknown exchange id, or settings the adapter refuses.
    """
    if not variant:
        raise ConfigError("broker.name: name the exchange after the colon, such as "
                          "\"ccxt:binance\" (spot) or \"ccxt:binanceusdm\" (USD-M perpetuals)")
    config = load_config(settings, variant)
    exchange_class(config)  # an unknown exchange fails here, not at connect
    return build_adapter(config, home)


__all__ = [
    "NAME",
    "CcxtAuthenticationError",
    "CcxtConfig",
    "CcxtExecutionClient",
    "CcxtFatalError",
    "CcxtInstruments",
    "CcxtMarketDataClient",
    "CcxtOutcomeUnknownError",
    "CcxtRetryableError",
    "build_adapter",
    "capabilities_for",
    "create_adapter",
    "load_config",
]
