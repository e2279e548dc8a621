"""Helpers of the Alpaca integration tests: adapter settings on the local Alpaca, and a desk
(the node's order path: execution engine, live router, reconciler) trading one symbol."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from support.alpaca import AlpacaServer
from tradeloop.brokers.alpaca import capabilities, create_adapter
from tradeloop.brokers.alpaca.execution import AlpacaExecutionClient
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.testing.harness import Desk, Target, TargetSpec
from tradeloop.execution.engine import EXECUTE
from tradeloop.model import commands as cmd
from tradeloop.model.enums import AssetClass, OrderStatus
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order

KEY_ENV, SECRET_ENV = "TL_TEST_ALPACA_KEY", "TL_TEST_ALPACA_SECRET"
INSTRUMENTS = {
    "AAPL": Instrument("AAPL", "ALPACA", AssetClass.EQUITY, "USD", "USD", Decimal("0.01"),
                       Decimal(1), Decimal(1)),
    "BTC/USD": Instrument("BTC/USD", "ALPACA", AssetClass.CRYPTO, "BTC", "USD", Decimal(1),
                          Decimal("0.000000001"), Decimal("0.0001")),
}


def settings(server: AlpacaServer, **extra: Any) -> dict[str, Any]:
    """``[broker.settings]`` of an adapter on ``server``."""
    out: dict[str, Any] = {
        "api_key_env": KEY_ENV, "secret_env": SECRET_ENV, "trading_url": server.base_url,
        "data_url": server.base_url, "stream_url": server.trading_stream_url,
        "data_stream_url": f"ws://127.0.0.1:{server.port}", "symbols": ["AAPL", "BTC/USD"],
        "timeout_s": 3.0, "sweep_interval_s": 1.0, "stream_wait_s": 3.0,
        "reconnect_initial_s": 0.05, "reconnect_max_s": 0.3, "fill_grace_s": 0.2,
    }
    out.update(extra)
    return out


def adapter(server: AlpacaServer, home: Path, **extra: Any) -> BrokerAdapter:
    """A new, unconnected adapter on ``server``."""
    return create_adapter(settings(server, **extra), variant="", home=home)


def target(server: AlpacaServer, home: Path, symbol: str = "AAPL",
           quantity: Decimal = Decimal(10), **extra: Any) -> Target:
    """A target for a :class:`Desk` trading ``symbol`` (prices start where the server's do)."""
    bid, ask = server.quote(symbol)
    spec = TargetSpec("alpaca/local", capabilities(), frozenset())
    return Target(spec, None, lambda: adapter(server, home, **extra),  # type: ignore[arg-type]
                  INSTRUMENTS[symbol], quantity=quantity, bid=bid, ask=ask, settle_s=10.0)


async def open_desk(t: Target) -> Desk:
    """A connected desk."""
    return await Desk(t, t.connect()).open()


def execution(desk: Desk) -> AlpacaExecutionClient:
    """The desk's Alpaca execution client."""
    client = desk.adapter.execution
    assert isinstance(client, AlpacaExecutionClient)
    return client


def submit_list(desk: Desk, orders: Sequence[Order]) -> None:
    """Send linked orders as a node sends a bracket (one ``SubmitOrderList``)."""
    for order in orders:
        desk.cache.add_order(order)
    desk.bus.send(EXECUTE, cmd.SubmitOrderList(tuple(orders), desk.clock.now_ns()))


async def until_status(desk: Desk, order: Order, *statuses: OrderStatus) -> Order:
    """Wait until ``order`` reaches one of ``statuses`` (fails after the settle time)."""
    return await desk.until_status(order, *statuses)


async def eventually(check: Any, what: str, timeout_s: float = 10.0) -> None:
    """Wait until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
