"""Streaming market data: ``reqMktData`` ticks (bid 1, ask 2, last 4 with their sizes 0, 3, 5)
sent on every ``set_price``, and ``reqRealTimeBars`` 5-second bars built from those prices on the
gateway's clock."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ib_async.contract import Contract

from .contracts import Listing
from .matching import Quote

if TYPE_CHECKING:
    from .gateway import Gateway
    from .session import Session

BAR_SECONDS = 5
MAX_QUIET_BARS = 12  # flat bars sent for windows without prices, then silence
DISPLAY_SIZE = 100.0
RT_WHAT = ("TRADES", "MIDPOINT", "BID", "ASK")


class RealtimeBars:
    """One ``reqRealTimeBars`` subscription: the 5-second window being built."""

    def __init__(self, req_id: int, con_id: int, what: str) -> None:
        self.req_id = req_id
        self.con_id = con_id
        self.what = what
        self.start: int | None = None
        self.ohlc: list[float] = []
        self.volume = 0.0
        self.notional = 0.0
        self.count = 0
        self.last_close: float | None = None
        self.quiet = 0

    def value(self, q: Quote) -> tuple[float, float] | None:
        """(price, volume) this subscription takes from a market update."""
        if self.what == "TRADES":
            if q.last is None:
                return None
            return q.last, q.last_size if q.last_size is not None else DISPLAY_SIZE
        price = {"MIDPOINT": q.mid(), "BID": q.bid, "ASK": q.ask}[self.what]
        return round(price, 10), 0.0

    def add(self, now: float, price: float, volume: float) -> list[tuple[object, ...]]:
        done = self.close_until(now)
        if self.start is None:
            self.start = int(now // BAR_SECONDS) * BAR_SECONDS
        if not self.ohlc:
            self.ohlc = [price, price, price, price]
        else:
            o, h, lo, _ = self.ohlc
            self.ohlc = [o, max(h, price), min(lo, price), price]
        self.volume += volume
        self.notional += price * (volume or 1.0)
        self.count += 1
        self.quiet = 0
        return done

    def close_until(self, now: float) -> list[tuple[object, ...]]:
        """The bars of every window that ended by ``now``."""
        out: list[tuple[object, ...]] = []
        while self.start is not None and now >= self.start + BAR_SECONDS:
            if self.ohlc:
                o, h, lo, c = self.ohlc
                weight = self.volume or float(self.count)
                wap = self.notional / weight if weight else c
                out.append((self.req_id, self.start, o, h, lo, c, self.volume,
                            round(wap, 10), self.count))
                self.last_close = c
            elif self.last_close is not None and self.quiet < MAX_QUIET_BARS:
                c = self.last_close
                out.append((self.req_id, self.start, c, c, c, c, 0.0, c, 0))
                self.quiet += 1
            self.start += BAR_SECONDS
            self.ohlc, self.volume, self.notional, self.count = [], 0.0, 0.0, 0
            if self.quiet >= MAX_QUIET_BARS and not self.ohlc:
                self.start = None
        return out


class MarketData:
    """Market-data and real-time-bar subscriptions of every session."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def subscribe(self, sess: Session, req_id: int, contract: Contract, snapshot: bool) -> None:
        """``reqMktData``."""
        listing = self.gw.catalogue.resolve(contract)
        if listing is None:
            sess.error(req_id, 200, "No security definition has been found for the request")
            return
        sess.send("tickReqParams", req_id, listing.min_tick, "9c0001", 3)
        if sess.market_data_type:
            sess.send("marketDataType", req_id, 1)
        quote = self.gw.quotes.get(listing.con_id)
        if quote is not None:
            _ticks(sess, req_id, quote)
        if snapshot:
            sess.send("tickSnapshotEnd", req_id)
        else:
            sess.market_data[req_id] = listing.con_id

    def subscribe_bars(self, sess: Session, req_id: int, contract: Contract, bar_size: int,
                       what: str) -> None:
        """``reqRealTimeBars``."""
        listing = self.gw.catalogue.resolve(contract)
        if listing is None:
            sess.error(req_id, 200, "No security definition has been found for the request")
            return
        if int(bar_size) != BAR_SECONDS:
            sess.error(req_id, 321, "Error validating request:-'bI' : cause - Invalid bar "
                                    f"size {bar_size}: real-time bars are 5 seconds")
            return
        what = what.upper()
        if what not in RT_WHAT:
            sess.error(req_id, 321, f"Error validating request:-'bI' : cause - Invalid "
                                    f"whatToShow {what!r}")
            return
        if what == "TRADES" and listing.sec_type == "CASH":
            sess.error(req_id, 162, "Historical Market Data Service error message:No data of "
                                    f"type TRADES is available for {listing.local_symbol}")
            return
        sess.realtime_bars[req_id] = RealtimeBars(req_id, listing.con_id, what)
        self._arm_timer(sess)

    def on_quote(self, listing: Listing, quote: Quote) -> None:
        """A market update: ticks to subscribers, prices into real-time bars."""
        now = self.gw.clock()
        for sess in self.gw.sessions:
            for req_id, con_id in sess.market_data.items():
                if con_id == listing.con_id:
                    _ticks(sess, req_id, quote)
            for sub in sess.realtime_bars.values():
                if sub.con_id != listing.con_id:
                    continue
                taken = sub.value(quote)
                bars = sub.add(now, *taken) if taken else sub.close_until(now)
                for bar in bars:
                    sess.send("realtimeBar", *bar)

    def close_windows(self) -> None:
        """Send the bars of every window that has ended (the clock moved)."""
        now = self.gw.clock()
        for sess in self.gw.sessions:
            for sub in sess.realtime_bars.values():
                for bar in sub.close_until(now):
                    sess.send("realtimeBar", *bar)

    def _arm_timer(self, sess: Session) -> None:
        if sess.rt_timer is not None or not sess.realtime_bars:
            return
        now = self.gw.clock()
        delay = (math.floor(now / BAR_SECONDS) + 1) * BAR_SECONDS - now + 0.01
        sess.rt_timer = sess.loop.call_later(delay, self._on_timer, sess)

    def _on_timer(self, sess: Session) -> None:
        sess.rt_timer = None
        if not sess.open:
            return
        with self.gw.operation():
            self.close_windows()
        self._arm_timer(sess)


def _ticks(sess: Session, req_id: int, q: Quote) -> None:
    bid_size = _display(q.bid_size)
    ask_size = _display(q.ask_size)
    sess.send("priceSizeTick", req_id, 1, q.bid, bid_size)
    sess.send("tickSize", req_id, 0, bid_size)
    sess.send("priceSizeTick", req_id, 2, q.ask, ask_size)
    sess.send("tickSize", req_id, 3, ask_size)
    if q.last is not None:
        last_size = _display(q.last_size)
        sess.send("priceSizeTick", req_id, 4, q.last, last_size)
        sess.send("tickSize", req_id, 5, last_size)


def _display(size: float | None) -> float:
    return DISPLAY_SIZE if size is None or math.isinf(size) else float(size)
