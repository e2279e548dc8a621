"""The served paper venue as a broker (``[broker] name = "paper"``): a live node trading a paper
account over the network exactly as it would trade a real broker, and the first adapter the
conformance suite runs against.

``[broker.settings]``: ``url`` (default ``http://127.0.0.1:8801``), ``token_env`` (the variable
holding the venue's bearer token, if it needs one), ``owner`` (who this node is at a shared
venue), and the timeouts of :class:`~tradeloop.brokers.paper.config.PaperClientConfig`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tradeloop.brokers.base import BrokerAdapter, StreamQueue, cancel_tasks
from tradeloop.brokers.paper.config import PaperClientConfig
from tradeloop.brokers.paper.data import PaperMarketDataClient
from tradeloop.brokers.paper.execution import PaperExecutionClient
from tradeloop.core.errors import ConfigError, FatalVenueError
from tradeloop.core.secrets import lookup_secret
from tradeloop.execution.ports import MarketData, VenueCapabilities
from tradeloop.model.data import Bar, BarSeries, QuoteTick, TradeTick
from tradeloop.model.instrument import Instrument

#: The served paper venue relays the quotes, trades and bars it is fed; it makes no bars of its
#: own (a node builds them from its quotes) and keeps no history.
CAPABILITIES = VenueCapabilities(bars=False, history=False)


class PaperBrokerData:
    """The paper venue's market stream as a :class:`~tradeloop.execution.ports.MarketDataClient`.

    The venue streams everything it is fed; this client passes on what was subscribed.

    Parameters
    ----------
    config : PaperClientConfig
    """

    capabilities = CAPABILITIES

    def __init__(self, config: PaperClientConfig) -> None:
        self.config = config
        self.venue = config.venue
        self._quotes: set[str] = set()
        self._trades: set[str] = set()
        self._bars: set[tuple[str, str]] = set()
        self._queue = StreamQueue()
        self._client: PaperMarketDataClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Open the venue's market stream."""
        if self._task is not None:
            return
        self._client = PaperMarketDataClient(self.config)
        self._task = asyncio.get_running_loop().create_task(self._pump(self._client))
        waiter = asyncio.ensure_future(self._client.connected.wait())
        done, _ = await asyncio.wait({waiter, self._task},
                                     timeout=self.config.stream_open_timeout_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self._task in done:
                self._task.result()  # raises what ended the stream
            raise FatalVenueError(f"the paper venue at {self.config.url} opened no market "
                                  "stream")

    async def disconnect(self) -> None:
        """Close the stream; :meth:`stream` ends."""
        if self._client is not None:
            await self._client.close()
        await cancel_tasks(self._task)
        self._task = self._client = None
        self._queue.close()

    async def subscribe_quotes(self, symbol: str) -> None:
        """Pass on the quotes of ``symbol``."""
        self._quotes.add(symbol)

    async def unsubscribe_quotes(self, symbol: str) -> None:
        """Stop them."""
        self._quotes.discard(symbol)

    async def subscribe_trades(self, symbol: str) -> None:
        """Pass on the trades of ``symbol``."""
        self._trades.add(symbol)

    async def unsubscribe_trades(self, symbol: str) -> None:
        """Stop them."""
        self._trades.discard(symbol)

    async def subscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Pass on the venue's ``timeframe`` bars of ``symbol``."""
        self._bars.add((symbol, timeframe))

    async def unsubscribe_bars(self, symbol: str, timeframe: str) -> None:
        """Stop them."""
        self._bars.discard((symbol, timeframe))

    async def historical_bars(self, symbol: str, timeframe: str, start_ns: int,
                              end_ns: int) -> BarSeries:
        """Not served: the paper venue keeps no history (read it from the data store)."""
        raise FatalVenueError("the paper venue serves no historical bars; use the data store")

    def stream(self) -> AsyncIterator[MarketData]:
        """The subscribed items as the venue sends them."""
        return self._queue.items()

    def _wanted(self, item: MarketData) -> bool:
        if isinstance(item, QuoteTick):
            return item.symbol in self._quotes
        if isinstance(item, TradeTick):
            return item.symbol in self._trades
        assert isinstance(item, Bar)
        return (item.symbol, item.timeframe) in self._bars

    async def _pump(self, client: PaperMarketDataClient) -> None:
        async for item in client:
            if self._wanted(item):
                self._queue.put(item)


class PaperVenueInstruments:
    """The instruments the served venue lists."""

    def __init__(self, client: PaperExecutionClient) -> None:
        self._client = client

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The venue's instruments (only ``symbols`` when given)."""
        return await self._client.instruments(symbols)


def client_config(settings: Mapping[str, Any]) -> PaperClientConfig:
    """``[broker.settings]`` of the paper adapter as a client config.

    Raises
    ------
    ConfigError
        A wrong or unknown setting, or a token variable that is not set.
    """
    values = dict(settings)
    token_env = values.pop("token_env", None)
    if token_env:
        token = lookup_secret(str(token_env))
        if token is None or not token.get_secret_value():
            raise ConfigError(f"broker.settings.token_env: the variable {token_env} is not set")
        values["token"] = token
    try:
        return PaperClientConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"broker.settings.{where}: {first['msg']}") from None


def create_adapter(settings: Mapping[str, Any], *, variant: str, home: Path) -> BrokerAdapter:
    """The paper venue at ``settings["url"]`` as a broker."""
    if variant:
        raise ConfigError(f"broker.name: the paper adapter has no variants (got paper:{variant})")
    config = client_config(settings)
    execution = PaperExecutionClient(config, capabilities=CAPABILITIES)
    return BrokerAdapter("paper", execution, PaperVenueInstruments(execution),
                         PaperBrokerData(config))


__all__ = ["CAPABILITIES", "PaperBrokerData", "client_config", "create_adapter"]
