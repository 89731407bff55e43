"""Our own operations, described once: the routing registry takes name, level and body
media types from here, and the OperationDefinition served and packaged is made from the
same description. (``$validate`` and ``$package`` are FHIR's and CRMI's: they keep their
canonicals and have no definition of ours.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .common import Json, header


@dataclass(frozen=True)
class OperationParameter:
    name: str
    use: Literal["in", "out"]
    min: int
    max: str
    type: str
    documentation: str


@dataclass(frozen=True)
class OwnOperation:
    code: str
    """Invoked as ``$code``; also the OperationDefinition's id."""
    name: str
    title: str
    description: str
    level: Literal["system", "type", "instance"]
    affects_state: bool
    media_types: Mapping[str, str]
    """Request body media type -> what a body of that type is."""
    parameters: tuple[OperationParameter, ...]
    resource_types: tuple[str, ...] = field(default=())

    @property
    def path(self) -> str:
        """Its OperationDefinition, relative to the canonical base."""
        return f"OperationDefinition/{self.code}"


IMPORT = OwnOperation(
    code="import",
    name="Import",
    title="Import patient-education content",
    description=(
        "Maps, validates and stores a patient-education page, middle-format content, or "
        "FHIR resources, all or nothing. The request body is the content itself (not a "
        "Parameters resource); its Content-Type says what it is. Requires "
        "Authorization: Bearer with the server's API token."
    ),
    level="system",
    affects_state=True,
    media_types={
        "text/plain": "a patient-education page",
        "application/yaml": "middle-format content (YAML)",
        "application/x-yaml": "middle-format content (YAML)",
        "text/yaml": "middle-format content (YAML)",
        "application/json": "middle-format content or FHIR (the document says which)",
        "application/fhir+json": "a FHIR resource, or a transaction Bundle of them",
    },
    parameters=(
        OperationParameter(
            "content", "in", 1, "1", "Resource",
            "The request body, sent as is: a page, middle-format content or FHIR JSON "
            "(see the description for the media types).",
        ),
        OperationParameter(
            "return", "out", 1, "1", "Bundle",
            "A transaction-response Bundle: one entry per resource written or found, in "
            "request order, each with its status, location and version.",
        ),
    ),
)  # fmt: skip

OWN_OPERATIONS: tuple[OwnOperation, ...] = (IMPORT,)


def operation_definition(operation: OwnOperation, canonical_base: str, version: str) -> Json:
    media = "; ".join(f"{kind} ({what})" for kind, what in operation.media_types.items())
    resource = header(
        "OperationDefinition",
        operation.code,
        canonical_base,
        version,
        name=operation.name,
        title=operation.title,
        description=f"{operation.description} Media types: {media}.",
    )
    resource.update(
        {
            "kind": "operation",
            "affectsState": operation.affects_state,
            "code": operation.code,
            "system": operation.level == "system",
            "type": operation.level == "type",
            "instance": operation.level == "instance",
            "parameter": [
                {
                    "name": p.name,
                    "use": p.use,
                    "min": p.min,
                    "max": p.max,
                    "documentation": p.documentation,
                    "type": p.type,
                }
                for p in operation.parameters
            ],
        }
    )
    if operation.resource_types:
        resource["resource"] = list(operation.resource_types)
    return resource


def operation_definitions(canonical_base: str, version: str) -> list[Json]:
    return [operation_definition(op, canonical_base, version) for op in OWN_OPERATIONS]
