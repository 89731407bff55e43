"""Attaches the store to the app: ``FLASK_DATABASE_URL``, or a SQLite file in the
instance folder.

Nothing touches the database until something uses the store: ``create_app`` makes the
store (an engine, no connection), and the first request or command that needs it
(``open_store``: ``flask load``, ``flask export``) opens it. Then, with ``DATABASE_MIGRATE``
(the default), the schema is brought to the latest migration; without it, the schema is
only checked, and a store whose schema is behind answers 503 saying so until
``flask --app wsgi migrate`` has run. So ``flask map``, which needs no store, opens no
database and creates no file.

A node that starts while the database is away still starts: it answers 503 and migrates on
the first request that finds the database back. Every request reads from one snapshot of
the store, so a reply never mixes the versions of two loads.
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack

from flask import Flask, current_app, g, request
from werkzeug.exceptions import ServiceUnavailable

from service.settings import ConfigError, Settings, settings_of
from service.store import Limits, Store, StoreUnavailable, make_engine
from service.store.migrate import head

EXTENSION = "ped.store"
_OPENING = "ped.storage"
RETRY_AFTER = 5  # seconds; as the API's other 503s
log = logging.getLogger(__name__)


class SchemaBehind(StoreUnavailable):
    """The schema is not at the revision this code needs, and migrations are off."""


def database_url(app: Flask, settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{os.path.join(app.instance_path, 'ped.sqlite3')}"


def limits(settings: Settings) -> Limits:
    return Limits(
        connect_timeout=settings.database_connect_timeout,
        statement_timeout=settings.database_statement_timeout,
        lock_timeout=settings.database_lock_timeout,
    )


class _Opening:
    """What the first use of the store does, once: make the instance folder for the
    default SQLite file, then migrate (``DATABASE_MIGRATE``) or check the schema. Until it
    succeeds, every use tries again (the database may be away)."""

    def __init__(self, store: Store, settings: Settings, instance_path: str | None) -> None:
        self.store = store
        self.migrate = settings.database_migrate
        self.instance_path = instance_path
        self.done = False
        self.placed = instance_path is None

    def place(self) -> None:
        """The folder of the default SQLite file exists."""
        if not self.placed:
            try:
                os.makedirs(str(self.instance_path), exist_ok=True)
            except OSError as e:
                raise StoreUnavailable(f"cannot make {self.instance_path}: {e.strerror}") from None
            self.placed = True

    def open(self) -> None:
        """Threads that find it not done yet all try (none waits for another one's
        connect timeout); ``Store.migrate`` takes the database's write lock, so the schema
        changes once."""
        if self.done:
            return
        self.place()
        if self.migrate:
            self.store.migrate()
        else:
            self._check_schema()
        self.done = True

    def _check_schema(self) -> None:
        try:
            self.store.check()
        except StoreUnavailable as e:
            if "schema is at revision" not in str(e):  # Store.check's words for it
                raise
            raise SchemaBehind(
                f"the database schema is behind this service (it needs revision {head()}) "
                "and migrations are off (FLASK_DATABASE_MIGRATE=false): run "
                "`flask --app wsgi migrate`"
            ) from None


def init_app(app: Flask) -> None:
    settings = settings_of(app)
    waits = limits(settings)
    try:
        engine = make_engine(database_url(app, settings), waits)  # loads the driver only
    except (ValueError, ImportError) as e:
        raise ConfigError(f"FLASK_DATABASE_URL: {e}") from None
    store = Store(engine, waits)
    app.extensions[EXTENSION] = store
    default_file = None if settings.database_url else app.instance_path
    app.extensions[_OPENING] = _Opening(store, settings, default_file)

    @app.before_request
    def _open_snapshot() -> None:
        try:
            store_ = open_store()  # raises StoreUnavailable (503) while the database is away
        except SchemaBehind as e:
            if request.blueprint == "health":  # readiness says "database" in its own way
                raise
            raise ServiceUnavailable(str(e), retry_after=RETRY_AFTER) from None
        stack = ExitStack()
        stack.enter_context(store_.snapshot())
        g.ped_snapshot = stack

    @app.teardown_request
    def _close_snapshot(_error: BaseException | None) -> None:
        stack: ExitStack | None = g.pop("ped_snapshot", None)
        if stack is not None:
            try:
                stack.close()
            except StoreUnavailable as e:  # the reply is already made; nothing to undo
                log.warning("closing a read snapshot: %s", e)


def get_store() -> Store:
    """The store, as a request's views use it: the request hook has opened it."""
    opening: _Opening = current_app.extensions[_OPENING]
    return opening.store


def open_store(*, schema: bool = True) -> Store:
    """The store, opened for a command: migrated when configured, else its schema checked
    (``schema=False``: neither, for ``flask migrate``, which is that step). Raises
    ``StoreUnavailable`` (``SchemaBehind`` for a schema that needs ``flask migrate``)."""
    opening: _Opening = current_app.extensions[_OPENING]
    if schema:
        opening.open()
    else:
        opening.place()
    return opening.store


def open_at_start(app: Flask) -> None:
    """Open a serving worker's store as it starts (gunicorn's ``post_worker_init``), so the
    schema is migrated (when configured) before the first request rather than by it, and a
    database that is away is said at once. If it is away, the worker still starts and the
    first request tries again (503 until it is back)."""
    with app.app_context():
        try:
            open_store()
        except StoreUnavailable as e:
            log.warning("database unavailable at start-up; will open it on a request: %s", e)
