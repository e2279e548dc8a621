"""The rest of the audit store: runs, signals, positions, account snapshots, risk and system
events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from audit_helpers import START_NS

from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.model import events as ev
from tradeloop.model.reports import AccountReport
from tradeloop.persistence import AuditStore, open_database


def _position(
    kind: type[ev.PositionEvent], position_id: str, quantity: str, ts: int,
    symbol: str = "ABC", pnl: str = "0",
) -> ev.PositionEvent:
    return kind(
        ts=ts, position_id=position_id, symbol=symbol, strategy_id="T",
        quantity=Decimal(quantity), avg_px=Decimal("100.125"), realized_pnl=Decimal(pnl),
        currency="USD",
    )


def test_a_run_is_recorded_from_start_to_end(store: AuditStore, clock: TestClock) -> None:
    run_id = store.start_run(
        "live", config={"risk": {"max_notional": Decimal("1e6")}, "path": Path("/x")},
        strategy_ids=["sma", "rsi"], code_version="0.1.0+abc123",
        artefacts={"log": "/tmp/run.log"},
    )
    assert run_id.startswith("20240102T140000Z-")
    assert store.run_id == run_id
    [running] = store.runs()
    assert (running.status, running.mode, running.ended_ns) == ("running", "live", None)
    assert running.started == datetime(2024, 1, 2, 14, tzinfo=UTC)

    clock.advance_to(START_NS + 60 * 10**9)
    store.end_run(run_id, "completed", {"sharpe": np.float64(1.25), "trades": np.int64(12)},
                  artefacts={"report": "/tmp/report.html"})
    assert store.run_id is None
    ended = store.run(run_id)
    assert ended is not None
    assert ended.status == "completed"
    assert ended.ended_ns == START_NS + 60 * 10**9
    assert ended.strategy_ids == ("sma", "rsi")
    assert ended.config == {"risk": {"max_notional": "1E+6"}, "path": "/x"}
    assert ended.metrics == {"sharpe": 1.25, "trades": 12}
    assert ended.artefacts == {"log": "/tmp/run.log", "report": "/tmp/report.html"}
    assert ended.code_version == "0.1.0+abc123"


def test_runs_are_listed_newest_first(store: AuditStore, clock: TestClock) -> None:
    for n, mode in enumerate(["backtest", "paper", "live"]):
        clock.advance_to(START_NS + n)
        store.start_run(mode, run_id=f"run-{n}")
    assert [r.run_id for r in store.runs()] == ["run-2", "run-1", "run-0"]
    assert [r.run_id for r in store.runs(limit=1)] == ["run-2"]
    assert store.run("nope") is None


def test_bad_run_arguments_are_refused(store: AuditStore) -> None:
    with pytest.raises(ConfigError, match="run mode 'sim'"):
        store.start_run("sim")
    with pytest.raises(DataError, match="no such run"):
        store.end_run("nope", "completed")


def test_signals_are_deduplicated(store: AuditStore) -> None:
    payload = {"ticker": "ABC", "action": "buy", "qty": Decimal("1.5")}
    assert store.record_signal("tradingview", payload, "alert-1") is True
    assert store.record_signal("tradingview", payload, "alert-1") is False  # replayed webhook
    assert store.record_signal("tradingview", payload, "alert-2") is True
    store.set_signal_status("alert-1", "executed")
    signal = store.signal("alert-1")
    assert signal is not None
    assert (signal.status, signal.source, signal.received_ns) == (
        "executed", "tradingview", START_NS
    )
    assert signal.payload == {"ticker": "ABC", "action": "buy", "qty": "1.5"}
    with pytest.raises(DataError, match="alert-9"):
        store.set_signal_status("alert-9", "executed")


def test_latest_positions_are_the_last_change_of_each(store: AuditStore) -> None:
    store.record_position(_position(ev.PositionOpened, "P-1", "10", START_NS))
    store.record_position(_position(ev.PositionChanged, "P-1", "-2.5", START_NS + 1, pnl="3.3"))
    store.record_position(_position(ev.PositionOpened, "P-2", "1", START_NS + 2, symbol="XYZ"))
    store.record_position(_position(ev.PositionClosed, "P-2", "0", START_NS + 3, symbol="XYZ"))
    latest = store.latest_positions()
    assert latest == [_position(ev.PositionChanged, "P-1", "-2.5", START_NS + 1, pnl="3.3")]
    assert type(latest[0]) is ev.PositionChanged
    everything = store.latest_positions(include_flat=True)
    assert [(type(p).__name__, p.position_id) for p in everything] == [
        ("PositionChanged", "P-1"), ("PositionClosed", "P-2")
    ]


def test_latest_positions_of_one_run(store: AuditStore) -> None:
    store.start_run("paper", run_id="old")
    store.record_position(_position(ev.PositionOpened, "P-1", "10", START_NS))
    store.start_run("paper", run_id="new")
    store.record_position(_position(ev.PositionOpened, "P-2", "5", START_NS + 1))
    assert [p.position_id for p in store.latest_positions(run_id="new")] == ["P-2"]
    assert [p.position_id for p in store.latest_positions(run_id="old")] == ["P-1"]


def test_account_snapshots_keep_exact_amounts(store: AuditStore) -> None:
    store.record_snapshot(ev.AccountState(
        ts=START_NS, account_id="SIM-001", currency="USD", balance=Decimal("10000.01"),
        equity=Decimal("10012.345678"), margin_used=Decimal("0.10"), extra={"note": "x"},
    ))
    store.record_snapshot(AccountReport(
        account_id="SIM-001", currency="USD", balance=Decimal("9999.99"),
        equity=Decimal("9999.99"), ts=START_NS + 5,
    ))
    first, second = store.account_snapshots()
    assert (str(first.balance), str(first.equity), str(first.margin_used)) == (
        "10000.01", "10012.345678", "0.10"
    )
    assert first.extra == {"note": "x"}
    assert (second.ts, second.balance, second.margin_used) == (
        START_NS + 5, Decimal("9999.99"), Decimal(0)
    )
    assert [s.ts for s in store.account_snapshots(since_ts=START_NS + 1)] == [START_NS + 5]


def test_risk_and_system_events(store: AuditStore, clock: TestClock) -> None:
    store.record_risk_event("max_notional", "DENIED", "order too large",
                            client_order_id="O-1", strategy_id="T", symbol="ABC")
    clock.advance_to(START_NS + 10)
    store.record_risk_event("kill_switch", "HALTED", "operator")
    store.record_system_event("started", "node started", details={"pid": 42})
    store.record_system_event("disconnected", "venue gone", level="WARNING",
                              details={"venue": "SIM"}, ts=START_NS + 20)
    risk = store.risk_events()
    assert [(r.rule, r.decision, r.ts) for r in risk] == [
        ("max_notional", "DENIED", START_NS), ("kill_switch", "HALTED", START_NS + 10)
    ]
    assert risk[0].client_order_id == "O-1"
    assert [r.rule for r in store.risk_events(since_ts=START_NS + 1)] == ["kill_switch"]
    system = store.system_events()
    assert [(s.kind, s.level, s.details) for s in system] == [
        ("started", "info", {"pid": 42}), ("disconnected", "warning", {"venue": "SIM"})
    ]
    assert [s.kind for s in store.system_events(kind="disconnected")] == ["disconnected"]
    with pytest.raises(ConfigError, match="level 'loud'"):
        store.record_system_event("x", "y", level="loud")


def test_rows_recorded_in_a_run_carry_its_id(store: AuditStore) -> None:
    store.start_run("paper", run_id="R")
    store.record_risk_event("r", "DENIED", "why")
    store.record_system_event("k", "m")
    store.record_signal("tv", {}, "s-1")
    assert [r.run_id for r in store.risk_events(run_id="R")] == ["R"]
    assert [s.run_id for s in store.system_events(run_id="R")] == ["R"]
    signal = store.signal("s-1")
    assert signal is not None and signal.run_id == "R"


def test_everything_survives_a_reopen(database_url: str, tmp_path: Path) -> None:
    with open_database(database_url, tmp_path) as db:
        store = AuditStore(db, clock=TestClock(START_NS))
        store.start_run("paper", run_id="R")
        store.record_position(_position(ev.PositionOpened, "P-1", "10", START_NS))
        store.record_signal("tv", {"a": 1}, "s-1")
    with open_database(database_url, tmp_path) as db:
        store = AuditStore(db)
        assert [r.run_id for r in store.runs()] == ["R"]
        assert [p.position_id for p in store.latest_positions()] == ["P-1"]
        assert store.record_signal("tv", {"a": 1}, "s-1") is False
