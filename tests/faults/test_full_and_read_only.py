"""A database that cannot take a write: a full disk, a read-only database.

The load fails with one line, ``database: … (nothing was written)``, and exit status 1,
and the store is exactly as before, row for row. A read-only database still serves reads.

Full disk: on SQLite the database file sits on a small tmpfs filled nearly to the brim; on
PostgreSQL the store's tables live in a tablespace on such a tmpfs (SQLSTATE 53100).
Read-only: SQLite opened with ``mode=ro``; a PostgreSQL database with
``default_transaction_read_only``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.databases import BACKENDS, new_database
from tests.support.postgres import PostgresServer

from .harness import (
    Node,
    assert_one_line,
    database_name,
    difference,
    fixture_resources,
    load_ok,
    mark_of,
    marked,
    run_load,
    store_state,
    synthetic_medications,
    write_bundle,
)

HEADROOM = 256 * 1024  # bytes left free on the full disk: far less than the load needs
_names = itertools.count()


@contextmanager
def small_disk(where: Path, owner: str = "root") -> Iterator[Path]:
    """A tmpfs of a few MB mounted at ``where`` (the tests run as root), owned by
    ``owner``; unmounted afterwards."""
    where.mkdir()
    entry = pwd.getpwnam(owner)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=8m,mode=0700,uid={entry.pw_uid},gid={entry.pw_gid}",
         "tmpfs", str(where)],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield where
    finally:
        unmounted = subprocess.run(["umount", str(where)], capture_output=True, check=False)
        if unmounted.returncode != 0:  # something still holds a file open there
            subprocess.run(["umount", "--lazy", str(where)], capture_output=True, check=True)
        where.rmdir()


def fill(disk: Path) -> None:
    """Fill ``disk`` up to ``HEADROOM`` free bytes."""
    stat = os.statvfs(disk)
    remaining = stat.f_bavail * stat.f_frsize - HEADROOM
    chunk = b"\0" * (1024 * 1024)
    with (disk / "filler").open("wb") as filler:
        while remaining > 0:
            remaining -= filler.write(chunk[: min(len(chunk), remaining)])
    stat = os.statvfs(disk)
    assert stat.f_bavail * stat.f_frsize <= HEADROOM + 64 * 1024


@contextmanager
def database_on_small_disk(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Path]]:
    """An empty database whose store tables are on a small disk: (URL, the disk)."""
    if backend == "sqlite":
        with small_disk(tmp_path / "disk") as disk:
            yield f"sqlite:///{disk / 'store.sqlite3'}", disk
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    n = next(_names)
    space, name = f"faults_disk_{n}", f"faults_full_{n}"
    # Inside the server's own folder: the postgres user can reach it (tmp_path it cannot).
    with small_disk(server.directory / space, owner="postgres") as disk:
        server.psql(f"CREATE TABLESPACE {space} LOCATION '{disk}'")
        try:
            url = server.create_database(name)
            # The store's tables (made by the first migration) go to the small disk.
            server.psql(f'ALTER DATABASE "{name}" SET default_tablespace = {space}')
            try:
                yield url, disk
            finally:
                server.drop_database(name)
        finally:
            server.psql(f"DROP TABLESPACE {space}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_load_into_a_full_disk_fails_in_one_line_and_writes_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with database_on_small_disk(backend, tmp_path, request) as (url, disk):
        load_ok(url, write_bundle(tmp_path / "before.json", marked(fixture_resources(), "before")))
        before = store_state(url)
        big = write_bundle(
            tmp_path / "big.json",
            marked(fixture_resources(), "big")
            + synthetic_medications(600, "big", narrative_words=600),
        )
        fill(disk)
        result = run_load(url, big)
        (disk / "filler").unlink()  # room again, to read the store back
        after = store_state(url)
    assert_one_line(result, "full", "No space left on device")
    assert after == before, difference(before, after)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_load_into_a_read_only_database_fails_in_one_line_and_reads_still_work(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database(backend, tmp_path, request)
    load_ok(url, write_bundle(tmp_path / "before.json", marked(fixture_resources(), "before")))
    before = store_state(url)
    if backend == "sqlite":
        used = f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        server.psql(f'ALTER DATABASE "{database_name(url)}" SET default_transaction_read_only = on')
        used = url
    changed = write_bundle(tmp_path / "changed.json", marked(fixture_resources(), "changed"))
    result = run_load(used, changed)
    assert_one_line(result, "readonly", "read-only")
    after = store_state(url)
    assert after == before, difference(before, after)
    with Node(used, tmp_path) as node:
        for path in ("/fhir/PlanDefinition/all-induction", "/fhir/Medication?_count=200"):
            reply = node.get(path)
            assert reply.status == 200, reply.describe() + node.log()
            body = reply.json()
            resources = [e["resource"] for e in body["entry"]] if "entry" in body else [body]
            assert {mark_of(r) for r in resources} == {"before"}, path
