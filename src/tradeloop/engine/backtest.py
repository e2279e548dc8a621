"""Backtest mode: the kernel on a test clock, fed by historical bars and ticks, filled by the
simulated venue. A thin shell: all trading logic lives in the kernel and the venue."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.brokers.simulated.venue import SimulatedVenue, SimulatedVenueConfig
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.data.timeframes import UTC_MIDNIGHT
from tradeloop.engine.kernel import BarSubscription, Kernel, StrategyFailure, StrategyRunner
from tradeloop.engine.streams import (
    BarCache,
    MergedRows,
    Row,
    Stream,
    StreamKind,
    load_chunks,
    make_stream,
    marks_on,
    merged_rows,
    price_decimals,
    python_values,
    union_of_times,
    with_open_turns,
)
from tradeloop.engine.waking import wake_mask, walk_waking_bars
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.data import Bar, BarSeries, MarketSeries
from tradeloop.model.enums import AccountType, OmsType
from tradeloop.model.instrument import Instrument, to_decimal
from tradeloop.model.orders import Order
from tradeloop.model.position import Position
from tradeloop.portfolio.curve import equity_and_exposure
from tradeloop.portfolio.portfolio import BookEntry
from tradeloop.strategy.base import Strategy

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ProgressHandler = Callable[[int, int], None]
_CHUNK = 65_536


@dataclass(frozen=True)
class BacktestConfig:
    """Settings of one backtest.

    Attributes
    ----------
    cash : Decimal
        Starting balance in ``currency``.
    currency : str
    account_type : AccountType
        MARGIN (default, may short) or CASH.
    leverage : Decimal
    oms : OmsType
    venue : SimulatedVenueConfig
        Commission, slippage, intrabar conflict policy, volume limit.
    fx_rates : mapping
        Fixed rates for currencies no instrument in the run converts (``{"JPY/USD": 0.0067}``).
    precompute_indicators : bool
        Compute indicators with their vectorised twins up front (same values, faster); False
        updates them bar by bar as in live trading.
    """

    cash: Decimal = Decimal(100_000)
    currency: str = "USD"
    account_type: AccountType = AccountType.MARGIN
    leverage: Decimal = Decimal(1)
    oms: OmsType = OmsType.NETTING
    venue: SimulatedVenueConfig = field(default_factory=SimulatedVenueConfig)
    fx_rates: Mapping[str, float | Decimal] = field(default_factory=dict)
    precompute_indicators: bool = True


@dataclass
class BacktestRun:
    """Everything a backtest produced, for analytics and reports."""

    config: BacktestConfig
    instruments: dict[str, Instrument]
    series: list[MarketSeries]
    timeline: IntArray
    equity: FloatArray
    in_market: npt.NDArray[np.bool_]
    orders: list[Order]
    fills: list[ev.OrderFilled]
    positions: list[Position]
    book: list[BookEntry]
    marks: dict[str, FloatArray]
    to_account: dict[str, FloatArray]
    start_equity: Decimal
    final_balance: Decimal
    final_equity: Decimal
    failures: list[StrategyFailure]
    strategies: dict[str, dict[str, object]]
    bars: int
    elapsed: float

    @property
    def symbols(self) -> list[str]:
        """The symbols the run had data for, in the order it was added."""
        return list(dict.fromkeys(s.symbol for s in self.series))


class BacktestEngine:
    """Runs strategies over historical bars.

    Parameters
    ----------
    config : BacktestConfig, optional
    bar_cache : BarCache, optional
        Keeps the bars built by this run for later runs over the same series, and gives them
        back to those runs (for many runs of one data set, as an optimisation's trials).
    """

    def __init__(self, config: BacktestConfig | None = None, *,
                 bar_cache: BarCache | None = None) -> None:
        self.config = config or BacktestConfig()
        self._bar_cache = bar_cache
        if self.config.cash <= 0:
            raise ConfigError(f"starting cash must be positive, got {self.config.cash}")
        self.clock = TestClock()
        account = Account(
            "SIM-001", self.config.currency, self.config.account_type,
            to_decimal(self.config.cash), to_decimal(self.config.leverage),
        )
        self.kernel = Kernel(self.clock, account, self.config.oms, self.config.fx_rates)
        self.venue = SimulatedVenue(self.kernel.cache, self.clock, self.config.venue)
        self.kernel.add_execution_client(self.venue, default=True)
        self._series: list[MarketSeries] = []

    def add_data(self, series: MarketSeries, instrument: Instrument | None = None) -> Instrument:
        """Add the bars, quote ticks or trade ticks of one instrument.

        An instrument may have one stream of each kind. Its ``Instrument`` is guessed from the
        symbol and the data's price decimals when omitted, or taken from earlier data.
        """
        stream = make_stream(series)
        kind = stream.kind
        for known_series in self._series:
            other = make_stream(known_series)
            if other.symbol == stream.symbol and other.kind is kind and (
                kind is not StreamKind.BAR or other.step_ns == stream.step_ns
            ):
                what = f"{stream.label} bar" if kind is StreamKind.BAR else kind.value
                raise ConfigError(f"{what} data for {series.symbol} was added twice")
        if len(series) == 0:
            raise ConfigError(
                f"{series.source or series.symbol}: no {kind.value}s in the chosen range"
            )
        known = self.kernel.cache.instruments.get(series.symbol)
        if instrument is None:
            instrument = known or Instrument.guess(series.symbol, price_decimals(series))
        if instrument.symbol != series.symbol:
            raise ConfigError(f"instrument {instrument.symbol} given for {series.symbol} data")
        if known is None or instrument is not known:
            self.kernel.add_instrument(replace(instrument, venue=self.venue.venue))
        self._series.append(series)
        return self.kernel.cache.instruments[series.symbol]

    def add_strategy(
        self, strategy: Strategy, symbols: tuple[str, ...] | list[str] | None = None
    ) -> StrategyRunner:
        """Attach a strategy to some (default: all) of the data's symbols."""
        known = list(dict.fromkeys(s.symbol for s in self._series))
        chosen = tuple(symbols) if symbols else tuple(known)
        if not chosen:
            raise ConfigError("add data before strategies")
        missing = [s for s in chosen if s not in known]
        if missing:
            raise ConfigError(f"no data for {', '.join(missing)}")
        return self.kernel.add_strategy(strategy, chosen)

    def run(self, progress: ProgressHandler | None = None) -> BacktestRun:
        """Run every strategy over all the data and return what happened."""
        started = time.perf_counter()
        streams = [make_stream(s) for s in self._series]
        _choose_primaries(streams)
        self.clock.advance_to(min(int(s.ts[0]) for s in self._series))
        self.kernel.start()
        for runner in self.kernel.runners:
            self._wire(runner, streams)
        self.kernel.failure_listeners.append(lambda r: self._unwire(r, streams))
        total = sum(len(s) for s in self._series)
        walked = with_open_turns(streams)
        self._loop(walked, sum(len(s.series) for s in walked), progress)
        self.kernel.stop()
        return self._record(streams, total, time.perf_counter() - started)

    def _wire(self, runner: StrategyRunner, streams: list[Stream]) -> None:
        runner.wired = True
        if not runner.active:
            return
        strategy = runner.strategy
        for stream in streams:
            if stream.symbol in runner.symbols and stream.primary:
                hook = (runner.bar_handler(stream.symbol) if stream.kind is StreamKind.BAR
                        else strategy.on_tick)
                stream.handlers.append((runner, hook))
        for wanted in runner.bar_subscriptions:
            stream = _bar_stream(streams, wanted, strategy.id)
            if wanted.deliver and not stream.primary:
                stream.handlers.append((runner, strategy.on_bar))
        for indicator, symbol, timeframe in runner.indicators:
            found = [s for s in streams if s.symbol == symbol and s.kind is StreamKind.BAR and (
                s.primary if timeframe is None else s.step_ns == timeframe.ns)]
            if not found:
                raise ConfigError(f"{strategy.id}: indicator {indicator.name} needs bars of "
                                  f"{symbol}, and the backtest has none")
            stream = found[0]
            if self.config.precompute_indicators:
                cols = [getattr(stream.series, name) for name in indicator.inputs]
                stream.batches.append((indicator, indicator.batch(*cols)))
            else:
                stream.streaming.append(indicator)

    def _unwire(self, runner: StrategyRunner, streams: list[Stream]) -> None:
        for stream in streams:
            stream.handlers = [h for h in stream.handlers if h[0] is not runner]  # not in place

    def _loop(self, streams: list[Stream], total: int, progress: ProgressHandler | None) -> None:
        if len(streams) == 1 and streams[0].kind is StreamKind.BAR and streams[0].matches \
                and streams[0].marks and streams[0].delivers:
            mask = None if self.kernel.risk.has_breakers else wake_mask(streams[0])
            if mask is not None:
                cache = self._bar_cache
                walk_waking_bars(streams[0], mask, self.clock, self.venue,
                                 self.kernel.cache.last_prices, self.kernel.execution.emulator,
                                 _CHUNK, progress, cache if cache is not None and cache.wants(
                                     streams[0].series) else None)
                return
            self._loop_bars(streams[0], total, progress)
            return
        merged = merged_rows(streams)
        if all(s.kind is StreamKind.BAR for s in streams):
            self._loop_bar_rows(streams, merged, total, progress)
            return
        clock = self.clock
        venue = self.venue
        books = venue._books
        last_prices = self.kernel.cache.last_prices
        emulator = self.kernel.execution.emulator
        risk = self.kernel.risk
        breakers = risk.has_breakers
        stream_ids, rows = merged.stream_ids, merged.rows
        names = [s.symbol for s in streams]
        makers = [s.make for s in streams]
        single = len(streams) == 1
        BAR, QUOTE = StreamKind.BAR, StreamKind.QUOTE
        labels = [s.label for s in streams]
        for lo in range(0, total, _CHUNK):
            hi = min(lo + _CHUNK, total)
            sid_c = python_values(stream_ids[lo:hi])
            ts_c, a_c, b_c, c_c, d_c, e_c, mark_c = merged.chunk(lo, hi)
            sym_c = repeat(names[0], hi - lo) if single else [names[s] for s in sid_c]
            tf_c = repeat(labels[0], hi - lo) if single else [labels[s] for s in sid_c]
            rows_c = zip(sym_c, ts_c, a_c, b_c, c_c, d_c, e_c, tf_c, strict=True)
            items = [makers[s](row) for s, row in zip(sid_c, rows_c, strict=True)]
            row_c = range(lo, hi) if single else python_values(rows[lo:hi])
            load_chunks(streams, stream_ids[lo:hi], rows[lo:hi])
            for s, i, ts, mark, item in zip(sid_c, row_c, ts_c, mark_c, items, strict=True):
                stream = streams[s]
                sym = item[0]
                if stream.matches:
                    if ts >= clock.next_alert_ns:
                        clock.advance_to(ts)
                    else:
                        clock._now = ts
                    kind = stream.kind
                    if kind is BAR:
                        if books.get(sym):
                            venue.process_bar(sym, ts, item[2], item[3], item[4], item[5], item[6])
                    elif kind is QUOTE:
                        venue.process_quote(item)
                    elif books.get(sym):
                        venue.process_trade(sym, ts, item[2], item[3])
                if not stream.delivers:
                    continue
                marks = stream.marks
                if marks:
                    last_prices[sym] = mark
                close_ts = ts + stream.step_ns
                if close_ts >= clock.next_alert_ns:
                    clock.advance_to(close_ts)
                else:
                    clock._now = close_ts
                if stream.precomputed:
                    j = i - stream.base
                    for ind, values, extras in stream.precomputed:
                        ind.prev = ind.value
                        ind.value = values[j]
                        ind.count = i + 1
                        for name, column in extras:
                            setattr(ind, name, column[j])
                for ind in stream.streaming:
                    ind.update_bar(item)
                if emulator.watching and marks:
                    emulator.on_price(sym, mark)
                if breakers and marks:
                    risk.on_market()
                for runner, handler in stream.handlers:
                    try:
                        handler(item)
                    except Exception as exc:  # user code stops, the run goes on
                        runner.fail(stream.hook, exc, ts)
            if progress is not None:
                progress(hi, total)

    def _loop_bar_rows(self, streams: list[Stream], merged: MergedRows, total: int,
                       progress: ProgressHandler | None) -> None:
        """``_loop`` when every stream holds bars (several instruments or timeframes, each
        primary stream with its open turn): the same steps, with each stream's part looked up
        once a chunk, and a ``Bar`` made only for a row that is delivered."""
        clock = self.clock
        books = self.venue._books
        process_bar = self.venue.process_bar
        last_prices = self.kernel.cache.last_prices
        emulator = self.kernel.execution.emulator
        risk = self.kernel.risk
        breakers = risk.has_breakers
        symbols = [s.symbol for s in streams]
        matching = [s.matches for s in streams]
        for lo in range(0, total, _CHUNK):
            hi = min(lo + _CHUNK, total)
            ts_c, a_c, b_c, c_c, d_c, e_c, mark_c = merged.chunk(lo, hi)
            load_chunks(streams, merged.stream_ids[lo:hi], merged.rows[lo:hi])
            delivering = [_delivery(s) if s.delivers else None for s in streams]
            for s, i, ts, o, h, low, c, v, mark in zip(
                python_values(merged.stream_ids[lo:hi]), python_values(merged.rows[lo:hi]),
                ts_c, a_c, b_c, c_c, d_c, e_c, mark_c, strict=True,
            ):
                sym = symbols[s]
                if matching[s]:
                    if ts >= clock.next_alert_ns:
                        clock.advance_to(ts)
                    else:
                        clock._now = ts
                    if books.get(sym):  # working orders to match (most bars have none)
                        process_bar(sym, ts, o, h, low, c, v)
                part = delivering[s]
                if part is None:
                    continue
                stream, make, marks, step, label, indicators = part
                if marks:
                    last_prices[sym] = mark
                close_ts = ts + step
                if close_ts >= clock.next_alert_ns:
                    clock.advance_to(close_ts)
                else:
                    clock._now = close_ts
                bar = make((sym, ts, o, h, low, c, v, label))
                if indicators:
                    j = i - stream.base
                    count = i + 1
                    for ind, values, extras in stream.precomputed:
                        ind.prev = ind.value
                        ind.value = values[j]
                        ind.count = count
                        for name, column in extras:
                            setattr(ind, name, column[j])
                    for ind in stream.streaming:
                        ind.update_bar(bar)
                if marks:
                    if emulator.watching:
                        emulator.on_price(sym, mark)
                    if breakers:
                        risk.on_market()
                for runner, handler in stream.handlers:
                    try:
                        handler(bar)
                    except Exception as exc:  # user code stops, the run goes on
                        runner.fail(stream.hook, exc, ts)
            if progress is not None:
                progress(hi, total)

    def _loop_bars(self, stream: Stream, total: int, progress: ProgressHandler | None) -> None:
        """``_loop`` for the common case of one bar stream (that matches, marks and delivers):
        the same steps, with what cannot change during the run looked up once."""
        clock = self.clock
        venue = self.venue
        books = venue._books
        process_bar = venue.process_bar
        last_prices = self.kernel.cache.last_prices
        emulator = self.kernel.execution.emulator
        risk = self.kernel.risk
        breakers = risk.has_breakers
        merged = merged_rows([stream])
        sym = stream.symbol
        step = stream.step_ns
        hook = stream.hook
        streaming = stream.streaming
        make = stream.make
        columns = merged.columns[:6]  # a bar's mark is its close (the seventh column)
        cache = self._bar_cache if (
            self._bar_cache is not None and self._bar_cache.wants(stream.series)) else None
        for lo in range(0, total, _CHUNK):
            hi = min(lo + _CHUNK, total)
            kept = cache.get(stream.series, lo, hi) if cache is not None else None
            items: Iterable[Bar]
            if kept is not None:
                ts_c, d_c, items = kept
            else:
                ts_c, a_c, b_c, c_c, d_c, e_c = [python_values(col[lo:hi]) for col in columns]
                items = map(make, zip(repeat(sym, hi - lo), ts_c, a_c, b_c, c_c, d_c, e_c,
                                      repeat(stream.label, hi - lo), strict=True))
                if cache is not None:
                    items = list(items)
                    cache.put(stream.series, lo, hi, (ts_c, d_c, items))
            load_chunks([stream], merged.stream_ids[lo:hi], merged.rows[lo:hi])
            base = stream.base
            # indicators without extra outputs (most) skip the loop over them
            plain = [(ind, values) for ind, values, extras in stream.precomputed if not extras]
            others = [entry for entry in stream.precomputed if entry[2]]
            indicators = bool(plain or others or streaming)
            for i, ts, mark, item in zip(range(lo, hi), ts_c, d_c, items, strict=True):
                if ts >= clock.next_alert_ns:
                    clock.advance_to(ts)
                else:
                    clock._now = ts
                if books.get(sym):  # working orders to match (most bars have none)
                    process_bar(sym, ts, item[2], item[3], item[4], item[5], item[6])
                last_prices[sym] = mark
                close_ts = ts + step
                if close_ts >= clock.next_alert_ns:
                    clock.advance_to(close_ts)
                else:
                    clock._now = close_ts
                if indicators:  # an empty loop costs as much as the test
                    j = i - base
                    count = i + 1
                    for ind, values in plain:
                        ind.prev = ind.value
                        ind.value = values[j]
                        ind.count = count
                    for ind, values, extras in others:
                        ind.prev = ind.value
                        ind.value = values[j]
                        ind.count = count
                        for name, column in extras:
                            setattr(ind, name, column[j])
                    for ind in streaming:
                        ind.update_bar(item)
                if emulator.watching:
                    emulator.on_price(sym, mark)
                if breakers:
                    risk.on_market()
                for runner, handler in stream.handlers:
                    try:
                        handler(item)
                    except Exception as exc:  # user code stops, the run goes on
                        runner.fail(hook, exc, ts)
            if progress is not None:
                progress(hi, total)

    def _record(self, streams: list[Stream], total: int, elapsed: float) -> BacktestRun:
        kernel = self.kernel
        primaries = [s for s in streams if s.primary]
        timeline = union_of_times([s.series.ts for s in primaries])
        marks = marks_on(timeline, primaries)
        instruments = dict(kernel.cache.instruments)
        to_account = {
            sym: self._conversion(inst, marks, timeline.shape[0])
            for sym, inst in instruments.items()
        }
        book = kernel.portfolio.book
        account = kernel.portfolio.account
        curve, exposure = equity_and_exposure(
            timeline, float(account.starting_balance), book, marks,
            {s: float(i.multiplier) for s, i in instruments.items()}, to_account,
        )
        return BacktestRun(
            config=self.config, instruments=instruments, series=list(self._series),
            timeline=timeline, equity=curve, in_market=exposure,
            orders=list(kernel.cache.orders.values()),
            fills=[e.fill for e in book if e.fill is not None],
            positions=list(kernel.cache.positions.values()), book=list(book), marks=marks,
            to_account=to_account,
            start_equity=account.starting_balance, final_balance=account.balance,
            final_equity=kernel.portfolio.equity, failures=kernel.failures,
            strategies={r.strategy.id: dict(r.strategy.params) for r in kernel.runners},
            bars=total, elapsed=elapsed,
        )

    def _conversion(
        self, inst: Instrument, marks: dict[str, FloatArray], n: int
    ) -> FloatArray:
        account_ccy = self.config.currency
        if inst.quote_currency == account_ccy:
            return _constant(1.0, n)
        fx = self.kernel.portfolio.fx
        found = fx.source(inst.quote_currency, account_ccy)
        if found is not None and found[0] in marks:
            series = marks[found[0]]
            return 1.0 / series if found[1] else series
        fixed = fx.fixed_rate(inst.quote_currency, account_ccy)
        if fixed is None:
            fx.rate(inst.quote_currency, account_ccy)  # raises the explanatory ConfigError
        return _constant(float(fixed or 0), n)


def _constant(value: float, n: int) -> FloatArray:
    # the same value at every time, as a read-only view of one number: not a bar-long array
    return np.broadcast_to(np.float64(value), (n,))


def _delivery(stream: Stream) -> tuple[Stream, Callable[[Row], Any], bool, int, str, bool]:
    # what the bar loop needs of a stream that delivers, looked up once a chunk
    indicators = bool(stream.precomputed or stream.streaming)
    return stream, stream.make, stream.marks, stream.step_ns, stream.label, indicators


def _choose_primaries(streams: list[Stream]) -> None:
    shortest: dict[str, Stream] = {}
    for stream in streams:
        if stream.kind is StreamKind.BAR:
            best = shortest.get(stream.symbol)
            if best is None or stream.step_ns < best.step_ns:
                shortest[stream.symbol] = stream
    for stream in streams:
        stream.primary = stream.kind is not StreamKind.BAR or shortest[stream.symbol] is stream


def _bar_stream(streams: list[Stream], wanted: BarSubscription, strategy_id: str) -> Stream:
    """The stream that carries the bars a strategy asked for: the data's own when it has bars
    of that length, else bars built from the symbol's primary bars (shared by strategies)."""
    bar_streams = [s for s in streams if s.symbol == wanted.symbol and s.kind is StreamKind.BAR]
    size = wanted.timeframe.ns
    for stream in bar_streams:
        if stream.step_ns == size and (stream.alignment is None or stream.alignment == (
                wanted.alignment or UTC_MIDNIGHT)):
            return stream
    base = next((s for s in bar_streams if s.primary), None)
    if base is None:
        raise ConfigError(f"{strategy_id}: {wanted.timeframe} bars of {wanted.symbol} are built "
                          f"from its bars, and the backtest has only ticks of {wanted.symbol}")
    if size < base.step_ns:
        raise ConfigError(
            f"{strategy_id}: cannot build {wanted.timeframe} bars of {wanted.symbol} from its "
            f"{base.label} bars; subscribe to a longer timeframe or add finer data"
        )
    from tradeloop.data.resample import resample_bars  # pandas: only runs that need it pay

    alignment = wanted.alignment or UTC_MIDNIGHT
    series = base.series
    assert isinstance(series, BarSeries)
    built = resample_bars(series, wanted.timeframe, alignment,
                          end_ns=int(series.ts[-1]) + base.step_ns)
    derived = make_stream(built)
    derived.step_ns = size
    derived.primary = False
    derived.alignment = alignment
    streams.append(derived)
    return derived
