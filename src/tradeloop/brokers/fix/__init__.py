"""The FIX adapter (FIX 4.4, and 4.2 for older counterparties), over simplefix.

The session layer: :mod:`.config` (settings), :mod:`.store` (sequence numbers and sent
messages, persisted), :mod:`.wire` (encoding and the pure session rules), :mod:`.protocol` (the
sequence and admin-message logic of one connection) and :mod:`.session` (``FixSession``:
asyncio connection, timers, reconnection).

The application layer: :mod:`.client` (``FixClient``: routing, request/response waits, the
catch-up barrier), :mod:`.parse` and :mod:`.parse_data` (FIX messages to our orders, reports
and market data), :mod:`.orders` (``FixOrderBook``: what the venue reported, persisted),
:mod:`.errors` (reject reasons to our error tree), :mod:`.execution`
(``FixExecutionClient``), :mod:`.account` (positions and balances asked of the venue) and
:mod:`.data` (``FixMarketDataClient``, ``FixInstrumentProvider``).

:func:`create_adapter` is the factory registered as ``"fix"`` in
:data:`tradeloop.brokers.base.ADAPTERS`; ``[broker.settings]`` is described in :mod:`.config`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.fix.client import FixClient
from tradeloop.brokers.fix.config import FixAdapterConfig, FixSessionConfig, adapter_config
from tradeloop.brokers.fix.data import FixInstrumentProvider, FixMarketDataClient
from tradeloop.brokers.fix.execution import FixExecutionClient, venue_capabilities
from tradeloop.brokers.fix.store import store_path
from tradeloop.core.errors import ConfigError

#: The name this adapter is registered under.
NAME = "fix"


def book_path(session: FixSessionConfig) -> Path:
    """Where the order book of ``session`` lives: in its session store's journal, so that the
    session's durable writes carry the book's."""
    return store_path(session.store_dir, session.store_name)


def build_adapter(config: FixAdapterConfig, *,
                  now_ns: Callable[[], int] = time.time_ns) -> BrokerAdapter:
    """The FIX adapter for ``config`` (nothing connects until its clients do).

    Parameters
    ----------
    config : FixAdapterConfig
    now_ns : callable, optional
        The clock of the messages' times.
    """
    trading = FixClient(config.session, logon_wait_s=config.logon_wait_s,
                        request_timeout_s=config.request_timeout_s, now_ns=now_ns)
    instruments = FixInstrumentProvider(config, trading)
    execution = FixExecutionClient(config, trading, book_path(config.session),
                                   tick_of=instruments.tick, now_ns=now_ns)
    market = None
    if config.capabilities.quotes:
        quotes = trading if config.md_session is None else FixClient(
            config.md_session, logon_wait_s=config.logon_wait_s,
            request_timeout_s=config.request_timeout_s, now_ns=now_ns)
        market = FixMarketDataClient(config, quotes, venue_capabilities(config),
                                     on_quote=execution.on_quote)
    return BrokerAdapter(NAME, execution, instruments, market)


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The FIX adapter configured by ``[broker.settings]``; sessions keep their state under
    ``home/fix`` unless their ``store_dir`` says otherwise.

    Raises
    ------
    ConfigError
        A variant (``fix:x``), or settings the adapter refuses (named with their path).
    """
    if variant:
        raise ConfigError(f"broker.name: the FIX adapter has no variants (got fix:{variant}); "
                          "name the counterparty in [broker.settings.session]")
    return build_adapter(adapter_config(settings, home))


__all__ = ["NAME", "FixAdapterConfig", "book_path", "build_adapter", "create_adapter"]
