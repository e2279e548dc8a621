"""The conformance target of the Interactive Brokers adapter: ``ibkr/standin``, the adapter (and
ib_async's own ``IB`` under it) on the stand-in IB Gateway of ``tests/support/ib_standin``, which
replaces ib_async's socket client (``client_factory``), reset for every point.

Steering: PRICE sets the market (working orders match, ticks stream), FILL fills part of a
working order, REJECT_FATAL arms error 201 (rejected, status Inactive), REJECT_RETRYABLE error
100 (message rate: nothing booked), LOSE_ANSWER books the order and sends nothing about it until
the client asks, DUPLICATE_REPORTS sends the order's executions and commission reports twice,
OUT_OF_ORDER sends its execution before its acknowledgement, DROP_CONNECTION closes every API
socket, COUNT_SUBMITS counts the IB order ids placed with the orderRef.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from support.ib_standin import GATEWAY
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ibkr import capabilities, create_adapter
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

SPEC = TargetSpec("ibkr/standin", capabilities(), frozenset({
    PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DUPLICATE_REPORTS, OUT_OF_ORDER,
    DROP_CONNECTION, COUNT_SUBMITS}))
SETTINGS = {
    "client_factory": "support.ib_standin:client_factory",
    "contracts": {"AAPL": {"sec_type": "STK", "primary_exchange": "NASDAQ"}},
    "connect_timeout_s": 5.0, "ack_timeout_s": 2.0, "commission_wait_s": 0.5,
    "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5,
}
_FAULTS = {REJECT_FATAL: "reject_fatal", REJECT_RETRYABLE: "reject_retryable",
           LOSE_ANSWER: "lose_answer", DUPLICATE_REPORTS: "duplicate_reports",
           OUT_OF_ORDER: "out_of_order"}
_MINUTE_NS = 60 * 10**9


class StandinCounterparty:
    """The stand-in Gateway, steered directly."""

    steering = SPEC.steering

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        GATEWAY.set_price(symbol, float(bid), float(ask))

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        GATEWAY.fill(client_order_id, float(quantity))

    async def arm(self, fault: str) -> None:
        if fault not in _FAULTS:
            raise ValueError(f"the IB stand-in cannot {fault}")
        GATEWAY.arm(_FAULTS[fault])

    async def drop_connections(self) -> None:
        GATEWAY.drop_connection()

    async def submits(self, client_order_id: str) -> int:
        return GATEWAY.submits(client_order_id)

    async def reset(self) -> None:
        GATEWAY.reset()


def standin_target(tmp: Path) -> Iterator[Target]:
    """The adapter on a freshly reset stand-in Gateway."""
    GATEWAY.reset()
    instrument = Instrument("AAPL", "IBKR", AssetClass.EQUITY, "USD", "USD", Decimal("0.01"),
                            Decimal(1), Decimal(1), Decimal(1))

    def connect() -> BrokerAdapter:
        return create_adapter(SETTINGS, variant="", home=tmp)

    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS
    try:
        yield Target(SPEC, StandinCounterparty(), connect, instrument, quantity=Decimal(10),
                     bid=Decimal("150.00"), ask=Decimal("150.02"), timeframe="1m",
                     history=(now - 3 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                     settle_s=10.0)
    finally:
        GATEWAY.reset()
