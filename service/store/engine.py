"""Database engines: embedded SQLite by default, PostgreSQL (or any SQLAlchemy URL) by
configuration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

WRITE_OPTION = "ped_write"
"""Execution option marking a connection whose transaction will write."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite files get WAL (readers never wait for a loader) and a
    busy timeout (two loaders queue instead of failing)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is off; SQLAlchemy's begin event below
        # emits BEGIN itself (the recipe in SQLAlchemy's pysqlite documentation).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A writer takes the write lock up front, so two loads queue on the busy timeout
        # instead of one failing when it upgrades a read lock.
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
