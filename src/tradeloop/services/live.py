"""The live node use case: connect the configured broker, learn its instruments and account,
and run the same kernel, strategies, risk gate and audit database as a paper node.

Going from paper to live is a change of settings only::

    mode = "live"
    [broker]
    name = "fix"                  # or "ccxt:binance", "paper" (a served paper venue)...
    [broker.settings]             # checked by the adapter
    ...
    [data]
    source = "broker"
    symbols = ["EURUSD@1m"]       # bars from the broker (built from its quotes if need be)

A node may also take its prices from another feed (``source = "venue"`` or ``"replay"``) while
its orders go to the broker: many FIX venues route orders and serve no market data.

``--dry-run`` takes the broker's market data and account but fills orders on an in-process paper
venue, so nothing reaches the broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter, create_adapter, interactive_login
from tradeloop.brokers.market import BrokerMarketData, Wanted
from tradeloop.brokers.paper import InProcessPaperClient, PaperVenue
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig
from tradeloop.core.clock import LiveClock
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import get_logger
from tradeloop.data.feeds import MarketDataSource
from tradeloop.engine.live import VenueFeed
from tradeloop.execution.ports import LiveExecutionClient
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType
from tradeloop.services.node import (
    PAPER_VENUE,
    Built,
    Companion,
    PaperSession,
    assemble_node,
    node_kernel,
    paper_source,
    run_session,
)

log = get_logger(__name__)


def broker_adapter(config: NodeConfig, home: Path) -> BrokerAdapter:
    """The adapter named in ``[broker]``, its state kept under ``home/brokers/NODE``."""
    if config.broker is None:
        raise ConfigError("broker: a live node needs a [broker] table with the adapter's name")
    return create_adapter(config.broker.name, config.broker.settings,
                          home / "brokers" / config.name)


def node_symbols(config: NodeConfig) -> list[str]:
    """The symbols a live node's data and strategies name."""
    wanted = ([Wanted.parse(w).symbol for w in config.data.symbols]
              if config.data.source == "broker" else [])
    return list(dict.fromkeys(wanted + [s for spec in config.strategies for s in spec.symbols]))


async def build_live_node(config: NodeConfig, home: Path, adapter: BrokerAdapter,
                          dry_run: bool = False) -> Built:
    """Connect ``adapter`` and build a node trading through it (or, with ``dry_run``, on an
    in-process paper venue fed by its market data)."""
    from_broker = config.data.source == "broker"
    if from_broker and adapter.market_data is None:
        raise ConfigError(f"data.source: broker {adapter.name} serves no market data; take "
                          "it from another feed ([data] source = \"venue\" or \"replay\")")
    source: MarketDataSource
    series: list[Any] = []
    if from_broker:
        assert adapter.market_data is not None
        source = BrokerMarketData(adapter.market_data, config.data.symbols, adapter.name)
    else:
        source, series = paper_source(config, home)
    await adapter.execution.connect()
    venue = adapter.execution.venue
    symbols = list(dict.fromkeys([s.symbol for s in series] + node_symbols(config)))
    if not symbols:
        raise ConfigError("no instruments: name them in [data] symbols = [\"EURUSD@1m\"]")
    instruments = [replace(i, venue=PAPER_VENUE if dry_run else venue)
                   for i in await adapter.instruments.instruments(symbols)]
    report = await adapter.execution.account()
    cash = config.account.type == "cash"
    if cash:
        leverage = Decimal(1)
    elif "leverage" in config.account.model_fields_set or report.leverage is None:
        leverage = config.account.leverage
    else:
        leverage = report.leverage  # the broker's (MT5 and cTrader report it)
    account = Account(report.account_id or config.name, report.currency,
                      AccountType.CASH if cash else AccountType.MARGIN, report.balance, leverage)
    log.info("broker connected", extra={"fields": {
        "broker": adapter.name, "account": report.account_id, "currency": report.currency,
        "balance": str(report.balance), "leverage": str(leverage),
        "instruments": len(instruments)}})
    kernel, strategies = node_kernel(config, LiveClock(), account, instruments)
    kernel.risk.on_account_report(report)  # what the broker counts (pattern day trades)
    client: LiveExecutionClient = adapter.execution
    paper = None
    if dry_run:
        paper = PaperVenue(home / "paper" / f"{config.name}.dry-run.venue.db", instruments,
                           account=replace(account, account_id="PAPER-001"),
                           config=SimulatedVenueConfig(venue=PAPER_VENUE))
        client = InProcessPaperClient(paper, owner=config.name)
    # a broker that prices orders from the node's data (marketable limits for venues without
    # market orders) sees each item first, as the paper venue does
    feed: VenueFeed | None = paper if dry_run else (
        adapter.execution if isinstance(adapter.execution, VenueFeed) else None)
    return assemble_node(config, home, kernel, strategies, source, client, venue_feed=feed)


def run_live(config: NodeConfig, home: Path | None = None, beside: tuple[Companion, ...] = (),
             dry_run: bool = False) -> PaperSession:
    """Run a live node until it is stopped (SIGINT/SIGTERM) or its broker's data ends.

    Parameters
    ----------
    beside : tuple of Companion
        Run in the node's loop (the API server, notifications), as for paper nodes.
    dry_run : bool
        Broker data and account, simulated fills.
    """
    if config.mode != "live":
        raise ConfigError("tradeloop live needs mode = \"live\" in the node's file")
    home = home or home_dir()
    adapter = broker_adapter(config, home)

    async def build() -> Built:
        return await build_live_node(config, home, adapter, dry_run)

    return run_session(config, home, build, beside, close=adapter.close)


def broker_login(name: str, settings_path: Path | None, *, ask: Callable[[str], str],
                 show: Callable[[str], None], home: Path | None = None) -> None:
    """Log in to broker ``name`` with a person at the keyboard (see
    :func:`tradeloop.brokers.base.interactive_login`); its tokens land under the home, where
    that broker's nodes find them.

    Raises
    ------
    ConfigError
        A broker without an interactive login, unreadable settings, or the broker's refusal.
    """
    from tradeloop.services.data import load_broker_settings

    settings = load_broker_settings(settings_path) if settings_path is not None else {}
    interactive_login(name, settings, home or home_dir(), ask, show)


__all__ = ["broker_adapter", "broker_login", "build_live_node", "node_symbols", "run_live"]
