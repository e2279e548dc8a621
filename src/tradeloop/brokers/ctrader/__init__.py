"""The cTrader adapter: ``broker = "ctrader"`` (FX and CFDs at brokers on cTrader).

Spotware's Open API over TLS, spoken directly: a small protobuf codec (:mod:`.wire`) and the
message tables of :mod:`.messages`, written from the published reference (the vendor package
pins old Twisted and protobuf releases, so it is not a dependency and nothing extra is
installed). ``[broker.settings]`` are :class:`~tradeloop.brokers.ctrader.config.CtraderConfig`'s:
the application's client id and secret and the account's access token come from environment
variables. See ``docs/ctrader.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ctrader.client import CtraderClient
from tradeloop.brokers.ctrader.config import CtraderConfig, load_config
from tradeloop.brokers.ctrader.data import CtraderMarketDataClient
from tradeloop.brokers.ctrader.errors import (
    CtraderAuthError,
    CtraderFatalError,
    CtraderOutcomeUnknownError,
    CtraderRetryableError,
)
from tradeloop.brokers.ctrader.execution import CtraderExecutionClient
from tradeloop.brokers.ctrader.symbols import SymbolBook
from tradeloop.brokers.ctrader.tokens import TokenStore
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

#: The name this adapter is registered under.
NAME = "ctrader"


def capabilities() -> VenueCapabilities:
    """What cTrader does natively: market, limit, stop and stop-limit orders; good till
    cancelled, good till date, immediate or cancel and fill or kill; in-place amendments of
    volume and prices; pushed execution events; spot quotes and trendbar history.

    Not native here: one-cancels-other and one-triggers-other links between orders (cTrader's
    stop-loss and take-profit belong to positions, given through order tags), trailing stop
    orders (cTrader trails only a position's stop-loss), market-if-touched, DAY orders, trade
    prints and finished bars (bars are built from quotes). Positions are reported net per
    symbol (``hedging`` off): on a hedging account, orders against a position close it.
    """
    return VenueCapabilities(
        order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                               OrderType.STOP_LIMIT}),
        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.GTD, TimeInForce.IOC,
                                 TimeInForce.FOK}),
        oco=False, oto=False, trailing_stop=False, modify=True, hedging=False,
        fractional=True, streaming=True, quotes=True, trades=False, bars=False, history=True)


class CtraderInstruments:
    """The account's symbols as instruments."""

    def __init__(self, execution: CtraderExecutionClient) -> None:
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


def build_adapter(config: CtraderConfig, home: Path | None = None) -> BrokerAdapter:
    """The adapter of ``config``; renewed tokens are kept in ``token_file``, or under ``home``
    when given."""
    path = None
    if config.store_tokens and config.token_file:
        path = Path(config.token_file).expanduser()
    elif config.store_tokens and home is not None:
        path = home / f"ctrader-tokens-{config.environment}-{config.account_id or 'only'}.json"
    client = CtraderClient(config, TokenStore(path))
    book = SymbolBook(client, config.venue)
    caps = capabilities()
    execution = CtraderExecutionClient(client, book, caps, config.venue)
    return BrokerAdapter(NAME, execution, CtraderInstruments(execution),
                         CtraderMarketDataClient(client, book, caps, config.venue))


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The ``ctrader`` broker.

    Raises
    ------
    ConfigError
        Settings the adapter refuses (named), or credentials not in the environment.
    """
    return build_adapter(load_config(settings), home)


__all__ = ["NAME", "CtraderAuthError", "CtraderConfig", "CtraderExecutionClient",
           "CtraderFatalError", "CtraderInstruments", "CtraderMarketDataClient",
           "CtraderOutcomeUnknownError", "CtraderRetryableError", "build_adapter",
           "capabilities", "create_adapter", "load_config"]
