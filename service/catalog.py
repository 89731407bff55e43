"""Finding education content in the store, the way a reader arrives at it.

A phase (PlanDefinition) is found by the condition it is about (``useContext`` focus),
a drug (Medication) by its code, and the two are joined through the ActivityDefinitions
between them: phase ``action.definitionCanonical`` -> activity ``productReference`` ->
Medication. The reading view and the Infobutton endpoint both read through here, so they
always agree on what belongs to what.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from service.search.query import MAX_COUNT, parse_search
from service.store import Store, StoredResource
from service.store.includes import resolve_canonicals

Resource = dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """A current resource, parsed, with the store's version facts."""

    resource: Resource
    version_id: int
    last_updated: str

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    @property
    def reference(self) -> str:
        return f"{self.resource['resourceType']}/{self.resource['id']}"

    @property
    def title(self) -> str:
        """How the resource is named to people: a definition's ``title`` (else its
        ``name``), a Medication's ``code.text`` (else a coding's display), else the id."""
        resource = self.resource
        code = resource.get("code")
        concept = code if isinstance(code, dict) else {}
        candidates = [
            resource.get("title"),
            resource.get("name"),
            concept.get("text"),
            *(c.get("display") for c in concept.get("coding", []) if isinstance(c, dict)),
        ]
        return next((c for c in candidates if isinstance(c, str) and c.strip()), self.id)


@dataclass(frozen=True)
class PhaseContents:
    """What a phase uses: its activities by the canonical the actions wrote, and the
    Medications those activities give, by ``Medication/id``."""

    activities: dict[str, Entry] = field(default_factory=dict)
    medications: dict[str, Entry] = field(default_factory=dict)

    def activity(self, canonical: str | None) -> Entry | None:
        return self.activities.get(canonical) if canonical else None

    def medication_of(self, activity: Entry | None) -> Entry | None:
        if activity is None:
            return None
        reference = activity.resource.get("productReference", {}).get("reference")
        return self.medications.get(reference) if isinstance(reference, str) else None


def _entry(stored: StoredResource) -> Entry:
    return Entry(json.loads(stored.body), stored.version_id, stored.last_updated)


def search_all(store: Store, resource_type: str, pairs: Iterable[tuple[str, str]]) -> list[Entry]:
    """Every current match of a FHIR search, page after page."""
    base = parse_search(resource_type, [*pairs, ("_count", str(MAX_COUNT))], strict=True).query
    found: list[Entry] = []
    offset = 0
    while True:
        page = store.search(replace(base, offset=offset, total="none"))
        found += (_entry(item) for item in page.items)
        if not page.has_more:
            return found
        offset += len(page.items)


def read(store: Store, resource_type: str, resource_id: str) -> Entry | None:
    stored = store.read(resource_type, resource_id)
    return _entry(stored) if stored is not None else None


def every(store: Store, resource_type: str) -> Iterator[Entry]:
    return (_entry(stored) for stored in store.current(resource_type))


def _token(system: str, codes: Iterable[str]) -> str:
    # Token values separate with commas; a comma or backslash inside a code is escaped.
    def escaped(code: str) -> str:
        return code.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|")

    return ",".join(f"{system}|{escaped(code)}" for code in codes)


def phases_about(store: Store, system: str, codes: Iterable[str]) -> list[Entry]:
    """Phases whose focus (``useContext`` value) carries any of the codes."""
    codes = list(codes)
    if not codes:
        return []
    return search_all(store, "PlanDefinition", [("context", _token(system, codes))])


def medications_coded(store: Store, system: str, code: str) -> list[Entry]:
    return search_all(store, "Medication", [("code", _token(system, [code]))])


def activities_giving(store: Store, medication: Entry) -> list[Entry]:
    return [
        _entry(s)
        for s in store.referencing("ActivityDefinition", "product", [medication.reference])
    ]


def phases_using(store: Store, activities: Iterable[Entry]) -> list[Entry]:
    """Phases with an action that names one of the activities, by url or url|version."""
    canonicals = set().union(*(_canonicals(a) for a in activities))
    if not canonicals:
        return []
    return [_entry(s) for s in store.referencing("PlanDefinition", "definition", canonicals)]


def uses_of(store: Store, medication: Entry) -> list[tuple[Entry, list[Entry]]]:
    """Each phase that gives the drug, by title, with the activities of it that do."""
    activities = activities_giving(store, medication)
    uses = []
    for phase in sorted(phases_using(store, activities), key=lambda p: p.title):
        named = set(definition_canonicals(phase.resource.get("action", [])))
        uses.append((phase, [a for a in activities if named & _canonicals(a)]))
    return uses


def _canonicals(entry: Entry) -> set[str]:
    """The ways an action can name a definition: ``url`` and ``url|version``."""
    url, version = entry.resource.get("url"), entry.resource.get("version")
    if not isinstance(url, str):
        return set()
    return {url, f"{url}|{version}"} if isinstance(version, str) else {url}


def definition_canonicals(actions: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """``definitionCanonical`` of every action, at any depth, in reading order (a stack,
    not recursion: a stored plan may nest actions hundreds deep)."""
    stack = list(reversed(list(actions)))
    while stack:
        action = stack.pop()
        canonical = action.get("definitionCanonical")
        if isinstance(canonical, str):
            yield canonical
        stack.extend(reversed(action.get("action", [])))


def contents(store: Store, phase: Resource) -> PhaseContents:
    """The activities a phase's actions name, and the Medications they give."""
    wanted = set(definition_canonicals(phase.get("action", [])))
    activities: dict[str, Entry] = {}
    for stored in resolve_canonicals(store, ("ActivityDefinition",), wanted):
        entry = _entry(stored)
        for canonical in _canonicals(entry) & wanted:
            activities[canonical] = entry
    medication_ids = {
        reference.removeprefix("Medication/")
        for entry in activities.values()
        if isinstance(reference := entry.resource.get("productReference", {}).get("reference"), str)
        and reference.startswith("Medication/")
    }
    medications = {
        e.reference: e for e in map(_entry, store.read_many("Medication", medication_ids))
    }
    return PhaseContents(activities, medications)
