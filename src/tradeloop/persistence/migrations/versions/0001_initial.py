"""The initial audit schema: runs, signals, orders and their events, fills, positions, account
snapshots, risk and system events.

Revision ID: 0001
Revises:
Create Date: 2024-06-01

The column types come from :mod:`tradeloop.persistence.types` (exact decimals, JSON documents,
64-bit row ids); the table layout is written out here so later changes to ``tables.py`` never
rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tradeloop.persistence.types import ExactDecimal, json_document, row_id_type

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHORT = 32
NAME = 128


def _row_id() -> sa.Column[int]:
    return sa.Column("id", row_id_type(), primary_key=True, autoincrement=True)


def _run_id(table: str) -> sa.Column[str]:
    return sa.Column(
        "run_id", sa.String(64), sa.ForeignKey("runs.id", name=f"fk_{table}_run_id_runs"),
        nullable=True,
    )


def _order_id(table: str) -> sa.Column[str]:
    return sa.Column(
        "client_order_id", sa.String(NAME),
        sa.ForeignKey("orders.client_order_id", name=f"fk_{table}_client_order_id_orders"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(SHORT), nullable=False),
        sa.Column("status", sa.String(SHORT), nullable=False),
        sa.Column("config", json_document(), nullable=False),
        sa.Column("strategy_ids", json_document(), nullable=False),
        sa.Column("started_ns", sa.BigInteger(), nullable=False),
        sa.Column("ended_ns", sa.BigInteger(), nullable=True),
        sa.Column("code_version", sa.String(NAME), nullable=False),
        sa.Column("artefacts", json_document(), nullable=False),
        sa.Column("metrics", json_document(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_ns", "runs", ["started_ns"])

    op.create_table(
        "signals",
        _row_id(),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("source", sa.String(NAME), nullable=False),
        sa.Column("payload", json_document(), nullable=False),
        sa.Column("received_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(SHORT), nullable=False),
        _run_id("signals"),
        sa.PrimaryKeyConstraint("id", name="pk_signals"),
        sa.UniqueConstraint("dedupe_key", name="uq_signals_dedupe_key"),
    )
    op.create_index("ix_signals_received_ns", "signals", ["received_ns"])

    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(NAME), nullable=False),
        _run_id("orders"),
        sa.Column("strategy_id", sa.String(NAME), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("venue", sa.String(NAME), nullable=False),
        sa.Column("side", sa.String(SHORT), nullable=False),
        sa.Column("order_type", sa.String(SHORT), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=True),
        sa.Column("trigger_price", ExactDecimal(), nullable=True),
        sa.Column("trailing_offset", ExactDecimal(), nullable=True),
        sa.Column("trailing_offset_type", sa.String(SHORT), nullable=False),
        sa.Column("time_in_force", sa.String(SHORT), nullable=False),
        sa.Column("expire_ns", sa.BigInteger(), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("contingency", sa.String(SHORT), nullable=False),
        sa.Column("linked_ids", json_document(), nullable=False),
        sa.Column("parent_id", sa.String(NAME), nullable=True),
        sa.Column("position_id", sa.String(NAME), nullable=True),
        sa.Column("tags", json_document(), nullable=False),
        sa.Column("status", sa.String(SHORT), nullable=False),
        sa.Column("status_before_pending", sa.String(SHORT), nullable=True),
        sa.Column("venue_order_id", sa.String(NAME), nullable=True),
        sa.Column("filled_qty", ExactDecimal(), nullable=False),
        sa.Column("avg_px", ExactDecimal(), nullable=True),
        sa.Column("commission", ExactDecimal(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.Column("recorded_ns", sa.BigInteger(), nullable=False),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("client_order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_run_id", "orders", ["run_id"])
    op.create_index("ix_orders_venue_order_id", "orders", ["venue_order_id"])

    op.create_table(
        "order_events",
        _row_id(),
        _order_id("order_events"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("payload", json_document(), nullable=False),
        sa.Column("event_key", sa.String(64), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("recorded_ns", sa.BigInteger(), nullable=False),
        _run_id("order_events"),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
        sa.UniqueConstraint("event_key", name="uq_order_events_event_key"),
    )
    op.create_index(
        "ix_order_events_client_order_id_id", "order_events", ["client_order_id", "id"]
    )

    op.create_table(
        "fills",
        _row_id(),
        sa.Column("venue", sa.String(NAME), nullable=False),
        sa.Column("trade_id", sa.String(NAME), nullable=False),
        _order_id("fills"),
        sa.Column("venue_order_id", sa.String(NAME), nullable=False),
        sa.Column("strategy_id", sa.String(NAME), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("side", sa.String(SHORT), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("commission", ExactDecimal(), nullable=False),
        sa.Column("commission_currency", sa.String(SHORT), nullable=False),
        sa.Column("liquidity", sa.String(SHORT), nullable=False),
        sa.Column("position_id", sa.String(NAME), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        _run_id("fills"),
        sa.PrimaryKeyConstraint("id", name="pk_fills"),
        sa.UniqueConstraint("venue", "trade_id", name="uq_fills_venue_trade_id"),
    )
    op.create_index("ix_fills_ts", "fills", ["ts"])
    op.create_index("ix_fills_run_id_ts", "fills", ["run_id", "ts"])
    op.create_index("ix_fills_client_order_id", "fills", ["client_order_id"])

    op.create_table(
        "positions",
        _row_id(),
        sa.Column("position_id", sa.String(NAME), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        sa.Column("strategy_id", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("avg_px", ExactDecimal(), nullable=False),
        sa.Column("realized_pnl", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(SHORT), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        _run_id("positions"),
        sa.PrimaryKeyConstraint("id", name="pk_positions"),
    )
    op.create_index("ix_positions_position_id_id", "positions", ["position_id", "id"])
    op.create_index("ix_positions_run_id_position_id", "positions", ["run_id", "position_id"])

    op.create_table(
        "account_snapshots",
        _row_id(),
        sa.Column("account_id", sa.String(NAME), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(SHORT), nullable=False),
        sa.Column("balance", ExactDecimal(), nullable=False),
        sa.Column("equity", ExactDecimal(), nullable=False),
        sa.Column("margin_used", ExactDecimal(), nullable=False),
        sa.Column("extra", json_document(), nullable=False),
        _run_id("account_snapshots"),
        sa.PrimaryKeyConstraint("id", name="pk_account_snapshots"),
    )
    op.create_index("ix_account_snapshots_run_id_ts", "account_snapshots", ["run_id", "ts"])
    op.create_index("ix_account_snapshots_ts", "account_snapshots", ["ts"])

    op.create_table(
        "risk_events",
        _row_id(),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(NAME), nullable=False),
        sa.Column("decision", sa.String(SHORT), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("client_order_id", sa.String(NAME), nullable=False),
        sa.Column("strategy_id", sa.String(NAME), nullable=False),
        sa.Column("symbol", sa.String(NAME), nullable=False),
        _run_id("risk_events"),
        sa.PrimaryKeyConstraint("id", name="pk_risk_events"),
    )
    op.create_index("ix_risk_events_ts", "risk_events", ["ts"])
    op.create_index("ix_risk_events_client_order_id", "risk_events", ["client_order_id"])

    op.create_table(
        "system_events",
        _row_id(),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(SHORT), nullable=False),
        sa.Column("kind", sa.String(NAME), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", json_document(), nullable=False),
        _run_id("system_events"),
        sa.PrimaryKeyConstraint("id", name="pk_system_events"),
    )
    op.create_index("ix_system_events_ts", "system_events", ["ts"])
    op.create_index("ix_system_events_kind_ts", "system_events", ["kind", "ts"])


def downgrade() -> None:
    for table in (
        "system_events", "risk_events", "account_snapshots", "positions", "fills",
        "order_events", "orders", "signals", "runs",
    ):
        op.drop_table(table)
