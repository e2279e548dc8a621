"""Orders in the audit database: write-ahead intents, events, fills, restarts, adoption."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from audit_helpers import (
    START_NS,
    accepted,
    filled,
    make_order,
    pg_base_url,
    submitted,
)

from tradeloop.core.clock import TestClock
from tradeloop.core.errors import DataError, TradeloopError
from tradeloop.execution.ports import IntentJournal
from tradeloop.model import events as ev
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import FIELDS, Order
from tradeloop.model.reports import OrderStatusReport
from tradeloop.persistence import (
    AuditStore,
    Database,
    MissingIntentError,
    PersistenceError,
    open_database,
)


def _state(order: Order | None) -> dict[str, object]:
    assert order is not None
    return {name: getattr(order, name) for name in FIELDS}


def _reopen(url: str, tmp_path: Path) -> tuple[Database, AuditStore]:
    db = open_database(url, tmp_path)
    return db, AuditStore(db, clock=TestClock(START_NS), venue_of=lambda _symbol: "SIM")


def test_the_store_is_an_intent_journal(store: AuditStore) -> None:
    journal: IntentJournal = store
    assert journal.open_intents() == []


def test_intent_then_events_survive_a_restart(
    store: AuditStore, database_url: str, tmp_path: Path
) -> None:
    order = make_order("O-1", quantity="10", price="101.25")
    store.record_intent(order)
    for event in (
        submitted(order), accepted(order, "V-77"),
        filled(order, "4", "101.25", "T-1", commission="0.35"),
        filled(order, "6", "101.20", "T-2", ts=START_NS + 3, commission="0.5"),
    ):
        assert order.apply(event)
        store.record_event(event)
    store.database.close()  # the node stops

    db, reopened = _reopen(database_url, tmp_path)  # and starts again
    with db:
        stored = reopened.order("O-1")
        assert stored is not None
        assert (stored.status, stored.filled_qty, stored.avg_px, stored.venue_order_id) == (
            OrderStatus.FILLED, Decimal(10), Decimal("101.22"), "V-77"
        )
        assert _state(stored) == _state(order)
        assert [f.trade_id for f in reopened.fills()] == ["T-1", "T-2"]


def test_every_order_field_round_trips(store: AuditStore) -> None:
    order = Order(
        client_order_id="O-SL", strategy_id="strat-é", symbol="EURUSD", side=OrderSide.SELL,
        order_type=OrderType.STOP_LIMIT, quantity=Decimal("100000"), ts_init=START_NS,
        price=Decimal("1.08505"), trigger_price=Decimal("1.08510"),
        trailing_offset=Decimal("0.0005"), trailing_offset_type=TrailingOffsetType.PERCENT,
        time_in_force=TimeInForce.GTD, expire_ns=START_NS + 10**12, reduce_only=True,
        contingency=ContingencyType.OCO, linked_ids=("O-TP",), parent_id="O-ENTRY",
        position_id="P-1", tags=("bracket", "sl"),
    )
    store.record_intent(order)
    assert _state(store.order("O-SL")) == _state(order)


def test_a_duplicate_fill_is_ignored(store: AuditStore) -> None:
    order = make_order("O-1", quantity="10")
    store.record_intent(order)
    store.record_event(submitted(order))
    store.record_event(accepted(order))
    fill = filled(order, "4", "100", "T-1")
    store.record_event(fill)
    store.record_event(fill)  # the venue resends it
    store.record_event(filled(order, "4", "100", "T-1", ts=START_NS + 9))  # resent, new time
    stored = store.order("O-1")
    assert stored is not None
    assert (stored.status, stored.filled_qty) == (OrderStatus.PARTIALLY_FILLED, Decimal(4))
    assert stored.trade_ids == ("T-1",)
    assert len(store.fills()) == 1
    assert [e.kind for e in store.order_events("O-1")] == [
        "OrderSubmitted", "OrderAccepted", "OrderFilled"
    ]


def test_the_same_event_twice_is_recorded_once(store: AuditStore) -> None:
    order = make_order("O-1")
    store.record_intent(order)
    for _ in range(3):
        store.record_event(submitted(order))
    assert [e.kind for e in store.order_events("O-1")] == ["OrderSubmitted"]


def test_decimals_round_trip_exactly(store: AuditStore) -> None:
    amounts = [
        "0.1", "0.00000001", "1.50", "12345678901234567890.12345678", "98765.4321000", "3",
    ]
    in_memory = []
    for n, text in enumerate(amounts):
        order = make_order(f"O-{n}", quantity=text, price=text)
        store.record_intent(order)
        for event in (submitted(order), filled(order, text, text, f"T-{n}", commission=text)):
            order.apply(event)
            store.record_event(event)
        in_memory.append(order)
    for order, text in zip(in_memory, amounts, strict=True):
        stored = store.order(order.client_order_id)
        assert stored is not None
        assert str(stored.quantity) == str(stored.price) == str(Decimal(text))
        for name in ("quantity", "price", "filled_qty", "avg_px", "commission"):
            value = getattr(stored, name)
            assert isinstance(value, Decimal)
            assert str(value) == str(getattr(order, name)), name  # same digits, same scale
    for fill, text in zip(store.fills(), amounts, strict=True):
        assert {str(fill.last_qty), str(fill.last_px), str(fill.commission)} == {
            str(Decimal(text))
        }
    # storage has no precision limit of its own (order arithmetic stops at 28 digits)
    wide = "123456789012345678901234567890.123456789012345678901234567890"
    store.record_intent(make_order("O-wide", quantity=wide, price=wide))
    stored = store.order("O-wide")
    assert stored is not None and str(stored.quantity) == str(stored.price) == wide


def test_open_intents_are_the_orders_without_a_final_state(store: AuditStore) -> None:
    orders = {name: make_order(name, ts=START_NS + n) for n, name in enumerate(
        ["initialized", "submitted", "working", "partial", "done", "cancelled", "denied"]
    )}
    script: dict[str, list[ev.OrderEvent]] = {
        "initialized": [],
        "submitted": [submitted(orders["submitted"])],
        "working": [submitted(orders["working"]), accepted(orders["working"], "V-w")],
        "partial": [submitted(orders["partial"]), accepted(orders["partial"], "V-p"),
                    filled(orders["partial"], "3", "100", "T-p", venue_order_id="V-p")],
        "done": [submitted(orders["done"]), accepted(orders["done"], "V-d"),
                 filled(orders["done"], "10", "100", "T-d", venue_order_id="V-d")],
        "cancelled": [submitted(orders["cancelled"]),
                      ev.OrderCanceled(ts=START_NS, client_order_id="cancelled")],
        "denied": [ev.OrderDenied(ts=START_NS, client_order_id="denied", reason="no money")],
    }
    for name, order in orders.items():
        store.record_intent(order)
        for event in script[name]:
            store.record_event(event)

    intents = store.open_intents()
    assert [o.client_order_id for o in intents] == ["initialized", "submitted", "working",
                                                    "partial"]
    partial = intents[-1]
    assert (partial.status, partial.filled_qty, partial.venue_order_id) == (
        OrderStatus.PARTIALLY_FILLED, Decimal(3), "V-p"
    )
    # the rebuilt order knows its trade ids: a fill the venue resends after the restart is
    # recognised in memory too
    assert partial.apply(filled(partial, "3", "100", "T-p", venue_order_id="V-p")) is False
    assert [o.client_order_id for o in store.orders(open_only=True)] == [
        o.client_order_id for o in intents
    ]
    assert store.order("denied") is not None
    assert store.order("denied").reason == "no money"  # type: ignore[union-attr]


def test_a_pending_cancel_rejected_after_a_restart_restores_the_status(
    store: AuditStore, database_url: str, tmp_path: Path
) -> None:
    order = make_order("O-1", quantity="10")
    store.record_intent(order)
    for event in (submitted(order), accepted(order), filled(order, "2", "100", "T-1"),
                  ev.OrderPendingCancel(ts=START_NS + 5, client_order_id="O-1")):
        store.record_event(event)
    store.database.close()
    db, reopened = _reopen(database_url, tmp_path)
    with db:
        reopened.record_event(ev.OrderCancelRejected(
            ts=START_NS + 6, client_order_id="O-1", reason="too late"
        ))
        stored = reopened.order("O-1")
        assert stored is not None and stored.status is OrderStatus.PARTIALLY_FILLED


def test_an_event_the_order_refuses_is_kept_but_not_applied(store: AuditStore) -> None:
    order = make_order("O-1", quantity="10")
    store.record_intent(order)
    store.record_event(submitted(order))
    store.record_event(filled(order, "10", "100", "T-1"))
    store.record_event(filled(order, "5", "100", "T-2"))  # overfill: impossible
    stored = store.order("O-1")
    assert stored is not None
    assert (stored.status, stored.filled_qty) == (OrderStatus.FILLED, Decimal(10))
    assert [f.trade_id for f in store.fills()] == ["T-1"]  # only booked fills
    assert [e.kind for e in stored.events] == ["OrderSubmitted", "OrderFilled"]
    assert [e.kind for e in store.order_events("O-1")] == [
        "OrderSubmitted", "OrderFilled", "OrderFilled"
    ]


def test_an_event_without_an_intent_is_refused(store: AuditStore) -> None:
    with pytest.raises(MissingIntentError, match="O-404") as raised:
        store.record_event(submitted(make_order("O-404")))
    assert isinstance(raised.value, DataError)


def test_recording_an_intent_again_adds_only_new_events(store: AuditStore) -> None:
    order = make_order("O-1")
    order.apply(submitted(order))
    store.record_intent(order)  # written with the event already applied
    store.record_event(submitted(order))  # the same event from the bus: nothing new
    order.apply(accepted(order, "V-9"))
    store.record_intent(order)  # a replayed intent brings its new event
    stored = store.order("O-1")
    assert _state(stored) == _state(order)
    assert [e.kind for e in store.order_events("O-1")] == ["OrderSubmitted", "OrderAccepted"]


def test_an_intent_with_its_submission_is_one_commit_and_the_event_is_not_written_again(
    store: AuditStore,
) -> None:
    order = make_order("O-1")
    event = submitted(order)
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    sa.event.listen(sa.Engine, "commit", count)  # every engine's commits
    try:
        store.record_intent(order, event)
        assert len(commits) == 1
        assert order.status is OrderStatus.INITIALIZED  # the node applies it, not the store
        assert store.order("O-1").status is OrderStatus.SUBMITTED  # type: ignore[union-attr]
        order.apply(event)
        store.record_event(event)  # as the recorder does once the node applied it
    finally:
        sa.event.remove(sa.Engine, "commit", count)
    assert _state(store.order("O-1")) == _state(order)
    assert [e.kind for e in store.order_events("O-1")] == ["OrderSubmitted"]


def test_runs_scope_orders_and_fills(store: AuditStore, clock: TestClock) -> None:
    first = store.start_run("paper", run_id="run-1")
    a = make_order("A")
    store.record_intent(a)
    store.record_event(submitted(a))
    store.record_event(filled(a, "10", "100", "T-a", ts=START_NS + 10))
    store.end_run(first, "completed")
    clock.advance_to(START_NS + 100)
    store.start_run("paper", run_id="run-2")
    b = make_order("B", ts=START_NS + 100)
    store.record_intent(b)
    store.record_event(submitted(b))
    store.record_event(filled(b, "10", "100", "T-b", ts=START_NS + 110))
    assert [o.client_order_id for o in store.orders(run_id="run-1")] == ["A"]
    assert [o.client_order_id for o in store.orders()] == ["A", "B"]
    assert [f.trade_id for f in store.fills(run_id="run-2")] == ["T-b"]
    assert [f.trade_id for f in store.fills(since_ts=START_NS + 11)] == ["T-b"]
    assert [f.trade_id for f in store.fills(since_ts=START_NS + 10)] == ["T-a", "T-b"]


def test_external_orders_are_adopted(store: AuditStore) -> None:
    report = OrderStatusReport(
        client_order_id="", venue_order_id="V-123", symbol="ABC", side=OrderSide.SELL,
        order_type=OrderType.LIMIT, quantity=Decimal("5"), filled_qty=Decimal("2"),
        avg_px=Decimal("101.5"), status=OrderStatus.PARTIALLY_FILLED, price=Decimal("101.5"),
        ts_accepted=START_NS, ts_last=START_NS + 1,
    )
    adopted = store.adopt_external(report)
    assert adopted.client_order_id == "EXT-V-123"
    assert (adopted.status, adopted.filled_qty, adopted.avg_px, adopted.venue_order_id) == (
        OrderStatus.PARTIALLY_FILLED, Decimal(2), Decimal("101.5"), "V-123"
    )
    assert adopted.strategy_id == "EXTERNAL" and "external" in adopted.tags
    assert [o.client_order_id for o in store.open_intents()] == ["EXT-V-123"]

    done = msgspec.structs.replace(report, filled_qty=Decimal(5), status=OrderStatus.FILLED,
                                   ts_last=START_NS + 2)
    store.adopt_external(done)  # reconciliation sees it again, now filled
    refreshed = store.order("EXT-V-123")
    assert refreshed is not None
    assert (refreshed.status, refreshed.filled_qty) == (OrderStatus.FILLED, Decimal(5))
    assert store.open_intents() == []


def test_an_own_order_cannot_be_adopted(store: AuditStore) -> None:
    store.record_intent(make_order("O-1"))
    report = OrderStatusReport(
        client_order_id="O-1", venue_order_id="V-1", symbol="ABC", side=OrderSide.BUY,
        order_type=OrderType.MARKET, quantity=Decimal(10),
    )
    with pytest.raises(DataError, match="O-1 is an order this node created"):
        store.adopt_external(report)


def test_an_invalid_venue_report_is_a_data_error(store: AuditStore) -> None:
    report = OrderStatusReport(
        client_order_id="X", venue_order_id="V-1", symbol="ABC", side=OrderSide.BUY,
        order_type=OrderType.LIMIT, quantity=Decimal(10),  # a limit order without a price
    )
    with pytest.raises(DataError, match="cannot adopt venue order V-1"):
        store.adopt_external(report)
    assert store.order("X") is None


# -- fail closed ---------------------------------------------------------------------------------


def _refuse_inserts(db: Database, table: str) -> None:
    with db.write_transaction() as connection:
        if db.dialect == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'disk is full (simulated)'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk is full (simulated)'; END $$"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def _count(db: Database, table: str) -> int:
    with db.read_transaction() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_an_intent_the_database_refuses_raises(store: AuditStore) -> None:
    _refuse_inserts(store.database, "orders")
    with pytest.raises(PersistenceError, match="disk is full") as raised:
        store.record_intent(make_order("O-1"))
    assert isinstance(raised.value, TradeloopError)
    assert "\n" not in str(raised.value)
    assert store.order("O-1") is None


def test_an_event_the_database_refuses_leaves_nothing_half_written(store: AuditStore) -> None:
    order = make_order("O-1")
    store.record_intent(order)
    store.record_event(submitted(order))
    _refuse_inserts(store.database, "order_events")
    with pytest.raises(PersistenceError, match="disk is full"):
        store.record_event(filled(order, "10", "100", "T-1"))
    stored = store.order("O-1")
    assert stored is not None
    assert (stored.status, stored.filled_qty) == (OrderStatus.SUBMITTED, Decimal(0))
    assert _count(store.database, "fills") == 0  # the fill row went with the transaction


def test_a_closed_database_refuses_intents(store: AuditStore) -> None:
    store.database.close()
    with pytest.raises(PersistenceError, match="is closed"):
        store.record_intent(make_order("O-1"))
    with pytest.raises(PersistenceError):
        store.open_intents()


def test_a_locked_sqlite_database_refuses_intents_after_the_busy_timeout(
    tmp_path: Path,
) -> None:
    with open_database(None, tmp_path, busy_timeout_ms=50) as db:
        store = AuditStore(db)
        blocker = sqlite3.connect(tmp_path / "tradeloop.db", isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            with pytest.raises(PersistenceError, match="database is locked"):
                store.record_intent(make_order("O-1"))
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        store.record_intent(make_order("O-1"))  # the lock is gone: it works again
        assert store.order("O-1") is not None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_vanished_postgresql_database_refuses_intents(store: AuditStore) -> None:
    store.record_intent(make_order("O-1"))
    name = sa.make_url(store.database.url).database
    admin = sa.create_engine(pg_base_url(), isolation_level="AUTOCOMMIT",
                             poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()
    with pytest.raises(PersistenceError, match="could not write to the audit database"):
        store.record_intent(make_order("O-2"))


def test_a_refused_fill_delivered_again_is_still_not_booked(store: AuditStore) -> None:
    order = make_order("O-1", quantity="10")
    store.record_intent(order)
    store.record_event(submitted(order))
    store.record_event(filled(order, "10", "100", "T-1"))
    overfill = filled(order, "5", "100", "T-2")
    store.record_event(overfill)  # refused: kept as an event, not booked as a fill
    store.record_event(overfill)  # the venue sends it again
    assert [f.trade_id for f in store.fills()] == ["T-1"]
    stored = store.order("O-1")
    assert stored is not None and stored.filled_qty == Decimal(10)
    assert [e.kind for e in store.order_events("O-1")] == [
        "OrderSubmitted", "OrderFilled", "OrderFilled"
    ]
