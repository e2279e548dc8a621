"""What every venue adapter shares: the bundle a node receives, the table of adapters by name,
and small helpers each adapter would otherwise write again.

Adapters are listed in :data:`ADAPTERS` by name, each as the import path of its factory, so a
vendor SDK is imported only when its adapter is chosen (``broker = "ccxt:binance"`` imports
ccxt, nothing else does). There is no discovery by magic names: an adapter that is not in the
table does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import importlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tradeloop.core.errors import ConfigError
from tradeloop.execution.ports import (
    InstrumentProvider,
    LiveExecutionClient,
    MarketData,
    MarketDataClient,
    VenueCapabilities,
)
from tradeloop.model.instrument import Instrument

#: Adapter name -> ``module:factory``; the factory is an :class:`AdapterFactory`.
ADAPTERS: dict[str, str] = {
    "paper": "tradeloop.brokers.paper.adapter:create_adapter",
    "fix": "tradeloop.brokers.fix:create_adapter",
    "ccxt": "tradeloop.brokers.ccxt:create_adapter",
    "mt5": "tradeloop.brokers.mt5:create_adapter",
    "ibkr": "tradeloop.brokers.ibkr:create_adapter",
    "alpaca": "tradeloop.brokers.alpaca:create_adapter",
    "schwab": "tradeloop.brokers.schwab:create_adapter",
    "fyers": "tradeloop.brokers.fyers:create_adapter",
    "ctrader": "tradeloop.brokers.ctrader:create_adapter",
}

#: The extra that installs an adapter's vendor library, when it needs one.
EXTRAS: dict[str, str] = {"fix": "fix", "ccxt": "ccxt", "mt5": "mt5", "ibkr": "ibkr",
                          "alpaca": "alpaca", "schwab": "schwab", "fyers": "fyers",
                          "ctrader": "ctrader"}


@dataclass
class BrokerAdapter:
    """One venue as a node uses it.

    Attributes
    ----------
    name : str
        As configured (``"fix"``, ``"ccxt:binance"``).
    execution : LiveExecutionClient
    instruments : InstrumentProvider
    market_data : MarketDataClient or None
        None when the venue serves no market data (the node then needs another source).
    """

    name: str
    execution: LiveExecutionClient
    instruments: InstrumentProvider
    market_data: MarketDataClient | None = None

    @property
    def capabilities(self) -> VenueCapabilities:
        """What the venue does natively."""
        return self.execution.capabilities

    async def close(self) -> None:
        """Disconnect both clients (safe to call when they never connected)."""
        if self.market_data is not None:
            await self.market_data.disconnect()
        await self.execution.disconnect()


class AdapterFactory(Protocol):
    """Builds an adapter from its ``[broker.settings]`` table.

    ``variant`` is what follows the colon in the name (``"binance"`` in ``"ccxt:binance"``),
    ``""`` when there is none; ``home`` is where the adapter keeps its state (FIX sequence
    numbers, tokens). Bad settings raise ``ConfigError`` naming the field.
    """

    def __call__(self, settings: Mapping[str, Any], *, variant: str, home: Path
                 ) -> BrokerAdapter:
        ...


#: Brokers whose tokens need a person to log in (an OAuth consent, a daily code), by name, each
#: as the import path of its ``interactive_login(settings, home, ask, show)``.
LOGINS: dict[str, str] = {
    "schwab": "tradeloop.brokers.schwab.auth:interactive_login",
    "fyers": "tradeloop.brokers.fyers.auth:interactive_login",
}


def interactive_login(name: str, settings: Mapping[str, Any], home: Path,
                      ask: Callable[[str], str], show: Callable[[str], None]) -> None:
    """Log in to broker ``name`` with a person at the keyboard: ``show`` tells them what to
    do (a URL to open), ``ask`` takes their answer (the address they were sent back to).

    Raises
    ------
    ConfigError
        A broker without such a login (with the ones that have one), a missing library.
    """
    target = LOGINS.get(name)
    if target is None:
        hint = difflib.get_close_matches(name, sorted(LOGINS), n=1, cutoff=0.5)
        also = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(f"broker {name!r} has no interactive login{also} (brokers that "
                          f"have one: {', '.join(sorted(LOGINS))}); the others take keys from "
                          "the environment")
    login = _load(name, target)
    login(settings, home, ask, show)


def _load(kind: str, target: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("tradeloop"):
            extra = EXTRAS.get(kind, kind)
            raise ConfigError(f"broker.name: the {kind} adapter needs the {exc.name} package: "
                              f"pip install 'tradeloop[{extra}]'") from None
        raise
    return getattr(module, attr)


def create_adapter(name: str, settings: Mapping[str, Any], home: Path) -> BrokerAdapter:
    """The adapter configured as ``name`` with ``settings``.

    Raises
    ------
    ConfigError
        An unknown name (with the closest known one), a missing optional library (with the
        extra that installs it), or settings the adapter refuses.
    """
    kind, _, variant = name.partition(":")
    target = ADAPTERS.get(kind)
    if target is None:
        hint = difflib.get_close_matches(kind, sorted(ADAPTERS), n=1, cutoff=0.5)
        also = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(f"broker.name: unknown adapter {kind!r}{also} "
                          f"(known: {', '.join(sorted(ADAPTERS))})")
    factory: AdapterFactory = _load(kind, target)
    return factory(settings, variant=variant, home=home)


def pick_instruments(available: Sequence[Instrument], symbols: Sequence[str] | None,
                     venue: str) -> list[Instrument]:
    """``available`` narrowed to ``symbols`` (all when None), in the order asked.

    Raises
    ------
    ConfigError
        A symbol the venue does not list, with the closest one it does.
    """
    if symbols is None:
        return list(available)
    by_symbol = {i.symbol: i for i in available}
    out = []
    for symbol in symbols:
        found = by_symbol.get(symbol)
        if found is None:
            hint = difflib.get_close_matches(symbol, sorted(by_symbol), n=1, cutoff=0.6)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{venue} does not list {symbol!r}{also}")
        out.append(found)
    return out


async def cancel_tasks(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel background tasks and wait until each has ended (whatever it raised)."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@dataclass
class StreamQueue:
    """The queue behind an adapter's :meth:`MarketDataClient.stream`: the adapter puts what
    arrives, the node iterates; :meth:`close` ends the iteration after what was queued."""

    limit: int = 100_000
    _queue: asyncio.Queue[MarketData | None] = field(init=False)
    dropped: int = 0

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.limit)

    def put(self, item: MarketData) -> None:
        """Queue ``item``; when the reader lags ``limit`` items behind, drop the oldest."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    def close(self) -> None:
        """End the stream once the reader has taken what is queued."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(None)

    async def items(self) -> AsyncIterator[MarketData]:
        """What was put, in order, until :meth:`close`."""
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item


__all__ = ["ADAPTERS", "LOGINS", "AdapterFactory", "BrokerAdapter", "StreamQueue", "cancel_tasks",
           "create_adapter", "interactive_login", "pick_instruments"]
