"""Backtest mode: the kernel on a test clock, fed by historical bars, filled by the simulated
venue. A thin shell: all trading logic lives in the kernel and the venue."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from itertools import repeat

import numpy as np
import numpy.typing as npt

from tradeloop.brokers.simulated.venue import SimulatedVenue, SimulatedVenueConfig
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.engine.kernel import Kernel, StrategyFailure, StrategyRunner
from tradeloop.indicators.base import Indicator
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.data import Bar, BarSeries
from tradeloop.model.enums import AccountType, OmsType
from tradeloop.model.instrument import Instrument, to_decimal
from tradeloop.model.orders import Order
from tradeloop.model.position import Position
from tradeloop.portfolio.curve import equity_curve, in_market
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
    series: dict[str, BarSeries]
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


@dataclass(eq=False)
class _Stream:
    series: BarSeries
    step_ns: int
    handlers: list[tuple[StrategyRunner, Callable[[Bar], None]]] = field(default_factory=list)
    batches: list[tuple[Indicator, dict[str, FloatArray]]] = field(default_factory=list)
    streaming: list[Indicator] = field(default_factory=list)
    # the current chunk of the precomputed indicator values, as lists, from row ``base`` on
    precomputed: list[tuple[Indicator, list[float], list[tuple[str, list[float]]]]] = field(
        default_factory=list
    )
    base: int = 0

    def load_chunk(self, first: int, end: int) -> None:
        self.base = first
        self.precomputed = [
            (ind, out["value"][first:end].tolist(),
             [(name, out[name][first:end].tolist()) for name in ind.outputs])
            for ind, out in self.batches
        ]


class BacktestEngine:
    """Runs strategies over historical bars.

    Parameters
    ----------
    config : BacktestConfig, optional
    """

    def __init__(self, config: BacktestConfig | None = None) -> None:
        self.config = config or BacktestConfig()
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
        self._series: dict[str, BarSeries] = {}
        self._fills: list[ev.OrderFilled] = []
        self.kernel.bus.subscribe("events.order.*", self._record_fill)

    def _record_fill(self, event: ev.OrderEvent) -> None:
        if isinstance(event, ev.OrderFilled):
            self._fills.append(event)

    def add_data(self, series: BarSeries, instrument: Instrument | None = None) -> Instrument:
        """Add the bars of one instrument; the instrument is guessed from the data if omitted."""
        if series.symbol in self._series:
            raise ConfigError(f"data for {series.symbol} was added twice")
        if len(series) == 0:
            raise ConfigError(f"{series.source or series.symbol}: no bars in the chosen range")
        if instrument is None:
            instrument = Instrument.guess(series.symbol, _decimals(series))
        if instrument.symbol != series.symbol:
            raise ConfigError(f"instrument {instrument.symbol} given for {series.symbol} data")
        self.kernel.add_instrument(replace(instrument, venue=self.venue.venue))
        self._series[series.symbol] = series
        return instrument

    def add_strategy(
        self, strategy: Strategy, symbols: tuple[str, ...] | list[str] | None = None
    ) -> StrategyRunner:
        """Attach a strategy to some (default: all) of the data's symbols."""
        chosen = tuple(symbols) if symbols else tuple(self._series)
        if not chosen:
            raise ConfigError("add data before strategies")
        missing = [s for s in chosen if s not in self._series]
        if missing:
            raise ConfigError(f"no data for {', '.join(missing)}")
        return self.kernel.add_strategy(strategy, chosen)

    def run(self, progress: ProgressHandler | None = None) -> BacktestRun:
        """Run every strategy over all the bars and return what happened."""
        started = time.perf_counter()
        symbols = list(self._series)
        streams = [_Stream(s, _step_ns(s)) for s in self._series.values()]
        first = min(int(s.ts[0]) for s in self._series.values())
        self.clock.advance_to(first)
        self.kernel.start()
        for runner in self.kernel.runners:
            self._wire(runner, streams, symbols)
        self.kernel.failure_listeners.append(lambda r: self._unwire(r, streams))
        total = sum(len(s) for s in self._series.values())
        self._loop(streams, total, progress)
        self.kernel.stop()
        return self._record(total, time.perf_counter() - started)

    def _wire(self, runner: StrategyRunner, streams: list[_Stream], symbols: list[str]) -> None:
        if not runner.active:
            return
        for symbol in runner.symbols:
            streams[symbols.index(symbol)].handlers.append((runner, runner.strategy.on_bar))
        for indicator, symbol in runner.indicators:
            stream = streams[symbols.index(symbol)]
            if self.config.precompute_indicators:
                cols = [getattr(stream.series, name) for name in indicator.inputs]
                stream.batches.append((indicator, indicator.batch(*cols)))
            else:
                stream.streaming.append(indicator)

    def _unwire(self, runner: StrategyRunner, streams: list[_Stream]) -> None:
        for stream in streams:
            stream.handlers = [h for h in stream.handlers if h[0] is not runner]  # not in place

    def _loop(self, streams: list[_Stream], total: int, progress: ProgressHandler | None) -> None:
        clock = self.clock
        venue = self.venue
        books = venue._books
        last_prices = self.kernel.cache.last_prices
        emulator = self.kernel.execution.emulator
        if len(streams) == 1:
            stream_ids: IntArray = np.zeros(total, dtype=np.int64)
            rows: IntArray = np.arange(total, dtype=np.int64)
            merged = streams[0].series
            cols = [merged.ts, merged.open, merged.high, merged.low, merged.close, merged.volume]
        else:
            all_ts = np.concatenate([s.series.ts for s in streams])
            order = np.argsort(all_ts, kind="stable")
            stream_ids = np.concatenate(
                [np.full(len(s.series), k, dtype=np.int64) for k, s in enumerate(streams)]
            )[order]
            rows = np.concatenate([np.arange(len(s.series)) for s in streams])[order]
            cols = [
                np.concatenate([getattr(s.series, f) for s in streams])[order]
                for f in ("ts", "open", "high", "low", "close", "volume")
            ]
        names = [s.series.symbol for s in streams]
        make_bar = partial(tuple.__new__, Bar)  # C-level construction of the immutable Bar
        single = len(streams) == 1
        for lo in range(0, total, _CHUNK):
            hi = min(lo + _CHUNK, total)
            sid_c = stream_ids[lo:hi].tolist()
            ts_c, o_c, h_c, l_c, c_c, v_c = (col[lo:hi].tolist() for col in cols)
            sym_c = repeat(names[0], hi - lo) if single else [names[s] for s in sid_c]
            bars = map(make_bar, zip(sym_c, ts_c, o_c, h_c, l_c, c_c, v_c, strict=True))
            row_c = range(lo, hi) if single else rows[lo:hi].tolist()
            _load_chunks(streams, stream_ids[lo:hi], rows[lo:hi])
            for s, i, ts, close, bar in zip(sid_c, row_c, ts_c, c_c, bars, strict=True):
                stream = streams[s]
                sym = bar[0]
                if ts >= clock.next_alert_ns:
                    clock.advance_to(ts)
                else:
                    clock._now = ts
                if sym in books:
                    venue.process_bar(sym, ts, bar[2], bar[3], bar[4], close, bar[6])
                last_prices[sym] = close
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
                    ind.update_bar(bar)
                if emulator.watching:
                    emulator.on_price(sym, close)
                for runner, on_bar in stream.handlers:
                    try:
                        on_bar(bar)
                    except Exception as exc:  # user code stops, the run goes on
                        runner.fail("on_bar", exc, ts)
            if progress is not None:
                progress(hi, total)

    def _record(self, total: int, elapsed: float) -> BacktestRun:
        kernel = self.kernel
        timeline = _union_of_times([s.ts for s in self._series.values()])
        marks: dict[str, FloatArray] = {}
        for symbol, series in self._series.items():
            idx = np.searchsorted(series.ts, timeline, side="right") - 1
            marks[symbol] = np.where(idx >= 0, series.close[np.maximum(idx, 0)], np.nan)
        instruments = dict(kernel.cache.instruments)
        to_account = {
            sym: self._conversion(inst, marks, timeline.shape[0])
            for sym, inst in instruments.items()
        }
        book = kernel.portfolio.book
        account = kernel.portfolio.account
        curve = equity_curve(
            timeline, float(account.starting_balance), book, marks,
            {s: float(i.multiplier) for s, i in instruments.items()}, to_account,
        )
        return BacktestRun(
            config=self.config, instruments=instruments, series=dict(self._series),
            timeline=timeline, equity=curve, in_market=in_market(timeline, book),
            orders=list(kernel.cache.orders.values()), fills=list(self._fills),
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
            return np.ones(n)
        fx = self.kernel.portfolio.fx
        found = fx.source(inst.quote_currency, account_ccy)
        if found is not None and found[0] in marks:
            series = marks[found[0]]
            return 1.0 / series if found[1] else series
        fixed = fx.fixed_rate(inst.quote_currency, account_ccy)
        if fixed is None:
            fx.rate(inst.quote_currency, account_ccy)  # raises the explanatory ConfigError
        return np.full(n, float(fixed or 0))


def _load_chunks(streams: list[_Stream], stream_ids: IntArray, rows: IntArray) -> None:
    # give each stream with bars in this chunk its slice of precomputed indicator values
    if len(streams) == 1:
        if streams[0].batches:
            streams[0].load_chunk(int(rows[0]), int(rows[-1]) + 1)
        return
    for k, stream in enumerate(streams):
        if stream.batches:
            mine = rows[stream_ids == k]
            if mine.size:
                stream.load_chunk(int(mine[0]), int(mine[-1]) + 1)


def _union_of_times(columns: list[IntArray]) -> IntArray:
    if len(columns) == 1:
        return columns[0]
    merged = np.sort(np.concatenate(columns), kind="stable")
    keep = np.empty(merged.shape[0], dtype=bool)
    keep[:1] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


def _step_ns(series: BarSeries) -> int:
    if series.timeframe_ns:
        return series.timeframe_ns
    if len(series) > 1:
        return int(np.median(np.diff(series.ts)))
    return NANOS_PER_DAY


def _decimals(series: BarSeries) -> int:
    sample = np.concatenate([series.open[:500], series.close[:500]])
    best = 0
    for value in sample.tolist():
        text = repr(value)
        if "e" in text:
            return 8
        if "." in text:
            best = max(best, len(text.split(".")[1].rstrip("0")))
    return min(best, 8)

