"""Mapping rules: the middle format -> FHIR R4 resources.

One small pure function per target resource, run in the order of ``RULES``. Each builds
complete resource dicts; every resource is validated once against the pinned FHIR release
before it leaves this package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mappings import fhir
from mappings.content.model import PhaseContent
from mappings.terminology import Terminology
from mappings.terminology import load as load_terminology

from .activitydefinition import build_activity_definition
from .catalogue import Catalogue, build_catalogue
from .config import DEFAULT_BASE, MappingConfig
from .medication import build_medication
from .plandefinition import build_plan_definition, plan_id

Resource = dict[str, Any]
Rule = Callable[[PhaseContent, Catalogue, MappingConfig, Terminology], Iterable[Resource]]


def _plan_definitions(
    content: PhaseContent, catalogue: Catalogue, config: MappingConfig, terms: Terminology
) -> Iterable[Resource]:
    yield build_plan_definition(content, catalogue, config, terms)


def _activity_definitions(
    content: PhaseContent, catalogue: Catalogue, config: MappingConfig, terms: Terminology
) -> Iterable[Resource]:
    for activity in catalogue.distinct_activities():
        yield build_activity_definition(activity, config, terms)


def _medications(
    content: PhaseContent, catalogue: Catalogue, config: MappingConfig, terms: Terminology
) -> Iterable[Resource]:
    for drug in catalogue.drugs:
        yield build_medication(drug, config)


RULES: tuple[Rule, ...] = (_plan_definitions, _activity_definitions, _medications)


@dataclass(frozen=True)
class MappingResult:
    resources: tuple[Resource, ...]
    warnings: tuple[str, ...]


def map_content(
    content: PhaseContent,
    config: MappingConfig | None = None,
    terms: Terminology | None = None,
) -> MappingResult:
    """Map one phase. Raises ``fhir.InvalidResource`` if a rule built an invalid resource
    (a bug in the rules, never a property of the input)."""
    config = config or MappingConfig()
    terms = terms or load_terminology()
    catalogue = build_catalogue(content, terms)
    resources = tuple(r for rule in RULES for r in rule(content, catalogue, config, terms))
    for resource in resources:
        fhir.validate(resource)
    unknown = tuple(
        f"line {line}: drug {ref.name!r} is not in the terminology tables; "
        "its Medication has text only"
        for ref, line in catalogue.unknown_drugs
    )
    warnings = tuple(dict.fromkeys((*content.warnings, *unknown)))
    return MappingResult(resources=resources, warnings=warnings)


def collection_bundle(
    result: MappingResult, content: PhaseContent, config: MappingConfig | None = None
) -> Resource:
    """Everything mapped from one page, as an R4 collection Bundle.

    Not validated again: its entries were each validated by ``map_content``, and the
    envelope is fixed here (the test suite validates whole bundles with two validators)."""
    config = config or MappingConfig()
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": plan_id(content),
        "type": "collection",
        "entry": [
            {"fullUrl": config.url(r["resourceType"], r["id"]), "resource": r}
            for r in result.resources
        ],
    }
    return bundle


__all__ = [
    "DEFAULT_BASE",
    "RULES",
    "MappingConfig",
    "MappingResult",
    "collection_bundle",
    "map_content",
]
