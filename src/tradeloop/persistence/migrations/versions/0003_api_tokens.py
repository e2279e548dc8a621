"""API tokens: who may call the HTTP API, with which scopes, until when.

Revision ID: 0003
Revises: 0002
Create Date: 2024-08-01

A new table, so a database at 0002 upgrades without touching its rows. Only the sha256 of a
token is stored (``token_hash``, 64 hex digits); the token itself is shown once when it is
created and kept nowhere. Names and hashes are unique; ``scopes`` is a JSON list.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tradeloop.persistence.types import json_document, row_id_type

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", row_id_type(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", json_document(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_ns", sa.BigInteger(), nullable=True),
        sa.Column("revoked_ns", sa.BigInteger(), nullable=True),
        sa.Column("last_used_ns", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(NAME), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
