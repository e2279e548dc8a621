"""The Interactive Brokers adapter: ``broker = "ibkr"`` (``pip install 'tradeloop[ibkr]'``).

Over ``ib_async``, to a running IB Gateway or TWS with its API socket enabled.
``[broker.settings]`` are :class:`~tradeloop.brokers.ibkr.config.IbkrConfig`'s; every traded
symbol is described in ``[broker.settings.contracts.<SYMBOL>]`` (stocks, FX, futures with
their roll, options). ``ib_async`` is imported in :mod:`.client`, :mod:`.contracts`,
:mod:`.orders` and :mod:`.parse` only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ibkr.client import IbkrClient
from tradeloop.brokers.ibkr.config import ContractSpec, IbkrConfig, load_config
from tradeloop.brokers.ibkr.contracts import ContractBook, utc_today
from tradeloop.brokers.ibkr.data import IbkrMarketDataClient
from tradeloop.brokers.ibkr.errors import (
    IbkrFatalError,
    IbkrOutcomeUnknownError,
    IbkrRetryableError,
)
from tradeloop.brokers.ibkr.execution import IbkrExecutionClient
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

#: The name this adapter is registered under.
NAME = "ibkr"


def capabilities() -> VenueCapabilities:
    """What IB does natively: every order type (trailing stops and market-if-touched
    included), every time in force, brackets (parent and children, ``oto``) and OCA groups
    (``oco``) held by IB, in-place changes of price and quantity, fractional quantities where
    the contract allows them (FX amounts, fractional shares), pushed order events, quotes,
    trades, bars (from 5-second bars) and history."""
    return VenueCapabilities(
        order_types=frozenset(OrderType), time_in_force=frozenset(TimeInForce), oco=True,
        oto=True, trailing_stop=True, modify=True, hedging=False, fractional=True,
        streaming=True, quotes=True, trades=True, bars=True, history=True)


class IbkrInstruments:
    """The configured contracts as instruments, qualified at IB."""

    def __init__(self, execution: IbkrExecutionClient) -> None:
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


def build_adapter(config: IbkrConfig, *, ib: Any = None,
                  today: Callable[[], dt.date] = utc_today) -> BrokerAdapter:
    """The adapter of ``config`` (``ib``: an ``ib_async.IB`` to use; ``today``: the date
    futures roll by, for tests)."""
    client = IbkrClient(config, ib)
    book = ContractBook(client, config, today)
    caps = capabilities()
    execution = IbkrExecutionClient(client, book, caps, config.venue)
    return BrokerAdapter(NAME, execution, IbkrInstruments(execution),
                         IbkrMarketDataClient(client, book, caps, config.venue))


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The ``ibkr`` broker.

    Raises
    ------
    ConfigError
        Settings the adapter refuses.
    """
    return build_adapter(load_config(settings))


__all__ = ["NAME", "ContractSpec", "IbkrConfig", "IbkrExecutionClient", "IbkrFatalError",
           "IbkrInstruments", "IbkrMarketDataClient", "IbkrOutcomeUnknownError",
           "IbkrRetryableError", "build_adapter", "capabilities", "create_adapter",
           "load_config"]
