"""The CapabilityStatement, generated from the routing registry, the search parameter
registry and the format registry: it lists what the server does, and only that."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, Protocol

from service.conformance import CONFORMANCE_TYPES, resolve
from service.conformance.search_parameters import SERVED_PARAMETERS, definition_url
from service.conformance.structures import profile_url
from service.search.params import PARAMETERS, SORT_KEYS

from .negotiation import FORMATS

# When this description of the API last changed; bump it with the routes.
REVISED = "2026-12-07"

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


def _supported_profile(
    canonical_base: str, artifact_version: str, resource_type: str
) -> dict[str, Any]:
    url = profile_url(canonical_base, artifact_version, resource_type)
    return {"supportedProfile": [url]} if url else {}


def _operation_entry(operation: OperationLike, canonical_base: str) -> dict[str, str]:
    definition = operation.definition
    if "://" not in definition:
        definition = f"{canonical_base}/{definition}"
    return {"name": operation.name, "definition": definition}


# The CapabilityStatement's id: also read as CapabilityStatement/ped-fhir, where its
# canonical url is when the canonical base is the served base.
STATEMENT_ID = "ped-fhir"

# The result parameters a search of our conformance resources takes.
CONFORMANCE_RESULT_PARAMETERS = ("_count", "_offset", "_summary", "_elements", "_total")


# What a type served read-only, without versions, states.
_READ_ONLY: dict[str, Any] = {
    "versioning": "no-version",
    "readHistory": False,
    "updateCreate": False,
    "conditionalCreate": False,
    "conditionalRead": "not-supported",
    "conditionalUpdate": False,
    "conditionalDelete": "not-supported",
}


def _conformance_entry(resource_type: str) -> dict[str, Any]:
    """A conformance type we serve (``service.conformance``): read and search only."""
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "documentation": "This server's own definitions, generated from its registries; "
        "read-only, without history.",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        **_READ_ONLY,
        "searchParam": [
            {
                "name": p.code,
                "definition": p.definition(resource_type),
                "type": p.type,
                "documentation": p.documentation,
            }
            for p in SERVED_PARAMETERS[resource_type]
        ]
        + [
            {"name": name, "type": kind, "documentation": doc}
            for name, kind, doc in RESULT_PARAMETERS
            if name in CONFORMANCE_RESULT_PARAMETERS
        ],
    }


def implementation_guide_url(canonical_base: str, package_name: str) -> str:
    return f"{canonical_base}/ImplementationGuide/{package_name}"


def capability_statement(
    routes: Sequence[RouteLike],
    base: str,
    canonical_base: str,
    *,
    fhir_version: str,
    artifact_version: str,
    package_name: str,
) -> dict[str, Any]:
    """What this server does, for clients of ``fhir_version`` (the release they asked for);
    ``artifact_version`` and ``package_name`` name our profiles and ImplementationGuide."""
    interactions = [
        r.interaction for r in routes if r.interaction and r.interaction not in SYSTEM_INTERACTIONS
    ]
    system_interactions = [
        r.interaction for r in routes if r.interaction and r.interaction in SYSTEM_INTERACTIONS
    ]
    if "transaction" in system_interactions:  # POST [base] takes a batch Bundle as well
        system_interactions.append("batch")
    writes = {"create", "update", "delete"} <= set(interactions)
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
                    ("definition", definition_url(resource_type, p.name, canonical_base)),
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
                **_supported_profile(canonical_base, artifact_version, resource_type),
                "interaction": [{"code": code} for code in dict.fromkeys(interactions)],
                "versioning": "versioned",
                "readHistory": True,
                "updateCreate": writes,
                "conditionalCreate": writes,
                "conditionalRead": "full-support",
                "conditionalUpdate": writes,
                "conditionalDelete": "single" if writes else "not-supported",
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
    resources += [_conformance_entry(t) for t in CONFORMANCE_TYPES]
    resources.append(
        {
            "type": "CapabilityStatement",
            "profile": "http://hl7.org/fhir/StructureDefinition/CapabilityStatement",
            "documentation": f"This statement, also at CapabilityStatement/{STATEMENT_ID} "
            "(its canonical url when the canonical base is this server's).",
            "interaction": [{"code": "read"}],
            **_READ_ONLY,
        }
    )
    guide = implementation_guide_url(canonical_base, package_name)
    return {
        "resourceType": "CapabilityStatement",
        "id": STATEMENT_ID,
        "url": f"{canonical_base}/CapabilityStatement/{STATEMENT_ID}",
        "version": software_version,
        "name": "PatientEducationFhirServer",
        "title": "Patient-education structured content (FHIR R4)",
        "status": "active",
        "experimental": False,
        "date": REVISED,
        "publisher": "ped-fhir",
        "description": "FHIR R4 server for cancer patient-education content: "
        "PlanDefinitions per treatment phase, ActivityDefinitions, Medications. Reads are "
        "public; writes need a Bearer token.",
        "kind": "instance",
        "software": {"name": "ped-fhir", "version": software_version},
        "implementation": {"description": "ped-fhir", "url": base},
        "fhirVersion": fhir_version,
        # Ours when the guide resolves (it always does; the check keeps the two in step).
        **(
            {"implementationGuide": [guide]}
            if resolve(guide, canonical_base, artifact_version, package_name=package_name)
            else {}
        ),
        "format": [f.media_type for f in FORMATS] + [f.name for f in FORMATS],
        **({"patchFormat": ["application/json-patch+json"]} if "patch" in interactions else {}),
        "rest": [
            {
                "mode": "server",
                "documentation": "Reads and searches are public. Writes (create with "
                "If-None-Exist, update with If-Match and create-on-update, conditional update "
                "and delete, JSON Patch, delete, POST [base] with a transaction or batch "
                "Bundle) and the $import operation require Authorization: Bearer with the "
                "configured token. A delete is refused (409) while other stored resources "
                "reference it. Unknown search parameters are ignored unless the request sends "
                "Prefer: handling=strict. System "
                "search (GET [base]?_type=A,B) takes the parameters every listed type has, "
                "with the result parameters; a parameter only some have is a 400.",
                "security": {
                    "cors": True,
                    "description": "CORS for reads and writes. Writes need a Bearer token.",
                },
                "resource": resources,
                **(
                    {"interaction": [{"code": c} for c in dict.fromkeys(system_interactions)]}
                    if system_interactions
                    else {}
                ),
                "operation": [_operation_entry(op, canonical_base) for op in system_operations],
            }
        ],
    }
