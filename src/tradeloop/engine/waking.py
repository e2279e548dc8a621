"""The data loop for strategies that declared wake conditions: only the bars where something
can happen.

When every strategy on a symbol's one bar stream declared wake conditions on precomputed
indicators (``Strategy.wake_when``), the engine knows before the run on which bars ``on_bar``
will run. Between them, a bar does something only if an order is working at the venue, the
order emulator watches the price, or an alert falls due; on every other bar the loop would set
the clock, the mark and the indicators and call nothing. This loop jumps over such bars. When
an alert falls due in the bar it lands on, it first sets the clock, the mark and the indicators
to what they were after the last bar it jumped over; otherwise nothing could read them before
the bar sets them, and the indicators' previous values come from their columns. So every hook,
alert and fill sees exactly the state it sees when every bar is walked, and the results are the
same (tests compare both).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import repeat

import numpy as np
import numpy.typing as npt

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import StrategyRunner
from tradeloop.engine.streams import BarCache, Stream, python_values
from tradeloop.execution.emulator import OrderEmulator
from tradeloop.indicators.base import Indicator
from tradeloop.model.data import Bar

BoolArray = npt.NDArray[np.bool_]
ProgressHandler = Callable[[int, int], None]


def wake_mask(stream: Stream) -> BoolArray | None:
    """The bars of ``stream`` where one of its strategies wakes, or None when some strategy
    on it has no wake conditions for it, or reads indicators that are not precomputed."""
    if not stream.handlers or stream.streaming:
        return None
    values = {id(ind): out["value"] for ind, out in stream.batches}
    starts = {id(ind): ind.value for ind, _ in stream.batches}

    def values_of(indicator: Indicator) -> npt.NDArray[np.float64]:
        return values[id(indicator)]

    mask = np.zeros(len(stream.series), dtype=bool)
    for runner, _ in stream.handlers:
        conditions = runner.wakes.get(stream.symbol)
        if not conditions:
            return None
        for condition in conditions:
            if any(id(ind) not in values for ind in condition.indicators):
                return None
            mask |= condition.mask(values_of, starts)
    return mask


def walk_waking_bars(
    stream: Stream, mask: BoolArray, clock: TestClock, venue: SimulatedVenue,
    last_prices: dict[str, float], emulator: OrderEmulator, chunk: int,
    progress: ProgressHandler | None, bar_cache: BarCache | None = None,
) -> None:
    """Walk ``stream``'s bars that can matter: where ``mask`` is set, while an order works or
    the emulator watches, and from the bar in which an alert falls due.

    With ``bar_cache`` (an optimisation's trials), the ``Bar`` objects come from it, and the
    first run builds every bar for the later ones."""
    books = venue._books
    process_bar = venue.process_bar
    sym = stream.symbol
    step = stream.step_ns
    hook = stream.hook
    make = stream.make
    label = stream.label
    columns = stream.columns()
    state = _CatchUp(stream, clock, last_prices)
    catch_up = state.after  # a bound method: calling an instance costs twice as much
    wired = stream.handlers
    called = _called(wired)
    total = len(stream.series)
    for lo in range(0, total, chunk):
        hi = min(lo + chunk, total)
        ts_c, a_c, b_c, c_c, d_c, e_c = [python_values(col[lo:hi]) for col in columns[:6]]
        items: Sequence[Bar] | None = None
        if bar_cache is not None:
            kept = bar_cache.get(stream.series, lo, hi)
            if kept is None:
                items = [make(row) for row in zip(
                    repeat(sym, hi - lo), ts_c, a_c, b_c, c_c, d_c, e_c, repeat(label, hi - lo),
                    strict=True)]
                bar_cache.put(stream.series, lo, hi, (ts_c, d_c, items))
            else:
                items = kept[2]
        if stream.batches:
            stream.load_chunk(lo, hi)
        plain = [(ind, values) for ind, values, extras in stream.precomputed if not extras]
        others = [entry for entry in stream.precomputed if entry[2]]
        state.enter_chunk(lo, ts_c, d_c)
        wakes = np.flatnonzero(mask[lo:hi]).tolist()
        wakes.append(hi - lo)  # a sentinel: the chunk's end
        w = 0
        j = 0
        n = hi - lo
        jumped = False  # over bars whose state nothing saw: the indicators' prev is column's
        while j < n:
            while wakes[w] < j:
                w += 1
            if not books.get(sym) and not emulator.watching:  # nothing to do before a wake
                # an alert falls due within the bar whose close reaches it: a bar from ``due``
                stop = wakes[w]
                due = clock.next_alert_ns - step
                if stop > j and ts_c[stop - 1] >= due:  # one falls due before the wake
                    stop = bisect_left(ts_c, due, j, stop)
                if stop > j:
                    j = stop
                    if j == n:
                        catch_up(j - 1)
                        break
                    if ts_c[j] >= due:
                        catch_up(j - 1)  # an alert due within this bar sees the bar before
                    else:
                        # nothing reads the state between the bar before and this one's
                        # close: no fill (no order works), no alert; the mark and the clock
                        # are set below, the indicators from their columns
                        jumped = True
            ts = ts_c[j]
            if ts >= clock.next_alert_ns:
                clock.advance_to(ts)
            else:
                clock._now = ts
            close_ts = ts + step
            if books.get(sym):
                process_bar(sym, ts, a_c[j], b_c[j], c_c[j], d_c[j], e_c[j])
                if (wakes[w] > j + 1 and not books.get(sym) and not emulator.watching
                        and ts_c[j + 1] + step < clock.next_alert_ns):
                    # the orders are done and the next bar is jumped over (no wake there, no
                    # alert due by its close, so none in this bar either): nothing reads this
                    # bar's mark, clock or indicators before the bar jumped to sets them again
                    j += 1
                    continue
            last_prices[sym] = d_c[j]
            if close_ts >= clock.next_alert_ns:
                clock.advance_to(close_ts)
            else:
                clock._now = close_ts
            count = lo + j + 1  # as in BacktestEngine._loop_bars: a shared helper is a call
            if jumped:  # j > 0: a jump lands past the bar it starts from
                jumped = False
                for ind, values, _ in stream.precomputed:  # the bar before, from its column
                    ind.value = values[j - 1]
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
            if emulator.watching:
                emulator.on_price(sym, d_c[j])
            if wakes[w] == j:
                bar = make((sym, ts, a_c[j], b_c[j], c_c[j], d_c[j], e_c[j], label)
                           ) if items is None else items[j]
                if stream.handlers is not wired:  # a strategy failed and was unwired
                    wired = stream.handlers
                    called = _called(wired)
                for runner, handler in called:
                    try:
                        handler(bar)
                    except Exception as exc:  # user code stops, the run goes on
                        runner.fail(hook, exc, ts)
            j += 1
        if progress is not None:
            progress(hi, total)


def _called(handlers: list[tuple[StrategyRunner, Callable[[Bar], None]]]
            ) -> list[tuple[StrategyRunner, Callable[[Bar], None]]]:
    # What a bar where the mask is set goes to. With one strategy on the stream the mask is
    # its own wake conditions, which hold wherever it is set: its on_bar, without asking them
    # again. With several, each behind its conditions (the mask is all of theirs).
    if len(handlers) == 1:
        runner = handlers[0][0]
        return [(runner, runner.strategy.on_bar)]
    return handlers


class _CatchUp:
    """Sets the clock, the mark and the indicators to what they are after bar ``k`` of the
    chunk being walked, from the chunk's values (the previous value of an indicator at the
    chunk's first bar from the whole column)."""

    def __init__(self, stream: Stream, clock: TestClock, last_prices: dict[str, float]) -> None:
        self._stream = stream
        self._symbol = stream.symbol
        self._step = stream.step_ns
        self._clock = clock
        self._last_prices = last_prices
        self._starts = {id(ind): ind.value for ind, _ in stream.batches}
        self._columns = {id(ind): out["value"] for ind, out in stream.batches}
        self._lo = 0
        self._ts: Sequence[int] = []
        self._marks: Sequence[float] = []

    def enter_chunk(self, lo: int, ts: Sequence[int], marks: Sequence[float]) -> None:
        """Take the chunk starting at row ``lo``: its times and marks (the closes)."""
        self._lo, self._ts, self._marks = lo, ts, marks

    def after(self, k: int) -> None:
        """Set everything to what it is after bar ``k`` of the chunk."""
        self._clock._now = self._ts[k] + self._step
        self._last_prices[self._symbol] = self._marks[k]
        count = self._lo + k + 1
        for ind, values, extras in self._stream.precomputed:
            ind.prev = values[k - 1] if k else self._before_chunk(ind)
            ind.value = values[k]
            ind.count = count
            for name, column in extras:
                setattr(ind, name, column[k])

    def _before_chunk(self, ind: Indicator) -> float:
        lo = self._lo
        return float(self._columns[id(ind)][lo - 1]) if lo else self._starts[id(ind)]
