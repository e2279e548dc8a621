"""Market data feeds for the trading node: one small async interface and two sources.

Every source of live or replayed market data (a replay of history, synthetic quotes, and later
each broker adapter's data client) is a :class:`MarketDataSource`: ``start()``, ``stop()`` and
``async for item in source`` giving :class:`~tradeloop.model.data.Bar`,
:class:`~tradeloop.model.data.QuoteTick` and :class:`~tradeloop.model.data.TradeTick` in the
order they become known.

:class:`ReplaySource` replays series in the backtest's order: a tick at its time, a bar at its
close (open time plus its length); at one instant, bars that close go first, the shorter first
(an hourly bar follows the last minute bar inside it), then ticks; remaining ties keep the order
the series were given in. It delivers as fast as the consumer pulls, or paced at ``speed`` times
real time on a monotonic clock. :class:`SyntheticQuotes` makes up seeded quotes for a dry run
with no broker and no network.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_SECOND, timeframe_label
from tradeloop.data.timeframes import bar_step_ns, parse_timeframe
from tradeloop.model.data import (
    Bar,
    BarSeries,
    IntArray,
    MarketSeries,
    QuoteSeries,
    QuoteTick,
    TradeSeries,
    TradeTick,
)

if TYPE_CHECKING:  # loading files and the store needs pandas and pyarrow: imported on use
    from tradeloop.data.store import DataStore

logger = logging.getLogger(__name__)

#: One market data item.
MarketData = Bar | QuoteTick | TradeTick
#: An awaitable sleep of some seconds (``asyncio.sleep``, or a fake one in tests).
Sleep = Callable[[float], Awaitable[None]]
#: A monotonic clock in seconds (``time.monotonic``).
MonotonicClock = Callable[[], float]
#: The wall clock in UTC nanoseconds (``time.time_ns``).
WallClock = Callable[[], int]

_CHUNK = 4096
_TICK_KINDS: dict[str, Literal["quote", "trade"]] = {
    "quote": "quote", "quotes": "quote", "trade": "trade", "trades": "trade",
}


@runtime_checkable
class MarketDataSource(Protocol):
    """Where a trading node's market data comes from.

    Attributes
    ----------
    name : str
        Shown in logs and status ("replay", "synthetic", a broker's name).
    """

    name: str

    async def start(self) -> None:
        """Open the source (connect, subscribe, load); calling it twice does nothing more."""
        ...

    async def stop(self) -> None:
        """Close the source; an iteration in progress ends at its next item."""
        ...

    def __aiter__(self) -> AsyncIterator[MarketData]:
        """The items in the order they become known."""
        ...


def _check_positive(value: float, what: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{what} must be a positive number, got {value!r}")


class _Pacer:
    # waits for offsets from its first wait on a monotonic clock, unless stopped meanwhile

    def __init__(self, clock: MonotonicClock, sleep: Sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self.stopped = asyncio.Event()
        self.anchor: float | None = None

    async def wait_until(self, offset_s: float) -> bool:  # False when stopped
        if self.anchor is None:
            self.anchor = self.clock()
        wait = self.anchor + offset_s - self.clock()
        if wait > 0:
            sleeper = asyncio.ensure_future(self.sleep(wait))
            stopper = asyncio.ensure_future(self.stopped.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sleeper, stopper):
                    task.cancel()
                await asyncio.gather(sleeper, stopper, return_exceptions=True)
        return not self.stopped.is_set()


# -- replay -------------------------------------------------------------------------------------


def _maker(series: MarketSeries, step_ns: int) -> Callable[[IntArray], list[MarketData]]:
    symbol = series.symbol
    kind: type[MarketData]
    tail: tuple[str, ...]
    if isinstance(series, BarSeries):
        kind, tail = Bar, (timeframe_label(step_ns),)
        cols = [series.ts, series.open, series.high, series.low, series.close, series.volume]
    elif isinstance(series, QuoteSeries):
        kind, tail = QuoteTick, ()
        cols = [series.ts, series.bid, series.ask, series.bid_size, series.ask_size]
    else:
        kind, tail = TradeTick, ("",)
        cols = [series.ts, series.price, series.size]

    def make(rows: IntArray) -> list[MarketData]:
        values = zip(*(col[rows].tolist() for col in cols), strict=True)
        return [tuple.__new__(kind, (symbol, *row, *tail)) for row in values]

    return make


def delivery_order(series: Sequence[MarketSeries]) -> tuple[IntArray, IntArray, IntArray]:
    """Merge several series in the order a backtest delivers their rows.

    Parameters
    ----------
    series : sequence of BarSeries, QuoteSeries or TradeSeries

    Returns
    -------
    series_index, row, when : ndarray of int64
        For each delivered item in order: which series, which row of it, and when it becomes
        known (a bar's close, ``ts`` plus its length; a tick's ``ts``), UTC nanoseconds.
        At one instant bars come before ticks, shorter bars before longer ones, and ties keep
        the order of ``series``.
    """
    if not series:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    sizes = [len(s) for s in series]
    steps = [bar_step_ns(s) if isinstance(s, BarSeries) else 0 for s in series]
    when = np.concatenate([np.asarray(s.ts, dtype=np.int64) + step
                           for s, step in zip(series, steps, strict=True)])
    rank = np.repeat(np.array([0 if isinstance(s, BarSeries) else 1 for s in series],
                              dtype=np.int8), sizes)
    step = np.repeat(np.array(steps, dtype=np.int64), sizes)
    order = np.lexsort((step, rank, when))  # stable: ties keep the order of the series
    index = np.repeat(np.arange(len(series), dtype=np.int64), sizes)[order]
    rows = np.concatenate([np.arange(n, dtype=np.int64) for n in sizes])[order]
    return index, rows, when[order]


class ReplaySource:
    """Replays bar and tick series as a market data source, in the backtest's order.

    Parameters
    ----------
    series : sequence of BarSeries, QuoteSeries or TradeSeries
        Each sorted by time (as loaders and the store give them). Bars come out as
        :class:`Bar` with ``timeframe`` set, at their close.
    speed : float, optional
        None or 0: as fast as the consumer pulls. 1: the data's own pace (a minute between two
        minute bars is a minute of waiting); 60: sixty times faster.
    max_gap_s : float, optional
        With ``speed``, never wait longer than this many seconds between two items (nights
        and weekends pass quickly); later items keep their pace from there on.
    name : str, default "replay"
    clock : callable, default time.monotonic
        The monotonic clock the pacing follows.
    sleep : callable, default asyncio.sleep
        How to wait; a test passes a fake one that moves a fake clock.

    Notes
    -----
    Pacing does not drift: each item is due at the wall time of the first item plus its data
    time since the first item (less the gaps cut by ``max_gap_s``) divided by ``speed``. A
    consumer that falls behind gets the late items at once until it catches up.
    Iterating is single-pass: the source is its own iterator, and iterating again resumes.
    """

    def __init__(self, series: Sequence[MarketSeries], speed: float | None = None, *,
                 max_gap_s: float | None = None, name: str = "replay",
                 clock: MonotonicClock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        for item in series:
            if not isinstance(item, BarSeries | QuoteSeries | TradeSeries):
                raise ConfigError(f"replay takes BarSeries, QuoteSeries or TradeSeries, got "
                                  f"{type(item).__name__}")
        if speed is not None and not (isinstance(speed, int | float) and speed >= 0
                                      and math.isfinite(speed)):
            raise ConfigError(f"replay speed must be 0 or more (0: as fast as possible, "
                              f"1: real time), got {speed!r}")
        if max_gap_s is not None:
            _check_positive(max_gap_s, "max_gap_s")
        self.name = name
        self.speed = float(speed) if speed else None
        self.max_gap_s = max_gap_s
        self.series = list(series)
        self._pacer = _Pacer(clock, sleep)
        self._index, self._rows, self._when = delivery_order(self.series)
        self._makers = [
            _maker(s, bar_step_ns(s) if isinstance(s, BarSeries) else 0) for s in self.series
        ]
        self._cursor = 0
        self._buffer: list[MarketData] = []
        self._buffer_start = 0
        self._skipped_ns = 0  # data time cut out of long gaps, up to the cursor
        self._longest_gap_ns = (
            None if max_gap_s is None or self.speed is None
            else int(max_gap_s * self.speed * NANOS_PER_SECOND)
        )
        self._started = False
        self._finished = False

    # -- construction helpers -------------------------------------------------------------

    @classmethod
    def from_store(cls, store: DataStore, symbols: Sequence[str], *, venue: str = "SIM",
                   start_ns: int | None = None, end_ns: int | None = None,
                   speed: float | None = None, max_gap_s: float | None = None,
                   name: str = "replay") -> ReplaySource:
        """Replay datasets of a :class:`~tradeloop.data.store.DataStore`.

        Parameters
        ----------
        store : DataStore
        symbols : sequence of str
            ``SYMBOL`` (its shortest stored bars), ``SYMBOL@1h`` (bars of that length),
            ``SYMBOL@quotes`` or ``SYMBOL@trades`` (ticks), each optionally ``VENUE/SYMBOL...``.
        venue : str, default "SIM"
            The venue of items that name none.
        start_ns, end_ns : int, optional
            Inclusive time range of stored rows (bar open times), UTC nanoseconds.
        speed, max_gap_s, name
            As for :class:`ReplaySource`.

        Raises
        ------
        DataError
            Nothing stored for an item (the message tells what is).
        ConfigError
            A malformed item or bar length.
        """
        loaded = [_read_stored(store, spec, venue, start_ns, end_ns) for spec in symbols]
        return cls(loaded, speed, max_gap_s=max_gap_s, name=name)

    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike[str]], *,
                   symbols: Sequence[str | None] | None = None, timezone: str = "UTC",
                   speed: float | None = None, max_gap_s: float | None = None,
                   name: str = "replay") -> ReplaySource:
        """Replay CSV or Parquet files of bars, quotes or trades (told apart by their columns).

        Parameters
        ----------
        paths : sequence of path
        symbols : sequence of str or None, optional
            The symbol of each file, in order; by default the file name, upper-cased.
        timezone : str, default "UTC"
            IANA timezone of naive timestamps.
        speed, max_gap_s, name
            As for :class:`ReplaySource`.

        Raises
        ------
        DataError
            A missing or bad file (see :func:`~tradeloop.data.load_bars` and
            :func:`~tradeloop.data.load_ticks`).
        ConfigError
            ``symbols`` not matching ``paths`` one to one, or an unknown timezone.
        """
        from tradeloop.data.loaders import load_bars
        from tradeloop.data.ticks import detect_kind, load_ticks

        names = list(symbols) if symbols is not None else [None] * len(paths)
        if len(names) != len(paths):
            raise ConfigError(f"replay got {len(paths)} files but {len(names)} symbols: give "
                              "one symbol per file, or none")
        loaded: list[MarketSeries] = []
        for path, symbol in zip(paths, names, strict=True):
            if detect_kind(path) == "bars":
                loaded.append(load_bars(path, symbol=symbol, timezone=timezone).bars)
            else:
                loaded.append(load_ticks(path, symbol=symbol, timezone=timezone).ticks)
        return cls(loaded, speed, max_gap_s=max_gap_s, name=name)

    # -- state ----------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """How many items the replay holds."""
        return int(self._when.shape[0])

    @property
    def delivered(self) -> int:
        """How many items were yielded so far."""
        return self._cursor

    @property
    def progress(self) -> float:
        """Items yielded over items in total, from 0.0 to 1.0 (1.0 for an empty replay)."""
        return self._cursor / self.total if self.total else 1.0

    @property
    def finished(self) -> bool:
        """True once every item was yielded."""
        return self._finished

    # -- the source -----------------------------------------------------------------------

    async def start(self) -> None:
        """Arm the replay (the pacing starts at the first item)."""
        if self._started:
            return
        self._started = True
        logger.info("replay started", extra={"fields": {
            "source": self.name, "items": self.total, "series": len(self.series),
            "speed": self.speed, "max_gap_s": self.max_gap_s}})

    async def stop(self) -> None:
        """End the replay: iteration stops at its next item (a pending wait ends at once)."""
        if not self._pacer.stopped.is_set():
            self._pacer.stopped.set()
            logger.info("replay stopped", extra={"fields": {
                "source": self.name, "delivered": self._cursor, "items": self.total}})

    def __aiter__(self) -> ReplaySource:
        return self

    async def __anext__(self) -> MarketData:
        if self._pacer.stopped.is_set() or self._cursor >= self.total:
            self._finish()
            raise StopAsyncIteration
        if not self._started:
            await self.start()
        position = self._cursor
        if self.speed is not None and not await self._pace(position):
            raise StopAsyncIteration
        item = self._item(position)
        self._cursor = position + 1
        return item

    def _finish(self) -> None:
        if not self._finished and self._cursor >= self.total:
            self._finished = True
            logger.info("replay finished", extra={"fields": {
                "source": self.name, "delivered": self._cursor}})

    async def _pace(self, position: int) -> bool:
        assert self.speed is not None
        gap = int(self._when[position] - self._when[position - 1]) if position else 0
        cut = max(0, gap - self._longest_gap_ns) if self._longest_gap_ns is not None else 0
        elapsed_ns = int(self._when[position] - self._when[0]) - self._skipped_ns - cut
        if not await self._pacer.wait_until(elapsed_ns / (self.speed * NANOS_PER_SECOND)):
            return False
        self._skipped_ns += cut
        return True

    def _item(self, position: int) -> MarketData:
        offset = position - self._buffer_start
        if not 0 <= offset < len(self._buffer):
            self._buffer_start = position
            self._buffer = self._build(position, min(position + _CHUNK, self.total))
            offset = 0
        return self._buffer[offset]

    def _build(self, lo: int, hi: int) -> list[MarketData]:
        index, rows = self._index[lo:hi], self._rows[lo:hi]
        out: list[MarketData | None] = [None] * (hi - lo)
        for k in np.unique(index).tolist():
            where = np.flatnonzero(index == k)
            for at, item in zip(where.tolist(), self._makers[k](rows[where]), strict=True):
                out[at] = item
        return out  # type: ignore[return-value]  # every slot is filled

    def __repr__(self) -> str:
        return (f"ReplaySource(name={self.name!r}, items={self.total}, "
                f"delivered={self._cursor}, speed={self.speed})")


def _read_stored(store: DataStore, spec: str, venue: str, start_ns: int | None,
                 end_ns: int | None) -> MarketSeries:
    from tradeloop.data.catalog import describe_stored

    text = spec.strip()
    name, at, length = text.partition("@")
    where = venue
    if "/" in name:
        where, name = name.split("/", 1)
    if not name or (at and not length):
        raise ConfigError(f"replay symbol {spec!r} is malformed: use SYMBOL, SYMBOL@1h, "
                          "SYMBOL@quotes or SYMBOL@trades, optionally VENUE/SYMBOL...")
    tick_kind = _TICK_KINDS.get(length.lower())
    if tick_kind is not None:
        return store.read_ticks(name, tick_kind, venue=where, start_ns=start_ns, end_ns=end_ns)
    if length:
        return store.read_bars(name, length, venue=where, start_ns=start_ns, end_ns=end_ns)
    lengths = [parse_timeframe(str(e.timeframe)) for e in store.catalog()
               if e.kind == "bars" and e.symbol == name and e.venue == where]
    if not lengths:
        raise DataError(f"no bars of {name!r} on {where} in the store at {store.root}; "
                        f"{describe_stored(store.root, name)}")
    return store.read_bars(name, min(lengths), venue=where, start_ns=start_ns, end_ns=end_ns)


# -- synthetic quotes ---------------------------------------------------------------------------


def _default_tick_size(price: float) -> float:
    # six significant digits: 1.08500 -> 0.00001, 145.200 -> 0.001, 30000.0 -> 0.1
    return float(10.0 ** (math.floor(math.log10(price)) - 5))


class SyntheticQuotes:
    """Made-up quotes for a dry run: a seeded geometric random walk per symbol.

    Parameters
    ----------
    symbols : sequence of str
        Quoted in turn, one quote each, round and round.
    seed : int, default 0
        The same seed gives the same prices and sizes.
    rate_per_s : float, default 10
        Quotes per second, all symbols together.
    start_ns : int, optional
        Time of the first quote on the virtual clock; by default the wall clock's current
        second. Ignored when ``realtime``.
    start_prices : mapping of str to float, optional
        First mid price per symbol; 100.0 for those not given.
    tick_sizes : mapping of str to float, optional
        Price grid per symbol; by default six significant digits of the start price
        (0.00001 for 1.085, 0.001 for 145.2).
    spread_ticks : int, default 2
        Ask minus bid, in ticks.
    volatility : float, default 0.0001
        Standard deviation of the mid's log change from one quote of a symbol to its next.
    realtime : bool, default False
        False: timestamps on a virtual clock advancing ``1 / rate_per_s`` per quote, delivered
        as fast as the consumer pulls. True: paced at ``rate_per_s`` on the monotonic clock,
        each quote stamped with the wall clock.
    limit : int, optional
        Stop after this many quotes; by default run until stopped.
    name : str, default "synthetic"
    clock, sleep, wall_clock : callable
        Monotonic clock, sleep and wall clock (UTC ns), replaceable in tests.
    """

    def __init__(self, symbols: Sequence[str], seed: int = 0, rate_per_s: float = 10.0, *,
                 start_ns: int | None = None, start_prices: Mapping[str, float] | None = None,
                 tick_sizes: Mapping[str, float] | None = None, spread_ticks: int = 2,
                 volatility: float = 0.0001, realtime: bool = False, limit: int | None = None,
                 name: str = "synthetic", clock: MonotonicClock = time.monotonic,
                 sleep: Sleep = asyncio.sleep, wall_clock: WallClock = time.time_ns) -> None:
        prices, sizes = dict(start_prices or {}), dict(tick_sizes or {})
        problems = [
            (not symbols or len(set(symbols)) != len(symbols),
             f"synthetic quotes need distinct symbols, got {list(symbols)!r}"),
            (not (isinstance(spread_ticks, int) and spread_ticks >= 1),
             f"spread_ticks must be a whole number of at least 1, got {spread_ticks!r}"),
            (not (math.isfinite(volatility) and 0 <= volatility < 0.5),
             "volatility (the per-quote standard deviation of log returns) must be between 0 "
             f"and 0.5, got {volatility!r}"),
            (limit is not None and limit < 0, f"limit must be 0 or more, got {limit!r}"),
            (bool((set(prices) | set(sizes)) - set(symbols)), "prices or tick sizes given for "
             f"symbols not quoted: {sorted((set(prices) | set(sizes)) - set(symbols))}"),
        ]
        for failed, message in problems:
            if failed:
                raise ConfigError(message)
        _check_positive(rate_per_s, "rate_per_s")
        self.name = name
        self.symbols = list(symbols)
        self.seed = seed
        self.rate_per_s = float(rate_per_s)
        self._period_ns = NANOS_PER_SECOND / Fraction(self.rate_per_s).limit_denominator(10**6)
        self.realtime = realtime
        self.limit = limit
        self.spread_ticks = spread_ticks
        self.volatility = float(volatility)
        self._mids: list[float] = []
        self._ticks: list[float] = []
        self._decimals: list[int] = []
        for symbol in self.symbols:
            mid = float(prices.get(symbol, 100.0))
            _check_positive(mid, f"start price of {symbol}")
            tick = float(sizes.get(symbol, _default_tick_size(mid)))
            _check_positive(tick, f"tick size of {symbol}")
            self._mids.append(mid)
            self._ticks.append(tick)
            self._decimals.append(max(0, -math.floor(math.log10(tick))) + 2)
        self._rng = np.random.default_rng(seed)
        self._shocks: list[float] = []
        self._sizes: list[int] = []
        self._pacer = _Pacer(clock, sleep)
        self._wall_clock = wall_clock
        self._start_ns = start_ns
        self._count = 0
        self._started = False

    @property
    def delivered(self) -> int:
        """How many quotes were yielded so far."""
        return self._count

    async def start(self) -> None:
        """Arm the generator (the virtual clock and the pacing start at the first quote)."""
        if self._started:
            return
        self._started = True
        if self._start_ns is None and not self.realtime:
            now = self._wall_clock()
            self._start_ns = now - now % NANOS_PER_SECOND
        logger.info("synthetic quotes started", extra={"fields": {
            "source": self.name, "symbols": self.symbols, "seed": self.seed,
            "rate_per_s": self.rate_per_s, "realtime": self.realtime}})

    async def stop(self) -> None:
        """Stop generating: iteration ends at its next quote."""
        if not self._pacer.stopped.is_set():
            self._pacer.stopped.set()
            logger.info("synthetic quotes stopped", extra={"fields": {
                "source": self.name, "delivered": self._count}})

    def __aiter__(self) -> SyntheticQuotes:
        return self

    async def __anext__(self) -> QuoteTick:
        if self._pacer.stopped.is_set() or (self.limit is not None and self._count >= self.limit):
            raise StopAsyncIteration
        if not self._started:
            await self.start()
        n = self._count
        if self.realtime:
            if not await self._pacer.wait_until(n / self.rate_per_s):
                raise StopAsyncIteration
            ts = self._wall_clock()
        else:
            assert self._start_ns is not None
            step = self._period_ns  # exact: no float error however many quotes
            ts = self._start_ns + n * step.numerator // step.denominator
        quote = self._next_quote(ts)
        self._count = n + 1
        return quote

    def _next_quote(self, ts: int) -> QuoteTick:
        if not self._shocks:
            self._shocks = self._rng.standard_normal(_CHUNK).tolist()
            self._sizes = self._rng.integers(1, 101, size=2 * _CHUNK).tolist()
            self._shocks.reverse()
            self._sizes.reverse()
        k = self._count % len(self.symbols)
        if self._count >= len(self.symbols):  # each symbol's first quote is at its start price
            sigma = self.volatility
            self._mids[k] *= math.exp(sigma * self._shocks.pop() - 0.5 * sigma * sigma)
        else:
            self._shocks.pop()
        tick, decimals = self._ticks[k], self._decimals[k]
        in_ticks = round(self._mids[k] / tick, 6)  # 1.085 / 0.00001 is 108499.99999999999
        bid_ticks = max(1, math.floor(in_ticks - self.spread_ticks / 2))
        bid = round(bid_ticks * tick, decimals)
        ask = round((bid_ticks + self.spread_ticks) * tick, decimals)
        return QuoteTick(self.symbols[k], ts, bid, ask, float(self._sizes.pop()),
                         float(self._sizes.pop()))

    def __repr__(self) -> str:
        return (f"SyntheticQuotes(symbols={self.symbols!r}, seed={self.seed}, "
                f"rate_per_s={self.rate_per_s}, realtime={self.realtime})")


__all__ = [
    "MarketData",
    "MarketDataSource",
    "ReplaySource",
    "SyntheticQuotes",
    "delivery_order",
]
