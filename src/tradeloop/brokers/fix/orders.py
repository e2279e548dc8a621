"""The adapter's book of what the venue reported, persisted per session (in its journal).

Many FIX venues answer no order status, mass status or positions request; the session then is
the only source of truth, and what it said must outlive the process. :class:`FixOrderBook`
keeps, beside the session store, every order the adapter sent (by its first ClOrdID, our client
order id, with every ClOrdID of its cancel/replace chain), the venue's last word on each, and
every fill by ExecID. Applying a report is idempotent: a report whose ExecID was applied already
(a duplicate, or the one message a crash redelivers) changes nothing and yields no event.

An order the adapter recorded but the venue never reported stays ``SUBMITTED``: it is neither
open nor known to the venue. Each change is one record of the journal (:mod:`.journal`), written
before the events it yields are handed on: synced at once when the book has a file of its own;
or, when it shares the session store's file (``synced_by_session``), synced by the session's
next durable write (of the message being sent, or of an inbound sequence number out of the plain
order), so a crash loses both or neither.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from tradeloop.brokers.fix.errors import DUPLICATE_ORDER, ORD_REJ_REASONS, describe
from tradeloop.brokers.fix.journal import Journal, Record
from tradeloop.brokers.fix.parse import ExecKind, ExecReport, WireOrder
from tradeloop.core.errors import DataError
from tradeloop.model import events as ev
from tradeloop.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import OPEN, TERMINAL, Order
from tradeloop.model.reports import FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)

#: The book's record kind in the journal: one change (order, alias, ExecID, fill) each.
BOOK = 10
_ZERO = Decimal(0)
_JSON = msgspec.json.Encoder()
_JSON_IN = msgspec.json.Decoder()


class BookOrder(msgspec.Struct, kw_only=True, gc=False):
    """One order as the book holds it (in our terms: a market order sent as a marketable
    limit stays MARKET here). Values only, so the cycle collector does not track it: the book
    keeps every order of the session.

    ``cl_ord_id`` is the ClOrdID the venue knows the order by now (the last accepted
    replace's); ``requests`` counts the cancel and replace requests made, numbering the next
    ClOrdID; ``external`` marks orders the venue reported that the adapter never sent.
    """

    root: str
    strategy_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    time_in_force: TimeInForce
    expire_ns: int | None
    cl_ord_id: str
    venue_order_id: str = ""
    status: OrderStatus = OrderStatus.SUBMITTED
    filled_qty: Decimal = _ZERO
    avg_px: Decimal | None = None
    reason: str = ""
    ts_accepted: int = 0
    ts_last: int = 0
    requests: int = 0
    external: bool = False

    @property
    def known(self) -> bool:
        """True once the venue reported the order."""
        return self.status is not OrderStatus.SUBMITTED

    @property
    def is_open(self) -> bool:
        """True while the venue has it working."""
        return self.known and self.status in OPEN

    def report(self) -> OrderStatusReport:
        """The order as an :class:`OrderStatusReport`."""
        return OrderStatusReport(
            client_order_id=self.root, venue_order_id=self.venue_order_id, symbol=self.symbol,
            side=self.side, order_type=self.order_type, quantity=self.quantity,
            filled_qty=self.filled_qty, avg_px=self.avg_px, status=self.status,
            price=self.price if self.order_type is not OrderType.MARKET else None,
            trigger_price=self.trigger_price, time_in_force=self.time_in_force,
            reason=self.reason, ts_accepted=self.ts_accepted, ts_last=self.ts_last)

    def base(self) -> dict[str, str]:
        """The fields every event of this order carries."""
        return {"client_order_id": self.root, "strategy_id": self.strategy_id,
                "symbol": self.symbol}


def _row(o: BookOrder) -> tuple[object, ...]:
    return (o.root, o.strategy_id, o.symbol, o.side.value, o.order_type.value, str(o.quantity),
            None if o.price is None else str(o.price),
            None if o.trigger_price is None else str(o.trigger_price), o.time_in_force.value,
            o.expire_ns, o.cl_ord_id, o.venue_order_id, o.status.value, str(o.filled_qty),
            None if o.avg_px is None else str(o.avg_px), o.reason, o.ts_accepted, o.ts_last,
            o.requests, int(o.external))


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _from_row(row: list[Any]) -> BookOrder:
    (root, strategy_id, symbol, side, order_type, quantity, price, trigger_price, tif,
     expire_ns, cl_ord_id, venue_order_id, status, filled_qty, avg_px, reason, ts_accepted,
     ts_last, requests, external) = row
    return BookOrder(
        root=root, strategy_id=strategy_id, symbol=symbol, side=OrderSide(side),
        order_type=OrderType(order_type), quantity=Decimal(quantity), price=_dec(price),
        trigger_price=_dec(trigger_price), time_in_force=TimeInForce(tif), expire_ns=expire_ns,
        cl_ord_id=cl_ord_id, venue_order_id=venue_order_id, status=OrderStatus(status),
        filled_qty=Decimal(filled_qty), avg_px=_dec(avg_px), reason=reason,
        ts_accepted=ts_accepted, ts_last=ts_last, requests=requests, external=bool(external))


class FixOrderBook:
    """Orders, ClOrdID chains and fills of one FIX session, on disk.

    Parameters
    ----------
    path : Path
        The journal file (created with its folder when missing); the session store's own
        file when ``synced_by_session``.
    synced_by_session : bool
        The file is the session store's, whose durable writes follow each change of the book.

    Raises
    ------
    DataError
        The file cannot be opened or is not a book.
    """

    def __init__(self, path: Path, *, synced_by_session: bool = False) -> None:
        self.path = Path(path)
        self._durable = not synced_by_session
        self._journal = Journal.open(self.path, sync=self._durable)
        self._orders: dict[str, BookOrder] = {}
        self._aliases: dict[str, str] = {}
        self._execs: set[tuple[str, str]] = set()
        self._fills: list[FillReport] = []
        try:
            for kind, payload in self._journal.records():
                if kind == BOOK:
                    self._replay(_JSON_IN.decode(payload))
        except (ValueError, KeyError, TypeError) as exc:
            self._journal.close()
            raise DataError(f"FIX order book {self.path}: a record cannot be read ({exc})"
                            ) from None
        self._journal.own((BOOK,), self._snapshot)

    # -- reading ----------------------------------------------------------------------------

    def order(self, root: str) -> BookOrder | None:
        """The order first sent as ``root`` (our client order id)."""
        return self._orders.get(root)

    def root_of(self, cl_ord_id: str) -> str | None:
        """Our client order id for any ClOrdID of an order's chain."""
        root = self._aliases.get(cl_ord_id)
        return root if root is not None or cl_ord_id not in self._orders else cl_ord_id

    def orders(self) -> list[BookOrder]:
        """Every order of the book, in the order recorded."""
        return list(self._orders.values())

    def open_orders(self) -> list[BookOrder]:
        """Orders the venue has working, as far as it said."""
        return [o for o in self._orders.values() if o.is_open]

    def fills_since(self, ts_ns: int) -> list[FillReport]:
        """Fills at or after ``ts_ns`` (the venue's time), oldest first."""
        return [f for f in self._fills if f.ts >= ts_ns]

    def positions(self) -> list[PositionReport]:
        """Net positions from the book's fills, one per instrument not flat."""
        net: dict[str, Decimal] = defaultdict(lambda: _ZERO)
        avg: dict[str, Decimal] = {}
        last: dict[str, int] = {}
        for fill in self._fills:
            signed = fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
            before = net[fill.symbol]
            after = before + signed
            if before == 0 or (before > 0) == (signed > 0):
                avg[fill.symbol] = ((avg.get(fill.symbol, _ZERO) * abs(before)
                                     + fill.price * fill.quantity) / abs(after))
            elif after != 0 and (after > 0) != (before > 0):
                avg[fill.symbol] = fill.price
            net[fill.symbol] = after
            last[fill.symbol] = fill.ts
        return [PositionReport(symbol=s, quantity=q, avg_px=avg.get(s), ts=last[s])
                for s, q in sorted(net.items()) if q != 0]

    # -- writing ----------------------------------------------------------------------------

    def record_intent(self, order: Order, wire_order: WireOrder) -> BookOrder:
        """Record ``order`` before it is sent (again: the existing record is kept)."""
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return known
        booked = BookOrder(
            root=order.client_order_id, strategy_id=order.strategy_id, symbol=order.symbol,
            side=order.side, order_type=order.order_type, quantity=order.quantity,
            price=wire_order.price, trigger_price=order.trigger_price,
            time_in_force=order.time_in_force, expire_ns=order.expire_ns,
            cl_ord_id=wire_order.cl_ord_id, ts_last=order.ts_init)
        self._save(booked)
        return booked

    def next_cl_ord_id(self, booked: BookOrder, kind: str) -> str:
        """A new ClOrdID in ``booked``'s chain for a cancel (``kind`` "C") or replace ("R"),
        recorded before it is sent."""
        booked.requests += 1
        cl_ord_id = f"{booked.root}.{kind}{booked.requests}"
        self._aliases[cl_ord_id] = booked.root
        self._write({"o": _row(booked), "a": [cl_ord_id, booked.root]})
        return cl_ord_id

    def apply(self, report: ExecReport) -> list[ev.OrderEvent]:
        """Apply an ExecutionReport (not a status answer); the events it means, none when its
        ExecID was applied before."""
        root = self.root_of(report.cl_ord_id) or (
            self.root_of(report.orig_cl_ord_id) if report.orig_cl_ord_id else None)
        if root is None:
            root = self._external(report)
        booked = self._orders[root]
        if (root, report.exec_id) in self._execs:
            return []
        events = self._events(booked, report)
        if report.order_id and report.order_id != "NONE":
            booked.venue_order_id = report.order_id
        booked.ts_last = max(booked.ts_last, report.ts)
        fills = [e for e in events if isinstance(e, ev.OrderFilled)]
        change: dict[str, Any] = {"o": _row(booked)}
        reports = [self._fill_report(fill, booked) for fill in fills]
        if reports:  # a fill's row records its ExecID
            change["f"] = [_fill_row(r) for r in reports]
        else:
            change["x"] = [root, report.exec_id]
        self._write(change)  # one record: the order, its ExecID and fills, or none of them
        self._fills += reports
        self._orders[root] = booked
        self._execs.add((root, report.exec_id))
        return [] if booked.external else events

    def apply_status(self, booked: BookOrder, report: ExecReport | None) -> list[ev.OrderEvent]:
        """Bring ``booked`` to the venue's answer to a status request (None: the venue has no
        such order); the events that close the gap. Fills are never invented: a filled
        quantity the session never reported is logged."""
        base = booked.base()
        ts = report.ts if report is not None else booked.ts_last
        events: list[ev.OrderEvent] = []
        if report is None:
            if booked.is_open:
                booked.status, booked.reason = OrderStatus.CANCELED, \
                    "the venue no longer has this order"
                events.append(ev.OrderCanceled(ts=ts, reason=booked.reason, **base))
        else:
            if report.order_id and report.order_id != "NONE":
                booked.venue_order_id = report.order_id
            if report.cum_qty > booked.filled_qty:
                logger.warning("the venue reports fills the session never delivered",
                               extra={"fields": {"client_order_id": booked.root,
                                                 "venue_filled": str(report.cum_qty),
                                                 "booked": str(booked.filled_qty)}})
            if not booked.known and report.status is not OrderStatus.REJECTED:
                booked.status, booked.ts_accepted = OrderStatus.ACCEPTED, report.ts
                events.append(ev.OrderAccepted(ts=ts, venue_order_id=booked.venue_order_id,
                                               **base))
            if booked.status not in TERMINAL:
                events += self._close(booked, report.status, report.text, ts)
        if events:
            self._save(booked)
        return events

    def close(self) -> None:
        """Close the file (every change is already written)."""
        self._journal.disown((BOOK,))
        self._journal.close()

    def __enter__(self) -> FixOrderBook:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the report rules -------------------------------------------------------------------

    def _events(self, booked: BookOrder, r: ExecReport) -> list[ev.OrderEvent]:
        base = booked.base()
        kind = r.kind
        if kind is ExecKind.REJECTED:
            if r.rej_reason == DUPLICATE_ORDER:  # the message was refused, not the order
                logger.warning("the venue refused a repeated ClOrdID; the order stands",
                               extra={"fields": {"client_order_id": booked.root}})
                return []
            if booked.status in TERMINAL:
                return []
            booked.status = OrderStatus.REJECTED
            booked.reason = describe(r.rej_reason, ORD_REJ_REASONS, r.text)
            return [ev.OrderRejected(ts=r.ts, reason=booked.reason, **base)]
        events = self._accept(booked, r) if kind in (
            ExecKind.NEW, ExecKind.FILL, ExecKind.REPLACED, ExecKind.PENDING) else []
        if kind is ExecKind.FILL:
            if not r.is_fill:
                logger.warning("a fill report without quantity or price", extra={"fields": {
                    "client_order_id": booked.root, "exec_id": r.exec_id}})
                return events
            return [*events, self._fill(booked, r)]
        if kind is ExecKind.REPLACED:
            if booked.status in TERMINAL:
                return events
            booked.cl_ord_id = r.cl_ord_id
            booked.quantity = r.quantity or booked.quantity
            if booked.order_type is not OrderType.MARKET:
                booked.price = r.price or booked.price
            booked.trigger_price = r.stop_px or booked.trigger_price
            return [*events, ev.OrderUpdated(ts=r.ts, quantity=booked.quantity,
                                             price=r.price, trigger_price=r.stop_px, **base)]
        if kind in (ExecKind.CANCELED, ExecKind.EXPIRED, ExecKind.DONE_FOR_DAY):
            if booked.status in TERMINAL:
                return []
            status = OrderStatus.CANCELED if kind is ExecKind.CANCELED else OrderStatus.EXPIRED
            return self._close(booked, status, r.text, r.ts)
        if kind in (ExecKind.TRADE_CANCEL, ExecKind.TRADE_CORRECT, ExecKind.RESTATED,
                    ExecKind.OTHER):
            logger.warning("FIX execution report not applied", extra={"fields": {
                "client_order_id": booked.root, "exec_id": r.exec_id, "kind": kind.value}})
        return events

    def _accept(self, booked: BookOrder, r: ExecReport) -> list[ev.OrderEvent]:
        if booked.known:
            return []
        booked.status, booked.ts_accepted = OrderStatus.ACCEPTED, r.ts
        if r.order_id and r.order_id != "NONE":
            booked.venue_order_id = r.order_id
        return [ev.OrderAccepted(ts=r.ts, venue_order_id=booked.venue_order_id,
                                 **booked.base())]

    def _fill(self, booked: BookOrder, r: ExecReport) -> ev.OrderFilled:
        assert r.last_qty is not None and r.last_px is not None
        filled = booked.filled_qty + r.last_qty
        booked.avg_px = ((booked.avg_px or _ZERO) * booked.filled_qty
                         + r.last_px * r.last_qty) / filled
        booked.filled_qty = filled
        if filled >= booked.quantity:
            booked.status = OrderStatus.FILLED
        elif booked.status is not OrderStatus.CANCELED:
            booked.status = OrderStatus.PARTIALLY_FILLED
        return ev.OrderFilled(
            ts=r.ts, venue_order_id=r.order_id or booked.venue_order_id, trade_id=r.exec_id,
            side=booked.side, last_qty=r.last_qty, last_px=r.last_px,
            commission=r.commission, commission_currency=r.commission_currency,
            liquidity=r.liquidity, **booked.base())

    def _close(self, booked: BookOrder, status: OrderStatus, text: str, ts: int
               ) -> list[ev.OrderEvent]:
        base = booked.base()
        if status is OrderStatus.CANCELED:
            booked.status, booked.reason = status, text
            return [ev.OrderCanceled(ts=ts, reason=text, **base)]
        if status is OrderStatus.EXPIRED:
            booked.status, booked.reason = status, text
            return [ev.OrderExpired(ts=ts, **base)]
        if status is OrderStatus.REJECTED:
            booked.status, booked.reason = status, text or "rejected"
            return [ev.OrderRejected(ts=ts, reason=booked.reason, **base)]
        return []

    def _external(self, r: ExecReport) -> str:
        logger.warning("FIX report for an order this adapter did not send", extra={"fields": {
            "cl_ord_id": r.cl_ord_id, "order_id": r.order_id}})
        booked = BookOrder(
            root=r.cl_ord_id, strategy_id="", symbol=r.symbol, side=r.side or OrderSide.BUY,
            order_type=r.order_type or OrderType.LIMIT, quantity=r.quantity or r.cum_qty,
            price=r.price, trigger_price=r.stop_px,
            time_in_force=r.time_in_force or TimeInForce.DAY, expire_ns=None,
            cl_ord_id=r.cl_ord_id, ts_last=r.ts, external=True)
        self._save(booked)
        return booked.root

    # -- storage ----------------------------------------------------------------------------

    def _save(self, booked: BookOrder) -> None:
        self._orders[booked.root] = booked
        self._write({"o": _row(booked)})

    def _write(self, change: dict[str, Any]) -> None:
        self._journal.append(BOOK, _JSON.encode(change), durable=self._durable)

    @staticmethod
    def _fill_report(fill: ev.OrderFilled, booked: BookOrder) -> FillReport:
        return FillReport(
            client_order_id=booked.root, venue_order_id=fill.venue_order_id,
            trade_id=fill.trade_id, symbol=booked.symbol, side=fill.side,
            quantity=fill.last_qty, price=fill.last_px, commission=fill.commission,
            commission_currency=fill.commission_currency, liquidity=fill.liquidity,
            ts=fill.ts)

    def _replay(self, change: dict[str, Any]) -> None:
        if "o" in change:
            booked = _from_row(change["o"])
            self._orders[booked.root] = booked
        if "a" in change:
            cl_ord_id, root = change["a"]
            self._aliases[cl_ord_id] = root
        if "x" in change:
            self._execs.add((change["x"][0], change["x"][1]))
        for row in change.get("f", ()):
            key = (row[0], row[1])
            if key not in self._execs:
                self._execs.add(key)
                self._fills.append(_fill_from_row(row))

    def _snapshot(self) -> list[Record]:
        fills = {(f.client_order_id, f.trade_id) for f in self._fills}
        changes: list[dict[str, Any]] = [{"o": _row(o)} for o in self._orders.values()]
        changes += [{"a": [cl, root]} for cl, root in self._aliases.items()]
        changes += [{"x": [root, e]} for root, e in self._execs if (root, e) not in fills]
        changes += [{"f": [_fill_row(f)]} for f in self._fills]
        return [(BOOK, _JSON.encode(c)) for c in changes]


def _fill_from_row(row: list[Any]) -> FillReport:
    (root, exec_id, venue_order_id, symbol, side, quantity, price, commission,
     commission_currency, liquidity, ts) = row
    return FillReport(
        client_order_id=root, venue_order_id=venue_order_id, trade_id=exec_id, symbol=symbol,
        side=OrderSide(side), quantity=Decimal(quantity), price=Decimal(price),
        commission=Decimal(commission), commission_currency=commission_currency,
        liquidity=LiquiditySide(liquidity), ts=ts)


def _fill_row(report: FillReport) -> tuple[object, ...]:
    return (report.client_order_id, report.trade_id, report.venue_order_id, report.symbol,
            report.side.value, str(report.quantity), str(report.price), str(report.commission),
            report.commission_currency, report.liquidity.value, report.ts)


__all__ = ["BookOrder", "FixOrderBook"]
