"""The paper venue's market data state: its clock and the last data of each symbol.

The venue's time is that of its market data. Data older than what the venue already processed
for a symbol is stale (a replay restarted from its beginning, a duplicate push) and ignored.

Marks and the clock change with every bar, quote and trade, and most items change nothing
else. They are kept here and written to the state file with the venue's next order change,
when ``flush_ms`` has passed since they were last written, or when the venue closes: a
crashed venue restarts with marks at most that much older. That is harmless: every order,
fill and event was written together with the marks and clock of its moment, so the state
file always holds the venue exactly as it was after some market data item, and the items
after it changed nothing but marks. A replay resumes from the restored marks and plays those
items again (to the same effect); live data that was lost is as if it had never arrived.
"""

from __future__ import annotations

import logging
import math
import time

from tradeloop.brokers.paper.state import MarkRecord
from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.model.cache import Cache
from tradeloop.model.data import QuoteTick

logger = logging.getLogger(__name__)


class MarketState:
    """Clock, last prices and last quotes of one venue, and which of them are not yet saved.

    The clock starts at 0; a restored venue moves it to its saved time.

    Parameters
    ----------
    cache : Cache
        Its ``last_prices`` are kept up to date (trailing stops and equity read them).
    flush_ms : float
        Longest time (wall clock, milliseconds) marks stay unsaved while data keeps coming;
        0 saves them with every item.

    Raises
    ------
    ConfigError
        For a negative or infinite ``flush_ms``.
    """

    def __init__(self, cache: Cache, flush_ms: float = 0.0) -> None:
        if not 0 <= flush_ms < math.inf:
            raise ConfigError(f"marks_flush_ms must be 0 or more, got {flush_ms}")
        self._cache = cache
        self.clock = TestClock(0)
        self.marks: dict[str, MarkRecord] = {}
        self._unsaved: set[str] = set()
        self._flush_ns = round(flush_ms * 1_000_000)
        self._saved_at = time.monotonic_ns()

    def restore(self, marks: list[MarkRecord], sim: SimulatedVenue) -> None:
        """Load the marks of the state file; give the engine each symbol's last quote (for
        spread slippage). Call before any order is back on the engine's books."""
        for mark in marks:
            self.marks[mark.symbol] = mark
            if mark.last_price is not None:
                self._cache.last_prices[mark.symbol] = mark.last_price
            if mark.quote_ts is not None and mark.symbol in self._cache.instruments:
                sim.process_quote(QuoteTick(mark.symbol, mark.quote_ts, mark.bid, mark.ask,
                                            mark.bid_size, mark.ask_size))

    def last_data_ns(self, symbol: str) -> int | None:
        """Time of the last data of ``symbol`` processed, if any."""
        mark = self.marks.get(symbol)
        return None if mark is None else mark.last_ns

    def is_stale(self, symbol: str, ts: int) -> bool:
        """True for data older than the last processed for ``symbol``."""
        last = self.last_data_ns(symbol)
        if last is not None and ts < last:
            logger.debug("ignored stale market data", extra={"fields": {
                "symbol": symbol, "ts": ts, "last": last}})
            return True
        return False

    def advance(self, ts: int) -> None:
        """Move the clock forward to ``ts`` (never back)."""
        if ts > self.clock.now_ns():
            self.clock.advance_to(ts)

    def set_mark(self, symbol: str, ts: int, price: float, quote: QuoteTick | None = None
                 ) -> MarkRecord:
        """Record the last data time and price of ``symbol`` (and its last quote)."""
        mark = self.marks.get(symbol)
        if mark is None:
            mark = self.marks[symbol] = MarkRecord(symbol=symbol, last_ns=ts)
        mark.last_ns, mark.last_price = ts, price
        if quote is not None:
            mark.quote_ts, mark.bid, mark.ask = quote.ts, quote.bid, quote.ask
            mark.bid_size, mark.ask_size = quote.bid_size, quote.ask_size
        self._cache.last_prices[symbol] = price
        self._unsaved.add(symbol)
        return mark

    @property
    def unsaved(self) -> bool:
        """True while some mark (and so the clock) changed since it was last saved."""
        return bool(self._unsaved)

    def save_due(self) -> bool:
        """True when unsaved marks have waited ``flush_ms`` (or more) since the last save."""
        return bool(self._unsaved) and time.monotonic_ns() - self._saved_at >= self._flush_ns

    def take_unsaved(self) -> list[MarkRecord]:
        """The marks to write (by symbol), counted as saved from now on."""
        records = [self.marks[s] for s in sorted(self._unsaved)]
        self._unsaved.clear()
        self._saved_at = time.monotonic_ns()
        return records
