"""A strategy's order desk: the compiled half of ``Strategy.order``, ``close`` and ``position``.

The strategy base class stays interpreted, so that traders' subclasses read their own
attributes at the interpreter's full speed (docs/decisions/0011). What it does per order (build
the order from the request, check it was not sent before, cache it, send it through the risk
gate; find the positions to close; find the strategy's position) lives here, in a module that
``make`` compiles with the rest of the order path, so those steps are C calls into the compiled
cache, orders and identifiers rather than interpreted frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from tradeloop.core.clock import Clock
from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.model.cache import Cache
from tradeloop.model.commands import SubmitOrder, SubmitOrderList
from tradeloop.model.enums import OrderSide, OrderType, TimeInForce
from tradeloop.model.orders import Number, Order, requested_order
from tradeloop.model.position import Position, netting_position_id

_BUY: Final = OrderSide.BUY
_SELL: Final = OrderSide.SELL
_MARKET: Final = OrderType.MARKET
_GTC: Final = TimeInForce.GTC
_ZERO: Final = Decimal(0)


class OrderDesk:
    """Makes, checks and sends one strategy's orders, and finds its positions.

    Parameters
    ----------
    strategy_id : str
        The strategy's id, on every order and in client order ids.
    ids : ClientOrderIdGenerator
        The strategy's client order ids.
    cache : Cache
        The kernel's cache.
    clock : Clock
        The kernel's clock: an order is stamped with its time.
    symbols : tuple of str
        The strategy's symbols; the first is the default one.
    send : callable
        Sends a command through the risk gate (the strategy's context).
    log : logging.Logger
        The strategy's logger.
    """

    def __init__(self, strategy_id: str, ids: ClientOrderIdGenerator, cache: Cache,
                 clock: Clock, symbols: tuple[str, ...], send: Callable[[Any], None],
                 log: logging.Logger) -> None:
        self.strategy_id = strategy_id
        self.ids = ids
        self.cache = cache
        self.clock = clock
        self.symbols = symbols
        self.send = send
        self.log = log
        self._position_keys: dict[str, str] = {}

    def make(
        self, side: OrderSide, quantity: Number, symbol: str | None = None,
        limit: Number | None = None, stop: Number | None = None, touch: Number | None = None,
        trail: Number | None = None, trail_percent: Number | None = None,
        tif: TimeInForce | str = _GTC, expire_ns: int | None = None,
        reduce_only: bool = False, tag: str = "", position_id: str | None = None,
    ) -> Order:
        """The order asked for, not sent (see :func:`~tradeloop.model.orders.requested_order`)."""
        return requested_order(
            self.ids, self.strategy_id, self.cache.instrument(symbol or self.symbols[0]), side,
            quantity, self.clock.now_ns(), limit, stop, touch, trail, trail_percent, tif,
            expire_ns, reduce_only, tag, position_id,
        )

    def market(self, side: OrderSide, quantity: Number, symbol: str | None = None,
               reduce_only: bool = False, tag: str = "", position_id: str | None = None) -> Order:
        """Make a market order (good till cancelled) and send it (see :meth:`send_one`)."""
        return self.send_one(self.make(side, quantity, symbol, None, None, None, None, None,
                                       _GTC, None, reduce_only, tag, position_id))

    def send_one(self, order: Order) -> Order:
        """Cache ``order`` and send it through the risk gate; one sent before is not sent again
        (see :meth:`send_new`)."""
        cache = self.cache
        if cache.order(order.client_order_id) is None:
            cache.add_order(order)
            self.send(SubmitOrder(order, order.ts_init))
            return order
        return self.send_new((order,))[0]

    def send_new(self, orders: tuple[Order, ...]) -> tuple[Order, ...]:
        """Cache linked ``orders`` (a bracket, an OCO pair, an OTO chain) and send them through
        the risk gate as one ``SubmitOrderList``; a single order goes through :meth:`send_one`.

        Orders whose client order ids are all known already (a restarted node or a replayed
        signal derives the same ids for the same intent) were sent before: nothing is sent
        twice, and the known orders are returned.
        """
        cache = self.cache
        known = [cache.order(o.client_order_id) for o in orders]
        if None not in known:
            self.log.info("order already sent, not sent again", extra={"fields": {
                "strategy": self.strategy_id, "client_order_id": orders[0].client_order_id}})
            return tuple([k for k in known if k is not None])
        for order in orders:
            cache.add_order(order)
        self.send(SubmitOrderList(orders, orders[0].ts_init))
        return orders

    def position(self, symbol: str | None = None) -> Position:
        """The strategy's net position in ``symbol`` (default: its first symbol); a flat
        position when there is none."""
        sym = symbol or self.symbols[0]
        cache = self.cache
        key = self._netting_key(sym)
        found = cache.positions.get(key)
        if found is not None:
            return found
        held = [p for p in cache.open_positions(sym) if p.strategy_id == self.strategy_id]
        if len(held) == 1:
            return held[0]
        inst = cache.instrument(sym)
        merged = Position(key, sym, self.strategy_id, inst.quote_currency, inst.multiplier)
        for p in held:
            merged.quantity += p.quantity
        return merged

    def _netting_key(self, symbol: str) -> str:
        key = self._position_keys.get(symbol)
        if key is None:
            key = self._position_keys[symbol] = netting_position_id(symbol, self.strategy_id)
        return key

    def close(self, symbol: str | None = None, tag: str = "close") -> Order | None:
        """Flatten the strategy's position in ``symbol`` with reduce-only market orders, one per
        open position (the account may hedge), less what market closing orders already working
        will close. Returns the last order sent, or None when nothing is left to close."""
        sym = symbol or self.symbols[0]
        cache = self.cache
        netting_key = self._netting_key(sym)
        sent: Order | None = None
        for position in cache.open_positions(sym):
            if position.strategy_id != self.strategy_id:
                continue
            hedged = position.position_id != netting_key
            quantity = position.quantity
            side = _SELL if quantity > _ZERO else _BUY
            # a long position's own quantity, not a copy: the rounding cache knows its hash
            remaining = quantity if side is _SELL else -quantity
            for o in cache.open_orders(sym, self.strategy_id):
                if (o.reduce_only and o.side is side and o.order_type is _MARKET
                        and (not hedged or o.position_id == position.position_id)):
                    remaining -= o.leaves_qty
            if remaining > _ZERO:
                sent = self.market(side, remaining, sym, True, tag,
                                   position.position_id if hedged else None)
        return sent
