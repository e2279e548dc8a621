"""The conformance target of the Alpaca adapter: ``alpaca/local``, the adapter (alpaca-py's
own clients and streams under it) on a fresh local Alpaca (``tests/support/alpaca``) per point,
trading AAPL.

Steering goes through the server's control methods: PRICE sets the quote (working orders match,
the stock quote stream ticks), FILL fills part of a working order at its limit, REJECT_FATAL
arms 403 40310000 "insufficient buying power", REJECT_RETRYABLE a 429 (rate limit, nothing
booked), LOSE_ANSWER books the order and closes the connection without an answer,
DUPLICATE_REPORTS sends the order's trade updates twice, OUT_OF_ORDER sends its ``new`` after
its fill, DROP_CONNECTION stops the server and starts it again on the same port (every REST
and websocket connection is cut), COUNT_SUBMITS counts the new-order requests carrying the
client order id that reached it (a 429 never did).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from support.alpaca import API_KEY, API_SECRET, AlpacaServer
from tradeloop.brokers.alpaca import capabilities, create_adapter
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.testing.harness import (
    COUNT_SUBMITS,
    DROP_CONNECTION,
    DUPLICATE_REPORTS,
    FILL,
    LOSE_ANSWER,
    OUT_OF_ORDER,
    PRICE,
    REJECT_FATAL,
    REJECT_RETRYABLE,
    Target,
    TargetSpec,
)
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument

SPEC = TargetSpec("alpaca/local", capabilities(), frozenset({
    PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DUPLICATE_REPORTS, OUT_OF_ORDER,
    DROP_CONNECTION, COUNT_SUBMITS}))
KEY_ENV, SECRET_ENV = "TL_CONFORMANCE_ALPACA_KEY", "TL_CONFORMANCE_ALPACA_SECRET"
_FAULTS = {REJECT_FATAL: "insufficient_buying_power", REJECT_RETRYABLE: "rate_limit",
           LOSE_ANSWER: "lose_answer", DUPLICATE_REPORTS: "duplicate_reports",
           OUT_OF_ORDER: "out_of_order"}
_MINUTE_NS = 60 * 10**9


class LocalAlpaca:
    """The local Alpaca, steered through its control methods."""

    steering = SPEC.steering

    def __init__(self, server: AlpacaServer) -> None:
        self.server = server

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self.server.set_price(symbol, bid, ask)

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        self.server.fill(client_order_id, quantity)

    async def arm(self, fault: str) -> None:
        if fault not in _FAULTS:
            raise ValueError(f"the local Alpaca cannot {fault}")
        self.server.fail_next(_FAULTS[fault], path="/v2/orders", method="POST")

    async def drop_connections(self) -> None:
        self.server.stop()
        self.server.start()

    async def submits(self, client_order_id: str) -> int:
        return int(self.server.submits(client_order_id))

    async def reset(self) -> None:
        self.server.reset()


def adapter_settings(server: AlpacaServer, **extra: Any) -> dict[str, Any]:
    """``[broker.settings]`` of an Alpaca adapter on the local server (keys from the
    environment variables the target sets)."""
    settings: dict[str, Any] = {
        "api_key_env": KEY_ENV, "secret_env": SECRET_ENV, "trading_url": server.base_url,
        "data_url": server.base_url, "stream_url": server.trading_stream_url,
        "data_stream_url": f"ws://127.0.0.1:{server.port}", "symbols": ["AAPL"],
        "timeout_s": 3.0, "sweep_interval_s": 1.0, "stream_wait_s": 3.0,
        "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5, "fill_grace_s": 0.2,
    }
    settings.update(extra)
    return settings


def local_target(tmp: Path) -> Iterator[Target]:
    """The adapter on a fresh local Alpaca."""
    saved = {name: os.environ.get(name) for name in (KEY_ENV, SECRET_ENV)}
    os.environ[KEY_ENV], os.environ[SECRET_ENV] = API_KEY, API_SECRET
    server = AlpacaServer(seed=5)
    server.start()
    instrument = Instrument("AAPL", "ALPACA", AssetClass.EQUITY, "USD", "USD", Decimal("0.01"),
                            Decimal(1), Decimal(1))
    settings = adapter_settings(server)

    def connect() -> BrokerAdapter:
        return create_adapter(settings, variant="", home=tmp)

    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS
    try:
        yield Target(SPEC, LocalAlpaca(server), connect, instrument, quantity=Decimal(10),
                     bid=Decimal("150.00"), ask=Decimal("150.02"), timeframe="1m",
                     history=(now - 3 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                     settle_s=10.0)
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
