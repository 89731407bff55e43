"""Walks the JSON once against the R4 definitions: structure, cardinality, primitives.

The walk also records every well-formed element as a ``Node`` with its FHIR type, so that
bindings, invariants, references and terminology checks look things up by type instead of
re-walking the JSON with their own (and diverging) ideas of where a Coding can be.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.deadlines import check_deadline
from service.validation import primitives
from service.validation.definitions import Definitions, Element, TypeDef
from service.validation.issues import Issue

SERVED = ("PlanDefinition", "ActivityDefinition", "Medication")
_ELEMENT = TypeDef(
    "Element",
    "complex",
    {
        "id": Element("id", "string", False, False, None, None, "Element.id"),
        "extension": Element(
            "extension", "Extension", False, True, None, None, "Element.extension"
        ),
    },
    {},
)


@dataclass(frozen=True)
class Node:
    location: str
    type: str  # a primitive, a datatype, a backbone key, or a resource type for a resource
    path: str  # where the element is defined ("Range.low"); the type for a resource root
    value: Any
    element: Element | None
    resource: Mapping[str, Any]  # the resource (maybe contained) the node belongs to


@dataclass
class Walk:
    defs: Definitions
    issues: list[Issue] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)

    def error(self, code: str, location: str, message: str) -> None:
        self.issues.append(Issue("error", code, location, message))

    def visit(self, location: str) -> None:
        check_deadline()  # every element of the input passes here
        self.positions.setdefault(location, len(self.positions))

    def resource(self, value: Any, location: str, *, contained: bool) -> None:
        self.visit(location)
        where = location or "the resource"
        if not isinstance(value, dict):
            self.error("structure", location, f"{where} must be a JSON object.")
            return
        rtype = value.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            self.error("required", location, f"{where} has no resourceType.")
            return
        typedef = self.defs.types.get(rtype)
        if typedef is None or typedef.kind != "resource":
            if contained:
                self.issues.append(
                    Issue(
                        "warning",
                        "not-supported",
                        location,
                        f"Contained {rtype} was not validated: this server validates only "
                        f"{', '.join(SERVED)}.",
                    )
                )
            else:
                self.error("not-supported", location, f"Unsupported resourceType {rtype!r}.")
            return
        self.nodes.append(Node(location, rtype, rtype, value, None, value))
        self.object(value, typedef, location or rtype, value)

    def object(
        self, obj: Mapping[str, Any], typedef: TypeDef, location: str, resource: Mapping[str, Any]
    ) -> None:
        if not obj:
            self.error("structure", location, f"{location} is an empty object (not allowed).")
            return
        for key, value in obj.items():
            here = f"{location}.{key.removeprefix('_')}"
            self.visit(here)
            if key == "resourceType" and typedef.kind == "resource":
                continue
            element = typedef.elements.get(key.removeprefix("_"))
            if element is None or (key.startswith("_") and not element.primitive):
                self.error("structure", here, _unknown(typedef, key))
            elif key.startswith("_"):
                self.companion(element, value, obj.get(element.name), here, resource)
            else:
                self.element(element, value, obj.get(f"_{key}"), here, resource)
        self.cardinality(obj, typedef, location)

    def cardinality(self, obj: Mapping[str, Any], typedef: TypeDef, location: str) -> None:
        for element in typedef.elements.values():
            present = element.name in obj or f"_{element.name}" in obj
            if element.required and not element.choice and not present:
                self.error(
                    "required",
                    f"{location}.{element.name}",
                    f"{typedef.name}.{element.name} is required (minimum cardinality 1).",
                )
        for choice, variants in typedef.choices.items():
            used = [v for v in variants if v in obj or f"_{v}" in obj]
            if len(used) > 1:
                self.error(
                    "structure",
                    f"{location}.{used[1]}",
                    f"{typedef.name}.{choice}[x] allows one type only, found {', '.join(used)}.",
                )

    def element(
        self,
        element: Element,
        value: Any,
        companion: Any,
        location: str,
        resource: Mapping[str, Any],
    ) -> None:
        if not element.many:
            if isinstance(value, list):
                self.error(
                    "structure",
                    location,
                    f"{element.path} allows a single value (0..1), not an array.",
                )
            elif value is None and not (element.primitive and companion is not None):
                self.error("structure", location, f"{element.path} is null (not allowed).")
            elif value is not None:
                self.single(element, value, location, resource)
            return
        if not isinstance(value, list):
            self.error("structure", location, f"{element.path} must be an array (0..*).")
            return
        if not value:
            self.error("structure", location, f"{element.path} is an empty array (not allowed).")
        extras = companion if isinstance(companion, list) else []
        for i, item in enumerate(value):
            here = f"{location}[{i}]"
            self.visit(here)
            if item is None:
                if not (element.primitive and i < len(extras) and extras[i] is not None):
                    self.error("structure", here, f"{element.path} has a null item.")
                continue
            self.single(element, item, here, resource)

    def single(
        self, element: Element, value: Any, location: str, resource: Mapping[str, Any]
    ) -> None:
        if element.primitive:
            found = primitives.problem(element.type, value)
            if found is not None:
                code, message = found
                self.error(code, location, f"{element.path} {message}.")
            else:
                self.nodes.append(
                    Node(location, element.type, element.path, value, element, resource)
                )
        elif element.type == "Resource":
            self.resource(value, location, contained=True)
        elif not isinstance(value, dict):
            self.error("structure", location, f"{element.path} must be a JSON object.")
        else:
            typedef = self.defs.types[element.type]
            if value:
                self.nodes.append(
                    Node(location, element.type, element.path, value, element, resource)
                )
            self.object(value, typedef, location, resource)

    def companion(
        self,
        element: Element,
        value: Any,
        primitive: Any,
        location: str,
        resource: Mapping[str, Any],
    ) -> None:
        """``_name``: the id and extensions of a primitive, item by item for arrays."""
        if not element.many:
            if isinstance(value, dict):
                self.object(value, _ELEMENT, location, resource)
            else:
                self.error("structure", location, f"_{element.name} must be a JSON object.")
            return
        if not isinstance(value, list):
            self.error("structure", location, f"_{element.name} must be an array.")
            return
        if isinstance(primitive, list) and len(primitive) != len(value):
            self.error(
                "structure",
                location,
                f"_{element.name} must have as many items as {element.name}.",
            )
        for i, item in enumerate(value):
            if item is None:
                continue
            if isinstance(item, dict):
                self.object(item, _ELEMENT, f"{location}[{i}]", resource)
            else:
                self.error("structure", f"{location}[{i}]", "Must be a JSON object or null.")


def _unknown(typedef: TypeDef, key: str) -> str:
    name = key.removeprefix("_")
    later = _later_release(typedef.name, name)
    where = f"{typedef.name}.{name}"
    if later:
        return f"{where} is not an R4 (4.0.1) element; it exists only in {later}."
    return f"{where} is not an element of R4 (4.0.1) {typedef.name}."


@functools.cache
def _later_release(owner: str, name: str) -> str:
    """Which later release defines the element, to explain a common R4B/R5 mix-up."""
    resource, *parts = owner.split(".")
    class_name = resource + "".join(p[:1].upper() + p[1:] for p in parts)
    found = []
    for release in ("R4B", "R5"):
        package = "fhir.resources" if release == "R5" else "fhir.resources.R4B"
        try:
            module = importlib.import_module(f"{package}.{resource.lower()}")
            fields = getattr(module, class_name).model_fields.values()
        except (ImportError, AttributeError):
            continue
        if any(f.alias == name for f in fields):
            found.append(release)
    return " and ".join(found)
