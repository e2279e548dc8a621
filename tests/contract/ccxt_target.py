"""The conformance targets of the ccxt adapter: ``ccxt/binance-spot`` (``ccxt:binance``) and
``ccxt/binance-usdm`` (``ccxt:binanceusdm``), each against a fresh local Binance
(``tests/support/binance``) on 127.0.0.1 per point, with websockets on.

Steering goes through the server's control API: PRICE is ``set_price``, FILL is ``fill``,
REJECT_FATAL arms ``insufficient_funds`` (-2010 spot, -2019 USD-M), REJECT_RETRYABLE a 429 with
``Retry-After: 1`` on the order path, LOSE_ANSWER ``unknown_after_booking`` (the order is
booked, then HTTP 503 "Unknown error..."), DROP_CONNECTION stops the server and starts it again
on the same port (every REST and websocket connection is cut), and COUNT_SUBMITS counts the
order requests carrying the client order id that reached the matching engine (a request
refused with 429 never did). The server cannot duplicate or reorder its reports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from support.binance import API_KEY, API_SECRET, BinanceServer
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ccxt import capabilities_for, create_adapter
from tradeloop.brokers.testing.harness import (
    COUNT_SUBMITS,
    DROP_CONNECTION,
    FILL,
    LOSE_ANSWER,
    PRICE,
    REJECT_FATAL,
    REJECT_RETRYABLE,
    Target,
    TargetSpec,
)
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument

STEERING = frozenset({PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DROP_CONNECTION,
                      COUNT_SUBMITS})
SPOT = TargetSpec("ccxt/binance-spot", capabilities_for("spot", streaming=True), STEERING)
USDM = TargetSpec("ccxt/binance-usdm", capabilities_for("swap", streaming=True), STEERING)

KEY_ENV, SECRET_ENV = "TL_CONFORMANCE_BINANCE_KEY", "TL_CONFORMANCE_BINANCE_SECRET"
_ORDER_PATHS = {"spot": ("/api/v3/order",), "futures": ("/fapi/v1/order", "/fapi/v1/algoOrder")}
_MINUTE_NS = 60 * 10**9


class BinanceCounterparty:
    """The local Binance, steered through its control methods."""

    steering = STEERING

    def __init__(self, server: BinanceServer, market: str) -> None:
        self.server = server
        self.market = market

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self.server.set_price(_exchange_id(symbol), bid, ask)

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        self.server.fill(client_order_id, quantity, market=self.market)

    async def arm(self, fault: str) -> None:
        path = _ORDER_PATHS[self.market][0]
        if fault == REJECT_FATAL:
            self.server.fail_next("insufficient_funds", path=path)
        elif fault == REJECT_RETRYABLE:
            self.server.fail_next("rate_limit", path=path, retry_after=1)
        elif fault == LOSE_ANSWER:
            self.server.fail_next("unknown_after_booking", path=path)
        else:
            raise ValueError(f"the local Binance cannot {fault}")

    async def drop_connections(self) -> None:
        self.server.stop()
        self.server.start()

    async def submits(self, client_order_id: str) -> int:
        return sum(1 for path in _ORDER_PATHS[self.market]
                   for r in self.server.requests(path, "POST")
                   if client_order_id in (r.params.get("newClientOrderId"),
                                          r.params.get("clientAlgoId"))
                   and r.status != 429)

    async def reset(self) -> None:
        self.server.reset()


def _exchange_id(symbol: str) -> str:
    return symbol.split(":", 1)[0].replace("/", "")


def adapter_settings(server: BinanceServer, market: str, **extra: Any) -> dict[str, Any]:
    """``[broker.settings]`` of a ccxt adapter on the local server (keys from the
    environment variables the target sets)."""
    types = ["spot"] if market == "spot" else ["linear"]
    settings: dict[str, Any] = {
        "urls": server.base_url, "api_key_env": KEY_ENV, "secret_env": SECRET_ENV,
        "options": {"fetchMarkets": {"types": types}, "fetchCurrencies": False,
                    "fetchMargins": False, "adjustForTimeDifference": False,
                    "recvWindow": 5000},
        "enable_rate_limit": False, "timeout_s": 5.0, "poll_interval_s": 0.2,
        "sweep_interval_s": 1.0, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5,
        "symbols": ["BTC/USDT" if market == "spot" else "BTC/USDT:USDT"],
    }
    settings.update(extra)
    return settings


def _target(tmp: Path, spec: TargetSpec, market: str) -> Iterator[Target]:
    saved = {name: os.environ.get(name) for name in (KEY_ENV, SECRET_ENV)}
    os.environ[KEY_ENV], os.environ[SECRET_ENV] = API_KEY, API_SECRET
    server = BinanceServer(seed=5)
    server.start()
    spot = market == "spot"
    variant = "binance" if spot else "binanceusdm"
    if spot:
        instrument = Instrument("BTC/USDT", "BINANCE", AssetClass.CRYPTO, "BTC", "USDT",
                                Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"))
        quantity = Decimal("0.001")
    else:
        instrument = Instrument("BTC/USDT:USDT", "BINANCEUSDM", AssetClass.CRYPTO, "BTC",
                                "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
        quantity = Decimal("0.002")
    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS
    settings = adapter_settings(server, market)

    def connect() -> BrokerAdapter:
        return create_adapter(settings, variant=variant, home=tmp)

    try:
        yield Target(spec, BinanceCounterparty(server, market), connect, instrument,
                     quantity=quantity, bid=Decimal("65000.00") if spot else Decimal("65000.0"),
                     ask=Decimal("65000.10") if spot else Decimal("65000.1"), timeframe="1m",
                     history=(now - 2 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                     settle_s=15.0)
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def spot_target(tmp: Path) -> Iterator[Target]:
    """``ccxt:binance`` (spot) on a fresh local Binance."""
    yield from _target(tmp, SPOT, "spot")


def usdm_target(tmp: Path) -> Iterator[Target]:
    """``ccxt:binanceusdm`` (USD-M perpetuals) on a fresh local Binance."""
    yield from _target(tmp, USDM, "futures")
