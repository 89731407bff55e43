"""Database engines: embedded SQLite by default, PostgreSQL by configuration.

Both backends give the store the same guarantees:

- a read transaction sees one consistent state (SQLite's WAL snapshot; PostgreSQL's
  ``REPEATABLE READ``);
- write transactions run one at a time: a second writer waits for the first, up to
  ``lock_timeout`` seconds (SQLite's write lock, taken up front by ``BEGIN IMMEDIATE``;
  on PostgreSQL a transaction-scoped advisory lock);
- nothing waits forever: connecting gives up after ``connect_timeout`` seconds and, on
  PostgreSQL, a statement after ``statement_timeout`` seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url

_FILE_IDENTITY = "ped_sqlite_file"
"""Connection-record key: (device, inode) of the SQLite file the connection opened."""

WRITE_OPTION = "ped_write"
"""Execution option marking a connection whose transaction will write."""

# pg_advisory_xact_lock key held by every write transaction ("ped" in ASCII).
_WRITE_LOCK_KEY = 0x706564

# SQLSTATE classes and codes of PostgreSQL errors that say the database cannot do the work
# now (https://www.postgresql.org/docs/current/errcodes-appendix.html), as opposed to a
# fault in the statement: connection (08), resources such as a full disk (53), operator
# intervention such as a shutdown or a cancelled statement (57), system errors (58), a lock
# not obtained in time (55P03), a read-only transaction (25006), a missing table (42P01:
# the schema is not migrated).
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")
_UNAVAILABLE_CODES = ("55P03", "25006", "42P01")

# SQLite primary result codes (https://www.sqlite.org/rescode.html) of the same kinds: busy
# or locked too long, read-only, disk full, I/O error, cannot open, not a database,
# corrupt, access denied. Extended codes (SQLITE_IOERR_WRITE, …) share their primary's.
_SQLITE_UNAVAILABLE = frozenset(
    {"BUSY", "LOCKED", "READONLY", "FULL", "IOERR", "CANTOPEN", "NOTADB", "CORRUPT", "PERM"}
)


@dataclass(frozen=True)
class Limits:
    """How long the store waits for the database, in seconds."""

    connect_timeout: float = 5
    statement_timeout: float = 15
    lock_timeout: float = 120


def backend(engine: Engine) -> str:
    """``sqlite`` or ``postgresql``."""
    return engine.dialect.name


def make_engine(url: str, limits: Limits | None = None) -> Engine:
    limits = limits or Limits()
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql(url, limits)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(url, limits)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r} (sqlite or postgresql)")


def _postgresql(url: str, limits: Limits) -> Engine:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
    statement_ms = int(limits.statement_timeout * 1000)
    return create_engine(
        parsed,
        pool_pre_ping=True,  # a connection dropped by a restart is replaced, not used
        pool_timeout=limits.connect_timeout,
        connect_args={
            "connect_timeout": max(1, round(limits.connect_timeout)),
            "options": f"-c statement_timeout={statement_ms}",
            "application_name": "ped-fhir",
        },
    )


def _sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file (None: in memory)."""
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = database.removeprefix("file:")
    return os.path.abspath(database)


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


def _sqlite(url: str, limits: Limits) -> Engine:
    path = _sqlite_file(url)
    # An in-memory database lives in one connection per thread: no pool to wait for.
    # The driver's busy timeout is the lock timeout from the first statement on (its own
    # default is 5 s): switching a new file to WAL takes the lock too, and nodes starting
    # together on one file all do it while one of them migrates.
    connect_args = {"timeout": limits.lock_timeout}
    engine = (
        create_engine(url, connect_args=connect_args)
        if path is None
        else create_engine(url, pool_timeout=limits.connect_timeout, connect_args=connect_args)
    )
    busy_ms = int(limits.lock_timeout * 1000)

    if path is not None:

        @event.listens_for(engine, "connect")
        def _remember_file(_dbapi_connection: Any, record: Any) -> None:
            record.info[_FILE_IDENTITY] = _file_identity(path)

        @event.listens_for(engine, "checkout")
        def _same_file(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            # A pooled connection keeps the file it opened even after that file is moved,
            # deleted or replaced: it would go on serving a database that is no longer
            # there. A stat per checkout notices; the pool then opens a new connection
            # (which fails while nothing usable is at the path: a 503).
            if record.info.get(_FILE_IDENTITY) != _file_identity(path):
                raise exc.DisconnectionError(f"{path} is no longer the file this connection opened")

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is off; SQLAlchemy's begin event below
        # emits BEGIN itself (the recipe in SQLAlchemy's pysqlite documentation).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A writer takes the write lock up front, so two loads queue on the busy timeout
        # instead of one failing when it upgrades a read lock.
        # A snapshot (``begin_snapshot``) has begun its transaction already.
        if connection.connection.dbapi_connection.in_transaction:
            return
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def begin_snapshot(engine: Engine, dbapi_connection: Any) -> None:
    """Begin, on a DBAPI connection fresh from the pool, a read-only transaction whose
    statements all see the state committed when the first of them ran: a WAL read
    transaction on SQLite, ``REPEATABLE READ`` on PostgreSQL.

    Done on the DBAPI connection rather than through a SQLAlchemy ``Connection`` because
    every request begins one: this costs one statement, not a connection object and its
    events."""
    if backend(engine) == "postgresql":
        dbapi_connection.rollback()  # psycopg: nothing is sent unless a transaction is open
        statement = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    else:
        statement = "BEGIN"
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def write_options() -> dict[str, Any]:
    return {WRITE_OPTION: True}


def lock_for_writing(
    connection: Connection, limits: Limits | None = None, *, unlimited: bool = False
) -> None:
    """Wait (up to ``lock_timeout``) until no other write transaction runs. On SQLite the
    ``BEGIN IMMEDIATE`` of a write connection has done this already.

    PostgreSQL runs writes at READ COMMITTED, so every statement after the lock sees what
    the writer before committed. ``unlimited`` lifts the statement timeout for the rest of
    the transaction (schema migrations)."""
    if backend(connection.engine) != "postgresql":
        return
    limits = limits or Limits()
    lock_ms = int(limits.lock_timeout * 1000)
    statement_ms = 0 if unlimited else int(limits.statement_timeout * 1000)
    connection.execute(text(f"SET LOCAL lock_timeout = {lock_ms}"))
    connection.execute(text(f"SET LOCAL statement_timeout = {lock_ms}"))
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK_KEY})
    connection.execute(text(f"SET LOCAL statement_timeout = {statement_ms}"))


def refresh_statistics(connection: Connection) -> None:
    """On PostgreSQL, refresh the planner's statistics of the store's tables, inside the
    write transaction that grew them.

    The planner otherwise keeps the estimates of the tables as they were (empty, after a
    migration) until autovacuum gets round to them: searches then walk the whole index,
    and within one large load the foreign-key checks of every row slow down as the tables
    grow (20,000 resources: 100 per second instead of 3,000). ``ANALYZE`` inside the
    transaction counts its own rows and invalidates cached plans built on the old
    estimates; it blocks neither readers nor writers."""
    if backend(connection.engine) == "postgresql":
        connection.execute(text("ANALYZE resource_version, resource_current, search_index"))


def unavailable_errors(engine: Engine) -> tuple[type[BaseException], ...]:
    """Driver exceptions that may mean the database is unavailable (``is_unavailable``
    decides)."""
    dbapi = engine.dialect.loaded_dbapi
    return (dbapi.OperationalError, dbapi.InternalError, dbapi.ProgrammingError)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` (SQLAlchemy's or the driver's) says the database cannot serve now:
    unreachable, shut down, out of disk, read-only, locked too long, not migrated."""
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
    elif isinstance(error, (exc.TimeoutError, exc.DisconnectionError)):
        return True  # no pooled connection in time; the server went away
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_UNAVAILABLE_CLASSES) or sqlstate in _UNAVAILABLE_CODES
    sqlite_name = getattr(error, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        primary = sqlite_name.split("_")[1] if sqlite_name.count("_") else sqlite_name
        if primary == "ERROR":  # generic: a faulty statement, unless the schema is missing
            return "no such table" in str(error)
        return primary in _SQLITE_UNAVAILABLE
    # psycopg's connection failures carry no SQLSTATE.
    return type(error).__name__ == "OperationalError"
