"""The simulated venue: the matching engine shared by backtests and paper trading.

Orders sent while a bar is being processed (by a strategy reacting to it) start matching on the
next bar, so a market order fills at the next bar's open. An order never matches a bar that
opened before the order was sent (which, with several instruments, another instrument's bar
can). Bracket children start matching where
their parent filled, inside the same bar. See :mod:`.matching` for the intrabar path.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from tradeloop.brokers.simulated import matching
from tradeloop.brokers.simulated.fees import (
    CommissionModel,
    NoCommission,
    NoSlippage,
    SlippageModel,
)
from tradeloop.core.clock import Clock
from tradeloop.core.native import rebuild
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

# enum members read on the hot path, bound once (docs/decisions/0011)
_BUY: Final = OrderSide.BUY
_DAY: Final = TimeInForce.DAY
_FOK: Final = TimeInForce.FOK
_GTC: Final = TimeInForce.GTC
_GTD: Final = TimeInForce.GTD
_IOC: Final = TimeInForce.IOC
_LIMIT: Final = OrderType.LIMIT
_MARKET: Final = OrderType.MARKET
_MARKET_IF_TOUCHED: Final = OrderType.MARKET_IF_TOUCHED
_NO_CONTINGENCY: Final = ContingencyType.NONE
_OCO: Final = ContingencyType.OCO
_OTO: Final = ContingencyType.OTO
_PERCENT_OFFSET: Final = TrailingOffsetType.PERCENT
_SELL: Final = OrderSide.SELL
_STOP: Final = OrderType.STOP
_STOP_LIMIT: Final = OrderType.STOP_LIMIT
_TRAILING_STOP: Final = OrderType.TRAILING_STOP

ConflictPolicy = Literal["stop_first", "target_first", "path"]
_STOPS: Final = frozenset({_STOP, _STOP_LIMIT, _TRAILING_STOP})
_TAKER: Final = frozenset({_MARKET, _STOP, _MARKET_IF_TOUCHED, _TRAILING_STOP})
_ZERO: Final = Decimal(0)
# event classes made on every order, bound once: ``ev.X`` is a module lookup each time
_ORDER_ACCEPTED: Final = ev.OrderAccepted
_ORDER_FILLED: Final = ev.OrderFilled


@dataclass(frozen=True)
class SimulatedVenueConfig:
    """Settings of the simulated venue.

    Attributes
    ----------
    venue : str
        The venue name instruments refer to.
    commission : CommissionModel
    slippage : SlippageModel
        Applied to market-like fills (market, stop, market-if-touched, trailing stop).
    conflict : {"stop_first", "target_first", "path"}
        When both legs of a one-cancels-other pair (a stop-loss and a take-profit) would fill
        inside one bar, after its open: assume the stop came first (default, the pessimistic
        choice), the target first, or follow the intrabar path.
    volume_limit : float, optional
        Largest fraction of a bar's volume one order may fill in that bar; the rest stays
        working. None fills any size.
    day_timezone : str
        Where a DAY order's day ends.
    """

    venue: str = "SIM"
    commission: CommissionModel = field(default_factory=NoCommission)
    slippage: SlippageModel = field(default_factory=NoSlippage)
    conflict: ConflictPolicy = "stop_first"
    volume_limit: float | None = None
    day_timezone: str = "UTC"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


class _Working:
    # a plain class, not a dataclass: mypyc compiles a dataclass' __init__ as interpreted
    # code, which cost each order about 0.5 us here
    def __init__(self, order: Order, seq: int, active: bool) -> None:
        self.order = order
        self.seq = seq
        self.active = active
        self.start = 0.0
        self.triggered = False
        self.trail_ref: float | None = None
        self.day = ""


class SimulatedVenue:
    """A venue that fills orders against bars and ticks.

    Parameters
    ----------
    cache : Cache
        Instruments, orders and positions (read only).
    clock : Clock
    config : SimulatedVenueConfig
    capabilities : VenueCapabilities, optional
        Narrow these to make the venue behave like one that lacks, say, native OCO (for testing
        the order emulator).
    """

    def __init__(
        self,
        cache: Cache,
        clock: Clock,
        config: SimulatedVenueConfig | None = None,
        capabilities: VenueCapabilities | None = None,
    ) -> None:
        self.config = config or SimulatedVenueConfig()
        self.venue = self.config.venue
        self.capabilities = capabilities or VenueCapabilities()
        self._cache = cache
        self._clock = clock
        self._handler: EventHandler | None = None
        self._books: dict[str, list[_Working]] = {}
        self._by_id: dict[str, _Working] = {}
        self._quotes: dict[str, QuoteTick] = {}
        self._seq = itertools.count(1)
        self._trade_seq = itertools.count(1)
        self._tz = ZoneInfo(self.config.day_timezone)

    # -- the port -------------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self._handler = handler

    def has_orders(self, symbol: str) -> bool:
        """True while ``symbol`` has orders at the venue."""
        return bool(self._books.get(symbol))

    def submit_order(self, order: Order) -> None:
        """Accept an order, or reject it if the venue cannot take it."""
        caps = self.capabilities  # what VenueCapabilities.supports checks, without the call
        if order.order_type not in caps.order_types or (
                order.time_in_force not in caps.time_in_force):
            self._emit(ev.OrderRejected, order, reason=f"{self.venue} does not support "
                       f"{order.order_type} {order.time_in_force} orders")
            return
        if order.symbol not in self._cache.instruments:
            self._emit(ev.OrderRejected, order, reason=f"unknown symbol {order.symbol}")
            return
        parent = self._cache.order(order.parent_id) if order.parent_id else None
        if parent is not None and parent.is_closed and parent.filled_qty == 0:
            self._emit(ev.OrderCanceled, order,
                       reason=f"parent {parent.client_order_id} {parent.status.lower()}")
            return
        seq = next(self._seq)
        active = parent is None or parent.filled_qty > 0
        working = _Working(order, seq, active)
        if order.order_type is _TRAILING_STOP:
            working.trail_ref = self._cache.last_prices.get(order.symbol)
        book = self._books.get(order.symbol)
        if book is None:
            book = self._books[order.symbol] = []
        book.append(working)
        self._by_id[order.client_order_id] = working
        handler = self._handler
        if handler is None:
            raise RuntimeError("simulated venue is not bound to an execution engine")
        handler(_ORDER_ACCEPTED(
            ts=self._clock.now_ns(), client_order_id=order.client_order_id,
            strategy_id=order.strategy_id, symbol=order.symbol,
            venue_order_id=f"{self.venue}-{seq}",
        ))

    def cancel_order(self, order: Order) -> None:
        """Cancel a working order (and what is linked to it)."""
        working = self._by_id.get(order.client_order_id)
        if working is None:
            self._emit(ev.OrderCancelRejected, order, reason="order is not working at the venue")
            return
        self._close(working, ev.OrderCanceled, reason="")

    def modify_order(
        self,
        order: Order,
        quantity: Decimal | None,
        price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> None:
        """Change a working order's quantity, price or trigger price."""
        working = self._by_id.get(order.client_order_id)
        if working is None:
            self._emit(ev.OrderModifyRejected, order, reason="order is not working at the venue")
            return
        if quantity is not None and quantity <= order.filled_qty:
            self._emit(ev.OrderModifyRejected, order,
                       reason=f"quantity {quantity} is not above the filled {order.filled_qty}")
            return
        self._emit(ev.OrderUpdated, order, quantity=quantity, price=price,
                   trigger_price=trigger_price)

    # -- market data ----------------------------------------------------------------------------

    def process_bar(
        self, symbol: str, ts: int, open_: float, high: float, low: float, close: float,
        volume: float,
    ) -> None:
        """Match working orders of ``symbol`` against one bar that opens at ``ts``."""
        book = self._books.get(symbol)
        if not book:
            return
        if len(book) == 1:
            # the common case, one plain market order: it fills at the open, as ``_process``
            # would find after checking expiry, triggers, rivals and trailing
            w = book[0]
            o = w.order
            if (o.order_type is _MARKET and o.time_in_force is _GTC
                    and o.contingency is _NO_CONTINGENCY and w.active and o.ts_init <= ts):
                w.start = 0.0
                self._fill(w, 0.0, open_, volume, ts, [w])
                return
        path = matching.bar_path(open_, high, low, close)
        self._process(symbol, book, ts, path, path, volume)

    def process_quote(self, quote: QuoteTick) -> None:
        """Match working orders against a quote: buys at the ask, sells at the bid."""
        self._quotes[quote.symbol] = quote
        book = self._books.get(quote.symbol)
        if book:
            self._process(quote.symbol, book, quote.ts, (quote.ask,), (quote.bid,),
                          quote.ask_size or float("inf"), quote.bid_size or float("inf"))

    def process_trade(self, symbol: str, ts: int, price: float, size: float) -> None:
        """Match working orders against a trade print."""
        book = self._books.get(symbol)
        if book:
            self._process(symbol, book, ts, (price,), (price,), size or float("inf"))

    # -- matching -------------------------------------------------------------------------------

    def _process(
        self, symbol: str, book: list[_Working], ts: int,
        buy_path: matching.Path, sell_path: matching.Path, volume: float,
        sell_volume: float | None = None,
    ) -> None:
        """Match ``book``; buys may take ``volume``, sells ``sell_volume`` (default: the same)."""
        self._expire(book, ts)
        # An order matches only bars that open at or after the moment it was sent: with
        # several instruments, an order sent at one bar's close must not fill in another
        # instrument's bar that opened earlier.
        candidates = [w for w in book if w.active and w.order.ts_init <= ts]
        for w in candidates:
            w.start = 0.0
        done: set[int] = set()
        while True:
            touches: list[tuple[float, int, _Working, float, float | None]] = []
            for w in candidates:
                if w.seq in done or w.order.is_closed or not w.active:
                    continue
                path = buy_path if w.order.side is _BUY else sell_path
                touch = self._touch(w, path)
                if touch is not None:
                    touches.append((touch[0], w.seq, w, touch[1], touch[2]))
            if not touches:
                break
            if len(touches) == 1:
                best = touches[0]  # no rival to resolve a conflict with
            else:
                best = self._resolve_conflict(min(touches, key=lambda x: (x[0], x[1])), touches)
            t, _, working, price, triggered_at = best
            done.add(working.seq)
            if triggered_at is not None and not working.triggered:
                working.triggered = True
                self._emit(ev.OrderTriggered, working.order)
            buy = working.order.side is _BUY
            size = volume if buy or sell_volume is None else sell_volume
            self._fill(working, t, price, size, ts, candidates)
        for w in candidates:  # trailing stops keep the best price of the whole bar
            if w.order.order_type is _TRAILING_STOP and not w.order.is_closed:
                self._trail(w, buy_path if w.order.side is _BUY else sell_path, True)
        self._cancel_unfilled_immediate(candidates)

    def _touch(
        self, w: _Working, path: matching.Path
    ) -> tuple[float, float, float | None] | None:
        o = w.order
        buy = o.side is _BUY
        kind = o.order_type
        start = w.start
        touch: matching.Touch | None
        trig_t: float | None = None
        if kind is _MARKET:
            touch = (start, matching.price_at(path, start))
        elif kind is _LIMIT or (kind is _STOP_LIMIT and w.triggered):
            assert o.price is not None
            level = float(o.price)
            touch = (matching.first_at_or_below(path, level, start) if buy
                     else matching.first_at_or_above(path, level, start))
        elif kind is _STOP:
            assert o.trigger_price is not None
            level = float(o.trigger_price)
            touch = (matching.first_at_or_above(path, level, start) if buy
                     else matching.first_at_or_below(path, level, start))
        elif kind is _MARKET_IF_TOUCHED:
            assert o.trigger_price is not None
            level = float(o.trigger_price)
            touch = (matching.first_at_or_below(path, level, start) if buy
                     else matching.first_at_or_above(path, level, start))
        elif kind is _STOP_LIMIT:
            assert o.trigger_price is not None and o.price is not None
            trig = float(o.trigger_price)
            fired = (matching.first_at_or_above(path, trig, start) if buy
                     else matching.first_at_or_below(path, trig, start))
            if fired is None:
                return None
            trig_t = fired[0]
            limit = float(o.price)
            touch = (matching.first_at_or_below(path, limit, trig_t) if buy
                     else matching.first_at_or_above(path, limit, trig_t))
            if touch is None:
                w.triggered = True  # the limit part works from now on
                w.start = trig_t
                self._emit(ev.OrderTriggered, o)
                return None
        else:  # trailing stop
            touch = self._trail(w, path)
        if touch is None:
            return None
        if o.time_in_force in (_IOC, _FOK) and touch[0] > start:
            return None
        return touch[0], touch[1], trig_t

    def _trail(
        self, w: _Working, path: matching.Path, keep: bool = False
    ) -> matching.Touch | None:
        # The book is looked at again after every fill, so the best price is stored (``keep``)
        # only once the whole bar has been matched.
        o = w.order
        assert o.trailing_offset is not None
        sell = o.side is _SELL
        ref = w.trail_ref if w.trail_ref is not None else matching.price_at(path, w.start)
        touch, ref = matching.trailing_walk(
            path, w.start, ref, float(o.trailing_offset),
            o.trailing_offset_type is _PERCENT_OFFSET, sell,
        )
        if keep:
            w.trail_ref = ref
        return touch

    def _resolve_conflict(
        self,
        best: tuple[float, int, _Working, float, float | None],
        touches: list[tuple[float, int, _Working, float, float | None]],
    ) -> tuple[float, int, _Working, float, float | None]:
        order = best[2].order
        policy = self.config.conflict
        at_start = best[0] <= best[2].start
        if policy == "path" or order.contingency is not _OCO or at_start:
            return best
        rivals = [x for x in touches if x[2].order.client_order_id in order.linked_ids]
        if not rivals:
            return best
        want_stop = policy == "stop_first"
        for rival in sorted(rivals, key=lambda x: (x[0], x[1])):
            rival_is_stop = rival[2].order.order_type in _STOPS
            if rival_is_stop == want_stop and (order.order_type in _STOPS) != want_stop:
                return rival
        return best

    def _fill(
        self, w: _Working, t: float, price: float, volume: float, ts: int,
        candidates: list[_Working],
    ) -> None:
        o = w.order
        inst = self._cache.instrument(o.symbol)
        qty = o.leaves_qty
        if o.reduce_only:
            net = self._cache.net_quantity(o.symbol)
            if net == _ZERO or (net > _ZERO) == (o.side is _BUY):
                self._close(w, ev.OrderCanceled, reason="reduce-only order would open or "
                            "increase a position")
                return
            qty = min(qty, abs(net))
            if o.time_in_force is _FOK and qty < o.leaves_qty:
                self._close(w, ev.OrderCanceled,
                            reason=f"FOK: reduce-only allows only {qty} of {o.leaves_qty}")
                return
        if self.config.volume_limit is not None and volume != float("inf"):
            cap = inst.make_quantity(volume * self.config.volume_limit)
            if cap < qty:
                if o.time_in_force is _FOK:
                    self._close(w, ev.OrderCanceled,
                                reason=f"FOK: only {cap} of {qty} available")
                    return
                qty = cap
        if qty <= _ZERO:
            return
        px = inst.make_price(price)
        if o.order_type in _TAKER:
            px = self.config.slippage.apply(inst, o.side, px, self._quotes.get(o.symbol))
        fee = self.config.commission.fee(inst, qty, px)
        handler = self._handler
        if handler is None:
            raise RuntimeError("simulated venue is not bound to an execution engine")
        handler(_ORDER_FILLED(
            ts=ts, client_order_id=o.client_order_id, strategy_id=o.strategy_id,
            symbol=o.symbol, venue_order_id=o.venue_order_id or "",
            trade_id=f"{self.venue}-T{next(self._trade_seq)}", side=o.side, last_qty=qty,
            last_px=px, commission=fee, commission_currency=inst.quote_currency,
            position_id=o.position_id or "",
        ))
        if o.is_closed:
            self._remove(w)
        for child_id in o.linked_ids if o.contingency is _OTO else ():
            child = self._by_id.get(child_id)
            if child is not None and not child.active:
                child.active, child.start = True, t
                if child.order.order_type is _TRAILING_STOP:
                    child.trail_ref = price
                candidates.append(child)
        if o.contingency is _OCO:
            for sibling_id in o.linked_ids:
                sibling = self._by_id.get(sibling_id)
                if sibling is None:
                    continue
                if o.is_closed:
                    self._close(sibling, ev.OrderCanceled,
                                reason=f"OCO: {o.client_order_id} filled")
                elif sibling.order.leaves_qty > o.leaves_qty:
                    self._emit(ev.OrderUpdated, sibling.order,
                               quantity=sibling.order.filled_qty + o.leaves_qty)

    def _cancel_unfilled_immediate(self, candidates: list[_Working]) -> None:
        # Only orders that met this bar: one sent while it was matched waits for the next.
        for w in candidates:
            o = w.order
            if (o.client_order_id in self._by_id
                    and o.time_in_force in (_IOC, _FOK)):
                self._close(w, ev.OrderCanceled,
                            reason=f"{o.time_in_force}: not marketable when it arrived")

    def _expire(self, book: list[_Working], ts: int) -> None:
        day = ""
        for w in list(book):
            o = w.order
            if o.ts_init > ts:
                continue  # sent after this bar opened: its day has not begun here
            if o.time_in_force is _GTD and o.expire_ns is not None and ts >= o.expire_ns:
                self._close(w, ev.OrderExpired)
            elif o.time_in_force is _DAY and w.active:
                day = day or self._day_of(ts)
                if not w.day:
                    w.day = day  # a DAY order lives through the day of the first bar it meets
                elif day != w.day:
                    self._close(w, ev.OrderExpired)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _close(self, w: _Working, kind: type[ev.OrderEvent], reason: str | None = None) -> None:
        o = w.order
        self._remove(w)
        if not o.is_closed:
            if reason is None:
                self._emit(kind, o)
            else:
                self._emit(kind, o, reason=reason)
        linked = o.linked_ids
        if o.contingency is _OCO:
            for sibling_id in linked:
                sibling = self._by_id.get(sibling_id)
                if sibling is not None:
                    self._close(sibling, ev.OrderCanceled,
                                reason=f"OCO: {o.client_order_id} {o.status.lower()}")
        elif o.contingency is _OTO:
            for child_id in linked:
                child = self._by_id.get(child_id)
                if child is None:
                    continue
                # the children now only cover what the parent did fill
                qty = child.order.quantity - o.leaves_qty
                if o.filled_qty == 0 or qty <= child.order.filled_qty:
                    self._close(child, ev.OrderCanceled,
                                reason=f"parent {o.client_order_id} {o.status.lower()}")
                elif qty < child.order.quantity:
                    self._emit(ev.OrderUpdated, child.order, quantity=qty)

    def _remove(self, w: _Working) -> None:
        if self._by_id.pop(w.order.client_order_id, None) is not None:
            book = self._books[w.order.symbol]
            book.remove(w)
            if not book:
                del self._books[w.order.symbol]

    def _day_of(self, ts: int) -> str:
        return datetime.fromtimestamp(ts / 1e9, tz=self._tz).date().isoformat()

    def _emit(self, kind: type[ev.OrderEvent], order: Order, ts: int | None = None,
              **fields: object) -> None:
        if self._handler is None:
            raise RuntimeError("simulated venue is not bound to an execution engine")
        event = kind(
            ts=self._clock.now_ns() if ts is None else ts, client_order_id=order.client_order_id,
            strategy_id=order.strategy_id, symbol=order.symbol, **fields,
        )
        self._handler(event)
