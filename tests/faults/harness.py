"""Real processes for the fault tests: gunicorn nodes and ``flask load`` runs over one
database, the store's tables read back exactly, and the store's write lock watched (or
held) from outside, the way an operator would see it.

Nothing here imports the service's internals except the table definitions (to read every
row back). Every wait is a poll with a deadline; every process, socket and connection is
closed by the code that opened it.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from service.store import schema
from tests.conftest import FIXTURES, ROOT
from tests.support.processes import free_port, stop_group
from tests.support.servers import TOKEN

Resource = dict[str, Any]
T = TypeVar("T")

BIN = Path(sys.executable).parent

# The store's write lock as the engine documents it: pg_advisory_xact_lock(0x706564) ("ped")
# on PostgreSQL, taken by connections named ``ped-fhir``.
WRITE_LOCK_KEY = 0x706564
APPLICATION_NAME = "ped-fhir"

# Every resource these tests write is marked as test data (HL7 v3 ActReason HTEST) and
# carries a mark saying which load wrote it.
TEST_TAG = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}
MARK_SYSTEM = "urn:ped-faults:load"

AUTH = {"Authorization": f"Bearer {TOKEN}"}

# The include search of README's "The FHIR API": a phase, its activities, their drugs.
INDUCTION_WITH_DEPENDENCIES = (
    "/fhir/PlanDefinition?_id=all-induction&_include=PlanDefinition:definition"
    "&_include:iterate=ActivityDefinition:product"
)


# --- waiting ------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.01
) -> T:
    """Poll ``condition`` until it returns something true; fail naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(interval)


# --- content ------------------------------------------------------------------------------


def fixture_resources() -> list[Resource]:
    """Every resource of the golden Bundles in fixtures/fhir, once each."""
    found: dict[tuple[str, str], Resource] = {}
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        bundle = json.loads(path.read_text("utf-8"))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            found.setdefault((resource["resourceType"], resource["id"]), resource)
    return list(found.values())


def marked(resources: Iterable[Resource], mark: str) -> list[Resource]:
    """Copies tagged as test data and with ``mark`` (which load wrote them)."""
    out = []
    for resource in resources:
        tagged = copy.deepcopy(resource)
        meta = tagged.setdefault("meta", {})
        meta["tag"] = [
            *(t for t in meta.get("tag", []) if t.get("system") != MARK_SYSTEM),
            *([] if TEST_TAG in meta.get("tag", []) else [TEST_TAG]),
            {"system": MARK_SYSTEM, "code": mark},
        ]
        out.append(tagged)
    return out


def mark_of(resource: Resource) -> str | None:
    for tag in resource.get("meta", {}).get("tag", []):
        if tag.get("system") == MARK_SYSTEM:
            code: str = tag["code"]
            return code
    return None


def synthetic_medications(count: int, mark: str, *, narrative_words: int = 0) -> list[Resource]:
    """Small valid Medications that are clearly test data (``code.text`` "test medication
    N", tagged HTEST); ``narrative_words`` pads each with a narrative of that many words."""
    out = []
    for n in range(count):
        resource: Resource = {
            "resourceType": "Medication",
            "id": f"test-medication-{n}",
            "status": "active",
            "code": {"text": f"test medication {n}"},
        }
        if narrative_words:
            words = " ".join(["test data"] * (narrative_words // 2))
            resource["text"] = {
                "status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{words}</p></div>',
            }
        out.append(resource)
    return marked(out, mark)


def write_bundle(path: Path, resources: Sequence[Resource]) -> Path:
    """A collection Bundle of ``resources``, as ``flask load`` reads it."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"https://fhir.example.org/ped/{r['resourceType']}/{r['id']}",
                "resource": r,
            }
            for r in resources
        ],
    }
    path.write_text(json.dumps(bundle), "utf-8")
    return path


def without_server_meta(resource: Resource) -> Resource:
    """The resource without what the server assigns (``meta.versionId``/``lastUpdated``)."""
    out = dict(resource)
    meta = {k: v for k, v in out.pop("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


# --- processes ----------------------------------------------------------------------------


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "FLASK_DATABASE_URL": database_url,
        "FLASK_API_TOKEN": TOKEN,
        **extra,
    }


def start_load(database_url: str, *paths: Path, **env: str) -> subprocess.Popen[str]:
    """``flask --app wsgi load PATHS`` in the background."""
    return subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "load", *map(str, paths)],
        cwd=ROOT,
        env=service_env(database_url, **env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[str]:
        """stderr without structured log records (one JSON object per line): what the
        command itself said."""
        return [line for line in self.stderr.splitlines() if not _is_log_record(line)]

    def describe(self) -> str:
        return f"exit {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def _is_log_record(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def finish(process: subprocess.Popen[str], timeout: float = 180) -> Finished:
    """Wait for a process started by ``start_load``; kill it if it overruns."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{process.args!r} did not finish within {timeout}s\n{stdout}\n{stderr}"
        ) from None
    return Finished(process.returncode, stdout, stderr)


ONE_LINE = re.compile(r"database: .+ \(nothing was written\)")


def assert_one_line(result: Finished, *words: str) -> None:
    """Exit 1 and one line, ``database: … (nothing was written)``, saying why in one of
    ``words`` if given. Structured log records on stderr are the logs', not the command's."""
    assert result.returncode == 1, result.describe()
    assert len(result.messages) == 1, result.describe()
    (line,) = result.messages
    assert ONE_LINE.fullmatch(line), result.describe()
    if words:
        assert any(w in line for w in words), f"{line!r} does not say {' or '.join(words)}"
    assert "Traceback" not in result.stderr, result.describe()


def run_load(database_url: str, *paths: Path, timeout: float = 180, **env: str) -> Finished:
    return finish(start_load(database_url, *paths, **env), timeout)


def load_ok(database_url: str, *paths: Path, **env: str) -> Finished:
    result = finish(start_load(database_url, *paths, **env))
    assert result.returncode == 0, result.describe()
    return result


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        return f"{self.status} after {self.elapsed:.2f}s: {self.body[:500]!r}"


class Node:
    """``gunicorn --config gunicorn.conf.py wsgi:app`` on a free loopback port, as
    ``make serve`` runs it (two workers), over ``database_url``. Its stderr (logs and any
    traceback) is kept in ``workdir``."""

    def __init__(self, database_url: str, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.env = service_env(database_url, PORT=str(self.port), WEB_CONCURRENCY="2", **env)
        self.stderr_path = workdir / f"gunicorn-{self.port}.stderr"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Node:
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                # No control socket: several nodes run at once, and gunicorn's default
                # socket path is one per user.
                [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--no-control-socket",
                 "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )  # fmt: skip
        process = self.process

        def live() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {process.returncode}\n{self.log()}")
            try:
                return self.get("/healthz", timeout=2).status == 200
            except OSError:
                return False

        try:
            wait_until(live, timeout, f"gunicorn answering /healthz on port {self.port}", 0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        stop_group(process)

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def log(self, lines: int = 80) -> str:
        """The end of gunicorn's stderr (where a traceback is), without the access records
        of requests that went well."""
        kept = [
            line
            for line in self.stderr_path.read_text("utf-8", "replace").splitlines()
            if '"logger": "service.access"' not in line or '"status": 200' not in line
        ]
        return "\n--- gunicorn stderr ---\n" + "\n".join(kept[-lines:])

    def worker_pids(self) -> set[int]:
        assert self.process is not None
        return {child.pid for child in psutil.Process(self.process.pid).children()}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        """One request on its own loopback connection, closed before returning."""
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            found = {k.lower(): v for k, v in response.getheaders()}
            return Reply(response.status, found, data, time.monotonic() - started)
        finally:
            connection.close()

    def get(self, path: str, timeout: float = 30, **headers: str) -> Reply:
        return self.request("GET", path, headers=headers, timeout=timeout)

    def import_(self, body: bytes, timeout: float = 60) -> Reply:
        headers = {**AUTH, "Content-Type": "application/fhir+json"}
        return self.request("POST", "/fhir/$import", body, headers, timeout)


# --- the database, read from outside ---------------------------------------------------------


def backend_of(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    assert database, database_url
    return Path(database)


def database_name(database_url: str) -> str:
    database = make_url(database_url).database
    assert database, database_url
    return database


@contextmanager
def engine_for(database_url: str) -> Iterator[Engine]:
    """An engine that keeps no connection open between uses."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


Row = tuple[Any, ...]


def store_state(database_url: str) -> dict[str, list[Row]]:
    """Every row of every table of the store (and the schema revision), in a fixed order:
    two equal states are the same store, byte for byte."""
    tables = [*schema.metadata.sorted_tables]
    with engine_for(database_url) as engine, engine.connect() as connection:
        state = {
            table.name: [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in connection.execute(select(table).order_by(*table.columns))
            ]
            for table in tables
        }
        state["alembic_version"] = [
            tuple(row) for row in connection.execute(text("SELECT * FROM alembic_version"))
        ]
    return state


@dataclass(frozen=True)
class Version:
    version_id: int
    resource: Resource


def history(state: dict[str, list[Row]]) -> dict[tuple[str, str], list[Version]]:
    """(type, id) -> every stored version, oldest first."""
    columns = [c.name for c in schema.versions.columns]
    out: dict[tuple[str, str], list[Version]] = {}
    for row in state[schema.versions.name]:
        values = dict(zip(columns, row, strict=True))
        key = (values["res_type"], values["res_id"])
        out.setdefault(key, []).append(
            Version(values["version_id"], json.loads(bytes(values["body"])))
        )
    return {key: sorted(versions, key=lambda v: v.version_id) for key, versions in out.items()}


def current_versions(state: dict[str, list[Row]]) -> dict[tuple[str, str], int]:
    columns = [c.name for c in schema.current.columns]
    out = {}
    for row in state[schema.current.name]:
        values = dict(zip(columns, row, strict=True))
        out[(values["res_type"], values["res_id"])] = values["version_id"]
    return out


def difference(before: dict[str, list[Row]], after: dict[str, list[Row]]) -> str:
    """What changed between two states, in a few lines (for assertion messages)."""
    lines = []
    for table in sorted(set(before) | set(after)):
        old, new = set(before.get(table, [])), set(after.get(table, []))
        if old != new:
            lines.append(f"{table}: {len(new - old)} rows added, {len(old - new)} removed")
            lines += [f"  + {str(row)[:200]}" for row in sorted(new - old, key=str)[:3]]
    return "\n".join(lines) or "no difference"


# --- the write lock, watched and held from outside ---------------------------------------------


_PG_LOCK = f"""
    SELECT l.pid, l.granted, a.backend_xid IS NOT NULL AS writing
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = {WRITE_LOCK_KEY}
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND a.application_name = '{APPLICATION_NAME}'
"""  # noqa: S608 (constants only)


class LockWatch:
    """Looks at the store's write lock from a connection of the test's own, which never
    takes it: on PostgreSQL in ``pg_locks``; on SQLite by trying ``BEGIN IMMEDIATE`` with no
    busy timeout (it fails with "database is locked" while a writer holds the lock) and
    rolling straight back."""

    def __init__(self, database_url: str) -> None:
        self.backend = backend_of(database_url)
        self.database_url = database_url
        self._sqlite: sqlite3.Connection | None = None
        self._engine: Engine | None = None
        self._pg: Any = None

    def __enter__(self) -> LockWatch:
        if self.backend == "sqlite":
            self._sqlite = sqlite3.connect(
                sqlite_path(self.database_url), timeout=0, isolation_level=None
            )
            self._sqlite.execute("PRAGMA busy_timeout = 0")
        else:
            self._engine = create_engine(self.database_url, poolclass=NullPool)
            self._pg = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()
        if self._engine is not None:
            self._engine.dispose()

    def sqlite_locked(self) -> bool:
        """Whether another connection holds SQLite's write lock."""
        assert self._sqlite is not None
        try:
            self._sqlite.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                return True
            raise
        self._sqlite.execute("ROLLBACK")
        return False

    def pg_lock(self) -> list[tuple[int, bool, bool]]:
        """(backend pid, granted, has written) of each ``ped-fhir`` session holding or
        waiting for the write lock."""
        assert self._pg is not None
        return [(row[0], row[1], row[2]) for row in self._pg.execute(text(_PG_LOCK))]

    def pg_bytes(self, table: str) -> int:
        """The size of ``table`` on disk, indexes included: it grows as rows are written,
        committed or not."""
        assert self._pg is not None
        size: int = self._pg.execute(
            text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": table}
        ).scalar_one()
        return size

    def pg_waiting(self) -> int:
        return sum(1 for _pid, granted, _writing in self.pg_lock() if not granted)

    def held(self) -> bool:
        if self.backend == "sqlite":
            return self.sqlite_locked()
        return any(granted for _pid, granted, _writing in self.pg_lock())


@contextmanager
def holding_write_lock(database_url: str) -> Iterator[None]:
    """The test itself holds the store's write lock for the block, as a load would."""
    if backend_of(database_url) == "sqlite":
        connection = sqlite3.connect(sqlite_path(database_url), timeout=10, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    with engine_for(database_url) as engine, engine.connect() as pg:
        with pg.begin():
            pg.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
            yield  # the commit at the end of the block lets go of the lock


def threads_in_sqlite_busy_wait(pids: Iterable[int]) -> int:
    """How many threads of these processes sleep in the kernel's nanosleep, which is where
    SQLite's busy handler waits for a lock (nothing else in the service sleeps)."""
    count = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                channel = (task / "wchan").read_text()
            except OSError:
                continue
            if "nanosleep" in channel:
                count += 1
    return count
