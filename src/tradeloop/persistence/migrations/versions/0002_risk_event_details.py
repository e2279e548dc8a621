"""Risk events keep the limit and the value behind a denial, and who acted (kill switch,
resume).

Revision ID: 0002
Revises: 0001
Create Date: 2024-07-01

Three nullable text columns on ``risk_events``: rows recorded before this revision keep NULL.
``batch_alter_table`` lets SQLite, which cannot drop columns in place on older versions,
downgrade too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128
_COLUMNS = ("rule_limit", "rule_value", "actor")


def upgrade() -> None:
    with op.batch_alter_table("risk_events") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.String(NAME), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_events") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
