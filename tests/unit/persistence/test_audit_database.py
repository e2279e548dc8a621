"""Opening the audit database: migrations, SQLite settings, URLs, redaction, failures."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from audit_helpers import make_order, pg_base_url

from tradeloop.core.errors import ConfigError, UserError
from tradeloop.persistence import AuditStore, PersistenceError, open_database, redact_url
from tradeloop.persistence.db import DEFAULT_FILE_NAME, VERSION_TABLE, head_revision
from tradeloop.persistence.tables import metadata

TABLES = {
    "runs", "signals", "orders", "order_events", "fills", "positions", "account_snapshots",
    "risk_events", "system_events", "api_tokens",
}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_fresh_database_is_migrated_to_head(database_url: str, tmp_path: Path) -> None:
    assert _tables(database_url) == set()
    with open_database(database_url, tmp_path) as db:
        assert db.schema_revision() == head_revision()
    assert _tables(database_url) == TABLES | {VERSION_TABLE}


def test_reopening_is_idempotent_and_keeps_the_data(database_url: str, tmp_path: Path) -> None:
    with open_database(database_url, tmp_path) as db:
        AuditStore(db).record_intent(make_order("O-1"))
    for _ in range(2):
        with open_database(database_url, tmp_path) as db:
            assert db.schema_revision() == head_revision()
            order = AuditStore(db).order("O-1")
            assert order is not None and order.quantity == make_order("O-1").quantity


def test_the_migrated_schema_matches_the_tables(database_url: str, tmp_path: Path) -> None:
    with open_database(database_url, tmp_path) as db, db.read_transaction() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        differences = [
            diff for diff in compare_metadata(context, metadata)
            if not (diff[0] == "remove_table" and diff[1].name == VERSION_TABLE)
        ]
    assert differences == []


def test_a_schema_newer_than_the_code_is_refused(database_url: str, tmp_path: Path) -> None:
    with open_database(database_url, tmp_path) as db, db.write_transaction() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(ConfigError, match=r"revision '9999'.*newer tradeloop"):
        open_database(database_url, tmp_path)


def test_the_default_is_a_sqlite_file_in_the_home_directory(tmp_path: Path) -> None:
    home = tmp_path / "home" / "not-yet-created"
    with open_database(None, home) as db:
        assert db.dialect == "sqlite"
        assert db.url.endswith(DEFAULT_FILE_NAME)
    assert (home / DEFAULT_FILE_NAME).is_file()


def test_sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    with (
        open_database(None, tmp_path, busy_timeout_ms=1234) as db,
        db.read_transaction() as connection,
    ):
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1,
                      "busy_timeout": 1234}
    # WAL mode is a property of the file: a plain connection sees it too
    with sqlite3.connect(tmp_path / DEFAULT_FILE_NAME) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_foreign_keys_are_enforced(database_url: str, tmp_path: Path) -> None:
    with open_database(database_url, tmp_path) as db:
        with (
            pytest.raises(PersistenceError, match=r"(?i)foreign key"),
            db.write_transaction() as c,
        ):
            c.execute(sa.text(
                "INSERT INTO order_events (client_order_id, kind, ts, payload, event_key, "
                "applied, recorded_ns) VALUES ('nobody', 'OrderSubmitted', 1, '{}', 'k', true, 1)"
            ))
        with db.read_transaction() as c:
            assert c.execute(sa.text("SELECT count(*) FROM order_events")).scalar_one() == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://bob:s3cret@db:5432/audit",
         "postgresql+psycopg://bob:***@db:5432/audit"),
        ("postgres://bob:s3cret@db/audit", "postgres://bob:***@db/audit"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
        ("not a url bob:s3cret@db", "not a url bob:***@db"),
    ],
)
def test_redact_url_hides_the_password(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://bob:s3cret@db/audit", "'mysql' is not supported"),
        ("postgresql+psycopg2://bob:s3cret@db/audit", "use postgresql+psycopg://"),
        ("definitely:s3cret@nothing", "is not a database URL"),
    ],
)
def test_unsupported_urls_are_one_line_config_errors(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        open_database(url, Path("."))
    message = str(raised.value)
    assert fragment in message
    assert "s3cret" not in message and "\n" not in message


def test_an_unreachable_server_is_a_config_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # port 1 on localhost: nothing listens there, the connection is refused at once
    url = "postgresql://bob:s3cret-pw@127.0.0.1:1/audit"
    with pytest.raises(ConfigError) as raised:
        open_database(url, Path("."), connect_timeout_s=2)
    assert isinstance(raised.value, UserError)
    message = str(raised.value)
    assert message.startswith("cannot open the audit database postgresql+psycopg://bob:***@")
    assert "s3cret-pw" not in message and "\n" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "s3cret-pw" not in caplog.text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_server_error_is_a_config_error_without_the_password(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = sa.make_url(database_url)
    missing = url.set(database=f"{url.database}_missing", password="s3cret-pw-42")
    with pytest.raises(ConfigError) as raised:
        open_database(missing.render_as_string(hide_password=False), tmp_path)
    message = str(raised.value)
    assert message.startswith("cannot open the audit database")
    assert "s3cret-pw-42" not in message and "***" in message and "\n" not in message
    assert "s3cret-pw-42" not in caplog.text


def test_the_log_line_of_an_open_database_hides_the_password(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with open_database(database_url, tmp_path):
        pass
    [opened] = [r for r in caplog.records if r.getMessage() == "audit database open"]
    logged_url = opened.fields["url"]  # type: ignore[attr-defined]
    password = sa.make_url(database_url).password
    if password:
        assert ":***@" in logged_url
        assert f":{password}@" not in caplog.text


def test_a_missing_sqlite_directory_is_a_config_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'audit.db'}"
    with pytest.raises(ConfigError, match="cannot open the audit database"):
        open_database(url, tmp_path)


def test_pg_base_url_is_required_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELOOP_TEST_PG_URL", raising=False)
    monkeypatch.setenv("TRADELOOP_REQUIRE_PG", "1")
    with pytest.raises(pytest.fail.Exception, match="TRADELOOP_REQUIRE_PG is set"):
        pg_base_url()
    monkeypatch.delenv("TRADELOOP_REQUIRE_PG")
    with pytest.raises(pytest.skip.Exception, match="TRADELOOP_TEST_PG_URL"):
        pg_base_url()


def test_amounts_are_numeric_on_postgresql_and_text_on_sqlite(
    database_url: str, tmp_path: Path
) -> None:
    with open_database(database_url, tmp_path) as db, db.read_transaction() as connection:
        columns = {c["name"]: c["type"] for c in sa.inspect(connection).get_columns("fills")}
        expected = sa.Numeric if db.dialect == "postgresql" else sa.Text
        for name in ("quantity", "price", "commission"):
            assert isinstance(columns[name], expected), (name, columns[name])
            if db.dialect == "postgresql":  # unconstrained: no precision or scale to round to
                assert (columns[name].precision, columns[name].scale) == (None, None)
