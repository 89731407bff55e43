"""A load killed with SIGKILL in the middle of its write transaction leaves the store
exactly as it was, and usable.

The moment is observed, not guessed: the loader must hold the store's write lock *and* have
written a good part of its batch. On PostgreSQL the loader's session holds the advisory
lock in ``pg_locks``, has a transaction id (assigned at its first write), and the table of
versions has grown on disk; on SQLite a ``BEGIN IMMEDIATE`` of the test's own fails with
"database is locked" and the WAL file has grown (SQLite spills the uncommitted batch into
it once its page cache is full). A loader that committed in pieces would have committed
some of them by then.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.databases import BACKENDS, new_database

from .harness import (
    LockWatch,
    difference,
    finish,
    fixture_resources,
    load_ok,
    marked,
    sqlite_path,
    start_load,
    store_state,
    synthetic_medications,
    wait_until,
    write_bundle,
)

# Test medications in the killed load. On SQLite with a narrative of a few kB each: several
# MB, more than SQLite's page cache holds.
BATCH = {"sqlite": (800, 600), "postgresql": (600, 0)}
GROWTH = 128 * 1024  # bytes written (WAL, or table and indexes) before the kill


def _wal_size(url: str) -> int:
    wal = sqlite_path(url).with_name(sqlite_path(url).name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_load_killed_inside_its_transaction_changes_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database(backend, tmp_path, request)
    # Before: the fixtures and some of the test medications, so that the killed load both
    # updates stored resources and creates new ones.
    load_ok(
        url,
        write_bundle(
            tmp_path / "before.json",
            marked(fixture_resources(), "before") + synthetic_medications(100, "before"),
        ),
    )
    before = store_state(url)
    killed = write_bundle(
        tmp_path / "killed.json",
        marked(fixture_resources(), "killed")
        + synthetic_medications(BATCH[backend][0], "killed", narrative_words=BATCH[backend][1]),
    )

    with LockWatch(url) as watch:
        if backend == "sqlite":
            wal_before = _wal_size(url)
        else:
            table_before = watch.pg_bytes("resource_version")
        process = start_load(url, killed)

        def writing() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the load ended first: {finish(process).describe()}")
            if backend == "postgresql":
                return any(granted and wrote for _pid, granted, wrote in watch.pg_lock()) and (
                    watch.pg_bytes("resource_version") >= table_before + GROWTH
                )
            return _wal_size(url) >= wal_before + GROWTH and watch.sqlite_locked()

        try:
            wait_until(
                writing, 120, "the load holding the write lock, a good part of its batch written"
            )
            os.kill(process.pid, signal.SIGKILL)
        finally:
            result = finish(process, 60)
        assert result.returncode == -signal.SIGKILL, result.describe()
        # The database notices the dead client and lets go of the lock.
        wait_until(lambda: not watch.held(), 30, "the killed load's write lock released")

    after = store_state(url)
    assert after == before, difference(before, after)

    # Usable: the next load goes through and is the next version of what was there.
    result = load_ok(url, write_bundle(tmp_path / "next.json", marked(fixture_resources(), "next")))
    assert "0 created, 50 updated, 0 unchanged" in result.stdout, result.stdout
    if backend == "sqlite":
        with LockWatch(url) as watch:
            assert not watch.sqlite_locked(), "a write lock is still held"
