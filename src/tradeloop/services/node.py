"""The paper and live node use case: build a trading node from its configuration, wire the audit
database to it, run it, and record the market data it saw so ``replay`` can re-run it through
the backtester."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tradeloop.brokers.paper import (
    InProcessPaperClient,
    PaperClientConfig,
    PaperExecutionClient,
    PaperMarketDataClient,
    PaperVenue,
)
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import LiveClock, TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import log_context
from tradeloop.data.feeds import MarketDataSource, ReplaySource, SyntheticQuotes
from tradeloop.data.instruments import instrument_book
from tradeloop.data.store import DataStore
from tradeloop.engine.kernel import Kernel
from tradeloop.engine.live import NodeSettings, SessionSummary, TradingNode, VenueFeed
from tradeloop.engine.streams import price_decimals
from tradeloop.execution.ports import IntentJournal, LiveExecutionClient
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.data import Bar, BarSeries, QuoteSeries, QuoteTick, TradeTick
from tradeloop.model.enums import AccountType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditRecorder, AuditStore, open_database
from tradeloop.services.backtest import risk_rules
from tradeloop.services.risk import kill_settings, kill_switch
from tradeloop.services.strategies import resolve_strategy

if TYPE_CHECKING:
    from tradeloop.services.control import NodeControl

PAPER_VENUE = "PAPER"


class AuditNodeStore:
    """The audit database as the node sees it: this node's orders and fills only."""

    def __init__(self, store: AuditStore, node_name: str, kernel_orders: Callable[[str], Any]
                 ) -> None:
        self.store = store
        self.journal: IntentJournal = store
        self._name = node_name
        self._recorder = AuditRecorder(store, orders=kernel_orders)

    def _runs(self) -> set[str]:
        return {r.run_id for r in self.store.runs()
                if isinstance(r.config, dict) and r.config.get("name") == self._name}

    def orders(self) -> list[Order]:
        """Every order of this node's runs, in its latest recorded state."""
        return [o for run in sorted(self._runs()) for o in self.store.orders(run_id=run)]

    def fills(self) -> list[ev.OrderFilled]:
        """Every fill of this node's runs, oldest first."""
        fills = [f for run in self._runs() for f in self.store.fills(run_id=run)]
        return sorted(fills, key=lambda f: (f.ts, f.trade_id))

    def subscribe(self, bus: MessageBus) -> None:
        """Record order and position events from now on."""
        self._recorder.subscribe(bus)

    def record_snapshot(self, ts: int, balance: Decimal, equity: Decimal, currency: str) -> None:
        """Record the account's figures."""
        self.store.record_snapshot(ev.AccountState(
            ts=ts, account_id=self._name, currency=currency, balance=balance, equity=equity,
            margin_used=Decimal(0)))


class MarketRecorder:
    """Keeps the market data a node saw and writes it under the run's folder for ``replay``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._bars: dict[tuple[str, str], list[Bar]] = {}
        self._quotes: dict[str, list[QuoteTick]] = {}

    def add(self, item: Bar | QuoteTick | TradeTick) -> None:
        """Keep one item."""
        if isinstance(item, Bar):
            self._bars.setdefault((item.symbol, item.timeframe), []).append(item)
        elif isinstance(item, QuoteTick):
            self._quotes.setdefault(item.symbol, []).append(item)

    def all_quotes(self) -> dict[str, list[QuoteTick]]:
        """The quotes kept, by symbol, in arrival order (the live lists: read, never change)."""
        return self._quotes

    def all_bars(self) -> dict[tuple[str, str], list[Bar]]:
        """The bars kept, by (symbol, timeframe) (the live lists: read, never change)."""
        return self._bars

    def flush(self) -> None:
        """Write what was kept (atomically, through the data store)."""
        import numpy as np

        store = DataStore(self.folder)
        for (symbol, timeframe), bars in self._bars.items():
            if not bars or not timeframe:
                continue
            ts = np.array([b.ts for b in bars], dtype=np.int64)
            o, h, lo, c, v = (np.array([b[k] for b in bars], dtype=np.float64)
                              for k in range(2, 7))
            store.write_bars(BarSeries(symbol, ts, o, h, lo, c, v), timeframe=timeframe)
        for symbol, quotes in self._quotes.items():
            ts = np.array([q.ts for q in quotes], dtype=np.int64)
            bid, ask, bid_size, ask_size = (np.array([q[k] for q in quotes], dtype=np.float64)
                                            for k in range(2, 6))
            store.write_ticks(QuoteSeries(symbol, ts, bid, ask, bid_size, ask_size))


@dataclass
class PaperSession:
    """A finished paper session."""

    run_id: str
    summary: SessionSummary
    market_folder: Path


def paper_source(config: NodeConfig, home: Path
                 ) -> tuple[MarketDataSource, list[BarSeries | Any]]:
    """The node's data source as ``[data]`` says (replay, synthetic or the served venue's),
    and the series a replay will play."""
    data = config.data
    speed = data.speed or None
    if data.source == "replay":
        parts: list[ReplaySource] = []
        if data.files:
            parts.append(ReplaySource.from_files(config.data_files(), speed=speed,
                                                 max_gap_s=data.max_gap_s))
        if data.symbols:
            parts.append(ReplaySource.from_store(DataStore(home / "store"), data.symbols,
                                                 speed=speed, max_gap_s=data.max_gap_s))
        series = [s for p in parts for s in p.series]
        return ReplaySource(series, speed=speed, max_gap_s=data.max_gap_s), series
    if data.source == "synthetic" and data.synthetic is not None:
        syn = data.synthetic
        return SyntheticQuotes(syn.symbols, seed=syn.seed, rate_per_s=syn.rate_per_s,
                               start_prices=syn.start_prices or None,
                               tick_sizes=syn.tick_sizes or None,
                               spread_ticks=syn.spread_ticks, volatility=syn.volatility,
                               realtime=syn.realtime), []
    if data.source == "venue":
        if not config.venue.url:
            raise ConfigError("data.source = 'venue' needs [venue] url: the served paper venue "
                              "streams its market data to the nodes")
        return VenueMarketData(PaperMarketDataClient(_client_config(config))), []
    raise ConfigError(f"data.source = {data.source!r} is not available for paper nodes: use "
                      "replay, synthetic or venue")


def _client_config(config: NodeConfig) -> PaperClientConfig:
    return PaperClientConfig(url=config.venue.url, token=config.venue.token, owner=config.name,
                             venue=PAPER_VENUE)


class VenueMarketData:
    """The served paper venue's market data stream as the node's data source."""

    name = "venue"

    def __init__(self, client: PaperMarketDataClient) -> None:
        self._client = client

    async def start(self) -> None:
        """Nothing to do: the stream opens on first use."""

    async def stop(self) -> None:
        """Close the stream."""
        await self._client.close()

    def __aiter__(self) -> AsyncIterator[Bar | QuoteTick | TradeTick]:
        """The venue's bars and ticks as they come."""
        return self._client.__aiter__()


def _instruments(config: NodeConfig, home: Path, series: list[Any]) -> list[Instrument]:
    book = instrument_book(home)
    symbols = list(dict.fromkeys(
        [s.symbol for s in series]
        + (config.data.synthetic.symbols if config.data.synthetic else [])
        + [sym for spec in config.strategies for sym in spec.symbols]))
    if not symbols:
        raise ConfigError("no instruments: name the symbols each strategy trades "
                          "([[strategies]] symbols = [...]) or replay data that has them")
    found = []
    for symbol in symbols:
        if symbol in book:
            inst = book.instrument(symbol)
        else:
            sample = next((s for s in series if s.symbol == symbol), None)
            inst = Instrument.guess(symbol, price_decimals(sample) if sample is not None else 5)
        found.append(replace(inst, venue=PAPER_VENUE))
    return found


def build_node(config: NodeConfig, home: Path | None = None,
               store: AuditStore | None = None, *, record_run: bool = True,
               wall_clock: bool = False, kill_file: Path | None = None,
               cancel_on_kill: bool | None = None, flatten_on_kill: bool | None = None,
               ) -> tuple[TradingNode, AuditStore, str, Path]:
    """Build a paper node from its settings.

    Parameters
    ----------
    record_run : bool
        Record a run in the audit database (not for ``doctor``, which only looks).
    wall_clock : bool
        Use the wall clock even for replayed data (manual orders).
    kill_file, cancel_on_kill, flatten_on_kill : optional
        Override the kill switch settings of the config's ``[risk]`` table.

    Returns
    -------
    (node, store, run_id, market folder)
    """
    if config.mode != "paper":
        raise ConfigError("build_node builds paper nodes; live nodes are built by "
                          "tradeloop.services.live once their broker is connected")
    home = home or home_dir()
    source, series = paper_source(config, home)
    instruments = _instruments(config, home, series)
    account = Account(f"{config.name}", config.account.currency.upper(),
                      AccountType.CASH if config.account.type == "cash" else AccountType.MARGIN,
                      config.account.cash, config.account.leverage)
    replay = config.data.source == "replay" and not wall_clock
    kernel, strategies = node_kernel(config, TestClock() if replay else LiveClock(), account,
                                     instruments)
    client: LiveExecutionClient
    venue_feed = None
    if config.venue.url:
        client = PaperExecutionClient(_client_config(config))
    else:
        venue = PaperVenue(home / "paper" / f"{config.name}.venue.db", instruments,
                           account=replace(account, account_id="PAPER-001"),
                           config=SimulatedVenueConfig(venue=PAPER_VENUE))
        client = InProcessPaperClient(venue, owner=config.name)
        venue_feed = venue
    return assemble_node(
        config, home, kernel, strategies, source, client, store, record_run=record_run,
        replay=replay, venue_feed=venue_feed, kill_file=kill_file,
        cancel_on_kill=cancel_on_kill, flatten_on_kill=flatten_on_kill)


def node_kernel(config: NodeConfig, clock: TestClock | LiveClock, account: Account,
                instruments: Sequence[Instrument]) -> tuple[Kernel, list[str]]:
    """The kernel of a node: its instruments, the risk rules of ``[risk]`` and its strategies.

    Returns
    -------
    (kernel, strategy ids)
    """
    kernel = Kernel(clock, account)
    for inst in instruments:
        kernel.add_instrument(inst)
    kernel.risk.add_rules(risk_rules(config.risk))  # the same rules as 'backtest --risk'
    strategies = []
    for spec in config.strategies:
        cls = resolve_strategy(spec.strategy)
        strategy = cls(spec.id, **spec.params) if spec.id else cls(**spec.params)
        symbols = tuple(spec.symbols) or tuple(i.symbol for i in instruments)
        kernel.add_strategy(strategy, symbols)
        strategies.append(strategy.id)
    return kernel, strategies


def assemble_node(config: NodeConfig, home: Path, kernel: Kernel, strategies: list[str],
                  source: MarketDataSource, client: LiveExecutionClient,
                  store: AuditStore | None = None, *, record_run: bool = True,
                  replay: bool = False, venue_feed: VenueFeed | None = None,
                  settle_orders: bool | None = None, kill_file: Path | None = None,
                  cancel_on_kill: bool | None = None, flatten_on_kill: bool | None = None,
                  ) -> tuple[TradingNode, AuditStore, str, Path]:
    """A trading node on ``kernel``, with its audit database, run, market recorder and kill
    switch (paper and live alike).

    ``venue_feed`` sees every market data item before the strategies (the in-process paper
    venue, or a broker that prices its orders from the node's data); ``settle_orders`` waits
    for the venue's answers after each item (default: when the feed is a paper venue).

    Returns
    -------
    (node, store, run_id, market folder)
    """
    if store is None:
        url = config.database.url.get_secret_value() or None
        store = AuditStore(open_database(url, home, durability=config.database.durability))
    run_id = (store.start_run(config.mode, config=config.redacted(), strategy_ids=strategies)
              if record_run else "")
    market = home / "runs" / run_id / "market"
    recorder = MarketRecorder(market)
    kill = kill_settings(config, home)
    node = TradingNode(
        kernel, source, client,
        NodeSettings(name=config.name, replay_clock=replay,
                     settle_orders=isinstance(venue_feed, PaperVenue) if settle_orders is None
                     else settle_orders,
                     cancel_open_orders_on_stop=config.cancel_open_orders_on_stop,
                     kill_switch=kill_switch(config, home, kill_file),
                     cancel_on_kill=kill.cancel_on_kill if cancel_on_kill is None
                     else cancel_on_kill,
                     flatten_on_kill=kill.flatten_on_kill if flatten_on_kill is None
                     else flatten_on_kill),
        store=AuditNodeStore(store, config.name, kernel.cache.order),
        venue_feed=venue_feed, on_market=recorder.add,
    )
    node.market_recorder = recorder  # type: ignore[attr-defined]
    return node, store, run_id, market


class Companion(Protocol):
    """Something that runs beside a node in its event loop (the API server)."""

    async def run(self, control: NodeControl) -> None:
        """Run until :meth:`stop`."""
        ...

    def stop(self) -> None:
        """Finish soon."""
        ...


def run_paper(config: NodeConfig, home: Path | None = None,
              beside: Sequence[Companion] = ()) -> PaperSession:
    """Run a paper node until its data ends or it is stopped (SIGINT/SIGTERM).

    Parameters
    ----------
    beside : sequence of Companion
        Each runs in the node's event loop from its start to its end, with the node's
        :class:`~tradeloop.services.control.NodeControl` (the API of ``tradeloop paper
        --api``, the notifications).
    """
    built = build_node(config, home)

    async def build() -> tuple[TradingNode, AuditStore, str, Path]:
        return built

    return run_session(config, home or home_dir(), build, beside)


Built = tuple[TradingNode, AuditStore, str, Path]


def run_session(config: NodeConfig, home: Path, build: Callable[[], Awaitable[Built]],
                beside: Sequence[Companion] = (),
                close: Callable[[], Awaitable[None]] | None = None) -> PaperSession:
    """Build a node in its event loop, run it with its companions, and record the run's end.

    Parameters
    ----------
    build : callable
        Returns the node, its store, run id and market folder (a live node connects its
        broker first, in the loop it will trade in).
    close : callable, optional
        Awaited after the node stopped (a live node's broker disconnects).
    """
    state: dict[str, Any] = {}

    async def session() -> SessionSummary:
        try:
            node, store, run_id, market = await build()
            state.update(node=node, store=store, run_id=run_id, market=market)
            # what start-up left on the heap stays for the session: keep it out of the
            # collector's full scans, which otherwise pause the loop for tens of milliseconds
            gc.collect()
            gc.freeze()
            with log_context(run_id=run_id, node=config.name):
                if not beside:
                    return await node.run()
                return await _with_companions(config, home, node, store, run_id, beside)
        finally:
            if close is not None:
                await close()

    status = "failed"
    try:
        summary = asyncio.run(session())
        status = "completed"
    finally:
        node = state.get("node")
        if node is not None:
            node.market_recorder.flush()
            if isinstance(node.venue_feed, PaperVenue):
                node.venue_feed.close()  # saves its marks; the state file is free for the next run
            state["store"].end_run(state["run_id"], status)
    return PaperSession(state["run_id"], summary, state["market"])


async def _with_companions(config: NodeConfig, home: Path, node: TradingNode, store: AuditStore,
                           run_id: str, beside: Sequence[Companion]) -> SessionSummary:
    from tradeloop.services.control import NodeControl

    control = NodeControl(config, store, node, run_id, home)
    tasks = [asyncio.create_task(companion.run(control)) for companion in beside]
    try:
        return await node.run()
    finally:
        for companion in beside:
            companion.stop()
        for task in tasks:
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:  # a companion's failure must not hide the session's end
                logging.getLogger(__name__).exception("companion failed")


__all__ = ["AuditNodeStore", "Companion", "MarketRecorder", "PaperSession", "assemble_node",
           "build_node", "node_kernel", "paper_source", "run_paper", "run_session"]
