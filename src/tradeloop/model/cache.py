"""The cache: the one in-memory store of instruments, orders, positions, accounts and the latest
prices, shared by every component of a kernel."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from tradeloop.model.account import Account
from tradeloop.model.instrument import Instrument, to_decimal
from tradeloop.model.orders import Order
from tradeloop.model.position import Position

_ZERO = Decimal(0)


class Cache:
    """Shared state of one kernel. Components read it; only their owners write each part.

    Attributes
    ----------
    order_changes : int
        Counts every order added or refreshed: a reader that summed the open orders can keep
        its sums while the count stays the same.
    """

    def __init__(self) -> None:
        self.order_changes = 0
        self.instruments: dict[str, Instrument] = {}
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.accounts: dict[str, Account] = {}
        self.last_prices: dict[str, float] = {}
        self._open_orders: dict[str, Order] = {}
        self._open_positions: dict[str, dict[str, Position]] = {}  # symbol -> id -> position
        self._marks: dict[str, tuple[float, Decimal]] = {}  # symbol -> (last price, as Decimal)

    def mark(self, symbol: str) -> Decimal | None:
        """The latest price of ``symbol`` as a Decimal (through its shortest repr), or None
        before any. The conversion is kept until the price changes."""
        price = self.last_prices.get(symbol)
        if price is None:
            return None
        known = self._marks.get(symbol)
        if known is not None and known[0] == price:
            return known[1]
        mark = to_decimal(price)
        self._marks[symbol] = (price, mark)
        return mark

    def add_instrument(self, instrument: Instrument) -> None:
        """Register an instrument under its symbol."""
        self.instruments[instrument.symbol] = instrument

    def instrument(self, symbol: str) -> Instrument:
        """Return the instrument for ``symbol``.

        Raises
        ------
        KeyError
            With the known symbols, when ``symbol`` is unknown.
        """
        try:
            return self.instruments[symbol]
        except KeyError:
            known = ", ".join(sorted(self.instruments)) or "none"
            raise KeyError(f"unknown symbol {symbol!r} (known: {known})") from None

    def add_order(self, order: Order) -> None:
        """Store a new order.

        Raises
        ------
        ValueError
            If an order with the same client order id exists.
        """
        if order.client_order_id in self.orders:
            raise ValueError(f"duplicate client order id {order.client_order_id}")
        self.orders[order.client_order_id] = order
        self.order_changes += 1
        if not order.is_closed:  # an order restored from history may be long finished
            self._open_orders[order.client_order_id] = order

    def order(self, client_order_id: str) -> Order | None:
        """Return the order with that id, or None."""
        return self.orders.get(client_order_id)

    def refresh_order(self, order: Order) -> None:
        """Update the open-order index after ``order`` changed (state, fills, quantity or
        prices)."""
        self.order_changes += 1
        if order.is_closed:
            self._open_orders.pop(order.client_order_id, None)
        else:
            self._open_orders[order.client_order_id] = order

    def open_orders(
        self, symbol: str | None = None, strategy_id: str | None = None
    ) -> list[Order]:
        """Orders not yet in a terminal state, optionally for one symbol or strategy."""
        return [
            o
            for o in self._open_orders.values()
            if (symbol is None or o.symbol == symbol)
            and (strategy_id is None or o.strategy_id == strategy_id)
        ]

    def add_position(self, position: Position) -> None:
        """Store a new position (flat or open).

        Raises
        ------
        ValueError
            If a position with the same id exists.
        """
        if position.position_id in self.positions:
            raise ValueError(f"duplicate position id {position.position_id}")
        self.positions[position.position_id] = position
        self.refresh_position(position)

    def refresh_position(self, position: Position) -> None:
        """Update the open-position index after ``position`` changed."""
        by_id = self._open_positions.setdefault(position.symbol, {})
        if position.is_flat:
            by_id.pop(position.position_id, None)
        else:
            by_id[position.position_id] = position

    def open_positions(self, symbol: str | None = None) -> list[Position]:
        """Positions that hold a quantity, optionally in one symbol."""
        if symbol is not None:
            by_id = self._open_positions.get(symbol)
            return [] if by_id is None else list(by_id.values())
        return [p for by_id in self._open_positions.values() for p in by_id.values()]

    def net_quantity(self, symbol: str, strategy_id: str | None = None) -> Decimal:
        """Signed quantity held in ``symbol`` across open positions (of one strategy)."""
        total = _ZERO
        by_id = self._open_positions.get(symbol)
        if by_id:
            if strategy_id is None and len(by_id) == 1:  # netting: the one position
                for position in by_id.values():
                    return position.quantity
            for position in by_id.values():
                if strategy_id is None or position.strategy_id == strategy_id:
                    total += position.quantity
        return total

    def positions_for(
        self, symbol: str | None = None, strategy_id: str | None = None
    ) -> Iterable[Position]:
        """Positions, optionally filtered, flat ones included."""
        return (
            p
            for p in self.positions.values()
            if (symbol is None or p.symbol == symbol)
            and (strategy_id is None or p.strategy_id == strategy_id)
        )
