"""Consistency under concurrency: two nodes on one database, one loading, one serving.

A gunicorn node serves reads while another process (``flask load``) loads generation after
generation of the same content, every resource of a generation carrying its mark (a
``meta.tag``) and, since each load changes every resource, the version number
``generation + 1``. Six readers ask the node throughout: now and then while a loader maps
its input, and flat out from the moment it is seen holding the write lock until it is seen
without it, so that replies are being built across its commit. Every reply must be 200; a
search reply (with its ``_include``s) and a ``$package`` show one generation across all
their entries; no resource of the set is ever missing; versions never go backwards for a
reader. The test also counts the replies in flight while a loader held the write lock and
the generations seen, so it cannot pass without having overlapped the loads.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import BACKENDS, new_database

from .harness import (
    INDUCTION_WITH_DEPENDENCIES,
    LockWatch,
    Node,
    finish,
    fixture_resources,
    load_ok,
    mark_of,
    marked,
    start_load,
    write_bundle,
)

GENERATIONS = 4  # loads after the first
READERS = 6
PAUSE = 0.2  # seconds between one reader's requests outside a burst

ALL_PLANS_WITH_DEPENDENCIES = (
    "/fhir/PlanDefinition?_count=200&_include=PlanDefinition:definition"
    "&_include:iterate=ActivityDefinition:product"
)
# Replies built from several queries, where a load committing in between would show: a
# page and its includes, and $package.
COMPOSITE = (
    INDUCTION_WITH_DEPENDENCIES,
    "/fhir/PlanDefinition/all-induction/$package",
    ALL_PLANS_WITH_DEPENDENCIES,
    "/fhir/Medication?_count=200&_revinclude=ActivityDefinition:product",
    "/fhir/PlanDefinition/all-maintenance/$package",
)
SEARCHES = (
    "/fhir/ActivityDefinition?_count=200",
    "/fhir/Medication?_count=200",
    "/fhir/PlanDefinition?_count=200",
)
READS = (
    "/fhir/PlanDefinition/all-induction",
    "/fhir/ActivityDefinition/vincristine",
    "/fhir/Medication/methotrexate",
)
# Each reader goes round this list: composite replies twice as often as the rest.
URLS = (*COMPOSITE, *SEARCHES[:2], *COMPOSITE, SEARCHES[2], *READS)


def generation(mark: str | None) -> int:
    assert mark is not None and mark.startswith("generation-"), mark
    return int(mark.removeprefix("generation-"))


@dataclass
class Seen:
    """What one reply showed."""

    url: str
    started: float
    ended: float
    status: int
    problem: str | None = None
    generations: set[int] = field(default_factory=set)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    members: frozenset[tuple[str, str]] = frozenset()
    total: int | None = None


def observe(node: Node, url: str) -> Seen:
    started = time.monotonic()
    try:
        reply = node.get(url, timeout=30)
    except OSError as e:
        return Seen(url, started, time.monotonic(), 0, f"no reply: {e!r}")
    seen = Seen(url, started, time.monotonic(), reply.status)
    if reply.status != 200:
        seen.problem = reply.describe()
        return seen
    body: dict[str, Any] = reply.json()
    resources = [e["resource"] for e in body.get("entry", [])] if "entry" in body else [body]
    if body["resourceType"] == "Bundle" and body["type"] == "searchset":
        seen.total = body.get("total")
    for resource in resources:
        key = (resource["resourceType"], resource["id"])
        gen = generation(mark_of(resource))
        seen.generations.add(gen)
        if "versionId" in resource.get("meta", {}):  # not in a $package
            version = int(resource["meta"]["versionId"])
            seen.versions[key] = version
            if version != gen + 1:
                seen.problem = f"{key} is version {version} with the content of generation {gen}"
    seen.members = frozenset(seen.versions) if seen.versions else frozenset(
        (r["resourceType"], r["id"]) for r in resources
    )  # fmt: skip
    return seen


def read_until(
    node: Node, stop: threading.Event, burst: threading.Event, offset: int
) -> list[Seen]:
    """One reader: the URLs round and round, one request at a time, until told to stop;
    flat out during a burst, otherwise one request per ``PAUSE`` or so."""
    seen = []
    n = offset
    while not stop.is_set():
        seen.append(observe(node, URLS[n % len(URLS)]))
        n += 1
        burst.wait(PAUSE)
    return seen


@dataclass(frozen=True)
class Load:
    started: float
    ended: float
    writing: tuple[float, float] | None
    """From when the loader was first seen holding the write lock to when it was seen
    without it (its commit lies in between)."""


def load_in_burst(url: str, path: Path, watch: LockWatch, burst: threading.Event) -> Load:
    """``flask load PATH``, the readers let loose while the loader holds the write lock."""
    process = start_load(url, path)
    started = time.monotonic()
    locked = released = None
    try:
        while process.poll() is None and time.monotonic() < started + 180:
            held = watch.held()
            if locked is None and held:
                locked = time.monotonic()
                burst.set()
            elif locked is not None and released is None and not held:
                released = time.monotonic()
                burst.clear()
            time.sleep(0.002)
    finally:
        result = finish(process)
        burst.clear()
    ended = time.monotonic()
    assert result.returncode == 0, result.describe()
    assert "0 created, 50 updated, 0 unchanged" in result.stdout, result.stdout
    return Load(started, ended, None if locked is None else (locked, released or ended))


@pytest.mark.parametrize("backend", BACKENDS)
def test_replies_never_mix_two_loads_and_nothing_goes_missing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database(backend, tmp_path, request)
    content = fixture_resources()
    files = [
        write_bundle(tmp_path / f"generation-{n}.json", marked(content, f"generation-{n}"))
        for n in range(GENERATIONS + 1)
    ]
    load_ok(url, files[0])

    with Node(url, tmp_path) as node:
        # Before any concurrent load: what every reply must contain from now on.
        expected = {u: observe(node, u) for u in set(URLS)}
        for u, seen in expected.items():
            assert seen.status == 200 and seen.problem is None, (u, seen.problem, node.log())
            assert seen.generations == {0}, (u, seen.generations)
        counts = {
            "/fhir/ActivityDefinition?_count=200": 35,
            "/fhir/Medication?_count=200": 13,
            "/fhir/PlanDefinition?_count=200": 2,
        }
        for u, count in counts.items():
            assert expected[u].total == count == len(expected[u].members), u

        stop, burst = threading.Event(), threading.Event()
        with ThreadPoolExecutor(READERS) as pool, LockWatch(url) as watch:
            readers = [pool.submit(read_until, node, stop, burst, n * 5) for n in range(READERS)]
            try:
                loads = [load_in_burst(url, path, watch, burst) for path in files[1:]]
            finally:
                stop.set()
                burst.set()
            observed = [r.result(timeout=60) for r in readers]
        final = {u: observe(node, u) for u in set(URLS)}
        log = node.log()

    problems = [
        f"{s.url}: {s.problem}" for replies in observed for s in replies if s.problem is not None
    ]
    assert not problems, f"{len(problems)} bad replies, e.g.\n" + "\n".join(problems[:5]) + log
    for replies in observed:
        latest: dict[tuple[str, str], int] = {}
        for s in replies:
            assert len(s.generations) == 1, f"{s.url} mixed generations {sorted(s.generations)}"
            assert s.members == expected[s.url].members, (
                f"{s.url}: entries {sorted(s.members ^ expected[s.url].members)} came or went"
            )
            assert s.total == expected[s.url].total, (s.url, s.total)
            for key, version in s.versions.items():
                assert version >= latest.get(key, 0), f"{key} went back from {latest[key]}"
                latest[key] = version
    for u, seen in final.items():
        assert seen.status == 200 and seen.generations == {GENERATIONS}, (u, seen)

    # Not vacuous: the readers were reading while the loads wrote, and saw them land.
    replies = [s for r in observed for s in r]
    windows = [load.writing for load in loads if load.writing is not None]
    in_flight = [s for s in replies if any(s.started < e and s.ended > b for b, e in windows)]
    generations = {g for s in replies for g in s.generations}
    assert windows, "no loader was ever seen holding the write lock"
    assert len(in_flight) >= READERS, f"{len(in_flight)} replies in flight during the writes"
    assert len(generations) >= 2, f"the readers saw only generations {sorted(generations)}"
