"""The matching model behind both markets: orders, fills and what triggers them.

Liquidity is unlimited at the top of book. An incoming market order fills at once, in full, at
the ask (buy) or bid (sell); an incoming limit order that is marketable (buy at or above the
ask, sell at or below the bid) fills the same way, at the better top-of-book price, as taker.
A resting limit order fills in full, as maker, at its own price once the quote moves through it
(or partly, when a test calls :meth:`Engine.fill_resting`). Stop orders watch the mid price
(the symbol's last and mark price here): stop-loss types trigger for a buy when it rises to the
stop price and for a sell when it falls to it, take-profit types the other way round. Our own
fills never move the quote.

Balances are not kept here: each market has a :class:`Ledger` that admits an order (reserves
funds or margin, or refuses it), settles each fill and releases what an order no longer needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from .errors import BinanceError
from .market import Market

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
STOP_LIKE = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "STOP", "STOP_MARKET"})
TAKE_PROFIT_LIKE = frozenset({"TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "TAKE_PROFIT_MARKET"})
MARKET_AFTER_TRIGGER = frozenset({"STOP_LOSS", "TAKE_PROFIT", "STOP_MARKET",
                                  "TAKE_PROFIT_MARKET"})


@dataclass
class Trade:
    """One fill of one order.

    Attributes
    ----------
    trade_id, order_id : int
    symbol, side : str
    price, qty, quote_qty, commission : Decimal
    commission_asset : str
    time : int
        Milliseconds.
    maker : bool
    realized_pnl : Decimal
        Futures only (zero on spot).
    """

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    maker: bool
    realized_pnl: Decimal = ZERO


@dataclass
class Order:
    """An order as the exchange keeps it (field names follow Binance's where they exist).

    ``type`` is the type as placed (``STOP_LOSS_LIMIT``...); ``working`` turns True when a stop
    order triggers (limit and market orders work from the start). ``reserved`` is what the
    ledger holds for the order: quote or base funds on spot, initial margin on futures.
    """

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal
    time_in_force: str
    time: int
    update_time: int
    working: bool
    working_time: int = -1
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    reduce_only: bool = False
    orig_type: str = ""
    quote_order_qty: Decimal = ZERO
    reserved: Decimal = ZERO
    reserve_per_unit: Decimal = ZERO
    trades: list[Trade] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED."""
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.qty - self.executed

    @property
    def avg_price(self) -> Decimal:
        """Average fill price (zero before any fill)."""
        return self.cum_quote / self.executed if self.executed else ZERO

    @property
    def market_after_trigger(self) -> bool:
        """Whether the order fills at market once it works."""
        return self.type == "MARKET" or self.type in MARKET_AFTER_TRIGGER


class Ledger(Protocol):
    """Balances of one market, as the engine needs them."""

    def admit(self, order: Order, price: Decimal) -> None:
        """Reserve what ``order`` needs at ``price`` (raise BinanceError if it cannot)."""

    def fillable(self, order: Order, price: Decimal, qty: Decimal) -> Decimal:
        """How much of ``qty`` may fill now (less for a reduce-only order past its position)."""

    def settle(self, order: Order, price: Decimal, qty: Decimal, maker: bool) -> Trade:
        """Move funds for one fill; the trade (its ids are filled in by the engine)."""

    def release(self, order: Order) -> None:
        """Give back whatever ``order`` still reserves."""


@dataclass(frozen=True)
class Rules:
    """How a market refuses what the model cannot accept (errors differ spot vs futures).

    Attributes
    ----------
    duplicate : callable
        The error for a client order id already used by an open order.
    would_trigger : callable
        The error for a stop order whose stop price is already reached.
    would_take : callable
        The error for a post-only order that would take liquidity.
    fok_unfilled : callable or None
        The error for a fill-or-kill order that cannot fill; None to expire it instead.
    """

    duplicate: Callable[[], BinanceError]
    would_trigger: Callable[[], BinanceError]
    would_take: Callable[[], BinanceError]
    fok_unfilled: Callable[[], BinanceError] | None


class Engine:
    """Orders of one market (spot or futures) and how they fill.

    Parameters
    ----------
    market : Market
        Quotes (and the candles fills are recorded into).
    ledger : Ledger
    rules : Rules
    next_trade_id : callable
        Hands out trade ids.
    """

    def __init__(self, market: Market, ledger: Ledger, rules: Rules,
                 next_trade_id: Callable[[], int]) -> None:
        self.market = market
        self.ledger = ledger
        self.rules = rules
        self._next_trade_id = next_trade_id
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self.listeners: list[Callable[[Order, str, Trade | None], None]] = []
        """Called with (order, execution type, trade) on NEW, TRADE, CANCELED, EXPIRED and
        AMENDMENT, as Binance's user data stream reports them."""

    # -- looking up -------------------------------------------------------------------------

    def find(self, symbol: str, order_id: int | None = None,
             client_id: str | None = None) -> Order | None:
        """An order of ``symbol`` by id, or the latest one with ``client_id``."""
        if order_id is not None:
            order = self.orders.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        for order in reversed(self.orders.values()):
            if order.symbol == symbol and order.client_id == client_id:
                return order
        return None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Open orders (of one symbol, when given), oldest first."""
        return [o for o in self.orders.values()
                if o.is_open and (symbol is None or o.symbol == symbol)]

    def iter_orders(self, symbol: str) -> Iterator[Order]:
        """Every order of ``symbol``, oldest first."""
        return (o for o in self.orders.values() if o.symbol == symbol)

    # -- placing ----------------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        """Book a validated order: rest it, fill it, expire it, or raise the rejection."""
        if any(o.client_id == order.client_id for o in self.open_orders(order.symbol)):
            raise self.rules.duplicate()
        quote = self.market.quote(order.symbol)
        if not order.working:
            if self._triggered(order):
                raise self.rules.would_trigger()
            self.ledger.admit(order, order.price if order.price else order.stop_price)
            self._book(order)
            return
        if order.market_after_trigger:
            self.ledger.admit(order, quote.ask if order.side == "BUY" else quote.bid)
            self._book(order)
            self._take(order)
            return
        marketable = self._marketable(order)
        post_only = order.type == "LIMIT_MAKER" or order.time_in_force == "GTX"
        if marketable and post_only:
            raise self.rules.would_take()
        if not marketable and order.time_in_force == "FOK" and self.rules.fok_unfilled:
            raise self.rules.fok_unfilled()
        if not marketable and order.time_in_force in ("IOC", "FOK"):
            self._book(order)
            self._close(order, "EXPIRED")
            return
        self.ledger.admit(order, order.price)
        self._book(order)
        if marketable:
            self._take(order)

    def _book(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self._notify(order, "NEW", None)

    def _notify(self, order: Order, execution: str, trade: Trade | None) -> None:
        for listener in self.listeners:
            listener(order, execution, trade)

    def cancel(self, order: Order) -> None:
        """Cancel an open order."""
        self._close(order, "CANCELED")

    def expire(self, order: Order) -> None:
        """Expire an open order (as the exchange does for IOC remainders)."""
        self._close(order, "EXPIRED")

    def modify(self, order: Order, qty: Decimal, price: Decimal) -> None:
        """Change quantity and price of an open LIMIT order (fills it if now marketable).

        Raises
        ------
        BinanceError
            From the ledger (margin) or the post-only rule; the order is then unchanged.
        """
        old = (order.qty, order.price, order.reserved)
        self.ledger.release(order)
        order.qty, order.price = qty, price
        try:
            if self._marketable(order) and order.time_in_force == "GTX":
                raise self.rules.would_take()
            self.ledger.admit(order, price)
        except BinanceError:
            order.qty, order.price = old[0], old[1]
            self.ledger.admit(order, order.price)
            raise
        order.update_time = self.market.clock()
        self._notify(order, "AMENDMENT", None)
        if self._marketable(order):
            self._take(order)

    # -- filling ----------------------------------------------------------------------------

    def on_price(self, symbol: str) -> None:
        """React to a new quote: trigger stops and fill resting limits it reaches."""
        for order in self.open_orders(symbol):
            if not order.is_open:
                continue
            if not order.working:
                if self._triggered(order):
                    self._trigger(order)
                continue
            if not order.market_after_trigger and self._marketable(order):
                self._fill(order, order.price, order.remaining, maker=True)

    def fill_resting(self, order: Order, qty: Decimal) -> Trade:
        """Fill ``qty`` of a working resting limit order at its price, as maker.

        Raises
        ------
        ValueError
            When the order is not an open, working limit order or ``qty`` is out of range.
        """
        if not order.is_open or not order.working or order.market_after_trigger:
            raise ValueError(f"order {order.order_id} is not a resting limit order")
        if not ZERO < qty <= order.remaining:
            raise ValueError(f"fill of {qty} is outside (0, {order.remaining}]")
        trade = self._fill(order, order.price, qty, maker=True)
        if trade is None:
            raise ValueError(f"order {order.order_id} cannot fill now")
        return trade

    def _trigger(self, order: Order) -> None:
        now = self.market.clock()
        order.working, order.working_time, order.update_time = True, now, now
        if order.market_after_trigger or self._marketable(order):
            self._take(order)
        elif order.time_in_force in ("IOC", "FOK"):
            self.expire(order)

    def _take(self, order: Order) -> None:
        quote = self.market.quote(order.symbol)
        self._fill(order, quote.ask if order.side == "BUY" else quote.bid, order.remaining,
                   maker=False)

    def _fill(self, order: Order, price: Decimal, qty: Decimal, *, maker: bool) -> Trade | None:
        allowed = min(qty, self.ledger.fillable(order, price, qty))
        if allowed <= 0:
            self.expire(order)
            return None
        trade = self.ledger.settle(order, price, allowed, maker)
        trade.trade_id = self._next_trade_id()
        order.executed += allowed
        order.cum_quote += price * allowed
        order.update_time = trade.time
        order.trades.append(trade)
        self.trades.append(trade)
        self.market.record_trade(order.symbol, price, allowed)
        if order.executed >= order.qty:
            order.status = "FILLED"
            self.ledger.release(order)
        else:
            order.status = "PARTIALLY_FILLED"
        self._notify(order, "TRADE", trade)
        if allowed < qty and order.is_open:
            self.expire(order)
        return trade

    def _close(self, order: Order, status: str) -> None:
        order.status = status
        order.update_time = self.market.clock()
        self.ledger.release(order)
        self._notify(order, status, None)

    def _marketable(self, order: Order) -> bool:
        quote = self.market.quote(order.symbol)
        if order.side == "BUY":
            return order.price >= quote.ask
        return order.price <= quote.bid

    def _triggered(self, order: Order) -> bool:
        mid = self.market.quote(order.symbol).mid
        rising = (order.type in STOP_LIKE) == (order.side == "BUY")
        return mid >= order.stop_price if rising else mid <= order.stop_price
