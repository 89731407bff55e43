"""The database going away and coming back, under a running node.

While the database is away, every request that needs it (FHIR reads and searches, the
reading view, the Infobutton, readiness) answers 503 with ``Retry-After`` within twice the
connect timeout: FHIR and Infobutton with an OperationOutcome, the reading view with an HTML
page; never a 500, never a hang. Liveness (``/healthz``) stays 200. When the database is
back, the same requests answer 200 again by themselves, from the same gunicorn workers.

PostgreSQL: a server of this module's own is stopped (``fast``, and ``immediate`` like a
crash) and started again on the same port. SQLite has no server; its nearest faults are the
database file's directory missing when the node starts, and the file replaced by a
directory under a running node.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.postgres import PostgresServer

from .harness import (
    Node,
    Reply,
    assert_one_line,
    difference,
    fixture_resources,
    load_ok,
    marked,
    run_load,
    store_state,
    wait_until,
    write_bundle,
)

CONNECT_TIMEOUT = 2  # FLASK_DATABASE_CONNECT_TIMEOUT of the nodes here
BOUND = 2 * CONNECT_TIMEOUT  # seconds a 503 may take
COME_BACK = 15  # seconds the node may take to serve again once the database is back

# What needs the database, and what its 503 looks like.
PROBES = {
    "/fhir/PlanDefinition/all-induction": "fhir",
    "/fhir/Medication/methotrexate/_history": "fhir",
    "/fhir/ActivityDefinition?_count=200": "fhir",
    (
        "/fhir/PlanDefinition?_id=all-induction&_include=PlanDefinition:definition"
        "&_include:iterate=ActivityDefinition:product"
    ): "fhir",
    "/fhir/PlanDefinition/all-induction/$package": "fhir",
    "/education/": "html",
    "/education/PlanDefinition/all-induction": "html",
    "/education/Medication/methotrexate": "html",
    (
        "/infobutton?mainSearchCriteria.v.cs=2.16.840.1.113883.6.90"
        "&mainSearchCriteria.v.c=C91.00&knowledgeResponseType=application/json"
    ): "infobutton",
    "/readyz": "readiness",
}


def probes_of(node: Node, *, up: bool) -> dict[str, str]:
    """The probes this node serves (``/readyz`` only where the service has it); with
    ``up``, each must answer 200 now."""
    probes = dict(PROBES)
    if node.get("/readyz").status == 404:
        del probes["/readyz"]
    for path in probes if up else ():
        reply = node.get(path)
        assert reply.status == 200, f"{path}: {reply.describe()}{node.log()}"
    return probes


def assert_unavailable(node: Node, path: str, kind: str) -> None:
    reply = node.get(path, timeout=30)
    where = f"{path}: {reply.describe()}{node.log()}"
    assert reply.status == 503, where
    assert reply.elapsed < BOUND, where
    assert int(reply.headers.get("retry-after", "0")) > 0, where
    if kind in ("fhir", "infobutton"):
        outcome = reply.json()
        assert outcome["resourceType"] == "OperationOutcome", where
        assert [i["code"] for i in outcome["issue"]] == ["transient"], where
    elif kind == "html":
        assert reply.headers["content-type"].startswith("text/html"), where
        assert b"<html" in reply.body, where
    else:
        assert json.loads(reply.body)["status"] == "unavailable", where


def assert_all_unavailable(node: Node, probes: dict[str, str]) -> None:
    # Twice round, so that both workers (and their pooled connections) are asked.
    for _ in range(2):
        for path, kind in probes.items():
            assert_unavailable(node, path, kind)
    assert node.get("/healthz").status == 200, node.log()


def wait_until_available(node: Node, probes: dict[str, str]) -> dict[str, Reply]:
    def all_ok() -> dict[str, Reply] | None:
        replies = {path: node.get(path, timeout=30) for path in probes}
        for path, reply in replies.items():
            assert reply.status in (200, 503), f"{path}: {reply.describe()}{node.log()}"
        return replies if all(r.status == 200 for r in replies.values()) else None

    return wait_until(all_ok, COME_BACK, "every probe answering 200 again", 0.2)


def content(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "content.json", marked(fixture_resources(), "outage"))


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, for stopping and starting."""
    with postgres.running() as own:
        yield own


def running(server: PostgresServer) -> None:
    """Start ``server`` unless it answers already (after a test that stopped it)."""
    try:
        server.psql("SELECT 1")
    except RuntimeError:
        server.start()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_going_away_is_503_and_coming_back_is_200(
    server: PostgresServer, mode: str, tmp_path: Path
) -> None:
    url = server.create_database(f"away_{mode}")
    load_ok(url, content(tmp_path))
    with Node(url, tmp_path, FLASK_DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT)) as node:
        probes = probes_of(node, up=True)
        before = {path: node.get(path) for path in probes if path.startswith("/fhir/")}
        workers = node.worker_pids()
        server.stop(mode)
        try:
            assert_all_unavailable(node, probes)
        finally:
            server.start()  # the same port
        after = wait_until_available(node, probes)
        assert node.worker_pids() == workers, "gunicorn workers were replaced" + node.log()
    for path in ("/fhir/PlanDefinition/all-induction", "/fhir/Medication/methotrexate/_history"):
        assert after[path].body == before[path].body, path


def test_postgres_node_started_while_the_database_is_down_serves_once_it_is_up(
    server: PostgresServer, tmp_path: Path
) -> None:
    url = server.create_database("away_at_start")  # empty: the node will migrate it
    server.stop("fast")
    try:
        with Node(url, tmp_path, FLASK_DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT)) as node:
            probes = probes_of(node, up=False)
            assert_all_unavailable(node, probes)
            workers = node.worker_pids()
            server.start()
            wait_until(
                lambda: node.get("/fhir/Medication?_count=0").status == 200,
                COME_BACK,
                "a search answering 200 once the database is up",
                0.2,
            )
            assert server.psql("SELECT version_num FROM alembic_version", "away_at_start")
            load_ok(url, content(tmp_path))
            wait_until_available(node, probes)
            assert node.worker_pids() == workers, "gunicorn workers were replaced" + node.log()
    finally:
        running(server)


def test_a_load_while_postgres_is_down_fails_in_one_line(
    server: PostgresServer, tmp_path: Path
) -> None:
    url = server.create_database("away_load")
    load_ok(url, content(tmp_path))
    before = store_state(url)
    changed = write_bundle(tmp_path / "changed.json", marked(fixture_resources(), "changed"))
    server.stop("fast")
    try:
        result = run_load(url, changed, FLASK_DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT))
    finally:
        server.start()
    assert_one_line(result)
    after = store_state(url)
    assert after == before, difference(before, after)


# --- SQLite -------------------------------------------------------------------------------


def test_a_load_without_the_sqlite_database_fails_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.write_bytes(b"")  # a file where the database's folder should be
    result = run_load(f"sqlite:///{folder / 'store.sqlite3'}", content(tmp_path))
    assert_one_line(result)
    assert folder.read_bytes() == b""


def test_sqlite_node_started_without_its_database_serves_once_it_is_there(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "store"
    folder.write_bytes(b"")  # a file where the database's folder should be
    url = f"sqlite:///{folder / 'store.sqlite3'}"
    with Node(url, tmp_path, FLASK_DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT)) as node:
        probes = probes_of(node, up=False)
        assert_all_unavailable(node, probes)
        workers = node.worker_pids()
        folder.unlink()
        folder.mkdir()
        wait_until(
            lambda: node.get("/fhir/Medication?_count=0").status == 200,
            COME_BACK,
            "a search answering 200 once the database's folder is there",
            0.2,
        )
        load_ok(url, content(tmp_path))  # content, from another process
        wait_until_available(node, probes)
        assert node.worker_pids() == workers, "gunicorn workers were replaced" + node.log()


def test_sqlite_database_replaced_by_a_directory_is_503_and_restored_is_200(
    tmp_path: Path,
) -> None:
    """The database file is gone from its path: the node must not keep serving it (its
    pooled connections still hold the unlinked file open) but answer 503 until the file is
    back."""
    folder = tmp_path / "store"
    folder.mkdir()
    database = folder / "store.sqlite3"
    url = f"sqlite:///{database}"
    load_ok(url, content(tmp_path))
    aside = tmp_path / "aside"
    with Node(url, tmp_path, FLASK_DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT)) as node:
        probes = probes_of(node, up=True)
        before = {path: node.get(path) for path in probes if path.startswith("/fhir/")}
        workers = node.worker_pids()
        # The file (with its WAL and shared-memory files) goes; a directory takes its place.
        shutil.move(folder, aside)
        folder.mkdir()
        database.mkdir()
        try:
            assert_all_unavailable(node, probes)
        finally:
            shutil.rmtree(folder)
            shutil.move(aside, folder)
        after = wait_until_available(node, probes)
        assert node.worker_pids() == workers, "gunicorn workers were replaced" + node.log()
    for path in ("/fhir/PlanDefinition/all-induction", "/fhir/Medication/methotrexate/_history"):
        assert after[path].body == before[path].body, path
