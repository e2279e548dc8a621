"""Column types that keep money exact and documents portable between SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """A ``Decimal`` stored without rounding: ``NUMERIC`` on PostgreSQL, decimal text on SQLite.

    SQLite has no exact decimal type (its ``NUMERIC`` affinity turns ``0.1`` into a float), so
    the value travels as the string ``str(Decimal)`` and comes back through ``Decimal(str)``.
    Only finite values are accepted.
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``NUMERIC`` (unbounded precision) on PostgreSQL, ``TEXT`` elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """Check the value and convert it for the driver."""
        return decimal_to_driver(value, dialect.name == "postgresql")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Return the stored value as a ``Decimal``."""
        return decimal_from_driver(value)


def decimal_to_driver(value: Decimal | None, postgresql: bool) -> Any:
    """What the driver is given for an :class:`ExactDecimal` column: the ``Decimal`` itself on
    PostgreSQL, its text elsewhere.

    Raises
    ------
    TypeError
        When ``value`` is not a ``Decimal`` (a float would already be rounded).
    ValueError
        When ``value`` is not finite.
    """
    if value is None:
        return None
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal, got {type(value).__name__} {value!r}")
    if not value.is_finite():
        raise ValueError(f"cannot store the non-finite amount {value}")
    return value if postgresql else str(value)


def decimal_from_driver(value: Any) -> Decimal | None:
    """The ``Decimal`` of a value the driver returned for an :class:`ExactDecimal` column."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def json_document() -> TypeEngine[Any]:
    """A JSON column: ``JSONB`` on PostgreSQL, JSON text on SQLite."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


def row_id_type() -> TypeEngine[Any]:
    """A 64-bit surrogate key; plain ``INTEGER`` on SQLite so it aliases the rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def dump_json(value: Any) -> str:
    """Serialise a document; ``Decimal`` becomes a string, structs and enums their values."""
    return msgspec.json.encode(value).decode()


def to_document(value: Any) -> Any:
    """Convert a value to JSON builtins (``Decimal`` as a string, so amounts stay exact)."""
    return msgspec.to_builtins(value)
