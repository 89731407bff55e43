"""Both database backends for tests: an empty SQLite file, or an empty database on a real
PostgreSQL server (``tests/support/postgres.py``) started once per session and stopped at
its end.

A test (or fixture) that takes ``database_url`` runs once per backend. PostgreSQL is never
skipped: without the server binaries the session fails and says how to install them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, running

BACKENDS = ("sqlite", "postgresql")
_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running() as server:
        yield server


def new_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of a new, empty database on ``backend``; a PostgreSQL one is dropped when the
    requesting test ends."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'store-{next(_names)}.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"test_{next(_names)}"
    url = server.create_database(name)
    request.addfinalizer(lambda: server.drop_database(name))
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once on SQLite and once on PostgreSQL."""
    backend: str = request.param
    return new_database(backend, tmp_path, request)


@pytest.fixture(scope="session")
def loaded_postgres_url(postgres: PostgresServer) -> str:
    """A PostgreSQL database holding fixtures/, loaded by ``flask load``; never written by
    tests (the PostgreSQL twin of ``loaded_database``)."""
    from service import create_app
    from tests.conftest import FIXTURES

    url = postgres.create_database("loaded")
    app = create_app({"DATABASE_URL": url})
    result = app.test_cli_runner().invoke(args=["load", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    app.extensions["ped.store"].engine.dispose()
    return url
