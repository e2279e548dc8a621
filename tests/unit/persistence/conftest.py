"""Fixtures of the audit database tests.

Every test that touches a database takes ``database_url`` and runs twice: on a SQLite file in
its tmp_path, and on PostgreSQL in a database created for that test alone and dropped after.
PostgreSQL runs when ``TRADELOOP_TEST_PG_URL`` names a server (a role that may create
databases); without it those tests skip, unless ``TRADELOOP_REQUIRE_PG`` is set (as in CI),
in which case they fail, so CI never skips them silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from audit_helpers import START_NS, pg_base_url

from tradeloop.core.clock import TestClock
from tradeloop.persistence import AuditStore, Database, open_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each kind, isolated to this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    base = pg_base_url()
    name = f"tl_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """An open, migrated database."""
    db = open_database(database_url, tmp_path)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def clock() -> TestClock:
    """The store's clock."""
    return TestClock(START_NS)


@pytest.fixture
def store(database: Database, clock: TestClock) -> AuditStore:
    """An audit store on ``database``; every symbol trades on venue ``SIM``."""
    return AuditStore(database, clock=clock, venue_of=lambda _symbol: "SIM")
