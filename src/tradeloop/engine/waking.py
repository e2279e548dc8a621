"""The data loop for strategies that declared wake conditions: only the bars where something
can happen.

When every strategy on a symbol's one bar stream declared wake conditions on precomputed
indicators (``Strategy.wake_when``), the engine knows before the run on which bars ``on_bar``
will run. Between them, a bar does something only if an order is working at the venue, the
order emulator watches the price, or an alert falls due; on every other bar the loop would set
the clock, the mark and the indicators and call nothing. This loop jumps over such bars and,
before the next bar it walks, sets the clock, the mark and the indicators to what they were
after the last one it jumped over. So every hook, alert and fill sees exactly the state it sees
when every bar is walked, and the results are the same (a test compares both).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
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
    catch_up = _CatchUp(stream, columns, clock, last_prices)
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
        wakes = np.flatnonzero(mask[lo:hi]).tolist()
        wakes.append(hi - lo)  # a sentinel: the chunk's end
        w = 0
        j = 0
        n = hi - lo
        while j < n:
            while wakes[w] < j:
                w += 1
            if not books.get(sym) and not emulator.watching:  # nothing to do before a wake
                # an alert falls due within the bar whose close reaches it
                stop = bisect_left(ts_c, clock.next_alert_ns - step, j, wakes[w])
                if stop > j:
                    j = stop
                    catch_up(lo + j - 1)
                    if j == n:
                        break
            i = lo + j
            ts = ts_c[j]
            if ts >= clock.next_alert_ns:
                clock.advance_to(ts)
            else:
                clock._now = ts
            if books.get(sym):
                process_bar(sym, ts, a_c[j], b_c[j], c_c[j], d_c[j], e_c[j])
            last_prices[sym] = d_c[j]
            close_ts = ts + step
            if close_ts >= clock.next_alert_ns:
                clock.advance_to(close_ts)
            else:
                clock._now = close_ts
            count = i + 1  # as in BacktestEngine._loop_bars: a shared helper is a call a bar
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
                for runner, handler in stream.handlers:
                    try:
                        handler(bar)  # behind the strategy's own wake conditions
                    except Exception as exc:  # user code stops, the run goes on
                        runner.fail(hook, exc, ts)
            j += 1
        if progress is not None:
            progress(hi, total)


class _CatchUp:
    """Sets the clock, the mark and the indicators to what they are after bar ``k``."""

    def __init__(self, stream: Stream, columns: list[npt.NDArray[Any]], clock: TestClock,
                 last_prices: dict[str, float]) -> None:
        self._stream = stream
        self._ts = columns[0]
        self._marks = columns[6]
        self._clock = clock
        self._last_prices = last_prices
        self._starts = [(ind, out, ind.value) for ind, out in stream.batches]

    def __call__(self, k: int) -> None:
        if k < 0:
            return
        self._clock._now = int(self._ts[k]) + self._stream.step_ns
        self._last_prices[self._stream.symbol] = float(self._marks[k])
        for ind, out, start in self._starts:
            values = out["value"]
            ind.prev = float(values[k - 1]) if k else start
            ind.value = float(values[k])
            ind.count = k + 1
            for name in ind.outputs:
                setattr(ind, name, float(out[name][k]))
