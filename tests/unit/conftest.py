"""Fixtures of the unit tests: the audit database (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_URL_VARIABLE = "TRADELOOP_TEST_PG_URL"
REQUIRE_PG_VARIABLE = "TRADELOOP_REQUIRE_PG"
DATABASE_URL_VARIABLE = "TRADELOOP_DATABASE_URL"


def _pg_base_url() -> sa.URL:
    raw = os.environ.get(PG_URL_VARIABLE, "").strip()
    if not raw:
        if os.environ.get(REQUIRE_PG_VARIABLE):
            pytest.fail(f"{REQUIRE_PG_VARIABLE} is set but {PG_URL_VARIABLE} is not")
        pytest.skip(f"PostgreSQL tests need {PG_URL_VARIABLE}")
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
             tradeloop_home: Path) -> Iterator[str]:
    """The database runs go to: the home's SQLite file, or a fresh PostgreSQL database named
    by TRADELOOP_DATABASE_URL. Yields its URL."""
    monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
    if request.param == "sqlite":
        yield f"sqlite:///{tradeloop_home / 'tradeloop.db'}"
        return
    base = _pg_base_url()
    name = f"tl_runs_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv(DATABASE_URL_VARIABLE, url)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
