"""The one place that holds the ccxt exchange object: built from :class:`CcxtConfig`, markets
loaded once, every call made through :meth:`CcxtClient.call`.

Requests are paced three ways: ccxt's own throttle (``enableRateLimit``), our token bucket for
order requests (``order_rate``/``order_burst``), and the exchange's ``Retry-After``: after a
rate-limit answer no request leaves before the wait the exchange asked for is over, so a 429
is retried after ``Retry-After`` and never hammered. Every ccxt exception leaves as the error
tree's class (:mod:`.errors`).

The execution and market data clients share one :class:`CcxtClient`; it opens on the first
:meth:`~CcxtClient.open` and closes when the last user has called :meth:`~CcxtClient.close`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from tradeloop.brokers.ccxt.config import CcxtConfig
from tradeloop.brokers.ccxt.errors import (
    CcxtFatalError,
    CcxtRetryableError,
    retry_after_of,
    translate,
)
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import mask_secrets_in
from tradeloop.core.rate import RateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: ccxt options that keep a Binance-family exchange on the endpoints a trading node needs.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"warnOnFetchOpenOrdersWithoutSymbol": False},
    "binanceusdm": {"warnOnFetchOpenOrdersWithoutSymbol": False},
}


_SIGNATURE = re.compile(r"(signature=)[0-9A-Za-z%+/=_-]+")


class SignatureMask(logging.Filter):
    """Masks request signatures in ccxt's own log lines (its DEBUG lines show every URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business
            return True
        masked = _SIGNATURE.sub(r"\1***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_SIGNATURE_MASK = SignatureMask()


def mask_ccxt_logs() -> None:
    """Mask registered secrets and request signatures in the log lines of ccxt and aiohttp."""
    for name in ("ccxt.base.exchange", "ccxt.async_support.base.exchange"):
        logging.getLogger(name)  # ccxt creates its logger only with its first exchange
    mask_secrets_in("ccxt", "aiohttp")
    for name, item in [("ccxt", logging.getLogger("ccxt")),
                       *logging.root.manager.loggerDict.items()]:
        if (isinstance(item, logging.Logger) and name.startswith("ccxt")
                and _SIGNATURE_MASK not in item.filters):
            item.addFilter(_SIGNATURE_MASK)


def move_urls(urls: dict[str, Any], base_url: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``urls`` with every http(s) address moved to ``base_url`` (path kept) and every
    websocket address to the matching ``ws://`` one; also each (new, old) pair."""
    ws_base = "ws" + base_url.removeprefix("http")
    pairs: list[tuple[str, str]] = []
    moved: dict[str, Any] = {}
    for key, value in urls.items():
        if isinstance(value, dict):
            moved[key], inner = move_urls(value, base_url)
            pairs += inner
        elif isinstance(value, str) and value.startswith(("https://", "http://", "wss://",
                                                          "ws://")):
            scheme_end = value.index("://") + 3
            slash = value.find("/", scheme_end)
            path = value[slash:] if slash >= 0 else ""
            base = ws_base if value.startswith("ws") else base_url
            moved[key] = base + path
            pairs.append((moved[key], value))
        else:
            moved[key] = value
    return moved, pairs


def _merge_urls(urls: dict[str, Any], override: dict[str, Any]
                ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    merged = dict(urls)
    pairs: list[tuple[str, str]] = []
    for key, value in override.items():
        old = urls.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            merged[key], inner = _merge_urls(old, value)
            pairs += inner
        else:
            merged[key] = value
            if isinstance(value, str) and isinstance(old, str):
                pairs.append((value, old))
    return merged, pairs


def _production_url(url: str, pairs: list[tuple[str, str]]) -> str:
    best: tuple[str, str] | None = None
    for new, old in pairs:
        if url.startswith(new) and (best is None or len(new) > len(best[0])):
            best = (new, old)
    return url if best is None else best[1] + url[len(best[0]):]


def exchange_class(config: CcxtConfig) -> type[Any]:
    """The ccxt class of ``config.exchange`` (ccxt.pro's when websockets are wanted and it has
    one).

    Raises
    ------
    ConfigError
        ccxt has no exchange with that id.
    """
    name = config.exchange
    if config.use_websockets and name in ccxt_pro.exchanges:
        return getattr(ccxt_pro, name)  # type: ignore[no-any-return]
    if name not in ccxt_async.exchanges:
        import difflib

        hint = difflib.get_close_matches(name, ccxt_async.exchanges, n=1)
        also = f"; did you mean ccxt:{hint[0]}?" if hint else ""
        raise ConfigError(f"broker.name: ccxt has no exchange {name!r}{also}")
    return getattr(ccxt_async, name)  # type: ignore[no-any-return]


def build_exchange(config: CcxtConfig) -> Any:
    """A ccxt exchange object configured from ``config`` (markets not loaded)."""
    cls = exchange_class(config)
    options: dict[str, Any] = dict(DEFAULT_OPTIONS.get(config.exchange, {}))
    if config.market is not None:
        options["defaultType"] = config.market
    options.update(config.options)
    settings: dict[str, Any] = {
        "enableRateLimit": config.enable_rate_limit,
        "timeout": int(config.timeout_s * 1000),
        "options": options,
    }
    if config.rate_limit_ms is not None:
        settings["rateLimit"] = config.rate_limit_ms
    if config.api_key is not None:
        settings["apiKey"] = config.api_key.get_secret_value()
    if config.secret is not None:
        settings["secret"] = config.secret.get_secret_value()
    if config.password is not None:
        settings["password"] = config.password.get_secret_value()
    if config.urls is not None and hasattr(cls, "get_exceptions_by_url"):
        cls = _keeping_error_tables(cls)
    exchange = cls(settings)
    if config.sandbox:
        exchange.set_sandbox_mode(True)
    if config.urls is not None:
        api = exchange.urls.get("api")
        if not isinstance(api, dict):
            raise ConfigError(f"broker.settings.urls: ccxt's {config.exchange} has no "
                              "urls['api'] table to replace")
        if isinstance(config.urls, str):
            moved, pairs = move_urls(api, config.urls)
        else:
            moved, pairs = _merge_urls(api, config.urls)
        exchange.urls["api"] = moved
        exchange.tradeloop_url_pairs = pairs
    return exchange


def _keeping_error_tables(cls: type[Any]) -> type[Any]:
    # ccxt picks an exchange's market-specific error table (spot, linear...) from the
    # production host of the URL; a moved URL is translated back first, so the same ccxt
    # exception classes come out as from the production host.
    parent = cls.get_exceptions_by_url

    def get_exceptions_by_url(self: Any, url: str, exactOrBroad: str) -> Any:
        pairs = getattr(self, "tradeloop_url_pairs", [])
        return parent(self, _production_url(url, pairs) if url else url, exactOrBroad)

    return type(f"Moved{cls.__name__}", (cls,), {"get_exceptions_by_url": get_exceptions_by_url,
                                                  "tradeloop_url_pairs": []})


class CcxtClient:
    """The exchange object, its markets and the pacing of requests.

    Parameters
    ----------
    config : CcxtConfig
    factory : callable, optional
        Builds the exchange object (default :func:`build_exchange`; tests may wrap it).
    """

    def __init__(self, config: CcxtConfig,
                 factory: Callable[[CcxtConfig], Any] = build_exchange) -> None:
        self.config = config
        self._factory = factory
        self._exchange: Any = None
        self._users = 0
        self._opening: asyncio.Lock | None = None
        self._orders = RateLimiter(config.order_rate, config.order_burst)
        self._blocked_until = 0.0
        self._listeners: list[Callable[[], None]] = []
        #: Rate-limit answers received (each made every request wait).
        self.rate_limited = 0
        mask_ccxt_logs()

    def __repr__(self) -> str:
        return f"CcxtClient({self.config.exchange!r}, market={self.market_type!r})"

    @property
    def exchange(self) -> Any:
        """The ccxt exchange object (raises when not open)."""
        if self._exchange is None:
            raise CcxtRetryableError("NOT_CONNECTED", f"the {self.config.exchange} client is "
                                     "not connected")
        return self._exchange

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and the last :meth:`close`."""
        return self._exchange is not None

    @property
    def market_type(self) -> str:
        """``spot`` or ``swap``."""
        if self.config.market is not None:
            return self.config.market
        if self._exchange is not None:
            return str(self._exchange.options.get("defaultType", "spot"))
        return "swap" if self.config.exchange.endswith("usdm") else "spot"

    @property
    def streams(self) -> bool:
        """True when the exchange object speaks websockets (ccxt.pro)."""
        return self.config.use_websockets and self.config.exchange in ccxt_pro.exchanges

    async def open(self) -> None:
        """Build the exchange object and load its markets (once for all users).

        Raises
        ------
        CcxtRetryableError
            The exchange could not be reached.
        CcxtFatalError
            It refused (bad credentials are also a ``ConfigError``).
        """
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._exchange is None:
                exchange = self._factory(self.config)
                try:
                    await self._guarded(exchange.load_markets, "load_markets",
                                        state_change=False, order=False, exchange=exchange)
                except BaseException:
                    await _close_quietly(exchange)
                    raise
                self._tap(exchange)
                mask_ccxt_logs()
                self._exchange = exchange
                logger.info("ccxt exchange ready", extra={"fields": {
                    "exchange": self.config.exchange, "market": self.market_type,
                    "markets": len(exchange.markets or {})}})
            self._users += 1

    async def close(self) -> None:
        """Release one user; the exchange object closes with the last."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._exchange is not None:
            exchange, self._exchange = self._exchange, None
            await _close_quietly(exchange)

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each websocket message ccxt.pro has handled (its caches,
        such as ``bidsasks``, then hold what the message said); returns the remover.

        ccxt.pro hands a watcher only the latest state when several messages arrive between
        two calls; a listener sees every one."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _tap(self, exchange: Any) -> None:
        original = getattr(exchange, "handle_message", None)
        if not self.streams or original is None:
            return
        listeners = self._listeners

        def handle_message(client: Any, message: Any) -> Any:
            try:
                return original(client, message)
            finally:
                for listener in list(listeners):
                    try:
                        listener()
                    except Exception:  # a listener must not break ccxt's reader
                        logger.exception("websocket message listener failed")

        exchange.handle_message = handle_message

    def market(self, symbol: str) -> dict[str, Any]:
        """ccxt's market of a unified symbol.

        Raises
        ------
        CcxtFatalError
            BAD_SYMBOL when the exchange does not list it.
        """
        markets = self.exchange.markets or {}
        found = markets.get(symbol)
        if found is None:
            raise CcxtFatalError("BAD_SYMBOL", f"{self.config.exchange} does not list "
                                 f"{symbol!r}")
        return found  # type: ignore[no-any-return]

    async def call(self, request: str, make: Callable[[Any], Awaitable[T]], *,
                   state_change: bool = False, order: bool = False) -> T:
        """Run ``make(exchange)`` paced and with its errors translated.

        Parameters
        ----------
        request : str
            What is asked, for messages (``"submit CF0001"``).
        make : callable
            Takes the exchange object, returns the awaitable (``lambda ex:
            ex.fetch_ticker("BTC/USDT")``).
        state_change : bool
            The request may change state at the venue (decides what a lost answer means).
        order : bool
            The request is an order request: it waits for a token of the order bucket.
        """
        exchange = self.exchange
        return await self._guarded(lambda: make(exchange), request, state_change=state_change,
                                   order=order, exchange=exchange)

    async def _guarded(self, run: Callable[[], Awaitable[T]], request: str, *,
                       state_change: bool, order: bool, exchange: Any) -> T:
        wait = self._blocked_until - time.monotonic()
        if wait > 0:
            logger.info("waiting out the exchange's Retry-After", extra={"fields": {
                "request": request, "wait_s": round(wait, 3)}})
            await asyncio.sleep(wait)
        if order:
            await self._orders.acquire()
        try:
            return await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            retry_after = retry_after_of(getattr(exchange, "last_response_headers", None))
            error = translate(exc, request=request, state_change=state_change,
                              retry_after_s=retry_after)
            if isinstance(error, CcxtRetryableError) and error.code == "RATE_LIMITED":
                self.rate_limited += 1
                pause = error.retry_after_s if error.retry_after_s is not None else 1.0
                self._blocked_until = max(self._blocked_until, time.monotonic() + pause)
                logger.warning("rate limited by the exchange", extra={"fields": {
                    "request": request, "retry_after_s": pause}})
            raise error from None


def calling(name: str, *args: Any) -> Callable[[Any], Awaitable[Any]]:
    """``exchange.<name>(*args)`` as the ``make`` of :meth:`CcxtClient.call`."""
    return lambda exchange: getattr(exchange, name)(*args)


async def _close_quietly(exchange: Any) -> None:
    try:
        await exchange.close()
    except Exception as exc:  # closing must not mask what happened before
        logger.warning("closing the ccxt exchange failed", extra={"fields": {
            "error": f"{type(exc).__name__}"}})


__all__ = ["DEFAULT_OPTIONS", "CcxtClient", "build_exchange", "calling",
           "exchange_class", "move_urls"]
