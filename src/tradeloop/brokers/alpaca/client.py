"""The transport to Alpaca: alpaca-py's clients and streams, set up for a node.

* REST (:class:`AlpacaClient`): ``TradingClient``, ``StockHistoricalDataClient`` and
  ``CryptoHistoricalDataClient`` with ``raw_data=True`` (Alpaca's JSON, so prices and
  quantities stay exact strings). Their calls block, so each runs in a worker thread
  (:meth:`AlpacaClient.call`), with every failure translated by :mod:`.errors`. alpaca-py has
  no timeout setting and retries 429 and 504 answers itself with three-second sleeps; here
  every request times out after ``timeout_s`` and nothing is retried inside the SDK: the live
  router retries what is retryable and looks up what is unknown.
* Streams (:class:`TradeUpdates`, :class:`StockStream`, :class:`CryptoStream`): alpaca-py's
  ``TradingStream`` and data streams assume a thread and event loop of their own; here they run
  as tasks on the node's loop. The subclasses adapt three things and nothing else: they report
  when the trading stream listens (so the adapter sweeps what a reconnection missed) and when
  a data subscription is acknowledged; a subscription made while a data stream runs is sent
  on the same loop instead of through ``run_coroutine_threadsafe(...).result()``, which would
  block the loop; and the reconnection backoff is the adapter's.

The SDK is imported in this module, :mod:`.errors`, :mod:`.orders` and :mod:`.data` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import requests
from alpaca.data.enums import CryptoFeed, DataFeed
from alpaca.data.historical.crypto import CryptoHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.crypto import CryptoDataStream
from alpaca.data.live.stock import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream

from tradeloop.brokers.alpaca.config import AlpacaConfig
from tradeloop.brokers.alpaca.errors import translate

logger = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]


class _TimeoutSession(requests.Session):
    """A session whose requests time out (alpaca-py sets no timeout)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str, url: str,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)


def _prepare(client: Any, timeout_s: float) -> Any:
    client._session = _TimeoutSession(timeout_s)
    client._retry = 0  # no retries inside the SDK: the router decides
    client._retry_codes = []
    return client


class AlpacaClient:
    """alpaca-py's REST clients for one account.

    Parameters
    ----------
    config : AlpacaConfig
    """

    def __init__(self, config: AlpacaConfig) -> None:
        self.config = config
        key, secret = config.key_id, config.secret_key
        self.trading: TradingClient = _prepare(TradingClient(
            key, secret, paper=config.paper, raw_data=True,
            url_override=config.trading_url or None), config.timeout_s)
        self.stocks: StockHistoricalDataClient = _prepare(StockHistoricalDataClient(
            key, secret, raw_data=True, url_override=config.data_url or None),
            config.timeout_s)
        self.crypto: CryptoHistoricalDataClient = _prepare(CryptoHistoricalDataClient(
            key, secret, raw_data=True, url_override=config.data_url or None),
            config.timeout_s)

    async def call(self, what: str, fn: Callable[[], Any], *, state_change: bool = False
                   ) -> Any:
        """Run one blocking SDK call in a worker thread.

        Raises
        ------
        AlpacaRetryableError, AlpacaFatalError, AlpacaOutcomeUnknownError
            As :func:`~.errors.translate` decides.
        """
        try:
            return await asyncio.to_thread(fn)
        except Exception as exc:
            raise translate(exc, request=what, state_change=state_change) from None

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        """A GET on the trading API the SDK has no method for (account activities)."""
        return self.trading.get(path, dict(params))

    def stock_feed(self) -> DataFeed:
        """The configured stock feed."""
        return DataFeed(self.config.feed)

    def crypto_feed(self) -> CryptoFeed:
        """The configured crypto location."""
        return CryptoFeed(self.config.crypto_location)

    def trade_updates(self, handler: Handler, on_listening: Callable[[], None]
                      ) -> TradeUpdates:
        """A trading stream delivering trade updates to ``handler``."""
        stream = TradeUpdates(self.config, on_listening)
        stream.subscribe_trade_updates(handler)
        return stream

    def data_stream(self, crypto: bool, on_subscribed: Callable[[dict[str, Any]], None]
                    ) -> StockStream | CryptoStream:
        """A market data stream (not running until :func:`run_stream`)."""
        config = self.config
        base = config.data_stream_url.rstrip("/")
        if crypto:
            url = f"{base}/v1beta3/crypto/{config.crypto_location}" if base else None
            return CryptoStream(config, on_subscribed, url)
        url = f"{base}/v2/{config.feed}" if base else None
        return StockStream(config, on_subscribed, url)


class TradeUpdates(TradingStream):
    """alpaca-py's trading stream on the node's loop; ``on_listening`` is called each time a
    (re)connection listens to ``trade_updates``."""

    def __init__(self, config: AlpacaConfig, on_listening: Callable[[], None]) -> None:
        super().__init__(config.key_id, config.secret_key, paper=config.paper, raw_data=True,
                         url_override=config.stream_url or None)  # type: ignore[arg-type]
        self._reconnect_min_backoff = config.reconnect_initial_s
        self._reconnect_max_backoff = config.reconnect_max_s
        self._on_listening = on_listening

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("stream") == "listening" and "trade_updates" in (
                (msg.get("data") or {}).get("streams") or ()):
            self._on_listening()
        await super()._dispatch(msg)


class _DataStreamOnLoop:
    """What the two data streams adapt (see the module's notes)."""

    _handlers: dict[str, dict[str, Handler]]
    _running: bool
    _on_subscribed: Callable[[dict[str, Any]], None]
    _sending: set[asyncio.Task[None]]

    def _adapt(self, config: AlpacaConfig, on_subscribed: Callable[[dict[str, Any]], None]
               ) -> None:
        self._reconnect_min_backoff = config.reconnect_initial_s
        self._reconnect_max_backoff = config.reconnect_max_s
        self._on_subscribed = on_subscribed
        self._sending = set()

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _subscribe(self, handler: Handler, symbols: tuple[str, ...],
                   handlers: dict[str, Handler]) -> None:
        self._ensure_coroutine(handler)  # type: ignore[attr-defined]
        for symbol in symbols:
            handlers[symbol] = handler
        if self._running:
            self._later(self._send_subscribe_msg())  # type: ignore[attr-defined]

    def _unsubscribe(self, channel: str, symbols: list[str]) -> None:
        if self._running:
            self._later(self._send_unsubscribe_msg(channel, symbols))  # type: ignore[attr-defined]
        for symbol in symbols:
            self._handlers[channel].pop(symbol, None)

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("T") == "subscription":
            self._on_subscribed(msg)
        await super()._dispatch(msg)  # type: ignore[misc]


class StockStream(_DataStreamOnLoop, StockDataStream):
    """alpaca-py's stock data stream on the node's loop."""

    def __init__(self, config: AlpacaConfig, on_subscribed: Callable[[dict[str, Any]], None],
                 url: str | None) -> None:
        StockDataStream.__init__(self, config.key_id, config.secret_key, raw_data=True,
                                 feed=DataFeed(config.feed) if config.feed != "delayed_sip"
                                 else DataFeed.IEX, url_override=url)
        self._adapt(config, on_subscribed)


class CryptoStream(_DataStreamOnLoop, CryptoDataStream):
    """alpaca-py's crypto data stream on the node's loop."""

    def __init__(self, config: AlpacaConfig, on_subscribed: Callable[[dict[str, Any]], None],
                 url: str | None) -> None:
        CryptoDataStream.__init__(self, config.key_id, config.secret_key, raw_data=True,
                                  feed=CryptoFeed(config.crypto_location), url_override=url)
        self._adapt(config, on_subscribed)


def run_stream(stream: TradingStream | StockDataStream | CryptoDataStream, name: str
               ) -> asyncio.Task[None]:
    """Run a stream on the current loop (what its blocking ``run()`` does in a thread)."""
    return asyncio.get_running_loop().create_task(stream._run_forever(), name=name)


async def stop_stream(stream: TradingStream | StockDataStream | CryptoDataStream,
                      task: asyncio.Task[None] | None) -> None:
    """Stop a stream started by :func:`run_stream` and close its socket."""
    try:
        await stream.stop_ws()
    except Exception:  # a stream that never started has nothing to stop
        logger.debug("stream stop failed", exc_info=True)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    try:
        await stream.close()
    except Exception:
        logger.debug("stream close failed", exc_info=True)


__all__ = ["AlpacaClient", "CryptoStream", "StockStream", "TradeUpdates", "run_stream",
           "stop_stream"]
