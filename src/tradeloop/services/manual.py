"""Manual orders: one order from the command line (later the API and Telegram), through the same
risk gate, write-ahead and execution path as a strategy's."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradeloop.config.node import NodeConfig
from tradeloop.core.errors import ConfigError
from tradeloop.core.identifiers import client_order_id
from tradeloop.model import commands as cmd
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.orders import Order
from tradeloop.risk.engine import EXECUTE
from tradeloop.services.node import build_node

MANUAL = "MANUAL"
"""Strategy id of orders placed by hand."""


@dataclass(frozen=True)
class ManualOrderResult:
    """What became of a manual order when the command returned."""

    client_order_id: str
    status: str
    reason: str
    filled_qty: Decimal
    run_id: str


def _decimal(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{what} {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{what} must be positive, got {text}")
    return value


def place_manual_order(config: NodeConfig, side: str, symbol: str, quantity: str,
                       limit: str | None = None, stop: str | None = None,
                       home: Path | None = None, wait_s: float = 5.0) -> ManualOrderResult:
    """Place one order on the node's venue and wait up to ``wait_s`` for its answer.

    Raises
    ------
    ConfigError
        Unknown side or symbol, or a bad quantity or price.
    """
    if side.lower() not in ("buy", "sell"):
        raise ConfigError(f"side {side!r}: use buy or sell")
    qty = _decimal(quantity, "quantity")
    price, trigger = _decimal(limit, "--limit"), _decimal(stop, "--stop")
    node, store, run_id, _ = build_node(config, home, wall_clock=True)
    kernel = node.kernel
    if symbol not in kernel.cache.instruments:
        known = ", ".join(sorted(kernel.cache.instruments))
        raise ConfigError(f"unknown symbol {symbol!r} for this node (it trades {known})")
    inst = kernel.cache.instrument(symbol)
    kind = (OrderType.STOP_LIMIT if price and trigger else OrderType.LIMIT if price
            else OrderType.STOP if trigger else OrderType.MARKET)

    async def place() -> Order:
        await node.start()
        now = time.time_ns()
        order = Order(
            client_order_id=client_order_id(MANUAL, now, 1), strategy_id=MANUAL, symbol=symbol,
            side=OrderSide(side.upper()), order_type=kind,
            quantity=inst.make_quantity(qty or 0), ts_init=now,
            price=inst.make_price(price) if price else None,
            trigger_price=inst.make_price(trigger) if trigger else None, tags=("manual",),
        )
        kernel.cache.add_order(order)
        kernel.bus.send(EXECUTE, cmd.SubmitOrder(order, now))
        deadline = time.monotonic() + wait_s
        while order.status.value in ("INITIALIZED", "SUBMITTED") and time.monotonic() < deadline:
            await node.router.settle()
            await asyncio.sleep(0.05)
        await node.stop()
        return order

    status = "failed"
    try:
        order = asyncio.run(place())
        status = "completed"
    finally:
        store.end_run(run_id, status)
    return ManualOrderResult(order.client_order_id, order.status.value, order.reason,
                             order.filled_qty, run_id)


__all__ = ["MANUAL", "ManualOrderResult", "place_manual_order"]
