"""The audit database schema as SQLAlchemy Core tables.

These tables are the storage layout only; the rest of tradeloop never sees them. The
repositories in :mod:`tradeloop.persistence.repositories` translate rows to and from domain
types. Timestamps are UTC nanoseconds in ``BIGINT`` columns named ``*_ns`` or ``ts``; money,
prices and quantities are :class:`~tradeloop.persistence.types.ExactDecimal`. API tokens are
stored as the sha256 of the token only (see :mod:`tradeloop.persistence.tokens`).

A change here needs a new migration in ``persistence/migrations/versions``; a test checks that
the migrated schema and these tables agree.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tradeloop.persistence.types import ExactDecimal, json_document, row_id_type

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SHORT = 32
NAME = 128


def _row_id() -> sa.Column[Any]:
    return sa.Column("id", row_id_type(), primary_key=True, autoincrement=True)


def _run_id() -> sa.Column[Any]:
    return sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=True)


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("mode", sa.String(SHORT), nullable=False),
    sa.Column("status", sa.String(SHORT), nullable=False),
    sa.Column("config", json_document(), nullable=False),
    sa.Column("strategy_ids", json_document(), nullable=False),
    sa.Column("started_ns", sa.BigInteger(), nullable=False),
    sa.Column("ended_ns", sa.BigInteger(), nullable=True),
    sa.Column("code_version", sa.String(NAME), nullable=False),
    sa.Column("artefacts", json_document(), nullable=False),
    sa.Column("metrics", json_document(), nullable=True),
    sa.Index(None, "started_ns"),
)

signals = sa.Table(
    "signals",
    metadata,
    _row_id(),
    sa.Column("dedupe_key", sa.String(255), nullable=False, unique=True),
    sa.Column("source", sa.String(NAME), nullable=False),
    sa.Column("payload", json_document(), nullable=False),
    sa.Column("received_ns", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(SHORT), nullable=False),
    _run_id(),
    sa.Index(None, "received_ns"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("client_order_id", sa.String(NAME), primary_key=True),
    _run_id(),
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
    sa.Index(None, "status"),
    sa.Index(None, "run_id"),
    sa.Index(None, "venue_order_id"),
)

order_events = sa.Table(
    "order_events",
    metadata,
    _row_id(),
    sa.Column(
        "client_order_id", sa.String(NAME), sa.ForeignKey("orders.client_order_id"),
        nullable=False,
    ),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("payload", json_document(), nullable=False),
    sa.Column("event_key", sa.String(64), nullable=False, unique=True),
    sa.Column("applied", sa.Boolean(), nullable=False),
    sa.Column("recorded_ns", sa.BigInteger(), nullable=False),
    _run_id(),
    sa.Index(None, "client_order_id", "id"),
)

fills = sa.Table(
    "fills",
    metadata,
    _row_id(),
    sa.Column("venue", sa.String(NAME), nullable=False),
    sa.Column("trade_id", sa.String(NAME), nullable=False),
    sa.Column(
        "client_order_id", sa.String(NAME), sa.ForeignKey("orders.client_order_id"),
        nullable=False,
    ),
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
    _run_id(),
    sa.UniqueConstraint("venue", "trade_id"),
    sa.Index(None, "ts"),
    sa.Index(None, "run_id", "ts"),
    sa.Index(None, "client_order_id"),
)

positions = sa.Table(
    "positions",
    metadata,
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
    _run_id(),
    sa.Index(None, "position_id", "id"),
    sa.Index(None, "run_id", "position_id"),
)

account_snapshots = sa.Table(
    "account_snapshots",
    metadata,
    _row_id(),
    sa.Column("account_id", sa.String(NAME), nullable=False),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(SHORT), nullable=False),
    sa.Column("balance", ExactDecimal(), nullable=False),
    sa.Column("equity", ExactDecimal(), nullable=False),
    sa.Column("margin_used", ExactDecimal(), nullable=False),
    sa.Column("extra", json_document(), nullable=False),
    _run_id(),
    sa.Index(None, "run_id", "ts"),
    sa.Index(None, "ts"),
)

risk_events = sa.Table(
    "risk_events",
    metadata,
    _row_id(),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("rule", sa.String(NAME), nullable=False),
    sa.Column("decision", sa.String(SHORT), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("client_order_id", sa.String(NAME), nullable=False),
    sa.Column("strategy_id", sa.String(NAME), nullable=False),
    sa.Column("symbol", sa.String(NAME), nullable=False),
    _run_id(),
    sa.Column("rule_limit", sa.String(NAME), nullable=True),
    sa.Column("rule_value", sa.String(NAME), nullable=True),
    sa.Column("actor", sa.String(NAME), nullable=True),
    sa.Index(None, "ts"),
    sa.Index(None, "client_order_id"),
)

system_events = sa.Table(
    "system_events",
    metadata,
    _row_id(),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("level", sa.String(SHORT), nullable=False),
    sa.Column("kind", sa.String(NAME), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("details", json_document(), nullable=False),
    _run_id(),
    sa.Index(None, "ts"),
    sa.Index(None, "kind", "ts"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    _row_id(),
    sa.Column("name", sa.String(NAME), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", json_document(), nullable=False),
    sa.Column("created_ns", sa.BigInteger(), nullable=False),
    sa.Column("expires_ns", sa.BigInteger(), nullable=True),
    sa.Column("revoked_ns", sa.BigInteger(), nullable=True),
    sa.Column("last_used_ns", sa.BigInteger(), nullable=True),
    sa.Column("created_by", sa.String(NAME), nullable=False),
)
