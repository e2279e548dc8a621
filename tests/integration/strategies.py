"""Strategies the crash and fault tests run inside paper node subprocesses.

Each writes what it sees to a JSON-lines journal (``journal`` parameter): one ``start`` record
from ``on_start`` (its position and open orders, after the node restored and reconciled) and
one ``bar`` record per bar, so the test process can tell when a node is up and trading.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.orders import Order
from tradeloop.strategy import Strategy

#: Bar volumes that tell :class:`Scripted` what to do.
BUY, SELL, REST_BUY, BURST, CANCEL_THEN_BUY = 1, 2, 3, 4, 5
_WORKING = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


def _order_view(order: Order) -> dict[str, Any]:
    return {"client_order_id": order.client_order_id, "side": order.side.value,
            "type": order.order_type.value, "quantity": str(order.quantity),
            "filled": str(order.filled_qty), "status": order.status.value}


class _Journaled(Strategy):
    journal: str = ""

    def _write(self, record: dict[str, Any]) -> None:
        if not self.journal:
            return
        with open(self.journal, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"pid": os.getpid(), **record}) + "\n")

    def on_start(self) -> None:
        self._write({
            "event": "start",
            "position": str(self.position().quantity),
            "open_orders": [_order_view(o) for o in self.open_orders()],
            "orders": {cid: _order_view(o) for cid, o in self.context.cache.orders.items()
                       if o.strategy_id == self.id},
        })

    def on_bar(self, bar: Bar) -> None:
        self._write({"event": "bar", "ts": bar.ts, "position": str(self.position().quantity)})


class Churn(_Journaled):
    """Trades on every bar: a market order that keeps the net position near flat, and a
    resting limit order a little away from the close (the oldest is cancelled when too many
    rest), so that crashes keep hitting the order path."""

    quantity: int = 1000
    offset: float = 0.0002
    max_resting: int = 2

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        net = self.position().quantity
        for order in self.open_orders():
            if order.order_type is OrderType.MARKET:
                sign = 1 if order.side is OrderSide.BUY else -1
                net += sign * order.leaves_qty
        if net == 0:
            side = OrderSide.BUY if (bar.ts // 1000) % 2 == 0 else OrderSide.SELL
        else:
            side = OrderSide.SELL if net > 0 else OrderSide.BUY
        self.order(side, self.quantity, tag=f"market-{bar.ts}")
        resting = [o for o in self.open_orders() if o.order_type is OrderType.LIMIT
                   and o.status in _WORKING]
        if len(resting) >= self.max_resting:
            self.cancel(resting[0])
        if (bar.ts // 1000) % 3 == 0:
            self.buy(self.quantity, limit=bar.close - self.offset, tag=f"limit-{bar.ts}")
        else:
            self.sell(self.quantity, limit=bar.close + self.offset, tag=f"limit-{bar.ts}")


class Scripted(_Journaled):
    """Does what each bar's volume says: 1 market buy, 2 market sell, 3 a buy limit
    ``offset`` below the close, 4 a burst of ``burst`` buy limits just below the close (they
    all fill on the next bar that trades through them), 5 cancel every working order then a
    market buy; anything else nothing."""

    quantity: int = 1000
    offset: float = 0.001
    burst: int = 10

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        action = int(bar.volume)
        if action == BUY:
            self.buy(self.quantity, tag=f"buy-{bar.ts}")
        elif action == SELL:
            self.sell(self.quantity, tag=f"sell-{bar.ts}")
        elif action == REST_BUY:
            self.buy(self.quantity, limit=bar.close - self.offset, tag=f"rest-{bar.ts}")
        elif action == CANCEL_THEN_BUY:
            for order in self.open_orders():
                if order.status in _WORKING:
                    self.cancel(order)
            self.buy(self.quantity, tag=f"buy-{bar.ts}")
        elif action == BURST:
            for k in range(self.burst):
                self.buy(Decimal(self.quantity), limit=bar.close - 0.00001 * (k + 1),
                         tag=f"burst-{bar.ts}-{k}")
