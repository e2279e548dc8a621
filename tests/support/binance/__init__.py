"""A local Binance exchange (spot and USD-M futures) that real ccxt talks to, for tests.

``with BinanceServer() as server:`` starts it on a free 127.0.0.1 port;
``local_exchange(server, "spot")`` or ``local_exchange(server, "futures")`` builds a ccxt
exchange object whose every API URL points at it. See README.md for the endpoints, the control
API and what is simplified.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from .auth import API_KEY, API_SECRET, signed_query
from .server import FAILURE_KINDS, BinanceServer, RequestRecord

__all__ = [
    "API_KEY",
    "API_SECRET",
    "FAILURE_KINDS",
    "BinanceServer",
    "LocalBinance",
    "LocalBinancePro",
    "LocalBinanceUsdm",
    "LocalBinanceUsdmPro",
    "RequestRecord",
    "local_exchange",
    "localize_urls",
    "run_with_exchange",
    "signed_query",
]

_MARKET_TYPE_BY_PREFIX = (
    ("/api/", "spot"), ("/sapi/", "spot"), ("/fapi/", "linear"), ("/futures/", "linear"),
    ("/dapi/", "inverse"), ("/eapi/", "option"), ("/papi/", "portfolioMargin"),
)


class _LocalExceptions:
    # ccxt picks the market-specific error map (spot, linear...) from the production host
    # name of the URL; a local URL would only get the common map, so this classifies local
    # URLs by path the way ccxt classifies production ones by host.
    local_base_url = ""

    def get_exceptions_by_url(self, url: str, exactOrBroad: str) -> dict[str, Any]:
        if url and self.local_base_url and url.startswith(self.local_base_url + "/"):
            path = url[len(self.local_base_url):]
            for prefix, market_type in _MARKET_TYPE_BY_PREFIX:
                if path.startswith(prefix):
                    tables: dict[str, Any] = getattr(self, "exceptions", {})
                    by_type = tables.get(market_type) or {}
                    return dict(by_type.get(exactOrBroad) or {})
            return {}
        inherited: dict[str, Any] = super().get_exceptions_by_url(  # type: ignore[misc]
            url, exactOrBroad)
        return inherited


class LocalBinance(_LocalExceptions, ccxt_async.binance):  # type: ignore[misc]
    """ccxt's async ``binance``, with local URLs mapped to the right error tables."""


class LocalBinanceUsdm(_LocalExceptions, ccxt_async.binanceusdm):  # type: ignore[misc]
    """ccxt's async ``binanceusdm``, with local URLs mapped to the right error tables."""


class LocalBinancePro(_LocalExceptions, ccxt_pro.binance):  # type: ignore[misc]
    """ccxt.pro's ``binance`` (REST and websockets), with local URLs mapped to the right error
    tables."""


class LocalBinanceUsdmPro(_LocalExceptions, ccxt_pro.binanceusdm):  # type: ignore[misc]
    """ccxt.pro's ``binanceusdm`` (REST and websockets), with local URLs mapped to the right
    error tables."""


def localize_urls(urls: dict[str, Any], base_url: str) -> dict[str, Any]:
    """``urls`` with every http(s) API address moved to ``base_url`` (path kept) and every
    websocket address to the matching ``ws://`` address."""
    ws_base = "ws" + base_url.removeprefix("http")
    result: dict[str, Any] = {}
    for key, value in urls.items():
        if isinstance(value, dict):
            result[key] = localize_urls(value, base_url)
        elif isinstance(value, str) and value.startswith(("https://", "http://")):
            result[key] = base_url + _path(value)
        elif isinstance(value, str) and value.startswith(("wss://", "ws://")):
            result[key] = ws_base + _path(value)
        else:
            result[key] = value
    return result


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def local_exchange(server: BinanceServer, market_type: str = "spot", *,
                   api_key: str = API_KEY, secret: str = API_SECRET, pro: bool = False,
                   **config: Any) -> Any:
    """A ccxt async exchange object that trades on ``server``.

    Parameters
    ----------
    server : BinanceServer
        A started server.
    market_type : {"spot", "futures"}
        ``spot`` builds ``binance`` loading spot markets only; ``futures`` (also ``swap``,
        ``linear``, ``usdm``) builds ``binanceusdm`` loading USD-M perpetuals only.
    api_key, secret : str
        Credentials (the server's by default).
    pro : bool
        Build the ccxt.pro class (adds ``watch_*`` over the server's websockets).
    **config
        Extra ccxt settings, merged over the defaults (``options`` merged key by key).

    Returns
    -------
    ccxt.async_support.binance
        Remember ``await exchange.close()``.

    Notes
    -----
    The options keep ccxt on the endpoints the server implements: no ``sapi`` currency or
    margin-pair calls (``fetchCurrencies``/``fetchMargins`` off), one market type per object,
    no time-difference adjustment. The rate limiter is off by default to keep tests fast.
    Every API URL ccxt knows (``urls['api']``, ``['test']``, ``['demo']``) points at the server.
    """
    if market_type == "spot":
        cls: type = LocalBinancePro if pro else LocalBinance
        options: dict[str, Any] = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}
    elif market_type in ("futures", "future", "swap", "linear", "usdm"):
        cls = LocalBinanceUsdmPro if pro else LocalBinanceUsdm
        options = {"defaultType": "swap", "defaultSubType": "linear",
                   "fetchMarkets": {"types": ["linear"]}}
    else:
        raise ValueError(f"market_type must be 'spot' or 'futures', not {market_type!r}")
    options.update({"fetchCurrencies": False, "fetchMargins": False,
                    "adjustForTimeDifference": False, "recvWindow": 5000,
                    "warnOnFetchOpenOrdersWithoutSymbol": False})
    options.update(config.pop("options", {}))
    settings: dict[str, Any] = {"apiKey": api_key, "secret": secret, "enableRateLimit": False,
                                "timeout": 10_000, "options": options}
    settings.update(config)
    exchange = cls(settings)
    exchange.local_base_url = server.base_url
    for section in ("api", "test", "demo"):
        if isinstance(exchange.urls.get(section), dict):
            exchange.urls[section] = localize_urls(exchange.urls[section], server.base_url)
    return exchange


def run_with_exchange(server: BinanceServer, market_type: str,
                      scenario: Callable[[Any], Awaitable[Any]], **config: Any) -> Any:
    """Run ``await scenario(exchange)`` in a fresh event loop with a loaded, then closed,
    :func:`local_exchange` on ``server``; what the scenario returns."""

    async def main() -> Any:
        exchange = local_exchange(server, market_type, **config)
        try:
            await exchange.load_markets()
            return await scenario(exchange)
        finally:
            await exchange.close()

    return asyncio.run(main())
