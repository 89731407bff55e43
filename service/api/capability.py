"""The CapabilityStatement, generated from the routing registry, the search parameter
registry and the format registry: it lists what the server does, and only that."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, Protocol

from service.search.params import PARAMETERS, SORT_KEYS

from .negotiation import FORMATS

# When this description of the API last changed; bump it with the routes.
REVISED = "2026-11-21"

RESULT_PARAMETERS = (
    ("_count", "number", "Page size (default 20, at most 200); 0 returns only the total"),
    ("_offset", "number", "Position of the first entry; paging links carry it"),
    ("_summary", "token", "true | text | data | count | false"),
    ("_elements", "string", "Top-level elements to return (id, meta, mandatory always kept)"),
    ("_total", "token", "none | estimate | accurate (default: accurate)"),
    ("_include", "special", "Source:parameter[:Target], also :iterate; see searchInclude"),
    ("_revinclude", "special", "Source:parameter[:Target], also :iterate; see searchRevInclude"),
)


# Interactions of the whole server (CapabilityStatement.rest.interaction), not of a type.
SYSTEM_INTERACTIONS = frozenset({"transaction", "batch", "search-system", "history-system"})

CHAINING = (
    "Chained parameters follow the reference and canonical parameters (definition, "
    "composed-of, depends-on, derived-from, predecessor, successor, product, ingredient): "
    "definition.title=x, definition:ActivityDefinition.title=x (without :Type every target "
    "type that has the parameter is searched), up to 3 links; _has:Type:parameter:field=x "
    "(R4 reverse chaining, nestable within the same 3 links). A canonical pinned to "
    "url|version names that version; a bare url every version. A chain or _has this server "
    "cannot evaluate is a 400, never ignored. A reference given as an absolute URL on this "
    "server's base matches the stored relative one."
)


class OperationLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def definition(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def resource_types(self) -> tuple[str, ...] | None: ...


class RouteLike(Protocol):
    @property
    def interaction(self) -> str | None: ...
    @property
    def operation(self) -> OperationLike | None: ...


def _includes(resource_type: str) -> list[str]:
    """What ``_include`` can follow from this type (and, with :iterate, from included ones)."""
    return [f"{resource_type}:{p.name}" for p in PARAMETERS[resource_type].values() if p.targets]


def _revincludes(resource_type: str) -> list[str]:
    """What ``_revinclude`` can find: parameters of any type that point to this one."""
    return [
        f"{source}:{p.name}"
        for source, params in PARAMETERS.items()
        for p in params.values()
        if resource_type in p.targets
    ]


def _operation_entry(operation: OperationLike, canonical_base: str) -> dict[str, str]:
    definition = operation.definition
    if "://" not in definition:
        definition = f"{canonical_base}/{definition}"
    return {"name": operation.name, "definition": definition}


def capability_statement(
    routes: Sequence[RouteLike], base: str, canonical_base: str, *, fhir_version: str
) -> dict[str, Any]:
    """What this server does, for clients of ``fhir_version`` (the release they asked for)."""
    interactions = [
        r.interaction for r in routes if r.interaction and r.interaction not in SYSTEM_INTERACTIONS
    ]
    system_interactions = [r.interaction for r in routes if r.interaction in SYSTEM_INTERACTIONS]
    operations = list(dict.fromkeys(r.operation for r in routes if r.operation))
    system_operations = [op for op in operations if op.level == "system"]
    software_version = version("ped-fhir")
    resources = []
    for resource_type, params in PARAMETERS.items():
        sorts = ", ".join(sorted(SORT_KEYS[resource_type]))
        search_params = [
            {
                key: value
                for key, value in (
                    ("name", p.name),
                    ("definition", p.definition),
                    ("type", p.type),
                    ("documentation", f"{p.documentation}. Modifiers: "
                     f"{', '.join(sorted(p.modifiers)) or 'none'}."),
                )
                if value
            }
            for p in params.values()
        ]  # fmt: skip
        search_params += [
            {"name": name, "type": kind, "documentation": doc}
            for name, kind, doc in RESULT_PARAMETERS
        ]
        search_params.append(
            {"name": "_sort", "type": "string", "documentation": f"Sort keys: {sorts} "
             "(prefix - for descending)"}
        )  # fmt: skip
        resources.append(
            {
                "type": resource_type,
                "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
                "interaction": [{"code": code} for code in dict.fromkeys(interactions)],
                "versioning": "versioned",
                "readHistory": True,
                "updateCreate": False,
                "conditionalCreate": False,
                "conditionalRead": "full-support",
                "conditionalUpdate": False,
                "conditionalDelete": "not-supported",
                "documentation": CHAINING,
                "searchInclude": _includes(resource_type),
                "searchRevInclude": _revincludes(resource_type),
                "searchParam": search_params,
            }
        )
        typed = [
            _operation_entry(op, canonical_base)
            for op in operations
            if op.level != "system"
            and (op.resource_types is None or resource_type in op.resource_types)
        ]
        if typed:
            resources[-1]["operation"] = list({e["name"]: e for e in typed}.values())
    return {
        "resourceType": "CapabilityStatement",
        "id": "ped-fhir",
        "url": f"{canonical_base}/CapabilityStatement/ped-fhir",
        "version": software_version,
        "name": "PatientEducationFhirServer",
        "title": "Patient-education structured content (FHIR R4)",
        "status": "active",
        "experimental": False,
        "date": REVISED,
        "publisher": "ped-fhir",
        "description": "Read-only FHIR R4 server for cancer patient-education content: "
        "PlanDefinitions per treatment phase, ActivityDefinitions, Medications.",
        "kind": "instance",
        "software": {"name": "ped-fhir", "version": software_version},
        "implementation": {"description": "ped-fhir", "url": base},
        "fhirVersion": fhir_version,
        "format": [f.media_type for f in FORMATS] + [f.name for f in FORMATS],
        "rest": [
            {
                "mode": "server",
                "documentation": "Reads and searches are public; the $import operation "
                "requires Authorization: Bearer with the configured token. Unknown search "
                "parameters are ignored unless the request sends Prefer: handling=strict. System "
                "search (GET [base]?_type=A,B) takes the parameters every listed type has, "
                "with the result parameters; a parameter only some have is a 400.",
                "security": {
                    "cors": True,
                    "description": "CORS for GET. Writes need a Bearer token.",
                },
                "resource": resources,
                "interaction": [{"code": code} for code in dict.fromkeys(system_interactions)],
                "operation": [_operation_entry(op, canonical_base) for op in system_operations],
            }
        ],
    }
