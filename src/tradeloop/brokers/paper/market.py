"""Market data for a served paper venue: a replay of stored bars or quotes at N times real
speed, or seeded synthetic quotes.

A source is anything with an ``async run(venue)`` that feeds the venue until it is done or
cancelled. A replay resumes where the venue's state file says it stopped: data at or before
the last time the venue processed for a symbol is skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

import numpy as np

from tradeloop.brokers.paper.config import MarketSourceConfig
from tradeloop.brokers.paper.venue import MarketData, PaperVenue
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.model.data import Bar, BarSeries, MarketSeries, QuoteSeries, QuoteTick, TradeTick
from tradeloop.model.instrument import Instrument

logger = logging.getLogger(__name__)


class MarketSource(Protocol):
    """Feeds a venue with market data."""

    async def run(self, venue: PaperVenue) -> None:
        """Feed ``venue`` until the data ends or the task is cancelled."""
        ...


def feed(venue: PaperVenue, item: MarketData) -> None:
    """Give one bar, quote or trade to the venue."""
    if isinstance(item, Bar):
        venue.on_bar(item)
    elif isinstance(item, QuoteTick):
        venue.on_quote(item)
    else:
        venue.on_trade(item)


def _rows(series: MarketSeries) -> Iterator[MarketData]:
    if isinstance(series, BarSeries):
        for i in range(len(series)):
            yield series.bar(i)
    elif isinstance(series, QuoteSeries):
        for i in range(len(series)):
            yield QuoteTick(series.symbol, int(series.ts[i]), float(series.bid[i]),
                            float(series.ask[i]), float(series.bid_size[i]),
                            float(series.ask_size[i]))
    else:
        for i in range(len(series)):
            yield TradeTick(series.symbol, int(series.ts[i]), float(series.price[i]),
                            float(series.size[i]))


class SeriesReplay:
    """Replays bar, quote or trade series in time order.

    Parameters
    ----------
    series : sequence of BarSeries, QuoteSeries or TradeSeries
    speed : float, default 1
        1 keeps the data's own pace, 60 plays a minute per second, 0 plays as fast as the
        venue takes it.
    max_sleep_s : float, optional
        Longest wait between two items (weekends in a replay at real speed).
    """

    def __init__(self, series: Sequence[MarketSeries], *, speed: float = 1.0,
                 max_sleep_s: float | None = None) -> None:
        if speed < 0 or not math.isfinite(speed):
            raise ConfigError(f"replay speed must be 0 or more, got {speed}")
        self.series = list(series)
        self.speed = speed
        self.max_sleep_s = max_sleep_s

    def items(self) -> Iterator[MarketData]:
        """Every item of every series, oldest first (ties in the order the series were given)."""
        return heapq.merge(*(_rows(s) for s in self.series), key=lambda item: item.ts)

    async def run(self, venue: PaperVenue) -> None:
        """Feed the venue, skipping what it already processed before a restart."""
        previous: int | None = None
        fed = 0
        for item in self.items():
            last = venue.last_data_ns(item.symbol)
            if last is not None and item.ts <= last:
                continue
            wait = 0.0
            if self.speed > 0 and previous is not None and item.ts > previous:
                wait = (item.ts - previous) / NANOS_PER_SECOND / self.speed
                if self.max_sleep_s is not None:
                    wait = min(wait, self.max_sleep_s)
            await asyncio.sleep(wait)  # also yields to the server between items
            previous = item.ts
            feed(venue, item)
            fed += 1
        logger.info("market data replay finished", extra={"fields": {"items": fed}})


class SyntheticQuotes:
    """Seeded random-walk quotes: the same seed gives the same prices.

    Parameters
    ----------
    symbol : str
    tick_size : Decimal
        Quotes are on the tick; the spread is ``spread_ticks`` ticks.
    seed : int
    start_price : float
    volatility : float
        Standard deviation of one step's log return.
    spread_ticks : int
    interval_s : float
        Seconds between quotes.
    count : int, optional
        Number of quotes; None for endless.
    start_ns : int, optional
        Time of the first quote, later ones ``interval_s`` apart; None stamps quotes with the
        wall clock.
    """

    def __init__(
        self, symbol: str, tick_size: Decimal, *, seed: int = 0, start_price: float = 100.0,
        volatility: float = 0.0005, spread_ticks: int = 2, interval_s: float = 1.0,
        count: int | None = None, start_ns: int | None = None,
    ) -> None:
        self.symbol = symbol
        self.tick = float(tick_size)
        exponent = tick_size.normalize().as_tuple().exponent
        self._decimals = max(0, -exponent) if isinstance(exponent, int) else 8
        self.seed = seed
        self.start_price = start_price
        self.volatility = volatility
        self.spread_ticks = spread_ticks
        self.interval_s = interval_s
        self.count = count
        self.start_ns = start_ns

    def quotes(self) -> Iterator[QuoteTick]:
        """The quotes, generated lazily."""
        rng = np.random.default_rng(self.seed)
        mid = self.start_price
        step_ns = round(self.interval_s * NANOS_PER_SECOND)
        decimals = self._decimals
        i = 0
        while self.count is None or i < self.count:
            bid_ticks = math.floor((mid - self.spread_ticks * self.tick / 2) / self.tick)
            bid = round(max(bid_ticks, 1) * self.tick, decimals)
            ask = round(bid + self.spread_ticks * self.tick, decimals)
            ts = time.time_ns() if self.start_ns is None else self.start_ns + i * step_ns
            yield QuoteTick(self.symbol, ts, bid, ask, 1_000_000.0, 1_000_000.0)
            mid *= math.exp(self.volatility * float(rng.standard_normal()))
            i += 1

    async def run(self, venue: PaperVenue) -> None:
        """Feed the venue a quote every ``interval_s`` seconds."""
        for quote in self.quotes():
            feed(venue, quote)
            await asyncio.sleep(self.interval_s)


def market_source_from_config(
    config: MarketSourceConfig, instruments: Mapping[str, Instrument]
) -> MarketSource | None:
    """The source a server config names, with its data loaded (None for ``kind="none"``).

    Raises
    ------
    ConfigError
        For a missing path, store root, symbol or timeframe.
    DataError
        When the data cannot be loaded.
    """
    kind = config.kind
    if kind == "none":
        return None
    if kind == "synthetic":
        symbol = config.symbol or (sorted(instruments)[0] if instruments else None)
        if symbol is None or symbol not in instruments:
            raise ConfigError(f"synthetic market data needs the symbol of one of the venue's "
                              f"instruments, got {symbol!r}")
        return SyntheticQuotes(
            symbol, instruments[symbol].tick_size, seed=config.seed,
            start_price=config.start_price, volatility=config.volatility,
            spread_ticks=config.spread_ticks, interval_s=config.interval_s, count=config.count,
        )
    series: MarketSeries
    if kind in ("bars", "quotes"):
        if config.path is None:
            raise ConfigError(f"market data of kind {kind!r} needs a path")
        if kind == "bars":
            from tradeloop.data.loaders import load_bars

            series = load_bars(config.path, symbol=config.symbol).bars
        else:
            from tradeloop.data.ticks import load_ticks

            series = load_ticks(config.path, symbol=config.symbol, kind="quote").ticks
    else:
        if config.store_root is None or config.symbol is None:
            raise ConfigError(f"market data of kind {kind!r} needs store_root and symbol")
        from tradeloop.data.store import DataStore

        store = DataStore(config.store_root)
        if kind == "store_bars":
            if config.timeframe is None:
                raise ConfigError("market data of kind 'store_bars' needs a timeframe")
            series = store.read_bars(config.symbol, config.timeframe, venue=config.store_venue)
        else:
            series = store.read_ticks(config.symbol, "quote", venue=config.store_venue)
    return SeriesReplay([series], speed=config.speed)
