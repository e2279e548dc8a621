"""The conformance targets of the MetaTrader 5 adapter: ``mt5/standin``, the adapter on the
``MetaTrader5`` stand-in (``tests/support/mt5_standin``) in the same process, and
``mt5/bridge``, the adapter reaching the same stand-in through the RPC bridge server
(``deploy/mt5/mt5_bridge.py``, a subprocess per point, with a token), as a node on Linux reaches
a terminal on Windows. The stand-in is reset for every point.

Steering: PRICE sets bid/ask (pending orders match), FILL fills part of a pending order,
REJECT_FATAL arms 10019 NO_MONEY, REJECT_RETRYABLE 10024 TOO_MANY_REQUESTS, LOSE_ANSWER books
the order and answers 10012 TIMEOUT, DROP_CONNECTION cuts the IPC link (every call fails until
``initialize``), COUNT_SUBMITS counts orders with the tag that the server booked. Polling
cannot duplicate or reorder reports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import support.mt5_standin as mt5
from support.mt5_bridge import TOKEN, TOKEN_ENV, BridgeProcess
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

_STEERING = frozenset({
    PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DROP_CONNECTION, COUNT_SUBMITS})
SPEC = TargetSpec("mt5/standin", capabilities(), _STEERING)
BRIDGE = TargetSpec("mt5/bridge", capabilities(), _STEERING)
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


class BridgedCounterparty(StandinCounterparty):
    """The stand-in terminal in the bridge's process, steered through the bridge."""

    def __init__(self, bridge: BridgeProcess) -> None:
        self._far = bridge.steering()

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self._far.standin_set_price(symbol, float(bid), float(ask))

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        self._far.standin_fill(client_order_id, float(quantity))

    async def arm(self, fault: str) -> None:
        retcodes = {REJECT_FATAL: mt5.TRADE_RETCODE_NO_MONEY,
                    REJECT_RETRYABLE: mt5.TRADE_RETCODE_TOO_MANY_REQUESTS,
                    LOSE_ANSWER: mt5.TRADE_RETCODE_TIMEOUT}
        if fault not in retcodes:
            raise ValueError(f"the stand-in cannot {fault}")
        self._far.standin_arm(retcodes[fault], fault == LOSE_ANSWER)

    async def drop_connections(self) -> None:
        self._far.standin_drop_connection()

    async def submits(self, client_order_id: str) -> int:
        return int(self._far.standin_submits(client_order_id))


def bridge_target(tmp: Path) -> Iterator[Target]:
    """The adapter through a fresh bridge server over a fresh stand-in terminal."""
    bridge = BridgeProcess(tmp / "bridge", TOKEN).start()
    settings = {**{k: v for k, v in SETTINGS.items() if k != "module"},
                "bridge": bridge.address, "bridge_token_env": TOKEN_ENV}
    instrument = Instrument("EURUSD", "MT5", AssetClass.FX, "EUR", "USD", Decimal("0.00001"),
                            Decimal("0.01"), Decimal("0.01"), Decimal(100_000))
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = TOKEN

    def connect() -> BrokerAdapter:
        return create_adapter(settings, variant="", home=tmp)

    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS
    try:
        yield Target(BRIDGE, BridgedCounterparty(bridge), connect, instrument,
                     quantity=Decimal("0.10"), bid=Decimal("1.08500"), ask=Decimal("1.08510"),
                     timeframe="1m", history=(now - 3 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                     settle_s=10.0)
    finally:
        bridge.stop()
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
        assert "Traceback" not in bridge.output(), bridge.output()
        assert TOKEN not in bridge.output()
