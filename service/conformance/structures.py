"""The StructureDefinitions: our extensions and our profiles of PlanDefinition,
ActivityDefinition and Medication, made by the mapping rules that also make the content
(``mappings.rules.definitions``), so the profiles say what the mapping guarantees."""

from __future__ import annotations

import importlib
from types import ModuleType

from mappings.rules.config import MappingConfig

from .common import Json


def _rules() -> ModuleType | None:
    try:
        return importlib.import_module("mappings.rules.definitions")
    except ModuleNotFoundError:  # pragma: no cover - until the profiles are merged
        return None


def structure_definitions(canonical_base: str, version: str) -> list[Json]:
    rules = _rules()
    if rules is None:
        return []
    made: list[Json] = rules.structure_definitions(
        MappingConfig(base=canonical_base, version=version)
    )
    return made


def profile_url(canonical_base: str, version: str, resource_type: str) -> str | None:
    """The canonical of our profile of ``resource_type``, None when there is none."""
    rules = _rules()
    if rules is None:
        return None
    url: str = rules.profile_url(MappingConfig(base=canonical_base, version=version), resource_type)
    return url
