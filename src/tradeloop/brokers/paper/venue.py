"""The paper venue: the simulated venue's matching with a broker's books, on its own state file.

:class:`PaperVenue` is one account at a paper broker. It keeps its own copy of every order it
was sent (by client order id), the fills, the net position per symbol (netted across every
client of the account) and the balance, and it answers queries about them. Orders are matched
by :class:`~tradeloop.brokers.simulated.venue.SimulatedVenue` exactly as in a backtest: the same
orders and market data give the same fills, with the same trade ids.

Time is the venue's market data time. The venue's clock moves only with the bars, quotes and
trades it is given (:meth:`PaperVenue.on_bar`...); an order is stamped with that time when it
arrives, so it matches from the next bar on, as in a backtest, whatever the sender's clock says.
A bar moves the clock to its open while it is matched and to its close afterwards (when the
bar's ``timeframe`` is known).

Every change of orders, fills, positions, balance or events is written to the state file
(:mod:`.state`) in one transaction before the caller gets an answer or a subscriber an event,
and a venue opened on an existing file continues from it: orders, working order details
(trailing stop reference, DAY order session), fills, positions, balance, the event and trade id
sequences and the market data time. Market data that changes only the marks and the clock is
saved with the next such change, at most ``marks_flush_ms`` later, and on :meth:`close`; after
a crash the venue may restart a little behind in market data, which is harmless
(:mod:`.marks`). Order events are numbered per venue (``seq`` 1, 2, 3...) so that clients can
tell a gap or a duplicate.

The account books one currency: instruments quoted in another currency are refused (FX
conversion can come later).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from tradeloop.brokers.paper import checks
from tradeloop.brokers.paper.books import AccountBooks, SubmitResult, order_report
from tradeloop.brokers.paper.errors import PaperFatalError
from tradeloop.brokers.paper.marks import MarketState
from tradeloop.brokers.paper.protocol import ReasonCode
from tradeloop.brokers.paper.state import (
    DEFAULT_MARKS_FLUSH_MS,
    MarkRecord,
    OrderRecord,
    PaperStateStore,
    PositionRecord,
    StateChanges,
    StoredEvent,
    StoredFill,
    WorkingRecord,
    check_owner,
    fresh_copy,
    new_meta,
    order_from_record,
    order_record,
)
from tradeloop.brokers.paper.working import put_back, working_state
from tradeloop.brokers.simulated.venue import SimulatedVenue, SimulatedVenueConfig
from tradeloop.core.errors import FatalVenueError
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import AccountType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)

MarketData = Bar | QuoteTick | TradeTick
EventListener = Callable[[StoredEvent], None]
MarketListener = Callable[[MarketData], None]


@dataclass(slots=True, eq=False)
class _Entry:
    order: Order
    owner: str = ""
    reject_code: str = ""
    ts_accepted: int = 0
    book_no: int = 0


@dataclass(slots=True)
class _Change:
    events: list[StoredEvent] = field(default_factory=list)
    orders: set[str] = field(default_factory=set)
    fills: list[tuple[int, StoredFill]] = field(default_factory=list)
    positions: set[str] = field(default_factory=set)
    market: list[MarketData] = field(default_factory=list)
    save_marks: bool = False


class PaperVenue:
    """A stateful paper broker account, matched like the simulated venue.

    Parameters
    ----------
    state_path : str or Path
        The state file; created when missing, restored from when present.
    instruments : iterable of Instrument
        What the venue trades.
    account : Account, optional
        The account of a new state file (default: ``PAPER-001``, 100,000 USD, margin). An
        existing file keeps its balance; its account id, currency and type must match.
    config : SimulatedVenueConfig, optional
        Venue name (default ``"PAPER"``), commission, slippage, conflict policy, volume limit.
    capabilities : VenueCapabilities, optional
    marks_flush_ms : float, default 250
        Longest time market data that changes nothing but marks and the clock stays unsaved
        while data keeps coming (0: save with every item). Order changes are saved at once.

    Raises
    ------
    ConfigError
        When the state file belongs to another account, or another process holds it, or for
        a negative ``marks_flush_ms``.
    DataError
        When the state file is damaged.
    """

    def __init__(
        self,
        state_path: str | Path,
        instruments: Iterable[Instrument],
        *,
        account: Account | None = None,
        config: SimulatedVenueConfig | None = None,
        capabilities: VenueCapabilities | None = None,
        marks_flush_ms: float = DEFAULT_MARKS_FLUSH_MS,
    ) -> None:
        self.marks_flush_ms = marks_flush_ms
        self.config = config or SimulatedVenueConfig(venue="PAPER")
        self.venue = self.config.venue
        self.capabilities = capabilities or VenueCapabilities()
        self._lock = threading.RLock()
        self._cache = Cache()
        for instrument in instruments:
            self._cache.add_instrument(instrument)
        self._entries: dict[str, _Entry] = {}
        self._saved: dict[str, tuple[bytes, WorkingRecord | None]] = {}  # as on file
        self._event_listeners: list[EventListener] = []
        self._market_listeners: list[MarketListener] = []
        self._change: _Change | None = None
        self._failed: str = ""
        self._restoring = False
        self._market = MarketState(self._cache, marks_flush_ms)
        self._clock = self._market.clock
        self._store = PaperStateStore(state_path)
        try:
            snapshot = self._store.load()
            account = account or Account("PAPER-001", "USD", AccountType.MARGIN, Decimal(100_000))
            self._meta = snapshot.meta if snapshot else new_meta(self.venue, account)
            check_owner(self._meta, account, self.venue, self._store.path)
            self._books = AccountBooks(self._cache, self._meta)
            self._clock.advance_to(self._meta.clock_ns)
            self._sim = SimulatedVenue(self._cache, self._clock, self.config, self.capabilities)
            self._sim.bind(self._on_sim_event)
            if snapshot is not None:
                self._restore(snapshot.orders, snapshot.fills, snapshot.positions,
                              snapshot.marks)
            else:
                self._store.commit(StateChanges(meta=self._meta))
        except BaseException:
            self._store.close()
            raise
        logger.info("paper venue open", extra={"fields": {
            "state": str(self._store.path), "orders": len(self._entries),
            "last_seq": self._meta.last_seq, "market_ns": self._meta.clock_ns}})

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Save the marks, close the state file; the venue cannot be used afterwards."""
        with self._lock:
            with suppress(Exception):  # logged by the venue; the books on file are whole
                self.persist_marks()
            self._failed = self._failed or "the paper venue is closed"
            self._store.close()

    def persist_marks(self) -> None:
        """Write unsaved marks and the clock now (as the venue does with every order change,
        at most ``marks_flush_ms`` after market data, and on :meth:`close`)."""
        with self._lock:
            if not self._failed and self._market.unsaved:
                with self._changing() as change:
                    change.save_marks = True

    @property
    def state_path(self) -> Path:
        """The state file."""
        return self._store.path

    @property
    def failed(self) -> str:
        """Why the venue stopped taking calls ("" while it works)."""
        return self._failed

    @property
    def last_seq(self) -> int:
        """The seq of the last order event (0 before the first)."""
        return self._meta.last_seq

    @property
    def market_ns(self) -> int:
        """The venue's time: that of its market data, UTC nanoseconds."""
        return self._clock.now_ns()

    def last_data_ns(self, symbol: str) -> int | None:
        """Time of the last market data of ``symbol`` the venue processed, if any."""
        return self._market.last_data_ns(symbol)

    def instruments(self) -> list[Instrument]:
        """The instruments the venue trades, by symbol."""
        return [self._cache.instruments[s] for s in sorted(self._cache.instruments)]

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` with every order event from now on (after it is stored).

        Listeners run on the thread that caused the event, in seq order, with the venue
        locked: they must be quick (hand the event to a queue). Returns the unsubscribe call.
        """
        with self._lock:
            self._event_listeners.append(listener)
        return lambda: self._remove_listener(self._event_listeners, listener)

    def subscribe_market(self, listener: MarketListener) -> Callable[[], None]:
        """Call ``listener`` with every bar, quote and trade the venue processes."""
        with self._lock:
            self._market_listeners.append(listener)
        return lambda: self._remove_listener(self._market_listeners, listener)

    def _remove_listener(self, listeners: list[Any], listener: object) -> None:
        with self._lock:
            if listener in listeners:
                listeners.remove(listener)

    # -- orders ---------------------------------------------------------------------------------

    def submit(self, order: Order, *, owner: str = "") -> SubmitResult:
        """Take a new order, or answer for the one already under its client order id.

        The venue checks the order (symbol, lot step and minimum, tick, funds) and books a
        refused order as REJECTED with an ``OrderRejected`` event; resubmitting the id returns
        the same answer and never creates a second order.
        """
        with self._lock:
            self._check_usable()
            entry = self._entries.get(order.client_order_id)
            if entry is not None:
                return SubmitResult(self._report(entry), True, entry.reject_code)
            problem = self._submit_problem(order)
            with self._changing():
                entry = self._book(order, owner)
                if problem is not None:
                    self._reject(entry, problem[0], problem[1])
                elif (sibling := checks.closed_oco_sibling(entry.order, self._cache)) is not None:
                    self._emit_direct(ev.OrderCanceled, entry.order,
                                      reason=f"OCO: {sibling} is no longer working")
                else:
                    self._sim.submit_order(entry.order)
            return SubmitResult(self._report(entry), False, entry.reject_code)

    def reject(self, order: Order, code: str, reason: str, *, owner: str = "") -> SubmitResult:
        """Book a new order as rejected with ``code`` without matching it (a simulated broker
        refusal such as MARKET_CLOSED); an id the venue already has is answered as it is."""
        with self._lock:
            self._check_usable()
            entry = self._entries.get(order.client_order_id)
            if entry is not None:
                return SubmitResult(self._report(entry), True, entry.reject_code)
            with self._changing():
                entry = self._book(order, owner)
                self._reject(entry, code, reason)
            return SubmitResult(self._report(entry), False, entry.reject_code)

    def cancel(self, client_order_id: str) -> OrderStatusReport:
        """Cancel a working order (and, like the simulated venue, what is linked to it).

        Raises
        ------
        PaperFatalError
            ORDER_NOT_FOUND for an unknown id; ORDER_NOT_OPEN for an order that cannot be
            cancelled any more (an ``OrderCancelRejected`` event says so too).
        """
        with self._lock:
            entry = self._entry(client_order_id)
            with self._changing() as change:
                self._sim.cancel_order(entry.order)
                refused = self._refusal(change, client_order_id, ev.OrderCancelRejected)
            report = self._report(entry)
        if refused is not None:
            raise PaperFatalError(ReasonCode.ORDER_NOT_OPEN, refused, report)
        return report

    def modify(
        self,
        client_order_id: str,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderStatusReport:
        """Change a working order's quantity, limit price or trigger price.

        Raises
        ------
        PaperFatalError
            ORDER_NOT_FOUND, ORDER_NOT_OPEN, INVALID_VOLUME, INVALID_PRICE or INVALID_ORDER;
            an ``OrderModifyRejected`` event tells the same.
        """
        with self._lock:
            entry = self._entry(client_order_id)
            order = entry.order
            inst = self._cache.instruments.get(order.symbol)
            problem = (checks.modify_problem(order, inst, quantity, price, trigger_price)
                       if inst is not None and order.is_open else None)
            with self._changing() as change:
                if problem is not None:
                    self._emit_direct(ev.OrderModifyRejected, order, reason=problem[1])
                else:
                    self._sim.modify_order(order, quantity, price, trigger_price)
                    refused = self._refusal(change, client_order_id, ev.OrderModifyRejected)
                    if refused is not None:
                        code = (ReasonCode.INVALID_VOLUME if order.is_open
                                else ReasonCode.ORDER_NOT_OPEN)
                        problem = (code, refused)
            report = self._report(entry)
        if problem is not None:
            raise PaperFatalError(problem[0], problem[1], report)
        return report

    # -- queries --------------------------------------------------------------------------------

    def status(self, client_order_id: str) -> OrderStatusReport | None:
        """The order under ``client_order_id``, or None when the venue never saw it."""
        with self._lock:
            self._check_usable()
            entry = self._entries.get(client_order_id)
            return None if entry is None else self._report(entry)

    def orders(self, *, open_only: bool = False, owner: str | None = None
               ) -> list[OrderStatusReport]:
        """Orders in arrival order: all, or only those that can still fill; of one owner."""
        with self._lock:
            self._check_usable()
            return [self._report(e) for e in self._entries.values()
                    if (not open_only or e.order.is_open)
                    and (owner is None or e.owner == owner)]

    def open_orders(self, owner: str | None = None) -> list[OrderStatusReport]:
        """Orders that can still fill, in arrival order."""
        return self.orders(open_only=True, owner=owner)

    def fills_since(self, ts_ns: int, owner: str | None = None) -> list[FillReport]:
        """Fills booked at or after ``ts_ns`` (market data time), oldest first."""
        with self._lock:
            self._check_usable()
            return self._books.fills_since(ts_ns, owner)

    def positions(self) -> list[PositionReport]:
        """Net positions of the account, one per symbol that is not flat."""
        with self._lock:
            self._check_usable()
            return self._books.position_reports(self._clock.now_ns())

    def account(self) -> AccountReport:
        """Balance, equity (balance plus open PnL at the last prices) and margin used."""
        with self._lock:
            self._check_usable()
            return self._books.account_report(self._clock.now_ns())

    def events_since(self, seq: int, limit: int = 1000, owner: str | None = None
                     ) -> list[StoredEvent]:
        """Order events with a seq above ``seq``, oldest first (for a client to fill a gap)."""
        with self._lock:
            self._check_usable()
            return self._store.events_since(seq, limit, owner)

    # -- market data ----------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Match working orders against a bar; the clock ends at the bar's close.

        Raises
        ------
        DataError
            For a malformed bar (prices not positive and finite, high below low...).
        """
        step = checks.check_bar(bar)
        self._on_market(bar, bar.close, step, lambda: self._sim.process_bar(
            bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume))

    def on_quote(self, quote: QuoteTick) -> None:
        """Match working orders against a quote: buys at the ask, sells at the bid."""
        checks.check_quote(quote)
        self._on_market(quote, (quote.bid + quote.ask) / 2, 0,
                        lambda: self._sim.process_quote(quote))

    def on_trade(self, trade: TradeTick) -> None:
        """Match working orders against a trade print."""
        checks.check_trade(trade)
        self._on_market(trade, trade.price, 0, lambda: self._sim.process_trade(
            trade.symbol, trade.ts, trade.price, trade.size))

    def _on_market(self, item: MarketData, price: float, step: int,
                   match: Callable[[], None]) -> None:
        with self._lock:
            self._check_usable()
            if self._market.is_stale(item.symbol, item.ts):
                return
            with self._changing() as change:
                self._market.advance(item.ts)
                if item.symbol in self._cache.instruments:
                    match()
                self._market.set_mark(item.symbol, item.ts, price,
                                      item if isinstance(item, QuoteTick) else None)
                self._market.advance(item.ts + step)
                change.market.append(item)

    # -- changes --------------------------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[_Change]:
        """One change: collect it, write it in one transaction, then tell the listeners.

        A failure half-way leaves memory and file apart: the venue then refuses every further
        call, and reopening it restores the last committed state.
        """
        self._check_usable()
        change = self._change = _Change()
        try:
            yield change
            self._commit(change)
        except BaseException as exc:
            self._failed = f"the paper venue stopped after an internal error ({exc!r}); " \
                           "reopen it to continue from its state file"
            logger.exception("paper venue change failed")
            raise
        finally:
            self._change = None
        for stored in change.events:
            for listener in list(self._event_listeners):
                self._call(listener, stored)
        for item in change.market:
            for market_listener in list(self._market_listeners):
                self._call(market_listener, item)

    @staticmethod
    def _call(listener: Callable[[Any], None], item: object) -> None:
        try:
            listener(item)
        except Exception:  # a subscriber's failure is its own
            logger.exception("paper venue listener failed")

    def _check_usable(self) -> None:
        if self._failed:
            raise FatalVenueError(self._failed)

    def _commit(self, change: _Change) -> None:
        records = []
        touched = set(change.orders)  # and where market data moved working details:
        for symbol in {item.symbol for item in change.market}:
            touched.update(o.client_order_id for o in self._cache.open_orders(symbol)
                           if working_state(self._sim, o.client_order_id)
                           != self._saved[o.client_order_id][1])
        for cid in touched:
            record = self._record(self._entries[cid])
            raw = msgspec.json.encode(record)
            if self._saved.get(cid, (b"",))[0] != raw:
                self._saved[cid] = (raw, record.working)
                records.append(record)
        if not (records or change.events or change.fills or change.positions
                or change.save_marks or self._market.save_due()):
            return  # only marks moved: they wait (the counters of self._meta did not change)
        self._meta.clock_ns = self._clock.now_ns()
        self._store.commit(StateChanges(
            meta=self._meta, orders=records, fills=change.fills,
            positions=[self._books.position_record(s, self._meta.clock_ns)
                       for s in sorted(change.positions)],
            marks=self._market.take_unsaved(), events=change.events,
        ))

    def _on_sim_event(self, event: ev.OrderEvent) -> None:
        """Book an event of the matching engine and queue it for the listeners."""
        if self._restoring:
            return
        entry = self._entries[event.client_order_id]
        if isinstance(event, ev.OrderAccepted):
            self._meta.venue_order_no += 1
            event = msgspec.structs.replace(
                event, venue_order_id=f"{self.venue}-{self._meta.venue_order_no}")
            entry.ts_accepted = event.ts
        elif isinstance(event, ev.OrderFilled):
            self._meta.trade_no += 1
            event = msgspec.structs.replace(event, trade_id=f"{self.venue}-T{self._meta.trade_no}")
        self._apply(entry, event)

    def _emit_direct(self, kind: type[ev.OrderEvent], order: Order, **fields: object) -> None:
        event = kind(ts=self._clock.now_ns(), client_order_id=order.client_order_id,
                     strategy_id=order.strategy_id, symbol=order.symbol, **fields)
        self._apply(self._entries[order.client_order_id], event)

    def _apply(self, entry: _Entry, event: ev.OrderEvent) -> None:
        change = self._change
        assert change is not None, "venue events happen only inside a change"
        order = entry.order
        order.apply(event)
        self._cache.refresh_order(order)
        change.orders.add(order.client_order_id)
        if isinstance(event, ev.OrderFilled):
            change.fills.append(self._books.book_fill(event, entry.owner))
            change.positions.add(event.symbol)
        self._meta.last_seq += 1
        change.events.append(StoredEvent(self._meta.last_seq, event, entry.owner))

    # -- helpers --------------------------------------------------------------------------------

    def _entry(self, client_order_id: str) -> _Entry:
        self._check_usable()
        entry = self._entries.get(client_order_id)
        if entry is None:
            raise PaperFatalError(ReasonCode.ORDER_NOT_FOUND,
                                  f"no order {client_order_id} at the venue")
        return entry

    def _submit_problem(self, order: Order) -> checks.Problem | None:
        problem = checks.order_problem(order, self._cache.instruments, self.capabilities,
                                       self._meta.currency)
        if problem is None and order.parent_id is not None \
                and order.parent_id not in self._entries:
            problem = (ReasonCode.INVALID_ORDER,
                       f"parent order {order.parent_id} is unknown: submit it first")
        if problem is None:
            problem = checks.funds_problem(
                order, self._cache.instruments, account_type=self._meta.account_type,
                balance=self._meta.balance, equity=self.account().equity,
                positions=self._books.positions, open_orders=self._cache.open_orders(),
                last_prices=self._cache.last_prices, commission=self.config.commission,
            )
        return problem

    def _book(self, order: Order, owner: str) -> _Entry:
        """Put a fresh copy of ``order``, stamped with the venue's time, on the books."""
        copy = fresh_copy(order, self._clock.now_ns())
        self._meta.book_no += 1
        entry = _Entry(copy, owner, book_no=self._meta.book_no)
        self._entries[copy.client_order_id] = entry
        self._cache.add_order(copy)
        copy.apply(ev.OrderSubmitted(ts=copy.ts_init, client_order_id=copy.client_order_id,
                                     strategy_id=copy.strategy_id, symbol=copy.symbol))
        assert self._change is not None
        self._change.orders.add(copy.client_order_id)
        return entry

    def _reject(self, entry: _Entry, code: str, reason: str) -> None:
        entry.reject_code = code
        self._emit_direct(ev.OrderRejected, entry.order, reason=reason)

    @staticmethod
    def _refusal(change: _Change, client_order_id: str, kind: type[ev.OrderEvent]) -> str | None:
        for stored in change.events:
            event = stored.event
            if event.client_order_id == client_order_id and isinstance(event, kind):
                return str(getattr(event, "reason", ""))
        return None

    def _report(self, entry: _Entry) -> OrderStatusReport:
        return order_report(entry.order, entry.ts_accepted)

    # -- persistence ----------------------------------------------------------------------------

    def _record(self, entry: _Entry) -> OrderRecord:
        return order_record(entry.order, owner=entry.owner, reject_code=entry.reject_code,
                            ts_accepted=entry.ts_accepted, book_no=entry.book_no,
                            working=working_state(self._sim, entry.order.client_order_id))

    def _restore(self, orders: list[OrderRecord], fills: list[StoredFill],
                 positions: list[PositionRecord], marks: list[MarkRecord]) -> None:
        self._books.restore(positions, fills)
        self._market.restore(marks, self._sim)
        self._restoring = True
        try:
            for record in orders:
                entry = _Entry(order_from_record(record), record.owner, record.reject_code,
                               record.ts_accepted, record.book_no)
                self._entries[record.client_order_id] = entry
                self._cache.add_order(entry.order)
                self._saved[record.client_order_id] = (msgspec.json.encode(record),
                                                        record.working)
            put_back(self._sim, self._cache, orders, self._store.path)
        finally:
            self._restoring = False
