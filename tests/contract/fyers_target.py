"""The conformance target of the Fyers adapter: ``fyers/local``, the adapter against a fresh
local Fyers (``tests/support/fyers``) on 127.0.0.1 per point, order and data sockets on, with a
stored login (an access token the server issued, encrypted in the target's token directory).

Steering goes through the server's control methods: PRICE is ``set_price`` (working orders
match; the data socket streams), FILL is ``fill`` at the order's limit price, REJECT_FATAL books
the next order as refused by the RMS (status 5, -99), REJECT_RETRYABLE answers the next order
-429 (HTTP 429, nothing booked), LOSE_ANSWER books the next order and answers code 201 ("in
transit: check the order book"), DUPLICATE_REPORTS sends every order socket message of the next
order twice, OUT_OF_ORDER holds its order messages until its trade went out, DROP_CONNECTION
stops the server and starts it again on the same port (every REST and socket connection is
cut), and COUNT_SUBMITS counts the order requests carrying the order's tag that reached the
order book.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from support.fyers import FyersServer
from support.fyers.adapter import KEY_ENV, adapter_settings, store_login
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.fyers import capabilities, create_adapter
from tradeloop.brokers.fyers.ids import tag_of
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

STEERING = frozenset({PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER,
                      DUPLICATE_REPORTS, OUT_OF_ORDER, DROP_CONNECTION, COUNT_SUBMITS})
SPEC = TargetSpec("fyers/local", capabilities(), STEERING)
SYMBOL = "NSE:SBIN-EQ"
_MINUTE_NS = 60 * 10**9
_FAULTS = {REJECT_FATAL: "reject", REJECT_RETRYABLE: "rate_limit", LOSE_ANSWER: "lost_answer"}


class FyersCounterparty:
    """The local Fyers, steered through its control methods."""

    steering = STEERING

    def __init__(self, server: FyersServer) -> None:
        self.server = server

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self.server.set_price(symbol, bid, ask)

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        self.server.fill(tag_of(client_order_id), quantity)

    async def arm(self, fault: str) -> None:
        if fault in _FAULTS:
            self.server.fail_next(_FAULTS[fault])
        elif fault == DUPLICATE_REPORTS:
            self.server.arm_reports("duplicate")
        elif fault == OUT_OF_ORDER:
            self.server.arm_reports("out_of_order")
        else:
            raise ValueError(f"the local Fyers cannot {fault}")

    async def drop_connections(self) -> None:
        self.server.stop()
        self.server.start()

    async def submits(self, client_order_id: str) -> int:
        return self.server.submits(tag_of(client_order_id))

    async def reset(self) -> None:
        self.server.reset()


def fyers_target(tmp: Path) -> Iterator[Target]:
    """The adapter on a fresh local Fyers."""
    saved = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = "conformance-token-key"
    server = FyersServer(seed=11, per_second=50, per_minute=3000)
    server.start()
    home = tmp / "brokers" / "node"
    settings = adapter_settings(server, tmp)
    store_login(server, settings, home)
    instrument = Instrument(SYMBOL, "FYERS", AssetClass.EQUITY, "INR", "INR",
                            Decimal("0.05"), Decimal(1), Decimal(1))

    def connect() -> BrokerAdapter:
        return create_adapter(settings, variant="", home=home)

    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS
    try:
        yield Target(SPEC, FyersCounterparty(server), connect, instrument, quantity=Decimal(10),
                     bid=Decimal("800.00"), ask=Decimal("800.05"), timeframe="1m",
                     history=(now - 5 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                     settle_s=15.0)
    finally:
        server.stop()
        if saved is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = saved
