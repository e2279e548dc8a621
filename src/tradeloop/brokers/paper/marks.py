"""The paper venue's market data state: its clock and the last data of each symbol.

The venue's time is that of its market data. Data older than what the venue already processed
for a symbol is stale (a replay restarted from its beginning, a duplicate push) and ignored.
"""

from __future__ import annotations

import logging

from tradeloop.brokers.paper.state import MarkRecord
from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.model.cache import Cache
from tradeloop.model.data import QuoteTick

logger = logging.getLogger(__name__)


class MarketState:
    """Clock, last prices and last quotes of one venue.

    Parameters
    ----------
    cache : Cache
        Its ``last_prices`` are kept up to date (trailing stops and equity read them).
    start_ns : int
        The clock's time (the last market data time of a restored venue).
    """

    def __init__(self, cache: Cache, start_ns: int) -> None:
        self._cache = cache
        self.clock = TestClock(start_ns)
        self.marks: dict[str, MarkRecord] = {}

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
        return mark
