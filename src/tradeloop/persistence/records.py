"""What the audit store returns besides domain events and orders: runs, signals, risk and
system events. Frozen values, detached from the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from tradeloop.core.time import ns_to_dt

RunMode = Literal["backtest", "paper", "live"]
RUN_MODES: tuple[RunMode, ...] = ("backtest", "paper", "live")

#: Status of a run while it is going on.
RUNNING = "running"


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One backtest, paper or live session.

    Attributes
    ----------
    run_id : str
    mode : {"backtest", "paper", "live"}
    status : str
        ``running`` until :meth:`AuditStore.end_run` sets the final status.
    config : dict
        The settings the run started with (no secrets).
    strategy_ids : tuple of str
    started_ns, ended_ns : int, int or None
        UTC nanoseconds.
    code_version : str
    artefacts : dict of str to str
        Name to path of files the run wrote (report, trades, equity curve...).
    metrics : dict or None
        Summary figures recorded when the run ended.
    """

    run_id: str
    mode: str
    status: str
    config: dict[str, Any]
    strategy_ids: tuple[str, ...]
    started_ns: int
    ended_ns: int | None
    code_version: str
    artefacts: dict[str, str]
    metrics: dict[str, Any] | None

    @property
    def started(self) -> datetime:
        """Start time, timezone-aware UTC."""
        return ns_to_dt(self.started_ns)

    @property
    def ended(self) -> datetime | None:
        """End time, timezone-aware UTC, or None while running."""
        return None if self.ended_ns is None else ns_to_dt(self.ended_ns)


class SignalRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An inbound signal (a TradingView alert, a webhook call) as received."""

    dedupe_key: str
    source: str
    payload: dict[str, Any]
    received_ns: int
    status: str
    run_id: str | None


class RiskEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A decision of the risk layer: a denial, a halt, a kill switch change.

    Attributes
    ----------
    rule : str
        What decided: a denial's code (``DAILY_LOSS``...), a state change's cause
        (``KILL_SWITCH``, ``RESUMED``...).
    decision : str
        ``DENIED`` for an order; the new trading state (``HALTED``, ``ACTIVE``...) or the
        kill switch action (``ENGAGED``, ``RESUMED``) otherwise.
    limit, value : str or None
        The configured limit and the figure that broke it, for denials that have them.
    by : str or None
        Who, when a person acted (``tradeloop kill --by``).
    """

    ts: int
    rule: str
    decision: str
    reason: str
    client_order_id: str
    strategy_id: str
    symbol: str
    run_id: str | None
    limit: str | None = None
    value: str | None = None
    by: str | None = None


class SystemEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Something the node itself did or suffered: start, stop, disconnect, reconciliation."""

    ts: int
    level: str
    kind: str
    message: str
    details: dict[str, Any]
    run_id: str | None
