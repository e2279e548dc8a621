"""Opening the audit database: SQLite by default, PostgreSQL through ``postgresql+psycopg://``.

:func:`open_database` connects, brings the schema to the newest migration and returns a
:class:`Database`. SQLite runs in WAL mode with ``synchronous=FULL`` (a committed intent
survives a power cut), foreign keys on and a busy timeout; its write transactions start with
``BEGIN IMMEDIATE`` so two writers queue for the lock instead of failing half-way. Writes reuse
one connection held open for them (checking a connection out of the pool for each costs more
than a small write). A URL's password never appears in a log line or an error message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, make_url

from tradeloop.core.errors import ConfigError
from tradeloop.persistence.errors import PersistenceError
from tradeloop.persistence.types import dump_json

logger = logging.getLogger(__name__)

#: File name of the default SQLite database inside the tradeloop home directory.
DEFAULT_FILE_NAME = "tradeloop.db"
#: Alembic's bookkeeping table; named for tradeloop so a shared PostgreSQL database is safe.
VERSION_TABLE = "tradeloop_alembic_version"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_WRITE_OPTION = "tradeloop_write"
_SYNC_INFO = "tradeloop_synchronous"  # the SQLite connection's current synchronous setting
#: A held PostgreSQL write connection idle this long is returned to the pool and a fresh one
#: checked out (and pinged), so a server restart while the node was quiet costs no order.
_WRITER_IDLE_S = 1.0

Durability = Literal["full", "intents"]
"""When a commit waits for the disk: ``"full"``, every commit (the default); ``"intents"``,
only the commits of write-ahead intents and other durable writes (see :func:`open_database`)."""
DURABILITIES: tuple[Durability, ...] = get_args(Durability)
_MIGRATION_LOCK_KEY = 0x7472_6164_656C  # pg advisory lock held while migrating
_PASSWORD_IN_URL = re.compile(r":[^:@\s]*@")


def redact_url(url: str | URL) -> str:
    """Return ``url`` with its password replaced by ``***``.

    Works on URLs SQLAlchemy cannot parse too, so error messages about a malformed URL stay
    safe.
    """
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return _PASSWORD_IN_URL.sub(":***@", url)


class Database:
    """An open audit database: a connection pool and the schema at its newest revision.

    Create it with :func:`open_database`. The repositories use :meth:`write_transaction` and
    :meth:`read_transaction`; every database failure inside them comes out as a
    :class:`~tradeloop.persistence.errors.PersistenceError` with a one-line reason.
    """

    def __init__(
        self, engine: sa.Engine, secret: str | None = None, durability: Durability = "full"
    ) -> None:
        self._engine = engine
        self._errors: tuple[type[Exception], ...] = (
            sa.exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error)
        self._secret = secret or None
        self._closed = False
        self._durability: Durability = durability
        self._relaxable = durability == "intents"
        self._writer: sa.Connection | None = None
        self._writer_used = 0.0
        self._writer_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return redact_url(self._engine.url)

    def connection_url(self) -> sa.URL:
        """The URL with its password, for a library that opens its own connections to this
        database (Optuna's study storage). Never log or show it: ``str()`` of it hides the
        password, :meth:`sqlalchemy.engine.URL.render_as_string` does not."""
        return self._engine.url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def durability(self) -> Durability:
        """Which commits wait for the disk (see :func:`open_database`)."""
        return self._durability

    def close(self) -> None:
        """Close every pooled connection; later reads and writes raise ``PersistenceError``."""
        self._closed = True
        if self._writer_lock.acquire(blocking=False):  # else the write going on drops it
            try:
                self._drop_writer()
            finally:
                self._writer_lock.release()
        self._engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def schema_revision(self) -> str | None:
        """The migration the schema is at (None for an empty database)."""
        with self.read_transaction() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            )
            return context.get_current_revision()

    @contextmanager
    def write_transaction(self, *, durable: bool = True) -> Iterator[sa.Connection]:
        """A connection in a transaction that commits when the block ends without error.

        On SQLite the transaction takes the write lock at once (``BEGIN IMMEDIATE``), waiting
        up to the busy timeout for another writer to finish.

        Parameters
        ----------
        durable : bool
            False lets the commit return before the disk has it when the database was opened
            with ``durability="intents"`` (order events, fills, positions). It still survives
            a crash of this process, and the next durable commit makes it durable too. With the
            default ``durability="full"`` every commit waits for the disk.

        Raises
        ------
        PersistenceError
            When the database is closed or refuses the work; nothing of the block is kept.
        """
        if self._closed:
            raise PersistenceError(f"audit database {self.url} is closed")
        if not self._writer_lock.acquire(blocking=False):
            # another thread is writing on the held connection: take one from the pool
            with self._transaction(write=True, durable=durable) as connection:
                yield connection
            return
        try:
            with self._held_transaction(durable) as connection:
                yield connection
        finally:
            self._writer_lock.release()

    @contextmanager
    def read_transaction(self) -> Iterator[sa.Connection]:
        """A connection in a read transaction (a consistent snapshot).

        Raises
        ------
        PersistenceError
            When the database is closed or cannot be read.
        """
        with self._transaction(write=False) as connection:
            yield connection

    @contextmanager
    def _transaction(self, write: bool, durable: bool = True) -> Iterator[sa.Connection]:
        if self._closed:
            raise PersistenceError(f"audit database {self.url} is closed")
        try:
            with self._engine.connect() as connection:
                if write:
                    connection.execution_options(**{_WRITE_OPTION: True})
                    self._set_sync(connection, durable)
                with connection.begin():
                    if write:
                        self._relax_commit(connection, durable)
                    yield connection
        except self._errors as exc:
            raise self._failure(exc, write) from exc

    @contextmanager
    def _held_transaction(self, durable: bool) -> Iterator[sa.Connection]:
        try:
            connection = self._writer_connection()
            try:
                self._set_sync(connection, durable)
                with connection.begin():
                    self._relax_commit(connection, durable)
                    yield connection
            except self._errors:
                self._drop_writer(broken=True)  # the next write starts on a new connection
                raise
            finally:
                self._writer_used = time.monotonic()
                if self._closed:
                    self._drop_writer()
        except self._errors as exc:
            raise self._failure(exc, True) from exc

    def _writer_connection(self) -> sa.Connection:
        writer = self._writer
        if writer is not None and self.dialect == "postgresql" and (
            time.monotonic() - self._writer_used > _WRITER_IDLE_S
        ):
            self._drop_writer()
            writer = None
        if writer is None:
            writer = self._engine.connect()
            writer.execution_options(**{_WRITE_OPTION: True})
            self._writer = writer
        return writer

    def _drop_writer(self, broken: bool = False) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            if broken:  # discard it rather than pool a connection in an unknown state
                writer.invalidate()
            writer.close()
        except self._errors as exc:
            logger.debug("closing the audit write connection failed", extra={"fields": {
                "error": self.describe(exc)}})

    def _set_sync(self, connection: sa.Connection, durable: bool) -> None:
        """SQLite: FULL or NORMAL for the next transaction (a pragma, set outside one)."""
        if not self._relaxable or self.dialect != "sqlite":
            return
        wanted = "FULL" if durable else "NORMAL"
        if connection.info.get(_SYNC_INFO) != wanted:
            driver = connection.connection.driver_connection
            assert driver is not None  # a connection that is open
            driver.execute(f"PRAGMA synchronous={wanted}")
            connection.info[_SYNC_INFO] = wanted

    def _relax_commit(self, connection: sa.Connection, durable: bool) -> None:
        """PostgreSQL: this transaction's commit does not wait for the WAL flush."""
        if self._relaxable and not durable and self.dialect == "postgresql":
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    def _failure(self, exc: Exception, write: bool) -> PersistenceError:
        action = "write to" if write else "read"
        return PersistenceError(
            f"could not {action} the audit database {self.url}: {self.describe(exc)}"
        )

    def describe(self, exc: BaseException) -> str:
        """The first line of a driver error, with the URL's password removed."""
        return _describe(exc, self._secret)


def open_database(
    url: str | None,
    home: Path,
    *,
    busy_timeout_ms: int = 5000,
    connect_timeout_s: int = 10,
    durability: Durability = "full",
) -> Database:
    """Open (creating if needed) the audit database and migrate its schema to the newest.

    Parameters
    ----------
    url : str or None
        A SQLAlchemy URL: ``sqlite:///path/to/file.db`` or
        ``postgresql+psycopg://user:password@host:5432/name`` (``postgresql://`` and
        ``postgres://`` mean the same). None uses the SQLite file ``home/tradeloop.db``.
    home : Path
        The tradeloop home directory (created when the default file lives there).
    busy_timeout_ms : int
        How long a SQLite writer waits for another writer's lock before failing.
    connect_timeout_s : int
        How long to wait for a PostgreSQL server.
    durability : {"full", "intents"}
        ``"full"`` (the default): every commit waits until the disk has it (SQLite
        ``synchronous=FULL``; PostgreSQL's own setting). ``"intents"``: write-ahead intents
        and other durable writes still wait; order events, fills and positions recorded after
        the send do not (SQLite ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit=off``
        for their transactions). Those survive a crash of the node's process all the same;
        a power cut or an OS crash may lose the ones since the last durable commit, which
        reconciliation then takes back from the venue.

    Returns
    -------
    Database

    Raises
    ------
    ConfigError
        When the URL is malformed or of an unsupported kind, the server cannot be reached or
        refuses the login, or the schema is newer than this version of tradeloop knows.
    """
    if durability not in DURABILITIES:
        raise ConfigError(f"audit database durability {durability!r}: expected one of "
                          f"{', '.join(DURABILITIES)}")
    if url is None:
        home.mkdir(parents=True, exist_ok=True)
        parsed = URL.create("sqlite", database=str(home / DEFAULT_FILE_NAME))
    else:
        parsed = _parse_url(url)
    secret = parsed.password if isinstance(parsed.password, str) else None
    engine = _create_engine(parsed, busy_timeout_ms, connect_timeout_s)
    database = Database(engine, secret, durability)
    try:
        _migrate(engine)
    except ConfigError:
        engine.dispose()
        raise
    except (sa.exc.SQLAlchemyError, CommandError, OSError) as exc:
        engine.dispose()
        raise ConfigError(
            f"cannot open the audit database {database.url}: {_describe(exc, secret)}"
        ) from None
    logger.info("audit database open", extra={"fields": {
        "url": database.url, "revision": database.schema_revision()}})
    return database


def head_revision() -> str:
    """The newest migration shipped with this version of tradeloop."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"audit database URL {redact_url(url)!r} is not a database URL "
            "(expected sqlite:///file.db or postgresql+psycopg://user@host/name)"
        ) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise ConfigError(
                f"audit database URL {redact_url(parsed)}: driver {driver!r} is not supported, "
                "use postgresql+psycopg://"
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver != "pysqlite":
            raise ConfigError(
                f"audit database URL {redact_url(parsed)}: driver {driver!r} is not supported, "
                "use sqlite:///"
            )
        return parsed
    raise ConfigError(
        f"audit database URL {redact_url(parsed)}: {backend!r} is not supported "
        "(use SQLite or PostgreSQL)"
    )


def _create_engine(url: URL, busy_timeout_ms: int, connect_timeout_s: int) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url, json_serializer=dump_json,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        )

        def configure(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            finally:
                cursor.close()
            record.info[_SYNC_INFO] = "FULL"

        def begin(connection: sa.Connection) -> None:
            immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
            driver = connection.connection.driver_connection
            assert driver is not None  # a connection that is open
            driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

        sa.event.listen(engine, "connect", configure)
        sa.event.listen(engine, "begin", begin)
        return engine
    return sa.create_engine(
        url, json_serializer=dump_json, pool_pre_ping=True,
        connect_args={"connect_timeout": connect_timeout_s,
                      "application_name": "tradeloop-audit"},
    )


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["version_table"] = VERSION_TABLE
    return config


def _migrate(engine: sa.Engine) -> None:
    config = _alembic_config()
    script = ScriptDirectory.from_config(config)
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # two processes opening a fresh database at once take turns
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            current = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
            if current is not None and _unknown_revision(script, current):
                raise ConfigError(
                    f"audit database {redact_url(engine.url)} is at schema revision "
                    f"{current!r}, which this tradeloop version does not know: "
                    "it was written by a newer tradeloop"
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            if current != script.get_current_head():
                logger.info("audit database migrated", extra={"fields": {
                    "from": current, "to": script.get_current_head()}})


def _unknown_revision(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is None
    except CommandError:
        return True


def _describe(exc: BaseException, secret: str | None) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip()
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    if secret:
        line = line.replace(secret, "***")
    return _PASSWORD_IN_URL.sub(":***@", line)
