"""The order path's writes: which commits wait for the disk, crashes, threads, bad amounts,
and a PostgreSQL connection lost while the node was quiet."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from audit_helpers import START_NS, accepted, filled, make_order, pg_base_url, submitted

from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderStatus
from tradeloop.model.orders import FIELDS
from tradeloop.persistence import AuditStore, Database, PersistenceError, open_database
from tradeloop.persistence import db as db_module


def _commit_waits_for_the_disk(db: Database, durable: bool) -> bool:
    with db.write_transaction(durable=durable) as connection:
        if db.dialect == "sqlite":
            return int(connection.exec_driver_sql("PRAGMA synchronous").scalar_one()) == 2
        return bool(connection.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on")


def test_by_default_every_commit_waits_for_the_disk(database: Database) -> None:
    assert database.durability == "full"
    assert _commit_waits_for_the_disk(database, durable=False)
    assert _commit_waits_for_the_disk(database, durable=True)


def test_with_durability_intents_only_durable_commits_wait(
    database_url: str, tmp_path: Path
) -> None:
    with open_database(database_url, tmp_path, durability="intents") as db:
        assert db.durability == "intents"
        for durable in (False, True, False, False, True):  # switching back and forth
            assert _commit_waits_for_the_disk(db, durable) is durable


def test_the_store_relaxes_only_what_comes_after_the_intent(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_database(database_url, tmp_path, durability="intents") as db:
        store = AuditStore(db, clock=TestClock(START_NS), venue_of=lambda _s: "SIM")
        asked: list[bool] = []  # ``durable`` of each write transaction
        write_transaction = db.write_transaction

        def spy(*, durable: bool = True):  # type: ignore[no-untyped-def]
            asked.append(durable)
            return write_transaction(durable=durable)

        monkeypatch.setattr(db, "write_transaction", spy)
        order = make_order("O-1")
        store.record_intent(order)
        store.record_event(submitted(order))
        store.record_event(filled(order, "10", "100", "T-1"))
        store.record_position(ev.PositionOpened(
            ts=START_NS, position_id="P", symbol="ABC", strategy_id="T", quantity=Decimal(10),
            avg_px=Decimal(100), realized_pnl=Decimal(0), currency="USD"))
    assert asked == [True, False, False, False]


def test_an_unknown_durability_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="durability 'sometimes': expected one of full, "
                                          "intents"):
        open_database(None, tmp_path, durability="sometimes")  # type: ignore[arg-type]


_CRASHING_WRITER = """
import os, signal, sys
from decimal import Decimal
from pathlib import Path
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditStore, open_database

store = AuditStore(open_database(sys.argv[1], Path(sys.argv[2]), durability=sys.argv[3]),
                   venue_of=lambda _symbol: "SIM")
order = Order(client_order_id="O-1", strategy_id="T", symbol="ABC", side=OrderSide.BUY,
              order_type=OrderType.MARKET, quantity=Decimal(10), ts_init=1)
base = {"client_order_id": "O-1", "strategy_id": "T", "symbol": "ABC"}
store.record_intent(order)
store.record_event(ev.OrderSubmitted(ts=2, **base))
store.record_event(ev.OrderAccepted(ts=3, venue_order_id="V-1", **base))
store.record_event(ev.OrderFilled(ts=4, venue_order_id="V-1", trade_id="T-1",
                                  side=OrderSide.BUY, last_qty=Decimal(10),
                                  last_px=Decimal("100.25"), **base))
store.record_position(ev.PositionOpened(ts=4, position_id="P", symbol="ABC", strategy_id="T",
                                        quantity=Decimal(10), avg_px=Decimal("100.25"),
                                        realized_pnl=Decimal(0), currency="USD"))
os.kill(os.getpid(), signal.SIGKILL)  # no close, no clean shutdown of anything
"""


@pytest.mark.parametrize("durability", ["full", "intents"])
def test_every_returned_write_survives_a_crash_of_the_process(
    database_url: str, tmp_path: Path, durability: str
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, database_url, str(tmp_path), durability],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    with open_database(database_url, tmp_path) as db:
        store = AuditStore(db)
        order = store.order("O-1")
        assert order is not None
        assert (order.status, order.filled_qty, order.avg_px, order.venue_order_id) == (
            OrderStatus.FILLED, Decimal(10), Decimal("100.25"), "V-1"
        )
        assert [e.kind for e in store.order_events("O-1")] == [
            "OrderSubmitted", "OrderAccepted", "OrderFilled"
        ]
        assert [f.trade_id for f in store.fills()] == ["T-1"]
        assert [p.quantity for p in store.latest_positions()] == [Decimal(10)]


def test_a_non_finite_amount_is_refused_and_nothing_is_written(store: AuditStore) -> None:
    order = make_order("O-1")
    store.record_intent(order)
    store.record_event(submitted(order))
    with pytest.raises(PersistenceError, match="price: cannot store the non-finite amount NaN"):
        store.record_event(filled(order, "10", "NaN", "T-1"))
    with pytest.raises(PersistenceError, match="quantity: expected a Decimal, got float"):
        # an order with a float quantity (the compiled Order refuses one itself): the fields
        # of a real order with that one changed
        fields = {name: getattr(make_order("O-2"), name) for name in FIELDS}
        store.record_intent(SimpleNamespace(**{**fields, "quantity": 1.5}))  # type: ignore[arg-type]
    stored = store.order("O-1")
    assert stored is not None and stored.status is OrderStatus.SUBMITTED
    assert store.fills() == [] and store.order("O-2") is None
    store.record_event(filled(order, "10", "100", "T-1"))  # the next write works
    assert [f.trade_id for f in store.fills()] == ["T-1"]


def test_threads_sharing_one_database_all_get_their_writes_in(store: AuditStore) -> None:
    per_thread, threads = 15, 4
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def trade(name: str) -> None:
        try:
            barrier.wait()
            for k in range(per_thread):
                order = make_order(f"{name}-{k}")
                store.record_intent(order)
                store.record_event(submitted(order))
                store.record_event(accepted(order, f"V-{name}-{k}"))
                store.record_event(filled(order, "10", "100", f"T-{name}-{k}",
                                          venue_order_id=f"V-{name}-{k}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=trade, args=(f"W{n}",)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    recorded = store.orders()
    assert len(recorded) == per_thread * threads
    assert {o.status for o in recorded} == {OrderStatus.FILLED}
    assert len(store.fills()) == per_thread * threads


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_the_server_dropped_while_idle_costs_no_write(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "_WRITER_IDLE_S", 0.0)  # every write comes after a pause
    store.record_intent(make_order("O-1"))
    with store.database.write_transaction() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = sa.create_engine(pg_base_url(), isolation_level="AUTOCOMMIT",
                             poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    store.record_intent(make_order("O-2"))  # on a live connection, not the dropped one
    assert [o.client_order_id for o in store.orders()] == ["O-1", "O-2"]
