"""The StructureDefinitions: our extensions and our profiles of PlanDefinition,
ActivityDefinition and Medication, made by the mapping rules that also make the content
(``mappings.rules.definitions``), so the profiles say what the mapping guarantees."""

from __future__ import annotations

from mappings.rules import definitions as rules
from mappings.rules.config import MappingConfig

from .common import Json


def structure_definitions(canonical_base: str, version: str) -> list[Json]:
    return rules.structure_definitions(MappingConfig(base=canonical_base, version=version))


def profile_url(canonical_base: str, version: str, resource_type: str) -> str | None:
    """The canonical of our profile of ``resource_type``, None when there is none."""
    if resource_type not in rules.PROFILED:
        return None
    return rules.profile_url(MappingConfig(base=canonical_base, version=version), resource_type)
