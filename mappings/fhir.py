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
    """Every element path (``action.action.title``), in document order; a loop over a
    stack, so no nesting depth is too deep for it."""
    stack: list[tuple[Any, str, bool]] = [(value, prefix, False)]
    while stack:
        node, path, named = stack.pop()
        if named:
            yield path
        if isinstance(node, Mapping):
            stack.extend(
                (child, f"{path}.{key}" if path else str(key), True)
                for key, child in reversed(list(node.items()))
            )
        elif isinstance(node, list):
            stack.extend((child, path, False) for child in reversed(node))


def depth(value: Any) -> int:
    """How deeply JSON-like data nests (a scalar is 0, ``{"a": []}`` is 2), iteratively."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, Mapping):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
    return deepest


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
    except RecursionError:
        # The models recurse once per level (about 120 nested actions at most).
        problem = f"nested {depth(resource)} levels deep, too deep to validate"
        raise InvalidResource(resource_type, [(resource_type, problem)]) from None


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
    replaced by what it maps to (Bundle fullUrls to ``Type/id``, or the other way).

    A loop over a stack, not recursion: a stored resource nested hundreds of levels deep
    is copied like any other."""
    root: list[Any] = [None]
    # (what to copy, the container its copy goes in, and the key or index there)
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        node, into, at = stack.pop()
        if isinstance(node, Mapping):
            copy: dict[str, Any] = {}
            for key, item in node.items():
                if key == "reference" and isinstance(item, str):
                    copy[key] = targets.get(item, item)
                else:
                    copy[key] = None  # its place, so the copy keeps the key order
                    stack.append((item, copy, key))
            into[at] = copy
        elif isinstance(node, list):
            items: list[Any] = [None] * len(node)
            stack.extend((item, items, i) for i, item in enumerate(node))
            into[at] = items
        else:
            into[at] = node
    return root[0]
