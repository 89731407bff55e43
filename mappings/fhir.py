"""The one place the FHIR release is chosen.

We emit R4 (4.0.1). fhir.resources 8 ships R5 by default and R4B as a subpackage, with no
plain R4; R4B is a superset of R4 for the resources we emit except for the elements in
``R4B_ONLY``, which the models would accept and an R4 server would reject. So resources
are validated with the R4B models *and* refused if they use an R4B-only element.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

FHIR_VERSION = "4.0.1"

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def is_valid_id(text: str) -> bool:
    """Whether ``text`` is a FHIR logical id (the ``id`` datatype's pattern)."""
    return _ID.fullmatch(text) is not None


# Elements present in the R4B models but not in R4 4.0.1, as (resource type, path).
R4B_ONLY: frozenset[tuple[str, str]] = frozenset(
    {
        ("PlanDefinition", "subjectCanonical"),
        ("PlanDefinition", "action.subjectCanonical"),
        ("ActivityDefinition", "subjectCanonical"),
    }
)

_R4B_TYPES = frozenset(t for t, _ in R4B_ONLY)


class InvalidResource(ValueError):
    """A resource the FHIR models reject. ``problems`` are (location, message) pairs."""

    def __init__(self, resource_type: str, problems: list[tuple[str, str]]) -> None:
        first = "; ".join(f"{loc}: {msg}" for loc, msg in problems[:3])
        super().__init__(f"invalid {resource_type}: {first}")
        self.resource_type = resource_type
        self.problems = problems


def _paths(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _paths(child, path)
    elif isinstance(value, list):
        for child in value:
            yield from _paths(child, prefix)


def validate(resource: Mapping[str, Any]) -> None:
    """Raise InvalidResource unless ``resource`` is a valid R4 resource (as far as the
    models check: structure, types, cardinality; not required bindings or invariants)."""
    resource_type = str(resource.get("resourceType", ""))
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        raise InvalidResource(resource_type or "resource", [("resourceType", "unknown")]) from None
    r4b_only = (
        [
            (path, "not an R4 element (R4B only)")
            for path in _paths(resource, "")
            if (resource_type, path) in R4B_ONLY
        ]
        if resource_type in _R4B_TYPES
        else []
    )
    if r4b_only:
        raise InvalidResource(resource_type, r4b_only)
    try:
        model.model_validate(resource)
    except ValidationError as e:
        problems = [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in e.errors()]
        raise InvalidResource(resource_type, problems) from None


@cache
def _element_names(resource_type: str, flag: str) -> frozenset[str]:
    model = get_fhir_model_class(resource_type)
    names = set()
    for field in model.model_fields.values():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get(flag) and field.alias:
            names.add(field.alias)
    return frozenset(names)


def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements the release marks "summary" (what ``_summary=true`` keeps)."""
    return _element_names(resource_type, "summary_element_property")


def required_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements with a minimum cardinality of 1 (kept by every subset)."""
    return _element_names(resource_type, "element_required")


def rewrite_references(value: Any, targets: Mapping[str, str]) -> Any:
    """A copy of ``value`` in which every ``Reference.reference`` found in ``targets`` is
    replaced by what it maps to (Bundle fullUrls to ``Type/id``, or the other way)."""
    if isinstance(value, Mapping):
        return {
            key: targets.get(item, item)
            if key == "reference" and isinstance(item, str)
            else rewrite_references(item, targets)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [rewrite_references(item, targets) for item in value]
    return value
