"""Market and reference data of a FIX venue.

* :class:`FixMarketDataClient`: the top of book by MarketDataRequest (V): a snapshot (W) and
  incremental refreshes (X) become :class:`~tradeloop.model.data.QuoteTick` items on
  :meth:`~FixMarketDataClient.stream`, timestamped with the venue's SendingTime (never going
  back). Subscriptions are made again after every reconnection. FIX venues stream neither
  bars nor history: those raise :class:`~tradeloop.brokers.fix.errors.FixUnsupportedError`.
* :class:`FixInstrumentProvider`: the venue's instruments, from its SecurityList (x/y) or from
  the adapter's settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal

import simplefix

from tradeloop.brokers.base import StreamQueue, pick_instruments
from tradeloop.brokers.fix import parse, parse_data
from tradeloop.brokers.fix.client import FixClient
from tradeloop.brokers.fix.config import FixAdapterConfig
from tradeloop.brokers.fix.errors import FixSubscriptionError, FixUnsupportedError
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import BarSeries, QuoteTick
from tradeloop.model.instrument import Instrument

logger = logging.getLogger(__name__)


class FixMarketDataClient:
    """Quotes of a FIX venue.

    Parameters
    ----------
    config : FixAdapterConfig
    client : FixClient
        The market data session (the order session when the venue has no separate one).
    capabilities : VenueCapabilities
    on_quote : callable, optional
        Also told each quote (the execution client prices marketable limits from it).
    """

    def __init__(self, config: FixAdapterConfig, client: FixClient,
                 capabilities: VenueCapabilities,
                 on_quote: Callable[[QuoteTick], None] | None = None) -> None:
        self.venue = config.venue
        self.capabilities = capabilities
        self.client = client
        self._on_quote = on_quote
        self._queue = StreamQueue()
        self._requests: dict[str, str] = {}  # symbol -> MDReqID
        self._book: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
        self._last_ts: dict[str, int] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}  # MDReqID -> its snapshot
        self._connected = False
        client.route(parse.MD_SNAPSHOT, self._on_snapshot)
        client.route(parse.MD_INCREMENTAL, self._on_incremental)
        client.route(parse.MD_REJECT, self._on_reject)
        client.on_logon(self._resubscribe)

    async def connect(self) -> None:
        """Log the session on (if the execution client has not already)."""
        if self._connected:
            return
        await self.client.open()
        self._connected = True

    async def disconnect(self) -> None:
        """End the stream; log out when no other client uses the session."""
        self._queue.close()
        if self._connected:
            self._connected = False
            await self.client.close()

    async def subscribe_quotes(self, symbol: str) -> None:
        """Ask for the bid and offer of ``symbol`` (snapshot, then updates); returns once the
        venue sent the snapshot.

        Raises
        ------
        FixSubscriptionError
            The venue refused (MarketDataRequestReject).
        FixQueryTimeoutError, FixNotLoggedOnError
            No snapshot in time, or not logged on: retryable.
        """
        if symbol in self._requests:
            return
        request_id = self.client.new_id("MD")
        self._requests[symbol] = request_id
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await self.client.request(parse_data.market_data_request(request_id, symbol, True),
                                      answer, what=f"MarketDataRequest {symbol}",
                                      changes_state=False)
        except BaseException:
            if self._requests.get(symbol) == request_id:
                del self._requests[symbol]
            raise
        finally:
            self._pending.pop(request_id, None)

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        request_id = self._requests.pop(symbol, None)
        self._book.pop(symbol, None)
        if request_id is not None and self.client.logged_on:
            await self.client.send(parse_data.market_data_request(request_id, symbol, False))

    async def subscribe_trades(self, symbol: str) -> None:
        """Not served: FIX venues here publish no trades."""
        raise FixUnsupportedError(f"{self.venue} streams no trades over FIX")

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Nothing to stop."""

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Not served: build bars from the quotes."""
        raise FixUnsupportedError(f"{self.venue} streams no bars over FIX; build them from "
                                  "its quotes")

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Nothing to stop."""

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Not served: read history from the data store."""
        raise FixUnsupportedError(f"{self.venue} serves no historical bars over FIX")

    def stream(self) -> AsyncIterator[MarketData]:
        """The quotes as they arrive, until :meth:`disconnect`."""
        return self._queue.items()

    # -- inbound ----------------------------------------------------------------------------

    def _on_snapshot(self, message: simplefix.FixMessage) -> None:
        symbol = parse.text(message, 55) or ""
        waiter = self._pending.get(parse.text(message, 262) or "")
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if symbol not in self._requests:
            return
        sides: dict[str, tuple[Decimal, Decimal]] = {}
        for entry in parse_data.market_data_entries(message):
            if entry.price is not None and not entry.delete:
                sides[entry.side] = (entry.price, entry.size or Decimal(0))
        self._book[symbol] = sides
        self._publish(symbol, parse.timestamp(message, 52))

    def _on_incremental(self, message: simplefix.FixMessage) -> None:
        touched: list[str] = []
        for entry in parse_data.market_data_entries(message):
            if entry.symbol not in self._requests:
                continue
            sides = self._book.setdefault(entry.symbol, {})
            if entry.delete or entry.price is None:
                sides.pop(entry.side, None)
            else:
                sides[entry.side] = (entry.price, entry.size or Decimal(0))
            if entry.symbol not in touched:
                touched.append(entry.symbol)
        ts = parse.timestamp(message, 52)
        for symbol in touched:
            self._publish(symbol, ts)

    def _on_reject(self, message: simplefix.FixMessage) -> None:
        request_id = parse.text(message, 262) or ""
        symbol = next((s for s, r in self._requests.items() if r == request_id), None)
        if symbol is not None:
            del self._requests[symbol]
        text = parse.text(message, 58) or "no reason given"
        logger.error("FIX MarketDataRequest refused", extra={"fields": {
            "symbol": symbol, "reason": parse.text(message, 281), "text": text}})
        waiter = self._pending.get(request_id)
        if waiter is not None and not waiter.done():
            waiter.set_exception(FixSubscriptionError(
                f"{self.venue} refused quotes of {symbol}: {text}"))

    def _publish(self, symbol: str, ts: int) -> None:
        sides = self._book.get(symbol, {})
        if "0" not in sides or "1" not in sides:
            return
        ts = max(ts, self._last_ts.get(symbol, 0))
        self._last_ts[symbol] = ts
        (bid, bid_size), (ask, ask_size) = sides["0"], sides["1"]
        quote = QuoteTick(symbol, ts, float(bid), float(ask), float(bid_size), float(ask_size))
        self._queue.put(quote)
        if self._on_quote is not None:
            self._on_quote(quote)

    async def _resubscribe(self, reconnected: bool) -> None:
        if not reconnected or not self._connected:
            return
        for symbol in list(self._requests):
            request_id = self.client.new_id("MD")
            self._requests[symbol] = request_id
            await self.client.send(parse_data.market_data_request(request_id, symbol, True))


class FixInstrumentProvider:
    """The venue's instruments: its SecurityList when ``security_list`` is set (asked once
    per connection of the order session), else the settings' ``instruments``.

    Parameters
    ----------
    config : FixAdapterConfig
    client : FixClient
        The order session.
    """

    def __init__(self, config: FixAdapterConfig, client: FixClient) -> None:
        self.config = config
        self.client = client
        self._known: dict[str, Instrument] = {
            i.symbol: Instrument(symbol=i.symbol, venue=config.venue,
                                 asset_class=i.asset_class, quote_currency=i.currency,
                                 tick_size=i.tick_size, lot_step=i.lot_step,
                                 min_quantity=i.min_quantity or i.lot_step)
            for i in config.instruments}
        self._lists: dict[str, tuple[asyncio.Future[None], list[parse_data.Security]]] = {}
        client.route(parse.SECURITY_LIST, self._on_security_list)

    def tick(self, symbol: str) -> Decimal | None:
        """``symbol``'s tick size, when known."""
        found = self._known.get(symbol)
        return found.tick_size if found is not None else None

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The venue's instruments (only ``symbols`` when given).

        Raises
        ------
        ConfigError
            A symbol the venue does not list.
        FixNotLoggedOnError, FixQueryTimeoutError
            The SecurityList could not be asked for or did not come: retryable.
        """
        if self.config.security_list:
            await self._ask()
        where = f"the FIX venue {self.config.venue} ({self.config.session.session_id})"
        return pick_instruments(list(self._known.values()), symbols, where)

    async def _ask(self) -> None:
        request_id = self.client.new_id("L")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entries: list[parse_data.Security] = []
        self._lists[request_id] = (done, entries)
        try:
            await self.client.request(parse_data.security_list_request(request_id), done,
                                      what="SecurityListRequest", changes_state=False)
        finally:
            self._lists.pop(request_id, None)
        currency = self.config.account_currency
        for item in entries:
            lot = item.lot if item.lot and item.lot > 0 else Decimal(1)
            self._known[item.symbol] = Instrument(
                symbol=item.symbol, venue=self.config.venue,
                quote_currency=item.currency or currency,
                tick_size=item.tick if item.tick and item.tick > 0 else Decimal("0.01"),
                lot_step=lot, min_quantity=item.min_quantity or lot)

    def _on_security_list(self, message: simplefix.FixMessage) -> None:
        pending = self._lists.get(parse.text(message, 320) or "")
        if pending is None:
            return
        done, entries = pending
        entries.extend(parse_data.security_list(message, self.config.tick_size_tag))
        if parse.text(message, 893) != "N" and not done.done():
            done.set_result(None)


__all__ = ["FixInstrumentProvider", "FixMarketDataClient"]
