"""What the suite needs to run on several pytest-xdist workers (``make unit`` runs two), as a
pytest plugin that ``tests/conftest.py`` loads. In one process (no ``-n``) it does nothing.

* Each worker's PostgreSQL tests get a database server-side of their own: the worker creates
  ``<database>_<worker>_<run>`` (``tradeloop_test_gw0_1a2b3c4d``) through a connection to the
  database ``TRADELOOP_TEST_PG_URL`` names, points ``TRADELOOP_TEST_PG_URL`` at it for the
  whole session, and drops it at the end. The tests' own databases (created per test through
  that URL) and anything a test creates in the URL's database stay apart from the other
  worker's; the run id keeps two runs on one server (CI and a developer) apart too.
* Workers see the terminal variables and ``PYTHONPATH`` pytest was started with. GNU readline
  (imported by pytest's plugins) writes ``COLUMNS=80`` and ``LINES=24`` into the C environment
  of the main process, which the workers inherit as real variables, and xdist prepends the
  working directory to the workers' ``PYTHONPATH``; CLI tables would wrap at 80 columns and
  child processes would import from the checkout's root, as they never do in one process.

``make unit`` distributes whole files (``--dist loadfile``): a file's tests run on one worker in
their order, so a module-scoped fixture (a served node, a venue with its audit database) is set
up once and carries its state from test to test as in one process. ``--dist loadgroup`` with
``xdist_group`` marks cannot do that here: with pytest 9.2 xdist 3.8 drops the groups and
spreads the tests one by one (pytest-dev/pytest-xdist#1386).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_URL_VARIABLE = "TRADELOOP_TEST_PG_URL"
WORKER_VARIABLE = "PYTEST_XDIST_WORKER"
RUN_ID_VARIABLE = "PYTEST_XDIST_TESTRUNUID"
INHERITED_VARIABLES = ("COLUMNS", "LINES", "PYTHONPATH")
"""Variables a worker gets from the main process's view of the environment, set or unset."""
_ENVIRON_KEY = "tradeloop_environ"


def worker_database_name(database: str, worker: str, run_id: str) -> str:
    """The name of one worker's database for one run (PostgreSQL keeps 63 bytes of a name)."""
    return f"{database}_{worker}_{run_id[:8]}".lower()[:63]


# -- the environment of a worker ---------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(main process, once per worker) Hand the worker the variables as pytest was started."""
    node.workerinput[_ENVIRON_KEY] = {name: os.environ.get(name) for name in INHERITED_VARIABLES}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """(worker) Take the main process's variables before any test module is imported."""
    inherited = getattr(config, "workerinput", {}).get(_ENVIRON_KEY)
    if inherited is None:
        return
    for name, value in inherited.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# -- one PostgreSQL database per worker --------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _worker_postgres_database() -> Iterator[None]:
    """Point ``TRADELOOP_TEST_PG_URL`` at a database of this worker's (see the module)."""
    worker = os.environ.get(WORKER_VARIABLE)
    raw = os.environ.get(PG_URL_VARIABLE, "").strip()
    if not worker or not raw:
        yield
        return
    given = make_url(raw)
    admin_url = given
    if admin_url.drivername in ("postgresql", "postgres"):
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = worker_database_name(given.database or "tradeloop_test", worker,
                                os.environ.get(RUN_ID_VARIABLE, "run"))
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.DBAPIError:
        # No server there, or no right to create a database: the URL stays as given, and the
        # PostgreSQL tests fail on it exactly as they do in one process.
        admin.dispose()
        yield
        return
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(PG_URL_VARIABLE,
                         given.set(database=name).render_as_string(hide_password=False))
            yield
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
