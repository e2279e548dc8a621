"""The conformance target of the MetaTrader 5 adapter: ``mt5/standin``, the adapter on the
``MetaTrader5`` stand-in (``tests/support/mt5_standin``), reset for every point.

Steering: PRICE sets bid/ask (pending orders match), FILL fills part of a pending order,
REJECT_FATAL arms 10019 NO_MONEY, REJECT_RETRYABLE 10024 TOO_MANY_REQUESTS, LOSE_ANSWER books
the order and answers 10012 TIMEOUT, DROP_CONNECTION cuts the IPC link (every call fails until
``initialize``), COUNT_SUBMITS counts orders with the tag that the server booked. Polling
cannot duplicate or reorder reports.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import support.mt5_standin as mt5
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.mt5 import capabilities, create_adapter
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

SPEC = TargetSpec("mt5/standin", capabilities(), frozenset({
    PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DROP_CONNECTION, COUNT_SUBMITS}))
SETTINGS = {"module": "support.mt5_standin", "symbols": ["EURUSD"], "poll_interval_s": 0.05,
            "server_timezone": "Europe/Athens"}
_MINUTE_NS = 60 * 10**9


class StandinCounterparty:
    """The stand-in terminal, steered directly."""

    steering = SPEC.steering

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        mt5.TERMINAL.set_price(symbol, float(bid), float(ask))

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        mt5.TERMINAL.fill(client_order_id, float(quantity))

    async def arm(self, fault: str) -> None:
        if fault == REJECT_FATAL:
            mt5.TERMINAL.arm(mt5.TRADE_RETCODE_NO_MONEY)
        elif fault == REJECT_RETRYABLE:
            mt5.TERMINAL.arm(mt5.TRADE_RETCODE_TOO_MANY_REQUESTS)
        elif fault == LOSE_ANSWER:
            mt5.TERMINAL.arm(mt5.TRADE_RETCODE_TIMEOUT, book=True)
        else:
            raise ValueError(f"the stand-in cannot {fault}")

    async def drop_connections(self) -> None:
        mt5.TERMINAL.drop_connection()

    async def submits(self, client_order_id: str) -> int:
        return mt5.TERMINAL.submits.get(client_order_id, 0)

    async def reset(self) -> None:
        return None  # reset once per point, below (a reset here would lose a restart's state)


def standin_target(tmp: Path) -> Iterator[Target]:
    """The adapter on a freshly reset stand-in terminal."""
    mt5.TERMINAL.reset()
    instrument = Instrument("EURUSD", "MT5", AssetClass.FX, "EUR", "USD", Decimal("0.00001"),
                            Decimal("0.01"), Decimal("0.01"), Decimal(100_000))

    def connect() -> BrokerAdapter:
        return create_adapter(SETTINGS, variant="", home=tmp)

    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS
    try:
        yield Target(SPEC, StandinCounterparty(), connect, instrument, quantity=Decimal("0.10"),
                     bid=Decimal("1.08500"), ask=Decimal("1.08510"), timeframe="1m",
                     history=(now - 3 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                     settle_s=10.0)
    finally:
        mt5.TERMINAL.reset()
