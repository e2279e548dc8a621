"""Alembic environment of the audit database.

:func:`tradeloop.persistence.db.open_database` runs it in code with an open connection (in
``config.attributes["connection"]``), so no ``alembic.ini`` is needed. Developers can also run
``alembic`` by hand with ``-x url=...`` (or ``sqlalchemy.url`` set) to autogenerate a revision
against :data:`tradeloop.persistence.tables.metadata`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from tradeloop.persistence.tables import metadata

config = context.config
version_table = config.attributes.get("version_table", "tradeloop_alembic_version")


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("give the database URL with -x url=... or sqlalchemy.url")
    return url


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=metadata, version_table=version_table,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _run(shared)
else:
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.begin() as own:
        _run(own)
    engine.dispose()
