"""Every order event once: deals by id, acceptance before fills and never after the order is
done, no overfill, only real changes, refusals of cancels only when one was asked for; and
renewed tokens kept for the next start."""

from __future__ import annotations

import json
import stat
from decimal import Decimal
from pathlib import Path

from tradeloop.brokers.ctrader.tokens import Tokens, TokenStore, digest
from tradeloop.brokers.ctrader.tracking import Tracker
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport, OrderStatusReport


def _tracker() -> tuple[Tracker, list[ev.OrderEvent]]:
    seen: list[ev.OrderEvent] = []
    tracker = Tracker(lambda: 42)
    tracker.bind(seen.append)
    return tracker, seen


def _order(qty: int = 3000) -> Order:
    return Order("C1", "S", "EURUSD", OrderSide.BUY, OrderType.LIMIT, Decimal(qty), 1,
                 price=Decimal("1.1"))


def _fill(deal: str, qty: int) -> FillReport:
    return FillReport(client_order_id="C1", venue_order_id="7", trade_id=deal,
                      symbol="EURUSD", side=OrderSide.BUY, quantity=Decimal(qty),
                      price=Decimal("1.1"), ts=5)


def test_a_fill_before_the_acceptance_books_one_acceptance_and_each_deal_once() -> None:
    tracker, seen = _tracker()
    known = tracker.add(_order())
    tracker.link(known, 7)
    tracker.on_fill(known, _fill("d1", 1000))
    tracker.on_fill(known, _fill("d1", 1000))
    tracker.accept(known)
    tracker.on_fill(known, _fill("d2", 2000))
    tracker.accept(known)
    assert [type(e).__name__ for e in seen] == ["OrderAccepted", "OrderFilled", "OrderFilled"]
    assert tracker.duplicates == 1 and known.done
    tracker.on_fill(known, _fill("d3", 1000))  # would overfill
    assert len(seen) == 3
    assert tracker.of_order_id(7) is known


def test_an_acceptance_arriving_after_a_full_fill_is_not_reported() -> None:
    tracker, seen = _tracker()
    known = tracker.add(_order(1000))
    known.accepted = False
    tracker.on_fill(known, _fill("d1", 1000))
    tracker.accept(known)
    assert [type(e).__name__ for e in seen] == ["OrderAccepted", "OrderFilled"]


def test_changes_cancels_and_refusals() -> None:
    tracker, seen = _tracker()
    known = tracker.add(_order())
    tracker.replaced(known, Decimal(3000), Decimal("1.1"), None)  # nothing changed
    tracker.replaced(known, Decimal(6000), Decimal("1.1"), None)
    tracker.cancel_refused(known, "nobody asked")
    known.cancel_requested = True
    tracker.cancel_refused(known, "UNABLE_TO_CANCEL_ORDER")
    tracker.cancelled(known)
    tracker.cancelled(known)
    tracker.expired(known)
    assert [type(e).__name__ for e in seen] == ["OrderUpdated", "OrderCancelRejected",
                                                "OrderCanceled"]
    updated = seen[0]
    assert isinstance(updated, ev.OrderUpdated)
    assert (updated.quantity, updated.price) == (Decimal(6000), None)


def test_an_adopted_order_knows_its_deals_and_reports_nothing_again() -> None:
    tracker, seen = _tracker()
    report = OrderStatusReport(client_order_id="C1", venue_order_id="7", symbol="EURUSD",
                               side=OrderSide.BUY, order_type=OrderType.LIMIT,
                               quantity=Decimal(3000), filled_qty=Decimal(1000),
                               status=OrderStatus.PARTIALLY_FILLED)
    known = tracker.adopt(report, [_fill("d1", 1000)])
    tracker.accept(known)
    tracker.on_fill(known, _fill("d1", 1000))
    assert seen == [] and known.sent and known.order_id == 7
    tracker.on_fill(known, _fill("d2", 2000))
    assert [type(e).__name__ for e in seen] == ["OrderFilled"]


def test_renewed_tokens_are_kept_owner_only_and_used_while_they_replace_the_environments(
        tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    assert store.load("original") is None
    store.save(Tokens("new-access", "new-refresh", 123.0), "original")
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600
    assert store.load("original") == Tokens("new-access", "new-refresh", 123.0)
    assert store.load("a freshly granted token") is None  # the environment's new one wins
    saved = json.loads((tmp_path / "tokens.json").read_text())
    assert saved["replaces"] == digest("original") and "original" not in json.dumps(saved)
    assert "new-access" not in repr(store.load("original"))
    (tmp_path / "tokens.json").write_text("{not json")
    assert store.load("original") is None
    assert TokenStore(None).load("x") is None
    TokenStore(None).save(Tokens("a", "b"), "x")  # keeps nothing, fails nothing
