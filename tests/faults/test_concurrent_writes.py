"""Two writers at once: they queue on the store's write lock, and each lands whole.

The test holds the write lock itself while it starts both writers, and lets go only once it
has seen both of them waiting for it (on PostgreSQL as ungranted advisory locks in
``pg_locks``; on SQLite as processes asleep in SQLite's busy handler), so the two really do
meet at the lock: neither may fail, and neither may write around the other.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.databases import BACKENDS, new_database

from .harness import (
    LockWatch,
    Node,
    current_versions,
    finish,
    fixture_resources,
    history,
    holding_write_lock,
    load_ok,
    mark_of,
    marked,
    start_load,
    store_state,
    threads_in_sqlite_busy_wait,
    wait_until,
    without_server_meta,
    write_bundle,
)


def wait_for_waiters(
    watch: LockWatch, pids: list[int], count: int, finished: Callable[[], str | None]
) -> None:
    """Until ``count`` writers wait for the write lock the test holds. ``finished`` says
    what a writer that did not wait came to (it fails the test at once)."""

    def check() -> None:
        early = finished()
        if early is not None:
            raise AssertionError(f"a writer did not wait for the lock: {early}")

    if watch.backend == "postgresql":

        def waiting() -> bool:
            check()
            return watch.pg_waiting() == count

        wait_until(waiting, 60, f"{count} sessions waiting in pg_locks")
        return
    # Asleep in SQLite's busy handler on several consecutive looks, not merely between two
    # steps of their start-up.
    streak = [0]

    def asleep() -> bool:
        check()
        streak[0] = streak[0] + 1 if threads_in_sqlite_busy_wait(pids) >= count else 0
        return streak[0] >= 5

    wait_until(asleep, 60, f"{count} writers asleep in SQLite's busy handler", 0.02)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_loads_at_once_queue_and_each_lands_whole(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database(backend, tmp_path, request)
    content = fixture_resources()
    load_ok(url, write_bundle(tmp_path / "first.json", marked(content, "first")))
    inputs = {
        mark: {(r["resourceType"], r["id"]): r for r in marked(content, mark)}
        for mark in ("a", "b")
    }
    paths = {m: write_bundle(tmp_path / f"{m}.json", list(rs.values())) for m, rs in inputs.items()}

    with LockWatch(url) as watch:
        with holding_write_lock(url):
            loads = {mark: start_load(url, path) for mark, path in paths.items()}

            def finished() -> str | None:
                done = [p for p in loads.values() if p.poll() is not None]
                return finish(done[0]).describe() if done else None

            try:
                wait_for_waiters(watch, [p.pid for p in loads.values()], 2, finished)
            except BaseException:
                for p in loads.values():
                    p.kill()
                    finish(p)
                raise
        results = {mark: finish(p) for mark, p in loads.items()}

    for mark, result in results.items():
        assert result.returncode == 0, (mark, result.describe())
        assert "0 created, 50 updated, 0 unchanged" in result.stdout, (mark, result.stdout)
    state = store_state(url)
    versions = history(state)
    assert set(versions) == set(inputs["a"])
    for key, found in versions.items():
        assert [v.version_id for v in found] == [1, 2, 3], (key, [v.version_id for v in found])
    # Each version number holds one load's content for every resource: never half of each.
    by_version = {
        n: Counter(mark_of(found[n - 1].resource) for found in versions.values()) for n in (1, 2, 3)
    }
    assert by_version[1] == {"first": len(versions)}
    second, third = (str(next(iter(by_version[n]))) for n in (2, 3))
    assert by_version[2] == {second: len(versions)} and by_version[3] == {third: len(versions)}
    assert {second, third} == {"a", "b"}
    # The current version of each resource is the last load's content, exactly.
    assert set(current_versions(state).values()) == {3}
    for key, found in versions.items():
        assert without_server_meta(found[-1].resource) == inputs[third][key], key


def _package(app: Flask) -> dict[str, Any]:
    """The induction phase with its dependencies, as $package gives it to another server:
    a transaction Bundle of conditional creates (``ifNoneExist``)."""
    response = app.test_client().get("/fhir/PlanDefinition/all-induction/$package")
    assert response.status_code == 200, response.get_data(as_text=True)
    package: dict[str, Any] = response.get_json()
    assert any("ifNoneExist" in e["request"] for e in package["entry"])
    return package


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_imports_of_one_package_create_each_resource_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, app: Flask
) -> None:
    package = _package(app)
    body = json.dumps(package).encode()
    url = new_database(backend, tmp_path, request)

    with Node(url, tmp_path) as node, LockWatch(url) as watch, ThreadPoolExecutor(2) as pool:
        with holding_write_lock(url):
            imports = [pool.submit(node.import_, body) for _ in range(2)]

            def finished() -> str | None:
                done = [f for f in imports if f.done()]
                return done[0].result().describe() + node.log() if done else None

            wait_for_waiters(watch, sorted(node.worker_pids()), 2, finished)
        replies = [f.result(timeout=120) for f in imports]
        log = node.log()

    for reply in replies:
        assert reply.status == 200, reply.describe() + log
    statuses = sorted(
        Counter(e["response"]["status"] for e in reply.json()["entry"]).most_common()
        for reply in replies
    )
    entries = len(package["entry"])
    # One import created everything; the other found every conditional create done.
    assert statuses == [[("200 OK", entries)], [("201 Created", entries)]], statuses
    state = store_state(url)
    versions = history(state)
    assert all([v.version_id for v in found] == [1] for found in versions.values()), versions
    assert Counter(t for t, _id in versions) == Counter(
        e["resource"]["resourceType"] for e in package["entry"]
    )
