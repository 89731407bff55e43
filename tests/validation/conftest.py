"""Our own content, mapped from the fixture pages, and a resolver that knows exactly it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from mappings.rules.config import MappingConfig
from mappings.rules.definitions import structure_definitions
from tests.conftest import PAGE_IDS, mapped


@dataclass
class KnownReferences:
    literals: set[tuple[str, str]] = field(default_factory=set)
    canonicals: set[tuple[str, str | None]] = field(default_factory=set)

    def literal_exists(self, resource_type: str, resource_id: str) -> bool:
        return (resource_type, resource_id) in self.literals

    def canonical_exists(self, url: str, version: str | None) -> bool:
        return (url, version) in self.canonicals or (url, None) in self.canonicals


def content() -> list[dict[str, Any]]:
    return [e["resource"] for stem in PAGE_IDS for e in mapped(stem).bundle["entry"]]


@pytest.fixture(scope="session")
def known() -> KnownReferences:
    refs = KnownReferences()
    # What the server publishes too: the profiles and extensions the content claims.
    for resource in [*content(), *structure_definitions(MappingConfig())]:
        refs.literals.add((resource["resourceType"], resource["id"]))
        if "url" in resource:
            refs.canonicals.add((resource["url"], resource.get("version")))
            refs.canonicals.add((resource["url"], None))
    return refs


def first(resource_type: str) -> dict[str, Any]:
    """A fresh copy of the first mapped resource of a type, to plant an error into."""
    return copy.deepcopy(next(r for r in content() if r["resourceType"] == resource_type))
