"""Risk decisions in the audit trail: denials keep their code, limit and value; trading state
changes (halts, the kill switch, resumptions) are recorded with who and why; and the schema
change that added those columns migrates a database that already holds risk events."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from audit_helpers import START_NS, make_order

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditRecorder, AuditStore, open_database
from tradeloop.persistence.db import _alembic_config, head_revision
from tradeloop.risk.base import DenialCode


def test_a_denial_keeps_its_code_limit_and_value(store: AuditStore) -> None:
    bus = MessageBus()
    AuditRecorder(store).subscribe(bus)
    store.record_intent(make_order("O-1"))
    bus.publish("events.order.T", ev.OrderDenied(
        ts=START_NS, client_order_id="O-1", strategy_id="T", symbol="ABC",
        reason="ABC position would be 120, above the limit of 100", code="POSITION",
        limit="100", value="120",
    ))
    [risk] = store.risk_events()
    assert (risk.rule, risk.decision, risk.limit, risk.value, risk.by, risk.symbol) == (
        "POSITION", "DENIED", "100", "120", None, "ABC")


@pytest.mark.parametrize(("event", "expected"), [
    (ev.TradingStateChanged(ts=START_NS, state="HALTED", previous="ACTIVE",
                            code="KILL_SWITCH", reason="kill switch: fat finger", by="alice"),
     ("KILL_SWITCH", "HALTED", "kill switch: fat finger", "alice")),
    (ev.TradingStateChanged(ts=START_NS, state="ACTIVE", previous="HALTED", code="RESUMED",
                            reason="books checked", by="carol"),
     ("RESUMED", "ACTIVE", "books checked", "carol")),
    (ev.TradingStateChanged(ts=START_NS, state="REDUCING", previous="ACTIVE",
                            code="DAILY_LOSS", reason="daily loss 2,100 above 2,000"),
     ("DAILY_LOSS", "REDUCING", "daily loss 2,100 above 2,000", None)),
], ids=["kill-engaged", "resumed", "breaker-without-a-person"])
def test_trading_state_changes_are_recorded(store: AuditStore, event: ev.TradingStateChanged,
                                            expected: tuple[str, str, str, str | None]) -> None:
    bus = MessageBus()
    AuditRecorder(store).subscribe(bus)
    bus.publish("events.risk", event)
    [risk] = store.risk_events()
    assert (risk.rule, risk.decision, risk.reason, risk.by) == expected
    assert (risk.ts, risk.client_order_id, risk.limit, risk.value) == (START_NS, "", None, None)


def test_unsubscribed_recorder_records_no_state_change(store: AuditStore) -> None:
    bus = MessageBus()
    recorder = AuditRecorder(store)
    recorder.subscribe(bus)
    recorder.unsubscribe(bus)
    bus.publish("events.risk", ev.TradingStateChanged(
        ts=START_NS, state="HALTED", previous="ACTIVE", code="KILL_SWITCH", reason="x"))
    assert store.risk_events() == []


def test_a_kernel_halt_and_its_denials_reach_the_audit_trail(store: AuditStore) -> None:
    clock = TestClock(START_NS)
    kernel = Kernel(clock, Account("A", "USD", AccountType.MARGIN, Decimal(100_000),
                                   Decimal(1)))
    kernel.add_instrument(Instrument.equity("ABC"))
    kernel.add_execution_client(SimulatedVenue(kernel.cache, clock))
    kernel.cache.last_prices["ABC"] = 100.0
    AuditRecorder(store, orders=kernel.cache.order).subscribe(kernel.bus)
    kernel.risk.halt("kill switch: venue down", code=DenialCode.KILL_SWITCH, by="alice")
    order = Order(client_order_id="O-1", strategy_id="T", symbol="ABC", side=OrderSide.BUY,
                  order_type=OrderType.MARKET, quantity=Decimal(10), ts_init=START_NS)
    kernel.cache.add_order(order)
    kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, START_NS))
    kernel.risk.resume("carol", "venue back")
    assert [(r.rule, r.decision, r.by) for r in store.risk_events()] == [
        ("KILL_SWITCH", "HALTED", "alice"), ("KILL_SWITCH", "DENIED", None),
        ("RESUMED", "ACTIVE", "carol")]


def test_the_migration_keeps_older_risk_events(database_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(sa.text(
                "INSERT INTO risk_events (ts, rule, decision, reason, client_order_id, "
                "strategy_id, symbol) VALUES (1, 'risk_gate', 'DENIED', 'old', 'O-0', 'T', "
                "'ABC')"))
    finally:
        engine.dispose()
    with open_database(database_url, tmp_path) as db:
        assert db.schema_revision() == head_revision() != "0001"
        store = AuditStore(db)
        store.record_risk_event("KILL_SWITCH", "ENGAGED", "new", by="alice", limit="1",
                                value="2")
        old, new = store.risk_events()
    assert (old.reason, old.limit, old.value, old.by) == ("old", None, None, None)
    assert (new.reason, new.limit, new.value, new.by) == ("new", "1", "2", "alice")


def test_the_migration_downgrades_cleanly(database_url: str, tmp_path: Path) -> None:
    open_database(database_url, tmp_path).close()
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("risk_events")}
    finally:
        engine.dispose()
    assert not columns & {"rule_limit", "rule_value", "actor"}
    assert "reason" in columns
