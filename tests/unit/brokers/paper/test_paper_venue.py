"""The paper venue's books: idempotent submits, checks, cancel/modify, positions, account,
events with their seq, and the state file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest
from paper_harness import BUY, SELL, START_NS, bar, make_venue, order

from tradeloop.brokers.paper.errors import PaperFatalError
from tradeloop.brokers.paper.state import StoredEvent
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.brokers.simulated.fees import parse_commission
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.errors import ConfigError, DataError, FatalVenueError
from tradeloop.model.account import Account
from tradeloop.model.data import Bar, QuoteTick
from tradeloop.model.enums import AccountType, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument


@pytest.fixture
def venue(tmp_path: Path) -> PaperVenue:
    v = make_venue(tmp_path / "paper.db")
    yield v
    v.close()


def _kinds(events: list[StoredEvent]) -> list[str]:
    return [e.event.kind for e in events]


def test_submit_is_idempotent_on_the_client_order_id(venue: PaperVenue) -> None:
    seen: list[StoredEvent] = []
    venue.subscribe(seen.append)
    first = venue.submit(order(BUY, 10, cid="A", price="99.50"), owner="node-1")
    again = venue.submit(order(BUY, 25, cid="A", price="98"), owner="node-2")
    assert first.report.status is OrderStatus.ACCEPTED and not first.duplicate
    assert again.duplicate and again.report == first.report  # the first order, unchanged
    assert len(venue.orders()) == 1
    assert _kinds(seen) == ["OrderAccepted"]
    assert first.report.venue_order_id == "PAPER-1"


@pytest.mark.parametrize(("kwargs", "code", "words"), [
    ({"symbol": "NOPE"}, "UNKNOWN_SYMBOL", "unknown symbol NOPE"),
    ({"quantity": "1.5"}, "INVALID_VOLUME", "not a multiple of the lot step 1"),
    ({"price": "99.555"}, "INVALID_PRICE", "not on the tick 0.01"),
    ({"trigger": "99.555"}, "INVALID_PRICE", "trigger price 99.555"),
])
def test_invalid_orders_are_rejected_and_booked(venue: PaperVenue, kwargs: dict[str, str],
                                                code: str, words: str) -> None:
    seen: list[StoredEvent] = []
    venue.subscribe(seen.append)
    quantity = kwargs.pop("quantity", "10")
    result = venue.submit(order(BUY, quantity, cid="R", **kwargs))
    assert result.rejected and result.code == code
    assert words in result.report.reason
    assert _kinds(seen) == ["OrderRejected"]
    again = venue.submit(order(BUY, 10, cid="R"))
    assert again.duplicate and again.code == code and again.rejected
    assert venue.open_orders() == []


def test_quantity_below_the_minimum_is_rejected(tmp_path: Path) -> None:
    btc = Instrument("BTCUSD", lot_step=Decimal("0.001"), min_quantity=Decimal("0.01"))
    venue = PaperVenue(tmp_path / "p.db", [btc])
    result = venue.submit(order(BUY, "0.005", symbol="BTCUSD"))
    assert result.code == "INVALID_VOLUME" and "below the minimum 0.01" in result.report.reason
    venue.close()


def test_other_currencies_are_refused_until_fx_conversion_exists(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "p.db", [Instrument.fx_pair("USDJPY")])
    result = venue.submit(order(BUY, 1000, symbol="USDJPY"))
    assert result.code == "UNSUPPORTED_ORDER" and "quoted in JPY" in result.report.reason
    venue.close()


def test_a_cash_account_cannot_overspend_or_short(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "p.db", cash=1_000, account_type=AccountType.CASH)
    assert venue.submit(order(BUY, 1)).code == "NO_PRICE"  # market buy before any price
    venue.on_bar(bar(0, 100, 101, 99, 100))
    assert not venue.submit(order(BUY, 6)).rejected  # 600 of 1,000
    refused = venue.submit(order(BUY, 5, price="100"))  # 500 more: only 400 free
    assert refused.code == "INSUFFICIENT_FUNDS" and "400.00 is free" in refused.report.reason
    short = venue.submit(order(SELL, 1, price="100"))
    assert short.code == "INSUFFICIENT_FUNDS" and "no short selling" in short.report.reason
    venue.on_bar(bar(1, 100, 101, 99, 100))
    assert not venue.submit(order(SELL, 6, price="100")).rejected  # holds 6 now
    venue.close()


def test_a_margin_account_needs_free_margin(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "p.db", cash=1_000)
    venue.on_bar(bar(0, 100, 101, 99, 100))
    assert not venue.submit(order(BUY, 8)).rejected
    venue.on_bar(bar(1, 100, 101, 99, 100))  # long 8: 800 of margin used
    result = venue.submit(order(BUY, 3, price="100"))
    assert result.code == "INSUFFICIENT_MARGIN"
    assert not venue.submit(order(SELL, 3, price="100")).rejected  # reduces the exposure
    venue.close()


def test_cancel_and_modify(venue: PaperVenue) -> None:
    seen: list[StoredEvent] = []
    venue.subscribe(seen.append)
    venue.submit(order(BUY, 10, cid="L", price="95"))
    report = venue.modify("L", quantity=Decimal(12), price=Decimal("96.5"))
    assert (report.quantity, report.price) == (Decimal(12), Decimal("96.5"))
    with pytest.raises(PaperFatalError) as off_tick:
        venue.modify("L", price=Decimal("96.505"))
    assert off_tick.value.code == "INVALID_PRICE"
    with pytest.raises(PaperFatalError) as no_trigger:
        venue.modify("L", trigger_price=Decimal("90"))
    assert no_trigger.value.code == "INVALID_ORDER"
    assert venue.cancel("L").status is OrderStatus.CANCELED
    with pytest.raises(PaperFatalError) as again:
        venue.cancel("L")
    assert again.value.code == "ORDER_NOT_OPEN" and again.value.order is not None
    with pytest.raises(PaperFatalError) as unknown:
        venue.cancel("NOPE")
    assert unknown.value.code == "ORDER_NOT_FOUND"
    with pytest.raises(PaperFatalError) as closed:
        venue.modify("L", quantity=Decimal(5))
    assert closed.value.code == "ORDER_NOT_OPEN"
    assert _kinds(seen) == ["OrderAccepted", "OrderUpdated", "OrderModifyRejected",
                            "OrderModifyRejected", "OrderCanceled", "OrderCancelRejected",
                            "OrderModifyRejected"]
    assert [e.seq for e in seen] == list(range(1, 8))


def test_positions_net_across_owners_and_the_account_books_fills(tmp_path: Path) -> None:
    config = SimulatedVenueConfig(venue="PAPER", commission=parse_commission("1/unit"))
    venue = make_venue(tmp_path / "p.db", cash=100_000, config=config)
    venue.submit(order(BUY, 10, cid="A"), owner="node-1")
    venue.submit(order(SELL, 4, cid="B"), owner="node-2")
    venue.on_bar(bar(0, 100, 101, 99, 100.5))
    venue.submit(order(SELL, 6, cid="C", price="102"), owner="node-1")
    venue.on_bar(bar(1, 101, 103, 100, 102.5))
    fills = venue.fills_since(0)
    assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [
        ("A", 10, Decimal(100)), ("B", 4, Decimal(100)), ("C", 6, Decimal(102))]
    assert [f.trade_id for f in fills] == ["PAPER-T1", "PAPER-T2", "PAPER-T3"]
    assert [f.client_order_id for f in venue.fills_since(0, owner="node-2")] == ["B"]
    assert venue.fills_since(START_NS + 3600 * 10**9) == [fills[2]]
    account = venue.account()
    # bought 10 at 100, sold 4 at 100 and 6 at 102: +12 realised, 20 units of commission
    assert account.balance == Decimal(100_000 + 12 - 20)
    assert venue.positions() == [] and account.equity == account.balance
    venue.close()


def test_equity_marks_open_positions_at_the_last_price(venue: PaperVenue) -> None:
    venue.submit(order(BUY, 10))
    venue.on_bar(bar(0, 100, 101, 99, 100.5))
    venue.on_bar(bar(1, 100.5, 104, 100, 103))
    [position] = venue.positions()
    assert (position.quantity, position.avg_px) == (Decimal(10), Decimal(100))
    account = venue.account()
    assert account.equity - account.balance == Decimal(30)
    assert account.margin_used == Decimal(1030)


def test_events_since_replays_in_seq_order(venue: PaperVenue) -> None:
    venue.submit(order(BUY, 1, cid="A"), owner="n1")
    venue.submit(order(BUY, 1, cid="B"), owner="n2")
    venue.on_bar(bar(0, 100, 101, 99, 100))
    assert venue.last_seq == 4
    assert [(e.seq, e.event.kind, e.owner) for e in venue.events_since(1)] == [
        (2, "OrderAccepted", "n2"), (3, "OrderFilled", "n1"), (4, "OrderFilled", "n2")]
    assert [e.seq for e in venue.events_since(0, limit=2)] == [1, 2]
    assert [e.seq for e in venue.events_since(0, owner="n2")] == [2, 4]


def test_market_data_listeners_and_stale_data(venue: PaperVenue) -> None:
    seen: list[object] = []
    venue.subscribe_market(seen.append)
    venue.on_bar(bar(1, 100, 101, 99, 100))
    venue.on_bar(bar(0, 100, 101, 99, 100))  # older than what was processed: ignored
    venue.on_quote(QuoteTick("ABC", START_NS + 2 * 3600 * 10**9, 100.0, 100.02))
    assert [type(x).__name__ for x in seen] == ["Bar", "QuoteTick"]
    assert venue.last_data_ns("ABC") == START_NS + 2 * 3600 * 10**9


@pytest.mark.parametrize("bad", [
    Bar("ABC", START_NS, 100, 99, 101, 100, 1, "1h"),
    Bar("ABC", START_NS, float("nan"), 101, 99, 100, 1, "1h"),
    Bar("ABC", START_NS, 100, 101, 99, 100, -1, "1h"),
    Bar("ABC", START_NS, 100, 101, 99, 100, 1, "fortnight"),
])
def test_malformed_bars_are_refused_and_change_nothing(venue: PaperVenue, bad: Bar) -> None:
    with pytest.raises(DataError, match="bar ABC"):
        venue.on_bar(bad)
    assert venue.last_data_ns("ABC") is None
    venue.submit(order(BUY, 1))  # still usable


def test_state_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    venue = make_venue(path)
    venue.submit(order(BUY, 10, cid="A"), owner="me")
    venue.submit(order(BUY, 5, cid="L", price="95"))
    venue.on_bar(bar(0, 100, 101, 99, 100))
    before = (venue.orders(), venue.positions(), venue.account(), venue.fills_since(0),
              venue.last_seq, venue.market_ns)
    venue.close()
    reopened = make_venue(path)
    after = (reopened.orders(), reopened.positions(), reopened.account(),
             reopened.fills_since(0), reopened.last_seq, reopened.market_ns)
    assert after == before
    assert reopened.submit(order(BUY, 1, cid="A")).duplicate
    reopened.on_bar(bar(1, 96, 97, 94, 95.5))  # the resting limit fills after the reopen
    assert reopened.status("L").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert reopened.fills_since(0)[-1].trade_id == "PAPER-T2"
    reopened.close()


def test_the_state_file_is_held_by_one_venue(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "paper.db")
    with pytest.raises(ConfigError, match="in use by another venue process"):
        make_venue(tmp_path / "paper.db")
    venue.close()


def test_a_state_file_of_another_account_is_refused(tmp_path: Path) -> None:
    make_venue(tmp_path / "paper.db").close()
    other = Account("OTHER", "USD", AccountType.MARGIN, Decimal(1))
    with pytest.raises(ConfigError, match="belongs to account PAPER-001"):
        PaperVenue(tmp_path / "paper.db", [Instrument.equity("ABC")], account=other,
                   config=SimulatedVenueConfig(venue="PAPER"))


def test_a_damaged_state_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(DataError, match=r"paper\.db"):
        make_venue(path)
    make_venue(tmp_path / "ok.db").close()
    with closing(sqlite3.connect(tmp_path / "ok.db")) as db:
        db.execute("UPDATE meta SET value = 'garbage'")
        db.commit()
    with pytest.raises(DataError, match="meta"):
        make_venue(tmp_path / "ok.db")


def test_a_closed_venue_refuses_calls(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "paper.db")
    venue.close()
    with pytest.raises(FatalVenueError, match="closed"):
        venue.submit(order(BUY, 1))


def test_a_child_needs_its_parent_at_the_venue(venue: PaperVenue) -> None:
    child = order(SELL, 1, trigger="90", order_type=OrderType.STOP)
    child.parent_id = "MISSING"
    result = venue.submit(child)
    assert result.code == "INVALID_ORDER" and "parent order MISSING" in result.report.reason


def test_a_rejected_order_cannot_be_cancelled_or_modified(venue: PaperVenue) -> None:
    venue.submit(order(BUY, 1, cid="U", symbol="NOPE"))
    for call in (lambda: venue.cancel("U"), lambda: venue.modify("U", price=Decimal(1))):
        with pytest.raises(PaperFatalError) as refused:
            call()
        assert refused.value.code == "ORDER_NOT_OPEN"
