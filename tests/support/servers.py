"""Servers for tests: an app over a store loaded with fixtures/, and a live gunicorn.

A pytest plugin (``tests/conftest.py`` loads it), so every test folder shares one loaded
store and one live server per session.

The loaded store is built once per session through the real ``load`` command; tests that
write get a fresh copy of it, so no test sees another's writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from tests.conftest import FIXTURES, ROOT
from tests.support.processes import free_port, stop_group

TOKEN = "test-token-0123456789"  # noqa: S105 (a test credential)
BIN = Path(sys.executable).parent


def make_app(database: Path | str, **config: Any) -> Flask:
    """The app over a SQLite file, or over any database URL."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    return create_app({"DATABASE_URL": url, "API_TOKEN": TOKEN, **config})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def app_on_each_backend(request: pytest.FixtureRequest, loaded_database: Path) -> Flask:
    """The app over the loaded store, once on SQLite and once on PostgreSQL: a module
    whose ``app`` fixture returns this runs every test on both backends."""
    if request.param == "sqlite":
        return make_app(loaded_database)
    app = make_app(str(request.getfixturevalue("loaded_postgres_url")))
    request.addfinalizer(app.extensions["ped.store"].engine.dispose)
    return app


@pytest.fixture(scope="session")
def loaded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding fixtures/, loaded by ``flask load``; never written by tests."""
    database = tmp_path_factory.mktemp("store") / "loaded.sqlite3"
    app = make_app(database)
    result = app.test_cli_runner().invoke(args=["load", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    app.extensions["ped.store"].engine.dispose()
    return database


@pytest.fixture(scope="session")
def app(loaded_database: Path) -> Flask:
    """The app over the loaded store. Read-only use: writing tests take ``writable_app``."""
    return make_app(loaded_database)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def writable_app(loaded_database: Path, tmp_path: Path) -> Flask:
    """An app over a private copy of the loaded store."""
    copy = tmp_path / "store.sqlite3"
    shutil.copyfile(loaded_database, copy)
    return make_app(copy)


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback, http)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout}s")


@contextmanager
def gunicorn(database: Path, *, workers: int, **settings: str) -> Iterator[int]:
    """``gunicorn --config gunicorn.conf.py wsgi:app`` over a SQLite file, with the test
    token and ``FLASK_*`` ``settings``, on a free loopback port (yielded) once it answers
    ``/healthz``. Its log (one JSON line per request) goes to a file beside the database: a
    pipe nobody reads would fill up and stall the workers mid-run."""
    port = free_port()
    env = {
        **os.environ,
        "FLASK_DATABASE_URL": f"sqlite:///{database}",
        "FLASK_API_TOKEN": TOKEN,
        **{f"FLASK_{name}": value for name, value in settings.items()},
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
    }
    log_path = database.parent / f"gunicorn-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    try:
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", process)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{log_path.read_text('utf-8', 'replace')[-4000:]}") from None
        yield port
    finally:
        stop_group(process, timeout=20)


@pytest.fixture(scope="session")
def live_server(live_site: str) -> str:
    """The live server's FHIR base URL (``http://127.0.0.1:PORT/fhir``)."""
    return f"{live_site}/fhir"


@pytest.fixture(scope="session")
def live_site(loaded_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn with the project's settings on a free loopback port, over a copy of the
    loaded store. Yields the site root (``http://127.0.0.1:PORT``)."""
    copy = tmp_path_factory.mktemp("live") / "store.sqlite3"
    shutil.copyfile(loaded_database, copy)
    with gunicorn(copy, workers=2) as port:
        yield f"http://127.0.0.1:{port}"
