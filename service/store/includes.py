"""``_include`` and ``_revinclude``: the resources a page of results points to, or that
point to it, through literal references (``Medication/x``) and canonicals (``url`` or
``url|version``) alike.

Includes are resolved per page, from the page's matches, so paging is unaffected and
included resources never count toward ``_count`` or the total. ``:iterate`` repeats the
step from what was just included, up to ``MAX_ROUNDS`` levels.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mappings.numbers import strict_int
from service.deadlines import check_deadline, claim_heavy
from service.search.query import Include, SearchQuery

from .store import Store, StoredResource

MAX_ROUNDS = 4
MAX_INCLUDED = 1000
HEAVY_FRONTIER = 100
"""A round that starts from more resources than this (each is parsed, its references
looked up) is heavy work: the request needs one of the worker's slots for it."""


@dataclass(frozen=True)
class Included:
    items: tuple[StoredResource, ...]
    truncated: bool
    """More resources qualified than ``MAX_INCLUDED``; the rest were left out."""


def resolve(store: Store, query: SearchQuery, matches: Sequence[StoredResource]) -> Included:
    if not (query.includes or query.revincludes):
        return Included((), False)
    seen = {(m.resource_type, m.id) for m in matches}
    included: list[StoredResource] = []
    frontier = list(matches)
    for depth in range(MAX_ROUNDS):
        if len(frontier) > HEAVY_FRONTIER:
            claim_heavy()
        found: list[StoredResource] = []
        for include in query.includes:
            if depth == 0 or include.iterate:
                found += _follow(store, include, frontier)
        for include in query.revincludes:
            if depth == 0 or include.iterate:
                found += _referrers(store, include, frontier)
        frontier = []
        for item in found:
            if (item.resource_type, item.id) not in seen:
                seen.add((item.resource_type, item.id))
                frontier.append(item)
        included += frontier
        if len(included) > MAX_INCLUDED:
            return Included(tuple(included[:MAX_INCLUDED]), True)
        if not frontier:
            break
    return Included(tuple(included), False)


def _follow(
    store: Store, include: Include, resources: Iterable[StoredResource]
) -> list[StoredResource]:
    """What ``include.param`` of the ``include.source`` resources points to."""
    extract = include.param.extract
    if extract is None:
        return []
    values: set[str] = set()
    for resource in resources:
        check_deadline()  # each resource is parsed to find what it points to
        if resource.resource_type == include.source:
            values.update(e.value for e in extract(json.loads(resource.body)) if e.value)
    if not values:
        return []
    if include.param.canonical:
        return resolve_canonicals(store, include.targets(), values)
    found: list[StoredResource] = []
    for target in include.targets():
        prefix = f"{target}/"
        ids = [v[len(prefix) :] for v in values if v.startswith(prefix)]
        if ids:
            found += store.read_many(target, ids)
    return found


def resolve_canonicals(
    store: Store, targets: Sequence[str], canonicals: set[str]
) -> list[StoredResource]:
    """The stored resources of ``targets`` types that canonicals (``url`` or
    ``url|version``) name."""
    # The index holds both url and url|version for a versioned canonical; the versioned
    # form decides, so a pinned reference never pulls in other versions.
    versioned = {c for c in canonicals if "|" in c}
    pinned = {c.partition("|")[0] for c in versioned}
    wanted = versioned | {c for c in canonicals if "|" not in c and c not in pinned}
    urls = {c.partition("|")[0] for c in wanted}
    found = []
    latest: dict[str, tuple[tuple[Any, ...], StoredResource]] = {}
    for target in targets:
        for candidate in store.referencing(target, "url", urls):
            check_deadline()
            resource = json.loads(candidate.body)
            url, version = resource.get("url"), resource.get("version")
            if f"{url}|{version}" in wanted:
                found.append(candidate)
            elif url in wanted:
                # An unversioned canonical means the latest version (R4 references.html).
                key = _version_key(version, candidate.last_updated)
                if url not in latest or key > latest[url][0]:
                    latest[url] = (key, candidate)
    return found + [candidate for _, candidate in latest.values()]


def _version_key(version: Any, last_updated: str) -> tuple[Any, ...]:
    """Orders versions: numerically when they are dotted numbers (SemVer), else by when they
    were stored. A version of other characters (``1.²``, ``1.beta``, other kinds of digit) is
    an opaque string: it orders by when it was stored, and never fails the search."""
    try:
        numbers = (
            tuple(strict_int(p) for p in version.split(".")) if isinstance(version, str) else ()
        )
    except ValueError:
        numbers = ()
    if numbers:
        return (1, numbers, last_updated)
    return (0, (), last_updated)


def _referrers(
    store: Store, include: Include, resources: Iterable[StoredResource]
) -> list[StoredResource]:
    """Resources of ``include.source`` whose ``include.param`` points at ``resources``."""
    targets = include.targets()
    values: set[str] = set()
    for resource in resources:
        check_deadline()
        if resource.resource_type not in targets:
            continue
        if include.param.canonical:
            body = json.loads(resource.body)
            url, version = body.get("url"), body.get("version")
            if isinstance(url, str):
                values.add(url)
                if isinstance(version, str):
                    values.add(f"{url}|{version}")
        else:
            values.add(f"{resource.resource_type}/{resource.id}")
    if not values:
        return []
    found = store.referencing(include.source, include.param.name, values)
    if not include.param.canonical or include.param.extract is None:
        return found
    # The index holds the bare url of every canonical, versioned or not: keep only the
    # referrers whose reference, as written, names a result (pinned to another version: no).
    kept = []
    for referrer in found:
        check_deadline()
        written = {e.value for e in include.param.extract(json.loads(referrer.body)) if e.value}
        pinned = {w.partition("|")[0] for w in written if "|" in w}
        if {w for w in written if "|" in w or w not in pinned} & values:
            kept.append(referrer)
    return kept
