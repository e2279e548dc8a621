"""Single-row writes and key lookups as driver SQL, rendered once per table and column set.

Building a Core statement with ``.values(**literals)`` on every call makes SQLAlchemy coerce
each literal and compute a fresh cache key, and even a prebuilt statement or
``exec_driver_sql`` sets up a result object per call: on the order path that cost more than
the write itself. The statements here are rendered once per dialect, table and column set (from
the tables in :mod:`tradeloop.persistence.tables`) and run on the DBAPI cursor of the
transaction's connection with positional parameters. Values get the conversions their column
types would apply (exact decimals as text on SQLite, documents serialised by ``dump_json``),
and rows read here come back as the Core types return them, so a row written or read here or
through Core is the same. Driver errors come out as they are: the
:class:`~tradeloop.persistence.db.Database` transaction turns them into ``PersistenceError``
as it does SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import sqlalchemy as sa

from tradeloop.persistence.types import (
    ExactDecimal,
    decimal_from_driver,
    decimal_to_driver,
    dump_json,
)

Convert = Callable[[Any], Any]


class _Statement:
    """SQL text and, per parameter, the conversion of the Python value for the driver."""

    __slots__ = ("binds", "columns", "sql")

    def __init__(self, sql: str, columns: tuple[str, ...], binds: tuple[Convert, ...]) -> None:
        self.sql = sql
        self.columns = columns
        self.binds = binds

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            return tuple(bind(values[name]) for name, bind in zip(self.columns, self.binds,
                                                                  strict=True))
        except (TypeError, ValueError):
            for name, bind in zip(self.columns, self.binds, strict=True):
                try:
                    bind(values[name])
                except (TypeError, ValueError) as exc:
                    # as SQLAlchemy reports a value its column type refuses
                    raise sa.exc.StatementError(
                        f"{name}: {exc}", self.sql, None, type(exc)(f"{name}: {exc}")
                    ) from exc
            raise


class _Select:
    """A one-row lookup by key and, per selected column, the conversion of the driver's value."""

    __slots__ = ("columns", "loads", "sql")

    def __init__(self, sql: str, columns: tuple[str, ...], loads: tuple[Convert, ...]) -> None:
        self.sql = sql
        self.columns = columns
        self.loads = loads

    def row(self, raw: Any) -> dict[str, Any]:
        return {name: load(value)
                for name, load, value in zip(self.columns, self.loads, raw, strict=True)}


_inserts: dict[tuple[str, str, tuple[str, ...], bool], _Statement] = {}
_updates: dict[tuple[str, str, tuple[str, ...], str], _Statement] = {}
_selects: dict[tuple[str, str, str, bool], _Select] = {}


def insert_row(
    connection: sa.Connection, table: sa.Table, values: Mapping[str, Any],
    *, ignore_duplicates: bool = False,
) -> bool:
    """Insert one row with ``values`` (column name to Python value).

    With ``ignore_duplicates``, a row that would violate a unique constraint is skipped.

    Returns
    -------
    bool
        True when the row was inserted.
    """
    dialect = connection.dialect
    key = (dialect.name, table.name, tuple(values), ignore_duplicates)
    statement = _inserts.get(key)
    if statement is None:
        statement = _inserts[key] = _render_insert(dialect, table, key[2], ignore_duplicates)
    return _execute(connection, statement.sql, statement.params(values)) == 1


def update_row(
    connection: sa.Connection, table: sa.Table, values: Mapping[str, Any], key_column: str,
    key: Any,
) -> int:
    """Set ``values`` on the rows whose ``key_column`` equals ``key``; the number changed."""
    dialect = connection.dialect
    cache_key = (dialect.name, table.name, tuple(values), key_column)
    statement = _updates.get(cache_key)
    if statement is None:
        statement = _updates[cache_key] = _render_update(
            dialect, table, cache_key[2], key_column)
    params = (*statement.params(values), _binder(dialect, table.c[key_column])(key))
    return _execute(connection, statement.sql, params)


def select_row(
    connection: sa.Connection, table: sa.Table, key_column: str, key: Any,
    *, for_update: bool = False,
) -> dict[str, Any] | None:
    """Every column of the row whose ``key_column`` equals ``key`` (a unique key), or None.

    With ``for_update``, PostgreSQL locks the row until the transaction ends (SQLite's write
    transactions hold the database's write lock already).
    """
    dialect = connection.dialect
    cache_key = (dialect.name, table.name, key_column, for_update)
    statement = _selects.get(cache_key)
    if statement is None:
        statement = _selects[cache_key] = _render_select(dialect, table, key_column, for_update)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement.sql, (_binder(dialect, table.c[key_column])(key),))
        raw = cursor.fetchone()
    finally:
        cursor.close()
    return None if raw is None else statement.row(raw)


def _execute(connection: sa.Connection, sql: str, params: tuple[Any, ...]) -> int:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _render_insert(
    dialect: sa.Dialect, table: sa.Table, names: tuple[str, ...], ignore_duplicates: bool
) -> _Statement:
    columns = [table.c[name] for name in names]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
        f"VALUES ({', '.join(_placeholder(dialect, c) for c in columns)})"
    )
    if ignore_duplicates:
        sql += " ON CONFLICT DO NOTHING"
    return _Statement(sql, names, tuple(_binder(dialect, c) for c in columns))


def _render_update(
    dialect: sa.Dialect, table: sa.Table, names: tuple[str, ...], key_column: str
) -> _Statement:
    quote = dialect.identifier_preparer.quote
    assignments = ", ".join(
        f"{quote(name)} = {_placeholder(dialect, table.c[name])}" for name in names
    )
    key = table.c[key_column]
    sql = (f"UPDATE {quote(table.name)} SET {assignments} "
           f"WHERE {quote(key.name)} = {_placeholder(dialect, key)}")
    return _Statement(sql, names, tuple(_binder(dialect, table.c[name]) for name in names))


def _render_select(
    dialect: sa.Dialect, table: sa.Table, key_column: str, for_update: bool
) -> _Select:
    quote = dialect.identifier_preparer.quote
    key = table.c[key_column]
    sql = (f"SELECT {', '.join(quote(c.name) for c in table.columns)} "
           f"FROM {quote(table.name)} WHERE {quote(key.name)} = {_placeholder(dialect, key)}")
    if for_update and dialect.name == "postgresql":
        sql += " FOR UPDATE"
    return _Select(sql, tuple(c.name for c in table.columns),
                   tuple(_loader(dialect, c) for c in table.columns))


def _postgresql(dialect: sa.Dialect) -> bool:
    return dialect.name == "postgresql"


def _placeholder(dialect: sa.Dialect, column: sa.Column[Any]) -> str:
    if not _postgresql(dialect):
        return "?"
    return "CAST(%s AS JSONB)" if isinstance(column.type, sa.JSON) else "%s"


def _identity(value: Any) -> Any:
    return value


def _decimal_for_postgresql(value: Any) -> Any:
    return decimal_to_driver(value, True)


def _decimal_for_sqlite(value: Any) -> Any:
    return decimal_to_driver(value, False)


def _json_from_text(value: Any) -> Any:
    return value if value is None else msgspec.json.decode(value)


def _boolean(value: Any) -> Any:
    return value if value is None else bool(value)


def _binder(dialect: sa.Dialect, column: sa.Column[Any]) -> Convert:
    if isinstance(column.type, ExactDecimal):
        return _decimal_for_postgresql if _postgresql(dialect) else _decimal_for_sqlite
    if isinstance(column.type, sa.JSON):
        return dump_json
    return _identity


def _loader(dialect: sa.Dialect, column: sa.Column[Any]) -> Convert:
    if isinstance(column.type, ExactDecimal):
        return decimal_from_driver
    if _postgresql(dialect):  # psycopg returns documents and booleans as Python values
        return _identity
    if isinstance(column.type, sa.JSON):
        return _json_from_text
    if isinstance(column.type, sa.Boolean):
        return _boolean
    return _identity
