"""The server's own conformance resources: StructureDefinitions (our extensions and
profiles), SearchParameters for the parameters R4 does not define, OperationDefinitions
for our operations, and an ImplementationGuide listing them all.

Each is generated from the registry the server already works from (the mapping rules,
``service.search.params``, ``operations``), for a canonical base and a business version
(the ``CANONICAL_BASE`` and ``ARTIFACT_VERSION`` settings): the API serves them and
``flask export`` packages them, so the two cannot differ. Pure of Flask and the store.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from .common import DEFAULT_PACKAGE_NAME
from .guide import implementation_guide
from .operations import operation_definitions
from .search_parameters import search_parameters
from .structures import structure_definitions

CONFORMANCE_TYPES = (
    "StructureDefinition",
    "SearchParameter",
    "OperationDefinition",
    "ImplementationGuide",
)

__all__ = ["CONFORMANCE_TYPES", "DEFAULT_PACKAGE_NAME", "definitions", "resolve"]


@lru_cache(maxsize=8)
def _definitions(canonical_base: str, version: str, package_name: str) -> str:
    """Every resource, as one JSON text (cached, so no caller can change the cache)."""
    resources = [
        *structure_definitions(canonical_base, version),
        *search_parameters(canonical_base, version),
        *operation_definitions(canonical_base, version),
    ]
    guide = implementation_guide(canonical_base, version, package_name, resources)
    return json.dumps([*resources, guide], ensure_ascii=False)


def definitions(
    canonical_base: str, version: str, *, package_name: str = DEFAULT_PACKAGE_NAME
) -> list[dict[str, Any]]:
    """Every conformance resource of ours, as R4 JSON: StructureDefinitions, then
    SearchParameters, OperationDefinitions, and last the ImplementationGuide."""
    found: list[dict[str, Any]] = json.loads(_definitions(canonical_base, version, package_name))
    return found


def resolve(
    url: str, canonical_base: str, version: str, *, package_name: str = DEFAULT_PACKAGE_NAME
) -> dict[str, Any] | None:
    """The conformance resource of ours whose canonical is ``url`` (``url|version`` asks
    for that business version), or None."""
    wanted, _, wanted_version = url.partition("|")
    for resource in definitions(canonical_base, version, package_name=package_name):
        if resource.get("url") == wanted and wanted_version in ("", resource.get("version")):
            return copy.deepcopy(resource)
    return None
