"""A broker's market data as a trading node's data source.

A live node names what it wants as the data store does: ``"EURUSD@1m"`` (one-minute bars),
``"EURUSD@quotes"``, ``"EURUSD@trades"``. Bars come from the venue when it streams them;
otherwise they are built from its quotes (mid price) by the same bar builder the backtester and
paper nodes use. A time bar closes at the first quote after its end, or when its end passes
with no quote at all, so a quiet market still closes its bars on time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from tradeloop.brokers.base import cancel_tasks
from tradeloop.core.errors import ConfigError
from tradeloop.data.bars import BarBuilder, TimeBars
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.execution.ports import MarketData, MarketDataClient
from tradeloop.model.data import Bar, QuoteTick, TradeTick


@dataclass(frozen=True)
class Wanted:
    """One ``SYMBOL@what`` a node asked for."""

    symbol: str
    what: str  # "quotes", "trades" or a timeframe such as "1m"

    @classmethod
    def parse(cls, text: str) -> Wanted:
        """``"EURUSD@1m"`` -> Wanted("EURUSD", "1m"); a bare symbol means its quotes."""
        symbol, _, what = text.partition("@")
        what = what or "quotes"
        if not symbol:
            raise ConfigError(f"data.symbols: {text!r} has no symbol")
        if what not in ("quotes", "trades"):
            try:
                parse_timeframe(what)
            except ConfigError as exc:
                raise ConfigError(f"data.symbols: {text!r}: {exc}") from None
        return cls(symbol, what)


class BrokerMarketData:
    """A :class:`~tradeloop.execution.ports.MarketDataClient` as a node's ``MarketDataSource``.

    Parameters
    ----------
    client : MarketDataClient
    wanted : sequence of str
        ``SYMBOL@1m``, ``SYMBOL@quotes``, ``SYMBOL@trades``.
    name : str
        Shown in logs and status (the broker's name).
    """

    def __init__(self, client: MarketDataClient, wanted: Sequence[str], name: str) -> None:
        self.client = client
        self.name = name
        self.wanted = [Wanted.parse(w) for w in wanted]
        if not self.wanted:
            raise ConfigError("data.symbols: name what the node needs from the broker, "
                              "e.g. [\"EURUSD@1m\"]")
        self._builders: dict[str, list[BarBuilder]] = {}
        self._pass: set[tuple[str, str]] = set()  # (symbol, kind) delivered as they come
        self._queue: asyncio.Queue[MarketData | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self._started = False

    async def start(self) -> None:
        """Connect and subscribe (once)."""
        if self._started:
            return
        self._started = True
        caps = self.client.capabilities
        await self.client.connect()
        for w in self.wanted:
            if w.what == "quotes":
                await self.client.subscribe_quotes(w.symbol)
                self._pass.add((w.symbol, "quote"))
            elif w.what == "trades":
                await self.client.subscribe_trades(w.symbol)
                self._pass.add((w.symbol, "trade"))
            elif caps.bars:
                await self.client.subscribe_bars(w.symbol, w.what)
                self._pass.add((w.symbol, w.what))
            elif caps.quotes:
                await self.client.subscribe_quotes(w.symbol)
                self._builders.setdefault(w.symbol, []).append(
                    BarBuilder(w.symbol, TimeBars(w.what)))
            else:
                raise ConfigError(f"data.symbols: {self.name} streams neither bars nor quotes "
                                  f"for {w.symbol}")
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def stop(self) -> None:
        """Disconnect; the iteration ends."""
        await cancel_tasks(self._task)
        await self.client.disconnect()
        self._queue.put_nowait(None)

    async def _pump(self) -> None:
        try:
            async for item in self.client.stream():
                self._queue.put_nowait(item)
        except Exception as exc:  # the stream's end, told to whoever iterates (a lost login)
            self._error = exc
        finally:
            self._queue.put_nowait(None)

    def _due_in(self) -> float | None:
        due = [b.next_due_ns for bs in self._builders.values() for b in bs
               if b.next_due_ns is not None]
        if not due:
            return None
        return max(0.0, (min(due) - time.time_ns()) / 1e9)

    def _route(self, item: MarketData) -> list[MarketData]:
        out: list[MarketData] = []
        if isinstance(item, QuoteTick):
            if (item.symbol, "quote") in self._pass:
                out.append(item)
            for builder in self._builders.get(item.symbol, ()):
                out.extend(builder.on_quote(item.ts, item.bid, item.ask))
        elif isinstance(item, TradeTick):
            if (item.symbol, "trade") in self._pass:
                out.append(item)
        elif isinstance(item, Bar) and (item.symbol, item.timeframe) in self._pass:
            out.append(item)
        return out

    async def __aiter__(self) -> AsyncIterator[MarketData]:
        """Bars and ticks in the order they become known."""
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), self._due_in())
            except TimeoutError:
                now = time.time_ns()
                for builders in self._builders.values():
                    for builder in builders:
                        for bar in builder.on_time(now):
                            yield bar
                continue
            if item is None:
                if self._error is not None:
                    raise self._error
                return
            for out in self._route(item):
                yield out


__all__ = ["BrokerMarketData", "Wanted"]
