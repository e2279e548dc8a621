"""The adapter's order book: reports applied once by ExecID (duplicates and a crash's
redelivery change nothing), ClOrdID chains of cancel/replace, rejects, external orders, status
answers, positions from fills, and all of it surviving a reopen."""

from __future__ import annotations

import gc
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.brokers.fix import parse
from tradeloop.brokers.fix.orders import FixOrderBook
from tradeloop.brokers.fix.parse import ExecKind, ExecReport, WireOrder
from tradeloop.brokers.fix.store import FixSessionStore
from tradeloop.model import events as ev
from tradeloop.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order


def order(cid: str = "A1", side: OrderSide = OrderSide.BUY, quantity: str = "10",
          price: str = "100") -> Order:
    return Order(client_order_id=cid, strategy_id="S", symbol="ABC", side=side,
                 order_type=OrderType.LIMIT, quantity=Decimal(quantity), ts_init=1,
                 price=Decimal(price))


def report(kind: ExecKind, exec_id: str, cl_ord_id: str = "A1", *, status: str = "0",
           cum: str = "0", last: tuple[str, str] | None = None, ts: int = 100,
           orig: str | None = None, text: str = "", rej: int | None = None,
           quantity: str | None = "10", price: str | None = "100") -> ExecReport:
    cum_qty = Decimal(cum)
    return ExecReport(
        cl_ord_id=cl_ord_id, orig_cl_ord_id=orig, order_id="O-1", exec_id=exec_id, kind=kind,
        ord_status=status, status=parse.order_status(status, cum_qty, None), symbol="ABC",
        side=OrderSide.BUY, order_type=OrderType.LIMIT,
        quantity=Decimal(quantity) if quantity else None,
        price=Decimal(price) if price else None, stop_px=None,
        time_in_force=TimeInForce.GTC, cum_qty=cum_qty, leaves_qty=None, avg_px=None,
        last_qty=Decimal(last[0]) if last else None, last_px=Decimal(last[1]) if last else None,
        commission=Decimal(0), commission_currency="", liquidity=LiquiditySide.TAKER,
        text=text, rej_reason=rej, ts=ts, status_request_id=None)


@pytest.fixture
def book(tmp_path: Path):
    with FixOrderBook(tmp_path / "book.fixlog") as opened:
        yield opened


def sent(book: FixOrderBook, placed: Order | None = None) -> Order:
    placed = placed or order()
    book.record_intent(placed, WireOrder.of(placed))
    return placed


def kinds(events: list[ev.OrderEvent]) -> list[str]:
    return [e.kind for e in events]


def test_an_intent_is_neither_known_nor_open(book):
    sent(book)
    booked = book.order("A1")
    assert booked is not None and not booked.known and not booked.is_open
    assert book.open_orders() == [] and book.root_of("A1") == "A1"


def test_reports_become_events_once_each(book):
    sent(book)
    accepted = book.apply(report(ExecKind.NEW, "E1"))
    assert kinds(accepted) == ["OrderAccepted"]
    assert accepted[0].venue_order_id == "O-1"  # type: ignore[attr-defined]
    assert book.apply(report(ExecKind.NEW, "E1")) == []  # the same report again
    fill = report(ExecKind.FILL, "E2", status="1", cum="4", last=("4", "99.5"), ts=200)
    filled = book.apply(fill)
    assert kinds(filled) == ["OrderFilled"]
    event = filled[0]
    assert isinstance(event, ev.OrderFilled)
    assert (event.trade_id, event.last_qty, event.last_px, event.side) == \
        ("E2", Decimal(4), Decimal("99.5"), OrderSide.BUY)
    assert book.apply(fill) == []
    booked = book.order("A1")
    assert booked is not None and booked.status is OrderStatus.PARTIALLY_FILLED
    assert booked.filled_qty == 4 and booked.is_open
    assert [f.trade_id for f in book.fills_since(0)] == ["E2"]
    assert book.fills_since(201) == []


def test_a_fill_before_the_acknowledgement(book):
    sent(book)
    events = book.apply(report(ExecKind.FILL, "E2", status="2", cum="10", last=("10", "100")))
    assert kinds(events) == ["OrderAccepted", "OrderFilled"]
    assert book.apply(report(ExecKind.NEW, "E1")) == []  # the late acknowledgement
    booked = book.order("A1")
    assert booked is not None and booked.status is OrderStatus.FILLED and not booked.is_open


def test_everything_survives_a_reopen(tmp_path):
    path = tmp_path / "book.fixlog"
    with FixOrderBook(path) as book:
        sent(book)
        book.apply(report(ExecKind.NEW, "E1"))
        book.next_cl_ord_id(book.order("A1"), "C")  # type: ignore[arg-type]
        book.apply(report(ExecKind.FILL, "E2", status="1", cum="4", last=("4", "99.5")))
    with FixOrderBook(path) as book:
        # a crash between the book and the session store redelivers the last report
        assert book.apply(report(ExecKind.FILL, "E2", status="1", cum="4",
                                 last=("4", "99.5"))) == []
        booked = book.order("A1")
        assert booked is not None and booked.status is OrderStatus.PARTIALLY_FILLED
        assert (booked.filled_qty, booked.avg_px, booked.requests) == \
            (Decimal(4), Decimal("99.5"), 1)
        assert book.root_of("A1.C1") == "A1"
        assert [f.trade_id for f in book.fills_since(0)] == ["E2"]
        assert book.next_cl_ord_id(booked, "R") == "A1.R2"


def test_a_cancel_answered_under_the_cancel_or_the_original_clordid(book):
    sent(book)
    sent(book, order("B1"))
    for cid in ("A1", "B1"):
        book.apply(report(ExecKind.NEW, f"N-{cid}", cid))
    cancel_a = book.next_cl_ord_id(book.order("A1"), "C")  # type: ignore[arg-type]
    assert cancel_a == "A1.C1"
    events = book.apply(report(ExecKind.CANCELED, "E3", cancel_a, status="4", orig="A1"))
    assert kinds(events) == ["OrderCanceled"] and events[0].client_order_id == "A1"
    # ordermatch answers a cancel under the order's own ClOrdID, without 41
    events = book.apply(report(ExecKind.CANCELED, "E4", "B1", status="4"))
    assert kinds(events) == ["OrderCanceled"] and events[0].client_order_id == "B1"
    assert book.open_orders() == []


def test_a_replace_moves_the_chain(book):
    sent(book)
    book.apply(report(ExecKind.NEW, "E1"))
    new_id = book.next_cl_ord_id(book.order("A1"), "R")  # type: ignore[arg-type]
    events = book.apply(report(ExecKind.REPLACED, "E2", new_id, orig="A1", status="0",
                               quantity="20", price="98"))
    assert kinds(events) == ["OrderUpdated"]
    updated = events[0]
    assert isinstance(updated, ev.OrderUpdated)
    assert (updated.quantity, updated.price) == (Decimal(20), Decimal(98))
    booked = book.order("A1")
    assert booked is not None and booked.cl_ord_id == new_id and booked.quantity == 20
    fill = book.apply(report(ExecKind.FILL, "E3", new_id, status="1", cum="5",
                             last=("5", "98")))
    assert kinds(fill) == ["OrderFilled"] and fill[0].client_order_id == "A1"


def test_rejects(book):
    sent(book)
    events = book.apply(report(ExecKind.REJECTED, "E1", status="8", text="insufficient funds",
                               rej=99))
    assert kinds(events) == ["OrderRejected"]
    assert events[0].reason == "99 other: insufficient funds"  # type: ignore[attr-defined]
    sent(book, order("B1"))
    book.apply(report(ExecKind.NEW, "E2", "B1"))
    # the venue refusing a repeated ClOrdID refuses the message, not the order
    assert book.apply(report(ExecKind.REJECTED, "E3", "B1", status="8", rej=6)) == []
    booked = book.order("B1")
    assert booked is not None and booked.is_open


def test_an_unsolicited_cancel_and_an_expiry_carry_the_venue_text(book):
    sent(book)
    events = book.apply(report(ExecKind.CANCELED, "E1", status="4",
                               text="IOC remainder canceled"))
    assert kinds(events) == ["OrderCanceled"]
    assert events[0].reason == "IOC remainder canceled"  # type: ignore[attr-defined]
    sent(book, order("B1"))
    book.apply(report(ExecKind.NEW, "E2", "B1"))
    assert kinds(book.apply(report(ExecKind.EXPIRED, "E3", "B1", status="C"))) == \
        ["OrderExpired"]


def test_trade_busts_are_not_applied(book):
    sent(book)
    book.apply(report(ExecKind.FILL, "E1", status="2", cum="10", last=("10", "100")))
    assert book.apply(report(ExecKind.TRADE_CANCEL, "E2", status="0")) == []
    booked = book.order("A1")
    assert booked is not None and booked.filled_qty == 10


def test_an_order_the_adapter_never_sent_is_booked_without_events(book):
    events = book.apply(report(ExecKind.NEW, "E1", "MANUAL-7"))
    assert events == []
    assert [o.root for o in book.open_orders()] == ["MANUAL-7"]
    assert book.order("MANUAL-7").external  # type: ignore[union-attr]


def test_status_answers(book):
    sent(book)
    sent(book, order("B1"))
    book.apply(report(ExecKind.NEW, "E1", "B1"))
    # an order whose acknowledgement was lost: the venue has it
    a1 = book.order("A1")
    assert a1 is not None
    events = book.apply_status(a1, report(ExecKind.STATUS, "S1", status="0"))
    assert kinds(events) == ["OrderAccepted"] and a1.is_open
    # a venue that forgot an open order (restarted): it is gone
    b1 = book.order("B1")
    assert b1 is not None
    events = book.apply_status(b1, None)
    assert kinds(events) == ["OrderCanceled"] and not b1.is_open
    # fills are never invented from a status answer
    events = book.apply_status(a1, report(ExecKind.STATUS, "S2", status="1", cum="3"))
    assert events == [] and a1.filled_qty == 0


def test_positions_from_fills(book):
    sent(book)
    sent(book, order("B1", OrderSide.SELL, "4", "110"))
    book.apply(report(ExecKind.FILL, "E1", status="2", cum="10", last=("10", "100")))
    book.apply(report(ExecKind.FILL, "E2", "B1", status="2", cum="4", last=("4", "110")))
    [position] = book.positions()
    assert (position.symbol, position.quantity, position.avg_px) == \
        ("ABC", Decimal(6), Decimal(100))


def _book_state(book: FixOrderBook) -> tuple[object, ...]:
    booked = book.order("A1")
    assert booked is not None
    return (booked.status, booked.filled_qty, booked.requests, book.root_of("A1.C1"),
            [f.trade_id for f in book.fills_since(0)])


@pytest.mark.parametrize("book_open_at_compaction", [True, False])
def test_the_book_shares_the_session_journal_through_compaction(tmp_path,
                                                                 book_open_at_compaction):
    """In the session's own file, the book's records survive the store's compaction (a
    sequence reset), whether the book is open then (its state is rewritten) or not (its
    records are kept as they were)."""
    store = FixSessionStore.open(tmp_path, "session", "FIX.4.4:A->B")
    book = FixOrderBook(tmp_path / "session.fixlog", synced_by_session=True)
    sent(book)
    book.apply(report(ExecKind.NEW, "E1"))
    book.next_cl_ord_id(book.order("A1"), "C")  # type: ignore[arg-type]
    book.apply(report(ExecKind.FILL, "E2", status="1", cum="4", last=("4", "99.5")))
    store.record_sent(1, "D", b"order", 1, keep=True)
    expected = _book_state(book)
    if not book_open_at_compaction:
        book.close()
    store.reset()  # compacts the journal
    if book_open_at_compaction:
        book.close()
    store.close()
    with FixOrderBook(tmp_path / "session.fixlog", synced_by_session=True) as again:
        assert _book_state(again) == expected
        assert again.apply(report(ExecKind.FILL, "E2", status="1", cum="4",
                                  last=("4", "99.5"))) == []
    with FixSessionStore.open(tmp_path, "session", "FIX.4.4:A->B") as reopened:
        assert reopened.next_sender_seq == 1 and reopened.sent_messages(1) == []


def test_what_the_session_keeps_per_order_is_not_tracked_by_the_cycle_collector(tmp_path):
    # a session keeps every order, fill and sent message until it is reset: were they
    # tracked, each young-generation pass of the collector would scan them and the older
    # passes would pause the event loop for milliseconds as they pile up
    path = tmp_path / "session.fixlog"
    for opened in range(2):  # as written, then as read back at the next start
        with FixSessionStore(path, "S", sync="normal") as store, \
                FixOrderBook(path, synced_by_session=True) as book:
            if not opened:
                store.record_sent(1, "D", b"8=FIX.4.4|35=D|", 1_000, keep=True)
                sent(book)
                book.apply(report(ExecKind.FILL, "E2", status="2", cum="10",
                                  last=("10", "100")))
            kept: list[object] = [*store.sent_messages(1), *book.orders(),
                                  *book.fills_since(0), *book.positions()]
            assert len(kept) == 4
            assert [type(k).__name__ for k in kept if gc.is_tracked(k)] == []
