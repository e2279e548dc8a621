"""MetaTrader 5 market data (:class:`Mt5MarketDataClient`): quotes polled with
``copy_ticks_from`` (every tick since the last one seen, so none is skipped between polls) and
history with ``copy_rates_range``, both converted from the server's clock to UTC. Bars for a
live node are built from the quotes by the node's bar builder (``bars = False`` here)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from tradeloop.brokers.base import StreamQueue
from tradeloop.brokers.mt5.client import Mt5Client
from tradeloop.brokers.mt5.config import server_ms_to_utc_ns, server_to_utc_ns, utc_ns_to_server
from tradeloop.brokers.mt5.errors import Mt5FatalError
from tradeloop.core.errors import ConfigError, VenueError
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import BarSeries, QuoteTick

logger = logging.getLogger(__name__)
_NS = 10**9
#: Our timeframe in seconds -> MetaTrader's TIMEFRAME_* name.
TIMEFRAMES = {60: "TIMEFRAME_M1", 300: "TIMEFRAME_M5", 900: "TIMEFRAME_M15",
              1800: "TIMEFRAME_M30", 3600: "TIMEFRAME_H1", 14_400: "TIMEFRAME_H4",
              86_400: "TIMEFRAME_D1", 604_800: "TIMEFRAME_W1"}
COPY_TICKS_ALL = -1
_BATCH = 10_000


class Mt5MarketDataClient:
    """Quotes and historical bars from the terminal.

    Parameters
    ----------
    client : Mt5Client
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: Mt5Client, capabilities: VenueCapabilities,
                 venue: str = "MT5") -> None:
        self.client = client
        self.capabilities = capabilities
        self.venue = venue
        self._quotes: dict[str, int] = {}  # symbol -> last time_msc seen (server clock)
        self._queue = StreamQueue()
        self._task: asyncio.Task[None] | None = None
        self._connected = False

    async def connect(self) -> None:
        """Initialize the terminal (shared with the execution client) and start polling."""
        if self._connected:
            return
        await self.client.open()
        self._connected = True
        self._queue = StreamQueue()
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="mt5-quotes")

    async def disconnect(self) -> None:
        """Stop polling; the stream ends."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._connected:
            self._connected = False
            self._queue.close()
            await self.client.close()

    async def subscribe_quotes(self, symbol: str) -> None:
        """Select ``symbol`` and stream its ticks from now on.

        Raises
        ------
        ConfigError
            A symbol the terminal does not list.
        """
        await self._select(symbol)
        tick = await self.client.call("symbol_info_tick", symbol)
        self._quotes[symbol] = int(tick.time_msc) - 1  # the current quote comes too

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        self._quotes.pop(symbol, None)

    async def subscribe_trades(self, symbol: str) -> None:
        """Not served: MetaTrader 5 forex symbols have no trade prints."""
        raise Mt5FatalError("MetaTrader 5 streams no trades")

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Nothing to stop."""

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Not served: a node builds bars from the quotes."""
        raise Mt5FatalError("MetaTrader 5 bars are built from its quotes by the node")

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Nothing to stop."""

    def stream(self) -> AsyncIterator[MarketData]:
        """The subscribed quotes as they are polled."""
        return self._queue.items()

    async def _poll(self) -> None:
        zone = self.client.config.zone
        while True:
            await asyncio.sleep(self.client.config.poll_interval_s)
            for symbol, seen in list(self._quotes.items()):
                last = seen
                try:
                    ticks = await self.client.call("copy_ticks_from", symbol, last // 1000,
                                                   _BATCH, COPY_TICKS_ALL)
                except asyncio.CancelledError:
                    raise
                except VenueError as exc:
                    logger.warning("tick poll failed", extra={"fields": {
                        "symbol": symbol, "error": str(exc)}})
                    continue
                for tick in ticks:
                    msc = int(tick["time_msc"])
                    if msc <= last or symbol not in self._quotes:
                        continue
                    last = msc
                    self._queue.put(QuoteTick(symbol, server_ms_to_utc_ns(msc, zone),
                                              float(tick["bid"]), float(tick["ask"])))
                if symbol in self._quotes:
                    self._quotes[symbol] = last

    async def _select(self, symbol: str) -> None:
        if not await self.client.select(symbol):
            raise ConfigError(f"MetaTrader 5 does not list {symbol!r} (Market Watch cannot "
                              f"select it)")

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Complete bars opening in ``[start_ns, end_ns)`` from ``copy_rates_range``, their
        times converted to UTC.

        Raises
        ------
        ConfigError
            A timeframe MetaTrader does not have, or a symbol the terminal does not list.
        """
        tf = parse_timeframe(timeframe)
        seconds = tf.ns // _NS
        name = TIMEFRAMES.get(int(seconds))
        if name is None or tf.ns % _NS:
            raise ConfigError(f"timeframe {timeframe!r}: MetaTrader 5 serves "
                              f"{', '.join(f'{s}s' for s in TIMEFRAMES)}")
        zone = self.client.config.zone
        await self._select(symbol)
        rates = await self.client.call(
            "copy_rates_range", symbol, self.client.constant(name),
            utc_ns_to_server(start_ns, zone), utc_ns_to_server(end_ns, zone))
        rows: list[Any] = list(rates)
        ts = np.array([server_to_utc_ns(float(r["time"]), zone) for r in rows], dtype=np.int64)
        keep = (ts >= start_ns) & (ts < end_ns)
        column = {k: np.array([float(r[k]) for r in rows], dtype=np.float64)
                  for k in ("open", "high", "low", "close", "tick_volume")}
        order = np.argsort(ts[keep], kind="stable")
        return BarSeries(symbol, ts[keep][order], column["open"][keep][order],
                         column["high"][keep][order], column["low"][keep][order],
                         column["close"][keep][order], column["tick_volume"][keep][order],
                         timeframe_ns=tf.ns, source="mt5")


__all__ = ["Mt5MarketDataClient"]
