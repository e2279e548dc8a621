"""Two processes' worth of writers (two Database objects) on one database at the same time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from audit_helpers import START_NS, accepted, filled, make_order, submitted

from tradeloop.core.clock import TestClock
from tradeloop.model.enums import OrderStatus
from tradeloop.persistence import AuditStore, Database, open_database

ORDERS = 4
FILLS_PER_WRITER = 8


def _run_together(jobs: list[Callable[[], None]]) -> list[BaseException]:
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _open_two(url: str, tmp_path: Path) -> list[tuple[Database, AuditStore]]:
    pairs = []
    for _ in range(2):
        db = open_database(url, tmp_path, busy_timeout_ms=30_000)
        pairs.append((db, AuditStore(db, clock=TestClock(START_NS), venue_of=lambda _s: "SIM")))
    return pairs


def _check_integrity(db: Database) -> None:
    if db.dialect == "sqlite":
        with db.read_transaction() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_two_writers_on_the_same_orders_lose_no_update(database_url: str, tmp_path: Path) -> None:
    pairs = _open_two(database_url, tmp_path)
    orders = [make_order(f"O-{i}", quantity=str(2 * FILLS_PER_WRITER)) for i in range(ORDERS)]
    first = pairs[0][1]
    for order in orders:
        first.record_intent(order)
        first.record_event(submitted(order))
        first.record_event(accepted(order, f"V-{order.client_order_id}"))

    def writer(name: str, store: AuditStore) -> Callable[[], None]:
        def job() -> None:
            for k in range(FILLS_PER_WRITER):
                for order in orders:
                    store.record_event(filled(
                        order, "1", str(100 + k), f"{name}-{order.client_order_id}-{k}",
                        ts=START_NS + 10 + k, venue_order_id=f"V-{order.client_order_id}",
                    ))
                own = make_order(f"{name}-own-{k}")
                store.record_intent(own)
                store.record_event(submitted(own))
        return job

    try:
        errors = _run_together([writer(f"W{n}", store) for n, (_, store) in enumerate(pairs)])
        assert errors == []
        for order in orders:
            stored = first.order(order.client_order_id)
            assert stored is not None
            assert stored.status is OrderStatus.FILLED
            assert stored.filled_qty == Decimal(2 * FILLS_PER_WRITER)
            assert len(stored.trade_ids) == 2 * FILLS_PER_WRITER
        assert len(first.fills()) == 2 * FILLS_PER_WRITER * ORDERS
        assert len(first.orders()) == ORDERS + 2 * FILLS_PER_WRITER
        _check_integrity(first.database)
    finally:
        for db, _ in pairs:
            db.close()


def test_two_writers_delivering_the_same_fills_book_them_once(
    database_url: str, tmp_path: Path
) -> None:
    pairs = _open_two(database_url, tmp_path)
    order = make_order("O-1", quantity=str(FILLS_PER_WRITER))
    first = pairs[0][1]
    first.record_intent(order)
    first.record_event(submitted(order))
    fills = [filled(order, "1", "100", f"T-{k}", ts=START_NS + k) for k in range(FILLS_PER_WRITER)]

    def writer(store: AuditStore) -> Callable[[], None]:
        def job() -> None:
            for fill in fills:
                store.record_event(fill)
        return job

    try:
        assert _run_together([writer(store) for _, store in pairs]) == []
        stored = first.order("O-1")
        assert stored is not None
        assert (stored.status, stored.filled_qty) == (
            OrderStatus.FILLED, Decimal(FILLS_PER_WRITER)
        )
        with first.database.read_transaction() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM fills")).scalar_one()
        assert count == FILLS_PER_WRITER
        _check_integrity(first.database)
    finally:
        for db, _ in pairs:
            db.close()
