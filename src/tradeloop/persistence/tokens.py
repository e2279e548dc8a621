"""API tokens in the audit database, behind :class:`TokenStore`.

The store keeps a token's sha256 (``token_hash``), never the token, and hands back
:class:`ApiToken` values without the hash either: whoever looks a token up already holds it.
Generating tokens, checking scopes and deciding what is expired belong to
:mod:`tradeloop.services.tokens`; this module only stores.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.persistence.db import Database
from tradeloop.persistence.tables import api_tokens

logger = logging.getLogger(__name__)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_NAME = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """A stored API token, without its secret or its hash.

    Attributes
    ----------
    id : int
        The row id (what ``tradeloop token revoke`` also accepts).
    name : str
        Unique, also after the token is revoked.
    scopes : tuple of str
        As granted, in the order stored.
    created_ns : int
        UTC nanoseconds.
    expires_ns, revoked_ns, last_used_ns : int or None
        UTC nanoseconds; None for a token that never expires, is not revoked, was never used.
    created_by : str
        Who created it.
    """

    id: int
    name: str
    scopes: tuple[str, ...]
    created_ns: int
    expires_ns: int | None
    revoked_ns: int | None
    last_used_ns: int | None
    created_by: str


class TokenStore:
    """Adds, finds, lists and revokes API tokens, and records when they were last used.

    Parameters
    ----------
    database : Database
        From :func:`~tradeloop.persistence.db.open_database`.

    Examples
    --------
    >>> store = TokenStore(open_database(None, home))                      # doctest: +SKIP
    >>> store.add("ci", sha256_hex, ["read"], created_ns=now, created_by="me")  # doctest: +SKIP
    """

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(
        self,
        name: str,
        token_hash: str,
        scopes: Iterable[str],
        *,
        created_ns: int,
        created_by: str,
        expires_ns: int | None = None,
    ) -> ApiToken:
        """Store a new token.

        Parameters
        ----------
        name : str
            Unique among all tokens, revoked ones included.
        token_hash : str
            The sha256 of the token as 64 lower-case hex digits.
        scopes : iterable of str
        created_ns : int
        created_by : str
        expires_ns : int, optional
            None for a token that does not expire.

        Returns
        -------
        ApiToken

        Raises
        ------
        ConfigError
            When a token already has this name, or the name is empty or too long.
        DataError
            When ``token_hash`` is not a sha256 hex digest.
        PersistenceError
            When the database refuses the write.
        """
        if not name or len(name) > _MAX_NAME:
            raise ConfigError(f"token name {name!r}: give 1 to {_MAX_NAME} characters")
        if not _SHA256_HEX.fullmatch(token_hash):
            raise DataError("token hash: expected 64 lower-case hex digits (a sha256)")
        values: dict[str, Any] = {
            "name": name, "token_hash": token_hash, "scopes": list(scopes),
            "created_ns": created_ns, "expires_ns": expires_ns, "revoked_ns": None,
            "last_used_ns": None, "created_by": created_by,
        }
        with self._db.write_transaction() as connection:
            taken = connection.execute(
                sa.select(api_tokens.c.id).where(api_tokens.c.name == name)
            ).first()
            if taken is not None:
                raise ConfigError(f"a token named {name!r} already exists (names stay taken "
                                  "after a revoke): choose another name")
            key = connection.execute(api_tokens.insert().values(**values)).inserted_primary_key
            assert key is not None  # a single-row insert
            token_id = int(key[0])
        logger.info("api token added", extra={"fields": {"name": name, "id": token_id}})
        return _token({**values, "id": token_id})

    def by_hash(self, token_hash: str) -> ApiToken | None:
        """The token whose sha256 is ``token_hash``, or None."""
        return self._one(api_tokens.c.token_hash == token_hash)

    def by_name(self, name: str) -> ApiToken | None:
        """The token named ``name``, or None."""
        return self._one(api_tokens.c.name == name)

    def by_id(self, token_id: int) -> ApiToken | None:
        """The token with row id ``token_id``, or None."""
        return self._one(api_tokens.c.id == token_id)

    def tokens(self) -> list[ApiToken]:
        """Every stored token, revoked and expired ones included, oldest first."""
        query = sa.select(*_COLUMNS).order_by(api_tokens.c.created_ns, api_tokens.c.id)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
        return [_token(row) for row in rows]

    def revoke(self, token_id: int, revoked_ns: int) -> ApiToken | None:
        """Mark a token revoked at ``revoked_ns``; a token revoked before keeps its first time.

        Returns
        -------
        ApiToken or None
            The token as now stored; None when no token has this id.
        """
        with self._db.write_transaction() as connection:
            connection.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_ns.is_(None))
                .values(revoked_ns=revoked_ns)
            )
            row = connection.execute(
                sa.select(*_COLUMNS).where(api_tokens.c.id == token_id)
            ).mappings().first()
        if row is None:
            return None
        logger.info("api token revoked", extra={"fields": {"name": row["name"], "id": token_id}})
        return _token(row)

    def touch(self, token_id: int, used_ns: int, *, min_interval_ns: int = 0) -> bool:
        """Record that a token was used at ``used_ns``, unless it was recorded as used less
        than ``min_interval_ns`` before (so a busy token costs one write per interval, not
        one per request). The check and the write are one statement, so two servers sharing
        the database do not both write.

        Returns
        -------
        bool
            True when ``last_used_ns`` was written.
        """
        due = sa.or_(api_tokens.c.last_used_ns.is_(None),
                     api_tokens.c.last_used_ns <= used_ns - min_interval_ns)
        with self._db.write_transaction(durable=False) as connection:
            result = connection.execute(
                api_tokens.update().where(api_tokens.c.id == token_id, due)
                .values(last_used_ns=used_ns)
            )
        return result.rowcount > 0

    def _one(self, condition: sa.ColumnElement[bool]) -> ApiToken | None:
        with self._db.read_transaction() as connection:
            row = connection.execute(sa.select(*_COLUMNS).where(condition)).mappings().first()
        return None if row is None else _token(row)


_COLUMNS = tuple(column for column in api_tokens.columns if column.name != "token_hash")


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=int(row["id"]), name=row["name"], scopes=tuple(row["scopes"]),
        created_ns=row["created_ns"], expires_ns=row["expires_ns"],
        revoked_ns=row["revoked_ns"], last_used_ns=row["last_used_ns"],
        created_by=row["created_by"],
    )
