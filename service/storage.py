"""Attaches the store to the app: ``FLASK_DATABASE_URL``, or a SQLite file in the
instance folder.

At start-up the schema is brought to the latest migration (``DATABASE_MIGRATE``). A node
that starts while the database is away still starts: it answers 503 and migrates on the
first request that finds the database back. Every request reads from one snapshot of the
store, so a reply never mixes the versions of two loads.
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack

from flask import Flask, current_app, g

from service.store import Limits, Store, StoreUnavailable, make_engine

EXTENSION = "ped.store"
log = logging.getLogger(__name__)


def database_url(app: Flask) -> str:
    configured = app.config.get("DATABASE_URL")
    if configured:
        return str(configured)
    os.makedirs(app.instance_path, exist_ok=True)
    return f"sqlite:///{os.path.join(app.instance_path, 'ped.sqlite3')}"


def limits(app: Flask) -> Limits:
    return Limits(
        connect_timeout=float(app.config["DATABASE_CONNECT_TIMEOUT"]),
        statement_timeout=float(app.config["DATABASE_STATEMENT_TIMEOUT"]),
        lock_timeout=float(app.config["DATABASE_LOCK_TIMEOUT"]),
    )


def init_app(app: Flask) -> None:
    waits = limits(app)
    store = Store(make_engine(database_url(app), waits), waits)
    app.extensions[EXTENSION] = store
    pending = bool(app.config["DATABASE_MIGRATE"])

    def ensure_migrated() -> None:
        nonlocal pending
        if pending:
            store.migrate()
            pending = False

    try:
        ensure_migrated()
    except StoreUnavailable as e:
        log.warning("database unavailable at start-up; will migrate when it returns: %s", e)

    @app.before_request
    def _open_snapshot() -> None:
        ensure_migrated()  # raises StoreUnavailable (503) while the database is away
        stack = ExitStack()
        stack.enter_context(store.snapshot())
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
    store: Store = current_app.extensions[EXTENSION]
    return store
