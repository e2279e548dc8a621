"""The API token store: hashes in, values without hashes out, names unique, revocation kept,
``last_used`` written at most once per interval; and the migration that adds the table to a
database already in use. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from audit_helpers import START_NS, make_order

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.persistence import (
    ApiToken,
    AuditStore,
    Database,
    PersistenceError,
    TokenStore,
    open_database,
)
from tradeloop.persistence.db import _alembic_config, head_revision

MINUTE = 60 * 10**9


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def tokens(database: Database) -> TokenStore:
    return TokenStore(database)


def _add(tokens: TokenStore, name: str = "ci", secret: str = "s1", **kwargs: object) -> ApiToken:
    values: dict[str, object] = {"created_ns": START_NS, "created_by": "alice"}
    values.update(kwargs)
    return tokens.add(name, _hash(secret), ["read", "trade"], **values)  # type: ignore[arg-type]


def test_an_added_token_is_found_by_hash_name_and_id(tokens: TokenStore) -> None:
    added = _add(tokens, expires_ns=START_NS + MINUTE)
    assert added == ApiToken(
        id=added.id, name="ci", scopes=("read", "trade"), created_ns=START_NS,
        expires_ns=START_NS + MINUTE, revoked_ns=None, last_used_ns=None, created_by="alice")
    assert tokens.by_hash(_hash("s1")) == added
    assert tokens.by_name("ci") == added
    assert tokens.by_id(added.id) == added
    assert tokens.by_hash(_hash("other")) is None
    assert tokens.by_name("other") is None
    assert tokens.by_id(added.id + 1) is None


def test_values_carry_no_hash(tokens: TokenStore) -> None:
    added = _add(tokens)
    assert "token_hash" not in {f.name for f in dataclasses.fields(added)}
    assert _hash("s1") not in repr(added)


def test_names_are_unique_and_nothing_is_half_written(tokens: TokenStore) -> None:
    _add(tokens)
    with pytest.raises(ConfigError, match="a token named 'ci' already exists"):
        _add(tokens, secret="s2")
    assert [t.name for t in tokens.tokens()] == ["ci"]
    assert tokens.by_hash(_hash("s2")) is None


def test_hashes_are_unique_in_the_schema(tokens: TokenStore) -> None:
    _add(tokens)
    with pytest.raises(PersistenceError):
        _add(tokens, name="other")
    assert tokens.by_name("other") is None


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "0" * 63])
def test_only_sha256_hex_digests_are_stored(tokens: TokenStore, bad: str) -> None:
    with pytest.raises(DataError, match="sha256"):
        tokens.add("ci", bad, ["read"], created_ns=START_NS, created_by="alice")


@pytest.mark.parametrize("name", ["", "n" * 129])
def test_empty_or_overlong_names_are_refused(tokens: TokenStore, name: str) -> None:
    with pytest.raises(ConfigError, match="token name"):
        tokens.add(name, _hash("x"), ["read"], created_ns=START_NS, created_by="alice")


def test_tokens_are_listed_oldest_first_revoked_ones_too(tokens: TokenStore) -> None:
    late = _add(tokens, "late", "s1", created_ns=START_NS + 2)
    early = _add(tokens, "early", "s2", created_ns=START_NS + 1)
    tokens.revoke(early.id, START_NS + 3)
    assert [t.name for t in tokens.tokens()] == ["early", "late"]
    assert [t.revoked_ns for t in tokens.tokens()] == [START_NS + 3, None]
    assert late.revoked_ns is None


def test_revoking_keeps_the_first_time(tokens: TokenStore) -> None:
    token = _add(tokens)
    first = tokens.revoke(token.id, START_NS + 5)
    again = tokens.revoke(token.id, START_NS + 9)
    assert first is not None and first.revoked_ns == START_NS + 5
    assert again == first
    assert tokens.by_hash(_hash("s1")) == first
    assert tokens.revoke(token.id + 100, START_NS) is None


def test_last_used_is_written_at_most_once_per_interval(tokens: TokenStore) -> None:
    token = _add(tokens)
    assert tokens.touch(token.id, START_NS, min_interval_ns=MINUTE)
    assert not tokens.touch(token.id, START_NS + MINUTE - 1, min_interval_ns=MINUTE)
    assert tokens.by_id(token.id).last_used_ns == START_NS  # type: ignore[union-attr]
    assert tokens.touch(token.id, START_NS + MINUTE, min_interval_ns=MINUTE)
    assert not tokens.touch(token.id, START_NS, min_interval_ns=0)  # never moves back
    assert tokens.by_id(token.id).last_used_ns == START_NS + MINUTE  # type: ignore[union-attr]
    assert not tokens.touch(token.id + 100, START_NS + 2 * MINUTE)


def _migrate(url: str, revision: str, *, down: bool = False, sql: str = "") -> set[str]:
    """Move the schema to ``revision`` with Alembic, run ``sql``, return the table names."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
            if sql:
                connection.execute(sa.text(sql))
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_migration_upgrades_a_database_in_use(database_url: str, tmp_path: Path) -> None:
    tables = _migrate(database_url, "0002", sql=(
        "INSERT INTO runs (id, mode, status, config, strategy_ids, started_ns, code_version, "
        "artefacts) VALUES ('r-1', 'paper', 'finished', '{}', '[]', 1, 'v1', '{}')"))
    assert "api_tokens" not in tables
    with open_database(database_url, tmp_path) as db:
        assert db.schema_revision() == head_revision() == "0003"
        run = AuditStore(db).run("r-1")
        assert run is not None and run.code_version == "v1"
        store = TokenStore(db)
        added = store.add("ci", _hash("s"), ["admin"], created_ns=START_NS, created_by="bob")
        assert store.by_hash(_hash("s")) == added


def test_the_migration_downgrades_cleanly(database_url: str, tmp_path: Path) -> None:
    with open_database(database_url, tmp_path) as db:
        TokenStore(db).add("ci", _hash("s"), ["read"], created_ns=START_NS, created_by="bob")
        AuditStore(db).record_intent(make_order("O-1"))
    tables = _migrate(database_url, "0002", down=True)
    assert "api_tokens" not in tables
    assert "orders" in tables
    with open_database(database_url, tmp_path) as db:  # and up again
        assert AuditStore(db).order("O-1") is not None
        assert TokenStore(db).tokens() == []
