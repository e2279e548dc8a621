"""The conformance target of the cTrader adapter: ``ctrader/local``, the adapter over TLS on a
fresh local Open API proxy (``tests/support/ctrader``) per point, one hedging demo account.

Steering goes through the proxy's control methods: PRICE moves the market (spot events go
out, resting orders and stops match), FILL fills part of a resting order at its price,
REJECT_FATAL answers the next new order with ``ProtoOAOrderErrorEvent`` NOT_ENOUGH_MONEY,
REJECT_RETRYABLE with ``ProtoOAErrorRes`` BLOCKED_PAYLOAD_TYPE (``retryAfter`` 1 s, new orders
blocked that long, nothing booked), LOSE_ANSWER books the order and sends nothing about it
until a query returns it, DUPLICATE_REPORTS sends every execution event of the order twice,
OUT_OF_ORDER sends the fill before the acceptance, DROP_CONNECTION closes every client
connection (the proxy stays up), COUNT_SUBMITS counts the new-order requests with the client
order id that reached the account (a blocked one did not).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from support.ctrader import CtraderServer, adapter_settings, credentials_env
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ctrader import capabilities, create_adapter
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

SPEC = TargetSpec("ctrader/local", capabilities(), frozenset({
    PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DUPLICATE_REPORTS, OUT_OF_ORDER,
    DROP_CONNECTION, COUNT_SUBMITS}))
_FAULTS = {REJECT_FATAL: "reject_fatal", REJECT_RETRYABLE: "reject_retryable",
           LOSE_ANSWER: "lose_answer", DUPLICATE_REPORTS: "duplicate_reports",
           OUT_OF_ORDER: "out_of_order"}
_MINUTE_NS = 60 * 10**9


class ProxyCounterparty:
    """The local proxy, steered directly."""

    steering = SPEC.steering

    def __init__(self, server: CtraderServer) -> None:
        self.server = server

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self.server.set_price(symbol, bid, ask)

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        self.server.fill(client_order_id, quantity)

    async def arm(self, fault: str) -> None:
        if fault not in _FAULTS:
            raise ValueError(f"the local cTrader proxy cannot {fault}")
        self.server.arm(_FAULTS[fault])

    async def drop_connections(self) -> None:
        self.server.drop_connections()

    async def submits(self, client_order_id: str) -> int:
        return self.server.submits(client_order_id)

    async def reset(self) -> None:
        self.server.reset()


def local_target(tmp: Path) -> Iterator[Target]:
    """The adapter on a fresh local proxy."""
    instrument = Instrument("EURUSD", "CTRADER", AssetClass.FX, "EUR", "USD",
                            Decimal("0.00001"), Decimal(1000), Decimal(1000))
    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS
    with credentials_env(), CtraderServer() as server:
        settings = adapter_settings(server)

        def connect() -> BrokerAdapter:
            return create_adapter(settings, variant="", home=tmp)

        yield Target(SPEC, ProxyCounterparty(server), connect, instrument,
                     quantity=Decimal(1000), bid=Decimal("1.08500"), ask=Decimal("1.08502"),
                     timeframe="1m", history=(now - 3 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                     settle_s=10.0)
