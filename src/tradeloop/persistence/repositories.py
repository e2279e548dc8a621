"""The audit store: everything a paper or live node records, behind domain types.

:class:`AuditStore` takes and returns orders, ``msgspec`` events and reports, and ``Decimal``
amounts; the tables behind it stay private to this package. Every ``record_*`` method commits
before it returns.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import sqlalchemy as sa

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import ns_to_dt
from tradeloop.model import events as ev
from tradeloop.model.reports import AccountReport
from tradeloop.persistence import codec
from tradeloop.persistence.driver_sql import insert_row
from tradeloop.persistence.order_journal import OrderJournal, insert_ignoring_duplicates
from tradeloop.persistence.records import (
    RUN_MODES,
    RUNNING,
    RiskEventRecord,
    RunRecord,
    SignalRecord,
    SystemEventRecord,
)
from tradeloop.persistence.tables import (
    account_snapshots,
    positions,
    risk_events,
    runs,
    signals,
    system_events,
)

logger = logging.getLogger(__name__)

_LEVELS = frozenset({"debug", "info", "warning", "error", "critical"})


class AuditStore(OrderJournal):
    """Records runs, orders, order events, fills, positions, account snapshots, risk and
    system events and inbound signals.

    It is the node's :class:`~tradeloop.execution.ports.IntentJournal` (see
    :class:`~tradeloop.persistence.order_journal.OrderJournal` for the order methods).

    Parameters
    ----------
    database : Database
        From :func:`~tradeloop.persistence.db.open_database`.
    clock : Clock, optional
        Time of records that carry none, and of ``recorded_ns``; a live clock by default.
    venue_of : callable, optional
        Maps a symbol to its venue, so fills are unique per venue and trade id.

    Examples
    --------
    >>> store = AuditStore(open_database(None, home))          # doctest: +SKIP
    >>> run_id = store.start_run("paper", strategy_ids=["sma"])  # doctest: +SKIP
    >>> store.record_intent(order)                               # doctest: +SKIP
    """

    # -- runs -----------------------------------------------------------------------------------

    def start_run(
        self,
        mode: str,
        *,
        config: Mapping[str, Any] | None = None,
        strategy_ids: Iterable[str] = (),
        code_version: str = "",
        artefacts: Mapping[str, str] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record the start of a run; rows recorded afterwards belong to it.

        Parameters
        ----------
        mode : {"backtest", "paper", "live"}
        config : mapping, optional
            The run's settings, without secrets.
        strategy_ids : iterable of str
        code_version : str
            The tradeloop version or commit that ran.
        artefacts : mapping of str to str, optional
            Files the run writes, by name.
        run_id : str, optional
            By default the start time and a random suffix (``20240102T140000Z-1a2b3c4d``).

        Returns
        -------
        str
            The run id.

        Raises
        ------
        ConfigError
            When ``mode`` is not one of the three modes.
        """
        if mode not in RUN_MODES:
            raise ConfigError(f"run mode {mode!r}: expected one of {', '.join(RUN_MODES)}")
        started_ns = self._clock.now_ns()
        if run_id is None:
            stamp = ns_to_dt(started_ns).strftime("%Y%m%dT%H%M%SZ")
            run_id = f"{stamp}-{uuid.uuid4().hex[:8]}"
        with self._db.write_transaction() as connection:
            insert_row(connection, runs, {
                "id": run_id, "mode": mode, "status": RUNNING, "config": _document(config or {}),
                "strategy_ids": list(strategy_ids), "started_ns": started_ns, "ended_ns": None,
                "code_version": code_version, "artefacts": dict(artefacts or {}),
                "metrics": None,
            })
        self.run_id = run_id
        logger.info("run started", extra={"fields": {"run_id": run_id, "mode": mode}})
        return run_id

    def end_run(
        self,
        run_id: str,
        status: str,
        metrics: Mapping[str, Any] | None = None,
        *,
        artefacts: Mapping[str, str] | None = None,
    ) -> None:
        """Record the end of a run: its final status (``completed``, ``failed``, ``stopped``...)
        and summary metrics; ``artefacts`` are added to those given at the start.

        Raises
        ------
        DataError
            When no run has this id.
        """
        with self._db.write_transaction() as connection:
            stored = connection.execute(
                sa.select(runs.c.artefacts).where(runs.c.id == run_id).with_for_update()
            ).first()
            if stored is None:
                raise DataError(f"cannot end run {run_id!r}: no such run")
            connection.execute(runs.update().where(runs.c.id == run_id).values(
                status=status, ended_ns=self._clock.now_ns(),
                metrics=_document(metrics) if metrics is not None else None,
                artefacts={**stored.artefacts, **(artefacts or {})},
            ))
        if self.run_id == run_id:
            self.run_id = None
        logger.info("run ended", extra={"fields": {"run_id": run_id, "status": status}})

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Recorded runs, newest first (at most ``limit``)."""
        query = sa.select(runs).order_by(runs.c.started_ns.desc(), runs.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
        return [_run_record(row) for row in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        with self._db.read_transaction() as connection:
            row = connection.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        return None if row is None else _run_record(row)

    # -- positions and accounts -----------------------------------------------------------------

    def record_position(self, event: ev.PositionEvent) -> None:
        """Record a position change (opened, changed, closed) as a snapshot row."""
        values = codec.position_values(event)
        values["run_id"] = self.run_id
        with self._db.write_transaction(durable=False) as connection:
            insert_row(connection, positions, values)

    def latest_positions(
        self, run_id: str | None = None, include_flat: bool = False
    ) -> list[ev.PositionEvent]:
        """The last recorded state of each position, by symbol then strategy.

        Parameters
        ----------
        run_id : str, optional
            Only positions changed during this run.
        include_flat : bool
            Also return positions whose last state is flat (closed).
        """
        latest = sa.select(sa.func.max(positions.c.id)).group_by(positions.c.position_id)
        if run_id is not None:
            latest = latest.where(positions.c.run_id == run_id)
        query = (
            sa.select(positions).where(positions.c.id.in_(latest.scalar_subquery()))
            .order_by(positions.c.symbol, positions.c.strategy_id, positions.c.position_id)
        )
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
        found = [codec.position_from_row(row) for row in rows]
        return found if include_flat else [p for p in found if p.quantity != 0]

    def record_snapshot(self, state: ev.AccountState | AccountReport) -> None:
        """Record an account's balance, equity and margin (an event or a venue's report)."""
        extra = dict(state.extra) if isinstance(state, ev.AccountState) else {}
        with self._db.write_transaction() as connection:
            insert_row(connection, account_snapshots, {
                "account_id": state.account_id, "ts": state.ts or self._clock.now_ns(),
                "currency": state.currency, "balance": state.balance, "equity": state.equity,
                "margin_used": state.margin_used, "extra": extra, "run_id": self.run_id,
            })

    def account_snapshots(
        self, run_id: str | None = None, since_ts: int | None = None
    ) -> list[ev.AccountState]:
        """Recorded account snapshots, oldest first."""
        query = sa.select(account_snapshots).order_by(
            account_snapshots.c.ts, account_snapshots.c.id
        )
        if run_id is not None:
            query = query.where(account_snapshots.c.run_id == run_id)
        if since_ts is not None:
            query = query.where(account_snapshots.c.ts >= since_ts)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            ev.AccountState(
                ts=row["ts"], account_id=row["account_id"], currency=row["currency"],
                balance=row["balance"], equity=row["equity"], margin_used=row["margin_used"],
                extra=dict(row["extra"]),
            )
            for row in rows
        ]

    # -- risk and system events -----------------------------------------------------------------

    def record_risk_event(
        self,
        rule: str,
        decision: str,
        reason: str,
        *,
        client_order_id: str = "",
        strategy_id: str = "",
        symbol: str = "",
        ts: int | None = None,
        limit: str | None = None,
        value: str | None = None,
        by: str | None = None,
    ) -> None:
        """Record a risk decision: which ``rule`` decided what (``DENIED``, ``HALTED``...) and
        why, for which order when there is one, with the limit and the value that decided it
        and who acted (``by``) when known."""
        with self._db.write_transaction() as connection:
            insert_row(connection, risk_events, {
                "ts": self._clock.now_ns() if ts is None else ts, "rule": rule,
                "decision": decision, "reason": reason, "client_order_id": client_order_id,
                "strategy_id": strategy_id, "symbol": symbol, "run_id": self.run_id,
                "rule_limit": limit, "rule_value": value, "actor": by,
            })

    def risk_events(
        self, since_ts: int | None = None, run_id: str | None = None
    ) -> list[RiskEventRecord]:
        """Recorded risk decisions, oldest first."""
        query = sa.select(risk_events).order_by(risk_events.c.ts, risk_events.c.id)
        if since_ts is not None:
            query = query.where(risk_events.c.ts >= since_ts)
        if run_id is not None:
            query = query.where(risk_events.c.run_id == run_id)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
        return [_risk_event_record(row) for row in rows]

    def record_system_event(
        self,
        kind: str,
        message: str,
        *,
        level: str = "info",
        details: Mapping[str, Any] | None = None,
        ts: int | None = None,
    ) -> None:
        """Record something the node did or suffered (``started``, ``disconnected``...).

        Raises
        ------
        ConfigError
            When ``level`` is not a logging level name.
        """
        level = level.lower()
        if level not in _LEVELS:
            raise ConfigError(f"system event level {level!r}: expected one of "
                              f"{', '.join(sorted(_LEVELS))}")
        with self._db.write_transaction() as connection:
            insert_row(connection, system_events, {
                "ts": self._clock.now_ns() if ts is None else ts, "level": level, "kind": kind,
                "message": message, "details": _document(details or {}), "run_id": self.run_id,
            })

    def system_events(
        self, since_ts: int | None = None, run_id: str | None = None, kind: str | None = None
    ) -> list[SystemEventRecord]:
        """Recorded system events, oldest first."""
        query = sa.select(system_events).order_by(system_events.c.ts, system_events.c.id)
        if since_ts is not None:
            query = query.where(system_events.c.ts >= since_ts)
        if run_id is not None:
            query = query.where(system_events.c.run_id == run_id)
        if kind is not None:
            query = query.where(system_events.c.kind == kind)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
        return [SystemEventRecord(**_without_id(row)) for row in rows]

    # -- inbound signals ------------------------------------------------------------------------

    def record_signal(
        self,
        source: str,
        payload: Mapping[str, Any],
        dedupe_key: str,
        *,
        status: str = "received",
        received_ns: int | None = None,
    ) -> bool:
        """Record an inbound signal unless one with the same ``dedupe_key`` was recorded.

        Returns
        -------
        bool
            True when recorded; False for a duplicate (a replayed webhook), which the caller
            should then drop.
        """
        with self._db.write_transaction() as connection:
            inserted = insert_ignoring_duplicates(connection, signals, {
                "dedupe_key": dedupe_key, "source": source, "payload": _document(payload),
                "received_ns": self._clock.now_ns() if received_ns is None else received_ns,
                "status": status, "run_id": self.run_id,
            })
        if not inserted:
            logger.info("ignored a duplicate signal", extra={"fields": {
                "source": source, "dedupe_key": dedupe_key}})
        return inserted

    def set_signal_status(self, dedupe_key: str, status: str) -> None:
        """Record what became of a signal (``executed``, ``rejected``...).

        Raises
        ------
        DataError
            When no signal has this key.
        """
        with self._db.write_transaction() as connection:
            result = connection.execute(
                signals.update().where(signals.c.dedupe_key == dedupe_key).values(status=status)
            )
            if result.rowcount == 0:
                raise DataError(f"no signal recorded with dedupe key {dedupe_key!r}")

    def signals(self, limit: int = 100, since_ns: int | None = None) -> list[SignalRecord]:
        """Recorded signals, newest first."""
        query = sa.select(signals).order_by(signals.c.received_ns.desc(), signals.c.id.desc())
        if since_ns is not None:
            query = query.where(signals.c.received_ns >= since_ns)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query.limit(limit)).mappings().all()
        return [SignalRecord(**_without_id(row)) for row in rows]

    def signal(self, dedupe_key: str) -> SignalRecord | None:
        """The signal recorded under ``dedupe_key``, or None."""
        with self._db.read_transaction() as connection:
            row = connection.execute(
                sa.select(signals).where(signals.c.dedupe_key == dedupe_key)
            ).mappings().first()
        return None if row is None else SignalRecord(**_without_id(row))


def _document(value: Mapping[str, Any]) -> dict[str, Any]:
    converted = msgspec.to_builtins(value, enc_hook=_builtin, str_keys=True)
    if not isinstance(converted, dict):
        raise DataError(f"expected a mapping, got {type(value).__name__}")
    return converted


def _builtin(value: Any) -> Any:
    as_list = getattr(value, "tolist", None)  # numpy scalars and arrays
    return as_list() if callable(as_list) else str(value)


def _without_id(row: sa.RowMapping) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "id"}


def _risk_event_record(row: sa.RowMapping) -> RiskEventRecord:
    return RiskEventRecord(
        ts=row["ts"], rule=row["rule"], decision=row["decision"], reason=row["reason"],
        client_order_id=row["client_order_id"], strategy_id=row["strategy_id"],
        symbol=row["symbol"], run_id=row["run_id"], limit=row["rule_limit"],
        value=row["rule_value"], by=row["actor"],
    )


def _run_record(row: sa.RowMapping) -> RunRecord:
    return RunRecord(
        run_id=row["id"], mode=row["mode"], status=row["status"], config=dict(row["config"]),
        strategy_ids=tuple(row["strategy_ids"]), started_ns=row["started_ns"],
        ended_ns=row["ended_ns"], code_version=row["code_version"],
        artefacts=dict(row["artefacts"]), metrics=row["metrics"],
    )
