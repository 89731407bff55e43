"""The resource store: versioned FHIR resources kept as the JSON bytes that are served.

Writes take a whole batch in one transaction: all of it lands or none of it does, and
write transactions run one at a time (``engine.lock_for_writing``), so version numbers
never collide, whichever node writes. Content identical to the current version creates no
new version. Each version records the HTTP method that made it; a delete is a version of
its own, without content, that takes the resource out of reads and searches while its
history stays. Reads and searches return stored bytes untouched; inside ``snapshot()`` every
read sees the same committed state, so a reply never mixes two loads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import PoolProxiedConnection

from service.deadlines import check_deadline, paused, settle
from service.search.params import IndexEntry, index_entries
from service.search.query import SearchQuery
from service.search.values import date_range, instant_key, normalise

from . import migrate, schema, sql
from .engine import (
    Limits,
    begin_snapshot,
    is_unavailable,
    lock_for_writing,
    refresh_statistics,
    unavailable_errors,
    write_options,
)

Resource = Mapping[str, Any]


Method = Literal["POST", "PUT", "PATCH", "DELETE"]


class StoreUnavailable(RuntimeError):
    """The database cannot serve now: unreachable, shut down, timed out, out of disk,
    read-only, or not migrated. Callers answer 503 (or fail a load) and nothing was
    written."""


@dataclass(frozen=True)
class StoredResource:
    resource_type: str
    id: str
    version_id: int
    last_updated: str
    """``meta.lastUpdated`` as served (FHIR instant)."""
    body: bytes
    """The JSON served; empty for a delete (``deleted``)."""
    method: str = ""
    """The HTTP method that made this version (POST, PUT, PATCH or DELETE), as ``history``
    and ``vread`` give it; empty from reads and searches, which serve current content."""

    @property
    def deleted(self) -> bool:
        """This version is a delete: it has no content (a vread of it is 410 Gone)."""
        return self.method == "DELETE"


@dataclass(frozen=True)
class Latest:
    """The newest version of a resource id, whether it is content or a delete."""

    version_id: int
    last_updated: str
    """FHIR instant."""
    method: str
    deleted: bool


@dataclass(frozen=True)
class Page:
    total: int | None
    items: tuple[StoredResource, ...]
    has_more: bool


@dataclass(frozen=True)
class WriteOutcome:
    resource_type: str
    id: str
    version_id: int
    last_updated: str
    action: Literal["created", "updated", "unchanged", "deleted", "absent"]


def _now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _served_instant(key: str) -> str:
    """Store key (``YYYY-MM-DDTHH:MM:SS.ffffff``, UTC) -> FHIR instant with milliseconds."""
    return f"{key[:23]}Z"


def _own_meta(resource: Resource) -> dict[str, Any]:
    """``meta`` without what the server itself assigns (version, timestamp)."""
    return {
        k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated")
    }


def content_hash(resource: Resource) -> str:
    """Hash of the content, ignoring what the server itself assigns (version, timestamp)."""
    meta = _own_meta(resource)
    content = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        content["meta"] = meta
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _serialize(resource: Resource, version_id: int, last_updated: str) -> bytes:
    meta = _own_meta(resource)
    stored: dict[str, Any] = {
        "resourceType": resource["resourceType"],
        "id": resource["id"],
        "meta": {"versionId": str(version_id), "lastUpdated": last_updated, **meta},
    }
    stored.update((k, v) for k, v in resource.items() if k not in stored)
    return json.dumps(stored, ensure_ascii=False, separators=(",", ":")).encode()


def _sort_values(resource: Resource) -> dict[str, str | None]:
    title = resource.get("title")
    date = resource.get("date")
    version = resource.get("version")
    return {
        "sort_title": normalise(title)[: schema.KEY_LENGTH] if isinstance(title, str) else None,
        "sort_date": _date_key(date) if isinstance(date, str) else None,
        "sort_version": version[: schema.KEY_LENGTH] if isinstance(version, str) else None,
    }


def _date_key(date: str) -> str | None:
    try:
        return date_range(date).low
    except ValueError:
        return None


_READ = (
    select(schema.versions.c.version_id, schema.versions.c.last_updated, schema.versions.c.body)
    .select_from(schema.current_versions)
    .where(
        schema.current.c.res_type == bindparam("res_type"),
        schema.current.c.res_id == bindparam("res_id"),
    )
)


# The methods that make a version with content (a DELETE makes one without).
_CONTENT_METHODS = frozenset({"POST", "PUT", "PATCH"})

_SEARCH_CACHE_SIZE = 256
# Values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
_IN_BATCH = 500
# Resources written per round of statements in ``put`` (IN lists stay under _IN_BATCH).
_WRITE_BATCH = 500


class _Prepared:
    """A fixed statement compiled once for the engine's driver and run on a DBAPI
    connection: the hot read path skips statement construction and result wrapping."""

    def __init__(self, engine: Engine, statement: Any) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.positions = compiled.positiontup
        # Literals the statement carries itself (e.g. a parameter name), bound by position.
        self.constants = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }

    def run(
        self, dbapi_connection: Any, values: dict[str, Any], fetch: Callable[[Any], Any]
    ) -> Any:
        if self.constants:
            values = {**self.constants, **values}
        params = tuple(values[n] for n in self.positions) if self.positions else values
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, params)
            return fetch(cursor)
        finally:
            cursor.close()


def _one_line(error: BaseException) -> str:
    """The driver's message on one line (libpq's add a HINT or DETAIL line): CLI errors and
    log records are one line each."""
    return " ".join(str(error).split())


def _first(cursor: Any) -> Any:
    return cursor.fetchone()


def _all(cursor: Any) -> Any:
    return cursor.fetchall()


class _Snapshot:
    """The read transaction of one ``Store.snapshot()``, begun on first use (a request that
    never reads holds no connection) on a pooled DBAPI connection. Statements built with
    SQLAlchemy get a ``Connection`` over that same DBAPI connection when they need one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._raw: PoolProxiedConnection | None = None
        self._core: Connection | None = None

    def dbapi(self) -> PoolProxiedConnection:
        if self._raw is None:
            raw = self.engine.raw_connection()
            try:
                begin_snapshot(self.engine, raw.dbapi_connection)
            except BaseException:
                raw.invalidate()  # in an unknown state: not back into the pool
                raise
            self._raw = raw
        return self._raw

    def get(self) -> Connection:
        if self._core is None:
            self._core = Connection(self.engine, connection=self.dbapi())
        return self._core

    def close(self) -> None:
        raw, core = self._raw, self._core
        self._raw = self._core = None
        if core is not None:
            core.close()  # rolls back and returns the DBAPI connection to the pool
        elif raw is not None:
            try:
                raw.rollback()  # read-only: nothing to commit
            finally:
                raw.close()


class _Writer:
    """The connection of a ``Store.transaction()``."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self) -> Connection:
        return self.connection


class Store:
    def __init__(self, engine: Engine, limits: Limits | None = None) -> None:
        self.engine = engine
        self.limits = limits or Limits()
        self._read = _Prepared(engine, _READ)
        self._search_cache: dict[tuple[Any, ...], tuple[_Prepared, _Prepared]] = {}
        self._driver_errors = unavailable_errors(engine)
        self._bound: ContextVar[_Snapshot | _Writer | None] = ContextVar(
            "store_connection", default=None
        )

    # --- schema and health -----------------------------------------------------------------

    def migrate(self) -> bool:
        """Bring the schema to the latest revision (Alembic), under the write lock so that
        nodes starting together migrate one after another. Returns whether anything
        changed. A database already at the latest revision is not locked at all."""
        with self._operational():
            with self.engine.connect() as connection:
                if migrate.revision(connection) == migrate.head():
                    return False
            with self._writing(unlimited=True) as connection:
                return migrate.upgrade(connection)

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers and its schema is at the
        latest revision (readiness)."""
        with self._operational(), self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            found = migrate.revision(connection)
        if found != migrate.head():
            raise StoreUnavailable(
                f"the schema is at revision {found or 'none'}, not {migrate.head()}: "
                "run `flask --app wsgi migrate`"
            )

    # --- connections -----------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside the block sees the same committed state of the store: a whole
        reply (a page with its includes, a package, an export) shows each resource at one
        version, from before or after a concurrent load, never a mix. The transaction is
        begun on the first read. Nested blocks share the outer one."""
        if self._bound.get() is not None:
            yield
            return
        snapshot = _Snapshot(self.engine)
        token = self._bound.set(snapshot)
        try:
            yield
        finally:
            self._bound.reset(token)
            with self._operational():
                snapshot.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction for the whole block, holding the write lock from the
        start: reads inside see every committed write and the block's own, and ``put``
        joins it. So a load that looks things up before writing (a conditional create) acts
        on what it saw, and two such loads run one after the other."""
        with self._operational(), self._writing() as connection:
            token = self._bound.set(_Writer(connection))
            try:
                yield
            finally:
                self._bound.reset(token)

    def _connection(self) -> Connection | None:
        """The connection of the enclosing snapshot or transaction, if any."""
        bound = self._bound.get()
        return None if bound is None else bound.get()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        bound = self._connection()
        if bound is not None:
            yield bound
            return
        with self.engine.connect() as connection:
            yield connection

    def _run(self, prepared: _Prepared, fetch: Callable[[Any], Any], **values: Any) -> Any:
        bound = self._bound.get()
        if isinstance(bound, _Snapshot):
            return prepared.run(bound.dbapi(), values, fetch)
        if bound is not None:
            return prepared.run(bound.get().connection.dbapi_connection, values, fetch)
        connection = self.engine.raw_connection()  # one statement needs no transaction
        try:
            return prepared.run(connection, values, fetch)
        finally:
            connection.close()

    @contextmanager
    def _writing(self, *, unlimited: bool = False) -> Iterator[Connection]:
        """A write transaction holding the store's write lock: committed at the end of the
        block, rolled back on any error (a killed process's is rolled back by the
        database). Inside ``transaction()``, that transaction."""
        bound = self._bound.get()
        if isinstance(bound, _Writer):
            yield bound.connection
            return
        with (
            self.engine.connect().execution_options(**write_options()) as connection,
            connection.begin(),
        ):
            with paused():  # the wait for the write before this one is not this one's work
                lock_for_writing(connection, self.limits, unlimited=unlimited)
            yield connection
        settle()  # committed: the request's deadline can no longer turn its reply into a 503

    @contextmanager
    def _operational(self) -> Iterator[None]:
        """Turn failures that say the database cannot serve now, from SQLAlchemy or straight
        from the driver, into ``StoreUnavailable``, so callers handle one exception. Other
        database errors are bugs and propagate."""
        try:
            yield
        except StoreUnavailable:
            raise
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.DisconnectionError) as e:
            if not is_unavailable(e):
                raise
            orig = getattr(e, "orig", None)
            raise StoreUnavailable(_one_line(orig if orig is not None else e)) from e
        except self._driver_errors as e:
            if not is_unavailable(e):
                raise
            raise StoreUnavailable(_one_line(e)) from e

    # --- reads ---------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        with self._operational():
            row = self._run(self._read, _first, res_type=resource_type, res_id=resource_id)
        if row is None:
            return None
        version_id, last_updated, body = row
        return StoredResource(
            resource_type, resource_id, version_id, _served_instant(last_updated), bytes(body)
        )

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredResource | None:
        """One version, content or a delete (``deleted``: no body), or None."""
        v = schema.versions
        statement = select(v.c.last_updated, v.c.method, v.c.body).where(
            v.c.res_type == resource_type, v.c.res_id == resource_id, v.c.version_id == version_id
        )
        with self._operational(), self._reading() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        return StoredResource(
            resource_type, resource_id, version_id, _served_instant(row.last_updated),
            _body(row.body), row.method,
        )  # fmt: skip

    def latest(self, resource_type: str, resource_id: str) -> Latest | None:
        """The newest version of an id, a delete included; None if it never existed."""
        v = schema.versions
        statement = (
            select(v.c.version_id, v.c.last_updated, v.c.method)
            .where(v.c.res_type == resource_type, v.c.res_id == resource_id)
            .order_by(v.c.version_id.desc())
            .limit(1)
        )
        with self._operational(), self._reading() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        return Latest(
            row.version_id, _served_instant(row.last_updated), row.method, row.method == "DELETE"
        )

    def exists(self, resource_type: str, resource_id: str) -> bool:
        c = schema.current
        statement = select(c.c.version_id).where(
            c.c.res_type == resource_type, c.c.res_id == resource_id
        )
        with self._operational(), self._reading() as connection:
            return connection.execute(statement).first() is not None

    def current(self, resource_type: str, *, batch: int = 500) -> Iterator[StoredResource]:
        """Every current resource of a type, by id, read in batches (for exports)."""
        after = ""
        while True:
            items = self._current_where(resource_type, schema.current.c.res_id > after, limit=batch)
            yield from items
            if len(items) < batch:
                return
            after = items[-1].id

    def referencing(
        self, source_type: str, param: str, values: Iterable[str]
    ) -> list[StoredResource]:
        """Current resources of ``source_type`` whose ``param`` has one of ``values`` in
        the search index (a reference ``Type/id``, a canonical ``url`` or ``url|version``)."""
        found: dict[str, StoredResource] = {}
        wanted = sorted(set(values))
        si = schema.search_index
        for start in range(0, len(wanted), _IN_BATCH):
            chunk = wanted[start : start + _IN_BATCH]
            matching = (
                select(si.c.res_id)
                .where(
                    si.c.res_type == source_type,
                    si.c.param == param,
                    si.c.key.in_([v[: schema.KEY_LENGTH] for v in chunk]),
                    si.c.value.in_(chunk),
                )
                .distinct()
            )
            in_index = schema.current.c.res_id.in_(matching.scalar_subquery())
            for item in self._current_where(source_type, in_index):
                found[item.id] = item
        return [found[key] for key in sorted(found)]

    def read_many(self, resource_type: str, ids: Iterable[str]) -> list[StoredResource]:
        """The current versions of the given ids that exist, by id."""
        c = schema.current
        wanted = sorted(set(ids))
        found: list[StoredResource] = []
        for start in range(0, len(wanted), _IN_BATCH):
            chunk = wanted[start : start + _IN_BATCH]
            found += self._current_where(resource_type, c.c.res_id.in_(chunk))
        return found

    def _current_where(
        self, resource_type: str, condition: Any, *, limit: int | None = None
    ) -> list[StoredResource]:
        """Current resources of a type that meet ``condition``, by id."""
        c = schema.current
        statement = (
            select(c.c.res_id, c.c.version_id, c.c.last_updated, schema.versions.c.body)
            .select_from(schema.current_versions)
            .where(c.c.res_type == resource_type, condition)
            .order_by(c.c.res_id)
            .limit(limit)
        )
        with self._operational(), self._reading() as connection:
            rows = connection.execute(statement).all()
        return [
            StoredResource(
                resource_type, r.res_id, r.version_id, _served_instant(r.last_updated),
                bytes(r.body),
            )
            for r in rows
        ]  # fmt: skip

    def history(
        self,
        resource_type: str | None,
        resource_id: str | None,
        *,
        since: str | None = None,
        at: str | tuple[str, str] | None = None,
        count: int,
        offset: int,
    ) -> Page:
        """Versions, newest first: of one resource, of every resource of a type, or (type
        None) of every resource. Deletes are versions too (``deleted``, no body).

        ``since`` (an instant key): versions made at or after it. ``at``: versions that were
        current at that instant (made at or before it, and not replaced until after it), or,
        given as a ``[low, high)`` pair of instant keys, at some moment of that period (R4
        ``_at`` at the precision of the date given). Both together: versions meeting both.
        """
        v = schema.versions
        conditions: list[Any] = []
        if resource_type is not None:
            conditions.append(v.c.res_type == resource_type)
        if resource_id is not None:
            conditions.append(v.c.res_id == resource_id)
        if since is not None:
            conditions.append(v.c.last_updated >= since)
        if at is not None:
            low, high = (at, None) if isinstance(at, str) else at
            conditions.append(v.c.last_updated <= low if high is None else v.c.last_updated < high)
            following = schema.versions.alias("following")
            conditions.append(
                ~select(following.c.version_id)
                .where(
                    following.c.res_type == v.c.res_type,
                    following.c.res_id == v.c.res_id,
                    following.c.version_id == v.c.version_id + 1,
                    following.c.last_updated <= low,
                )
                .exists()
            )
        rows_statement = (
            select(v.c.res_type, v.c.res_id, v.c.version_id, v.c.last_updated, v.c.method, v.c.body)
            .where(*conditions)
            .order_by(v.c.last_updated.desc(), v.c.res_type, v.c.res_id, v.c.version_id.desc())
            .limit(count)
            .offset(offset)
        )
        count_statement = select(func.count()).select_from(v).where(*conditions)
        with self._operational(), self._reading() as connection:
            total = connection.execute(count_statement).scalar_one()
            rows = connection.execute(rows_statement).all() if count else []
        items = tuple(
            StoredResource(
                r.res_type, r.res_id, r.version_id, _served_instant(r.last_updated),
                _body(r.body), r.method,
            )
            for r in rows
        )  # fmt: skip
        return Page(total, items, offset + len(items) < total)

    def search(self, query: SearchQuery) -> Page:
        rows_statement, count_statement = self._search_statements(query)
        params = sql.literals(query)
        with self._operational():
            rows = self._run(rows_statement, _all, **params) if query.count else []
            if rows:
                total: int | None = rows[0][4]
            elif query.total != "none" or query.count == 0:
                total = self._run(count_statement, _first, **params)[0]
            else:
                total = None
        has_more = len(rows) > query.count
        items = tuple(
            StoredResource(
                query.resource_type, res_id, version_id, _served_instant(last_updated), bytes(body)
            )
            for res_id, version_id, last_updated, body, _total in rows[: query.count]
        )
        return Page(total if query.total != "none" else None, items, has_more)

    def search_system(self, types: tuple[str, ...], query: SearchQuery) -> Page:
        """``query`` (its criteria, sort and page) over the current versions of several
        types at once: items are of any of them, ordered by the sort keys, then type, id."""
        rows_statement, count_statement = self._search_statements(query, types)
        params = sql.literals(query)
        with self._operational():
            rows = self._run(rows_statement, _all, **params) if query.count else []
            if rows:
                total: int | None = rows[0][5]
            elif query.total != "none" or query.count == 0:
                total = self._run(count_statement, _first, **params)[0]
            else:
                total = None
        items = tuple(
            StoredResource(res_type, res_id, version_id, _served_instant(updated), bytes(body))
            for res_type, res_id, version_id, updated, body, _total in rows[: query.count]
        )
        return Page(total if query.total != "none" else None, items, len(rows) > query.count)

    def _search_statements(
        self, query: SearchQuery, types: tuple[str, ...] | None = None
    ) -> tuple[_Prepared, _Prepared]:
        query_shape = sql.shape(query) if types is None else sql.system_shape(types, query)
        prepared = self._search_cache.get(query_shape)
        if prepared is None:
            statements = sql.build(query_shape) if types is None else sql.build_system(query_shape)
            prepared = (
                _Prepared(self.engine, statements.rows),
                _Prepared(self.engine, statements.count),
            )
            if len(self._search_cache) >= _SEARCH_CACHE_SIZE:
                self._search_cache.pop(next(iter(self._search_cache)))
            self._search_cache[query_shape] = prepared
        return prepared

    # --- writes --------------------------------------------------------------------------

    def put(
        self, resources: Sequence[Resource], *, methods: Sequence[str] | None = None
    ) -> list[WriteOutcome]:
        """Store every resource as its next version, in one transaction.

        A resource whose content equals its current version is left alone. ``methods[i]``
        is the HTTP method recorded for the new version of ``resources[i]`` (POST, PUT or
        PATCH); without it, POST when the id is new and PUT otherwise. An id whose latest
        version is a delete comes back as its next version ("created"). Resources must
        already be valid; each needs ``resourceType`` and ``id``, and a (type, id) may
        appear only once in a batch.
        """
        if methods is not None:
            if len(methods) != len(resources):
                raise ValueError(f"{len(methods)} methods for {len(resources)} resources")
            for method in methods:
                if method not in _CONTENT_METHODS:
                    raise ValueError(f"a version with content is not made by {method!r}")
        _refuse_repeats((r["resourceType"], r["id"]) for r in resources)
        moment = _now()
        key_time = instant_key(moment)
        served = _served_instant(key_time)
        outcomes: list[WriteOutcome] = []
        with self._operational(), self._writing() as connection:
            written = refreshed = 0
            for start in range(0, len(resources), _WRITE_BATCH):
                chunk = resources[start : start + _WRITE_BATCH]
                chunk_methods = None if methods is None else methods[start : start + _WRITE_BATCH]
                outcomes += self._put_chunk(connection, chunk, chunk_methods, key_time, served)
                check_deadline()  # past the request's deadline: the transaction rolls back
                written = sum(o.action != "unchanged" for o in outcomes)
                if written >= 2 * refreshed + _WRITE_BATCH:  # each time the tables double
                    refresh_statistics(connection)
                    refreshed = written
            if written > refreshed:
                refresh_statistics(connection)
        return outcomes

    def _put_chunk(
        self,
        connection: Connection,
        resources: Sequence[Resource],
        methods: Sequence[str] | None,
        key_time: str,
        served: str,
    ) -> list[WriteOutcome]:
        """Write a slice of a batch with a handful of statements (each ``executemany``)
        rather than several per resource: loading tens of thousands of resources is bound
        by round trips to the database."""
        c, si = schema.current, schema.search_index
        keys = [(r["resourceType"], r["id"]) for r in resources]
        stored = self._current_pointers(connection, keys)
        gone = self._deleted_versions(connection, [k for k in keys if k not in stored])
        outcomes: list[WriteOutcome] = []
        versions: list[dict[str, Any]] = []
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        index_rows: list[dict[str, Any]] = []
        for position, (key, resource) in enumerate(zip(keys, resources, strict=True)):
            digest = content_hash(resource)
            row = stored.get(key)
            if row is not None and row[1] == digest:
                outcomes.append(WriteOutcome(*key, row[0], _served_instant(row[2]), "unchanged"))
                continue
            if row is not None:
                version_id = row[0] + 1
            else:
                version_id = gone[key][0] + 1 if key in gone else 1
            if methods is not None:
                method = methods[position]
            else:
                method = "POST" if row is None else "PUT"
            versions.append(
                {
                    "res_type": key[0],
                    "res_id": key[1],
                    "version_id": version_id,
                    "last_updated": key_time,
                    "content_hash": digest,
                    "method": method,
                    "body": _serialize(resource, version_id, served),
                }
            )
            pointer = {
                "b_type": key[0],
                "b_id": key[1],
                "version_id": version_id,
                "last_updated": key_time,
                "content_hash": digest,
                **_sort_values(resource),
            }
            (created if row is None else updated).append(pointer)
            index_rows += [_index_row(*key, entry) for entry in index_entries(resource)]
            action: Literal["created", "updated"] = "created" if row is None else "updated"
            outcomes.append(WriteOutcome(*key, version_id, served, action))
        if versions:
            connection.execute(insert(schema.versions), versions)
        if created:
            connection.execute(
                insert(c).values(res_type=bindparam("b_type"), res_id=bindparam("b_id")), created
            )
        if updated:
            same = (c.c.res_type == bindparam("b_type"), c.c.res_id == bindparam("b_id"))
            connection.execute(update(c).where(*same), updated)
            connection.execute(
                delete(si).where(
                    si.c.res_type == bindparam("b_type"), si.c.res_id == bindparam("b_id")
                ),
                [{"b_type": p["b_type"], "b_id": p["b_id"]} for p in updated],
            )
        if index_rows:
            connection.execute(insert(si), index_rows)
        return outcomes

    def delete(self, keys: Sequence[tuple[str, str]]) -> list[WriteOutcome]:
        """Delete each (type, id), in one transaction (the caller's ``transaction()`` if one
        is open): a resource with a current version gets a new version with method DELETE
        and no content ("deleted"), and leaves the current versions and the search index;
        earlier versions stay in history and vread. An id with no current version (never
        stored, or deleted already) is left alone ("absent", version 0 if it never
        existed). A (type, id) may appear only once."""
        _refuse_repeats(keys)
        key_time = instant_key(_now())
        served = _served_instant(key_time)
        c, si = schema.current, schema.search_index
        outcomes: list[WriteOutcome] = []
        with self._operational(), self._writing() as connection:
            for start in range(0, len(keys), _WRITE_BATCH):
                chunk = keys[start : start + _WRITE_BATCH]
                stored = self._current_pointers(connection, chunk)
                gone = self._deleted_versions(connection, [k for k in chunk if k not in stored])
                versions: list[dict[str, Any]] = []
                for key in chunk:
                    row = stored.get(key)
                    if row is None:
                        number, moment = gone.get(key, (0, ""))
                        when = _served_instant(moment) if moment else ""
                        outcomes.append(WriteOutcome(*key, number, when, "absent"))
                        continue
                    versions.append(
                        {
                            "res_type": key[0],
                            "res_id": key[1],
                            "version_id": row[0] + 1,
                            "last_updated": key_time,
                            "content_hash": "",
                            "method": "DELETE",
                            "body": None,
                        }
                    )
                    outcomes.append(WriteOutcome(*key, row[0] + 1, served, "deleted"))
                if not versions:
                    continue
                same = [{"b_type": v["res_type"], "b_id": v["res_id"]} for v in versions]
                connection.execute(
                    delete(si).where(
                        si.c.res_type == bindparam("b_type"), si.c.res_id == bindparam("b_id")
                    ),
                    same,
                )
                connection.execute(
                    delete(c).where(
                        c.c.res_type == bindparam("b_type"), c.c.res_id == bindparam("b_id")
                    ),
                    same,
                )
                connection.execute(insert(schema.versions), versions)
                check_deadline()
        return outcomes

    @staticmethod
    def _current_pointers(
        connection: Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, str, str]]:
        """(version, content hash, last updated) of the stored current version of each
        resource, by (type, id)."""
        c = schema.current
        found: dict[tuple[str, str], tuple[int, str, str]] = {}
        for resource_type, ids in _ids_by_type(keys).items():
            rows = connection.execute(
                select(c.c.res_id, c.c.version_id, c.c.content_hash, c.c.last_updated).where(
                    c.c.res_type == resource_type, c.c.res_id.in_(ids)
                )
            )
            for res_id, version_id, digest, last_updated in rows:
                found[(resource_type, res_id)] = (version_id, digest, last_updated)
        return found

    @staticmethod
    def _deleted_versions(
        connection: Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, str]]:
        """(latest version, its time as an instant key) of each of ``keys`` that has
        versions; called for ids with no current version, so: the deleted ones."""
        v = schema.versions
        found: dict[tuple[str, str], tuple[int, str]] = {}
        for resource_type, ids in _ids_by_type(keys).items():
            rows = connection.execute(
                select(v.c.res_id, func.max(v.c.version_id), func.max(v.c.last_updated))
                .where(v.c.res_type == resource_type, v.c.res_id.in_(ids))
                .group_by(v.c.res_id)
            )
            for res_id, version_id, last_updated in rows:
                found[(resource_type, res_id)] = (version_id, last_updated)
        return found

    def counts(self) -> dict[str, int]:
        c = schema.current
        statement = select(c.c.res_type, func.count()).group_by(c.c.res_type)
        with self._operational(), self._reading() as connection:
            return {t: n for t, n in connection.execute(statement).all()}


def _ids_by_type(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The ids of ``keys`` grouped by type: one ``IN`` query per type."""
    found: dict[str, list[str]] = {}
    for resource_type, resource_id in keys:
        found.setdefault(resource_type, []).append(resource_id)
    return found


def _refuse_repeats(keys: Iterable[tuple[str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{key[0]}/{key[1]} appears twice in one write")
        seen.add(key)


def _body(body: bytes | None) -> bytes:
    return b"" if body is None else bytes(body)


def _index_row(resource_type: str, resource_id: str, entry: IndexEntry) -> dict[str, Any]:
    basis = entry.norm if entry.norm is not None else entry.value
    return {
        "res_type": resource_type,
        "res_id": resource_id,
        "param": entry.param,
        "key": basis[: schema.KEY_LENGTH] if basis is not None else None,
        "system": entry.system,
        "value": entry.value,
        "norm": entry.norm,
        "low": entry.low,
        "high": entry.high,
    }
