"""Which SearchParameter defines each search parameter we support, and SearchParameter
resources for the ones FHIR R4 does not define.

R4 defines most of our parameters; its SearchParameter ids are not always ``Type-code``:
``_id`` is ``Resource-id`` on every type, Medication's ``code`` is the shared
``clinical-code``, and the conformance resources share ``conformance-url`` and its kin.
``R4_IDS`` lists each R4 id we use, checked against the R4 (4.0.1) search parameter
registry (https://hl7.org/fhir/R4/searchparameter-registry.html); a parameter not in it
is ours and gets a SearchParameter here, under the canonical base.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from service.search.params import PARAMETERS, SearchParam

from .common import Json, canonical, header

R4_SEARCH_PARAMETER = "http://hl7.org/fhir/SearchParameter/"

_COMMON = {"_id": "Resource-id", "_lastUpdated": "Resource-lastUpdated",
           "_tag": "Resource-tag", "_profile": "Resource-profile",
           "_security": "Resource-security", "_source": "Resource-source"}  # fmt: skip

# The parameters R4 gives PlanDefinition and ActivityDefinition alike, each as Type-code.
_DEFINITIONAL = (
    "url", "version", "identifier", "name", "title", "status", "description", "publisher",
    "date", "effective", "jurisdiction", "topic", "context", "context-type",
    "context-type-value", "context-quantity", "context-type-quantity", "composed-of",
    "depends-on", "derived-from", "predecessor", "successor",
)  # fmt: skip

# Every conformance resource type shares these (R4 "conformance-*"); the ones we serve.
_CONFORMANCE_SHARED = ("url", "version", "name", "status")

R4_IDS: dict[str, dict[str, str]] = {
    "PlanDefinition": {
        **{code: f"PlanDefinition-{code}" for code in _DEFINITIONAL},
        "type": "PlanDefinition-type",
        "definition": "PlanDefinition-definition",
    },
    "ActivityDefinition": {code: f"ActivityDefinition-{code}" for code in _DEFINITIONAL},
    "Medication": {
        "code": "clinical-code",
        "status": "Medication-status",
        "form": "Medication-form",
        "identifier": "Medication-identifier",
        "ingredient": "Medication-ingredient",
        "ingredient-code": "Medication-ingredient-code",
        "manufacturer": "Medication-manufacturer",
        "lot-number": "Medication-lot-number",
        "expiration-date": "Medication-expiration-date",
    },
    "StructureDefinition": {
        "type": "StructureDefinition-type",
        "base": "StructureDefinition-base",
        "kind": "StructureDefinition-kind",
        "derivation": "StructureDefinition-derivation",
    },
    "SearchParameter": {
        "code": "SearchParameter-code",
        "base": "SearchParameter-base",
        "type": "SearchParameter-type",
    },
    "OperationDefinition": {
        "code": "OperationDefinition-code",
        "base": "OperationDefinition-base",
        "kind": "OperationDefinition-kind",
    },
    "ImplementationGuide": {},
}
"""Resource type -> parameter code -> R4 SearchParameter id (``_id`` and the other common
parameters aside: ``_COMMON`` holds those, for every type)."""

for _type in ("StructureDefinition", "SearchParameter", "OperationDefinition",
              "ImplementationGuide"):  # fmt: skip
    R4_IDS[_type].update({code: f"conformance-{code}" for code in _CONFORMANCE_SHARED})


def r4_id(resource_type: str, code: str) -> str | None:
    """The id of the R4 SearchParameter that defines ``code`` on ``resource_type``."""
    return _COMMON.get(code) or R4_IDS.get(resource_type, {}).get(code)


def our_id(resource_type: str, code: str) -> str:
    return f"{resource_type}-{code.lstrip('_')}"


def definition_url(resource_type: str, code: str, canonical_base: str) -> str:
    """The canonical of the SearchParameter defining ``code`` on ``resource_type``: R4's
    where R4 defines it, else ours (served and packaged by this server)."""
    found = r4_id(resource_type, code)
    if found is not None:
        return R4_SEARCH_PARAMETER + found
    return canonical(canonical_base, "SearchParameter", our_id(resource_type, code))


def own_parameters(
    parameters: Mapping[str, Mapping[str, SearchParam]] = PARAMETERS,
) -> list[tuple[str, SearchParam]]:
    """(type, parameter) for every supported parameter R4 does not define."""
    return [
        (resource_type, param)
        for resource_type, params in parameters.items()
        for param in params.values()
        if r4_id(resource_type, param.name) is None
    ]


def search_parameter(
    resource_type: str, param: SearchParam, canonical_base: str, version: str
) -> Json:
    """The SearchParameter resource for one of our own parameters, from the registry."""
    resource_id = our_id(resource_type, param.name)
    resource = header(
        "SearchParameter",
        resource_id,
        canonical_base,
        version,
        name=_identifier(f"{resource_type}_{param.name}"),
        title="",
        description=f"{param.documentation}.",
    )
    del resource["title"]  # R4 SearchParameter has no title
    resource.update(
        {
            "code": param.name,
            "base": [resource_type],
            "type": param.type,
            "expression": param.expression,
        }
    )
    if param.targets:
        resource["target"] = list(param.targets)
    resource["modifier"] = sorted(param.modifiers)
    return resource


def search_parameters(canonical_base: str, version: str) -> list[Json]:
    return [
        search_parameter(resource_type, param, canonical_base, version)
        for resource_type, param in own_parameters()
    ]


def _identifier(text: str) -> str:
    """A computer-friendly name (R4 cnl-0: ``[A-Z]([A-Za-z0-9_]){0,254}``)."""
    words = [w for w in text.replace("-", "_").split("_") if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


@dataclass(frozen=True)
class ServedParam:
    """A search parameter of a conformance resource type, answered from memory."""

    code: str
    type: str  # "token" | "string" | "uri" | "reference"
    path: str  # top-level element (or "id")
    documentation: str

    def definition(self, resource_type: str) -> str:
        found = r4_id(resource_type, self.code)
        if found is None:
            raise LookupError(f"R4 defines no {resource_type} parameter {self.code!r}")
        return R4_SEARCH_PARAMETER + found


_SERVED_COMMON = (
    ServedParam("_id", "token", "id", "Logical id of the resource"),
    ServedParam("url", "uri", "url", "The canonical URL (exact match; url|version too)"),
    ServedParam("name", "string", "name", "Computationally friendly name"),
    ServedParam("version", "token", "version", "The business version"),
    ServedParam("status", "token", "status", "draft | active | retired | unknown"),
)

SERVED_PARAMETERS: dict[str, tuple[ServedParam, ...]] = {
    "StructureDefinition": (
        *_SERVED_COMMON,
        ServedParam("type", "uri", "type", "The type the structure defines or constrains"),
        ServedParam("base", "reference", "baseDefinition", "The definition it derives from"),
        ServedParam("kind", "token", "kind", "primitive-type | complex-type | resource | logical"),
        ServedParam("derivation", "token", "derivation", "specialization | constraint"),
    ),
    "SearchParameter": (
        *_SERVED_COMMON,
        ServedParam("code", "token", "code", "The code used in the URL"),
        ServedParam("base", "token", "base", "The resource type(s) it applies to"),
        ServedParam("type", "token", "type", "number | date | string | token | reference | …"),
    ),
    "OperationDefinition": (
        *_SERVED_COMMON,
        ServedParam("code", "token", "code", "Name used to invoke the operation"),
        ServedParam("base", "reference", "base", "The operation it is derived from"),
        ServedParam("kind", "token", "kind", "operation | query"),
    ),
    "ImplementationGuide": _SERVED_COMMON,
}
"""The parameters each conformance type is searched by here; each is an R4 parameter."""
