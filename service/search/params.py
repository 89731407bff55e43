"""The search parameters this server supports, per resource type, and how each is indexed.

One registry serves three readers: the store indexes every stored resource through the
extractors below, the query parser accepts exactly these names and modifiers, and the
CapabilityStatement lists them. A parameter cannot work without being listed, or be
listed without working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .values import MAX_KEY, MIN_KEY, date_range, normalise

Resource = Mapping[str, Any]
ParamType = Literal["string", "token", "uri", "date", "reference", "composite"]


@dataclass(frozen=True)
class IndexEntry:
    """One searchable value of one resource: a row of the store's search index."""

    param: str
    system: str | None = None
    value: str | None = None
    norm: str | None = None
    low: str | None = None
    high: str | None = None


Extractor = Callable[[Resource], Iterator[IndexEntry]]

# The served types that have a canonical url (what a canonical reference can resolve to).
CANONICAL_TYPES = ("ActivityDefinition", "PlanDefinition")

# Modifiers every parameter of a type accepts.
MODIFIERS: dict[ParamType, frozenset[str]] = {
    "string": frozenset({"exact", "contains", "missing"}),
    "token": frozenset({"not", "missing"}),
    "uri": frozenset({"missing"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing"}),
    "composite": frozenset({"missing"}),
}


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: ParamType
    expression: str
    documentation: str
    extract: Extractor | None = field(default=None, compare=False)
    """None for parameters answered from the store's own columns (``_id``, ``_lastUpdated``)."""
    definition: str | None = None
    targets: tuple[str, ...] = ()
    """For a reference parameter, the served types it can point to (``_include`` follows it)."""
    canonical: bool = False
    """Whether its references are canonical URLs (``url`` or ``url|version``), not ``Type/id``."""

    @property
    def modifiers(self) -> frozenset[str]:
        return MODIFIERS[self.type]


def _walk(value: Any, path: str) -> Iterator[Any]:
    """Every value at a dotted path, flattening lists on the way (FHIRPath's ``.``)."""
    head, _, rest = path.partition(".")
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, Mapping) or head not in item:
            continue
        child = item[head]
        if rest:
            yield from _walk(child, rest)
        elif isinstance(child, list):
            yield from child
        else:
            yield child


def _actions(resource: Resource) -> Iterator[Mapping[str, Any]]:
    stack = list(resource.get("action", []))
    while stack:
        action = stack.pop()
        yield action
        stack.extend(action.get("action", []))


# --- how each kind of FHIR value becomes index entries ------------------------------------


def _string_entries(name: str, values: Iterator[Any]) -> Iterator[IndexEntry]:
    for value in values:
        if isinstance(value, str):
            yield IndexEntry(name, value=value, norm=normalise(value))


def _token_entries(name: str, values: Iterator[Any]) -> Iterator[IndexEntry]:
    for value in values:
        if isinstance(value, str):  # code, id, string used as a token
            yield IndexEntry(name, value=value)
        elif isinstance(value, Mapping):
            if "coding" in value:  # CodeableConcept
                yield from _token_entries(name, iter(value["coding"]))
            elif "code" in value:  # Coding
                yield IndexEntry(name, system=value.get("system"), value=value["code"])
            elif "value" in value:  # Identifier
                yield IndexEntry(name, system=value.get("system"), value=value["value"])


def _uri_entries(name: str, values: Iterator[Any]) -> Iterator[IndexEntry]:
    for value in values:
        if isinstance(value, str):
            yield IndexEntry(name, value=value)


def _canonical_entries(name: str, values: Iterator[Any]) -> Iterator[IndexEntry]:
    """A canonical matches its url alone, and ``url|version`` when it carries a version."""
    for value in values:
        if isinstance(value, str):
            url, _, _version = value.partition("|")
            yield IndexEntry(name, value=url)
            if url != value:
                yield IndexEntry(name, value=value)


def _reference_entries(name: str, values: Iterator[Any]) -> Iterator[IndexEntry]:
    """A Reference matches ``Type/id`` and the bare ``id``."""
    for value in values:
        reference = value.get("reference") if isinstance(value, Mapping) else None
        if isinstance(reference, str):
            yield IndexEntry(name, value=reference)
            if "/" in reference:
                yield IndexEntry(name, value=reference.rsplit("/", 1)[1])


def _date_entries(name: str, values: Iterator[Any]) -> Iterator[IndexEntry]:
    """A date the search cannot represent (before year 1 in UTC) is left unindexed."""
    for value in values:
        try:
            if isinstance(value, str):
                span = date_range(value)
                yield IndexEntry(name, low=span.low, high=span.high)
            elif isinstance(value, Mapping):  # Period: an open end is unbounded
                low = date_range(value["start"]).low if "start" in value else MIN_KEY
                high = date_range(value["end"]).high if "end" in value else MAX_KEY
                yield IndexEntry(name, low=low, high=high)
        except ValueError:
            continue


def _token_forms(coding: Mapping[str, Any]) -> list[str]:
    """The ways a token search can name a Coding: ``code``, ``system|code`` (or ``|code``)."""
    code = coding.get("code")
    if not isinstance(code, str):
        return []
    system = coding.get("system")
    return [code, f"{system}|{code}" if system else f"|{code}"]


def _context_type_value(name: str, resource: Resource) -> Iterator[IndexEntry]:
    """Composite ``type$value``: one entry per way of writing each pair of tokens."""
    for context in _walk(resource, "useContext"):
        types = _token_forms(context.get("code", {}))
        concept = context.get("valueCodeableConcept", {})
        for coding in concept.get("coding", []):
            for type_form in types:
                for value_form in _token_forms(coding):
                    yield IndexEntry(name, value=f"{type_form}${value_form}")


_KINDS: dict[ParamType, Callable[[str, Iterator[Any]], Iterator[IndexEntry]]] = {
    "string": _string_entries,
    "token": _token_entries,
    "uri": _uri_entries,
    "date": _date_entries,
}


def _param(
    resource_type: str,
    name: str,
    kind: ParamType,
    path: str,
    documentation: str,
    *,
    standard: bool = True,
) -> SearchParam:
    """A parameter whose values sit at ``path`` in the resource."""
    handler = _KINDS[kind]

    def extract(resource: Resource) -> Iterator[IndexEntry]:
        return handler(name, _walk(resource, path))

    return SearchParam(
        name=name,
        type=kind,
        expression=f"{resource_type}.{path}",
        documentation=documentation,
        extract=extract,
        definition=f"http://hl7.org/fhir/SearchParameter/{resource_type}-{name}"
        if standard
        else None,
    )


def _related(resource_type: str, name: str, relation: str) -> SearchParam:
    def extract(resource: Resource) -> Iterator[IndexEntry]:
        return _canonical_entries(
            name,
            (
                artifact.get("resource")
                for artifact in _walk(resource, "relatedArtifact")
                if artifact.get("type") == relation
            ),
        )

    return SearchParam(
        name=name,
        type="reference",
        expression=f"{resource_type}.relatedArtifact.where(type='{relation}').resource",
        documentation=f"A {relation} artifact (canonical, with or without |version)",
        extract=extract,
        definition=f"http://hl7.org/fhir/SearchParameter/{resource_type}-{name}",
        targets=CANONICAL_TYPES,
        canonical=True,
    )


def _common() -> tuple[SearchParam, ...]:
    def meta(name: str, kind: ParamType, path: str, doc: str) -> SearchParam:
        handler = _KINDS[kind]

        def extract(resource: Resource) -> Iterator[IndexEntry]:
            return handler(name, _walk(resource, path))

        return SearchParam(
            name, kind, f"Resource.{path}", doc, extract,
            f"http://hl7.org/fhir/SearchParameter/Resource-{name.lstrip('_')}",
        )  # fmt: skip

    return (
        SearchParam(
            "_id", "token", "Resource.id", "Logical id of the resource", None,
            "http://hl7.org/fhir/SearchParameter/Resource-id",
        ),
        SearchParam(
            "_lastUpdated", "date", "Resource.meta.lastUpdated",
            "When the current version was stored", None,
            "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        ),
        meta("_tag", "token", "meta.tag", "Tags applied to this resource"),
        meta("_profile", "uri", "meta.profile", "Profiles this resource claims to conform to"),
        meta("_security", "token", "meta.security", "Security labels applied to this resource"),
        meta("_source", "uri", "meta.source", "Where the resource came from"),
    )  # fmt: skip


def _definitional(resource_type: str) -> tuple[SearchParam, ...]:
    """The parameters R4 gives PlanDefinition and ActivityDefinition alike."""
    t = resource_type

    def context_type_value(resource: Resource) -> Iterator[IndexEntry]:
        return _context_type_value("context-type-value", resource)

    return (
        _param(t, "url", "uri", "url", "The canonical URL (exact match)"),
        _param(t, "version", "token", "version", "The business version"),
        _param(t, "identifier", "token", "identifier", "External identifier"),
        _param(t, "name", "string", "name", "Computationally friendly name"),
        _param(t, "title", "string", "title", "Human-friendly name"),
        _param(t, "status", "token", "status", "draft | active | retired | unknown"),
        _param(t, "description", "string", "description", "Natural language description"),
        _param(t, "publisher", "string", "publisher", "Name of the publisher"),
        _param(t, "date", "date", "date", "Date last changed"),
        _param(t, "effective", "date", "effectivePeriod", "When it is expected to be used"),
        _param(t, "jurisdiction", "token", "jurisdiction", "Intended jurisdiction (coded)"),
        _param(t, "topic", "token", "topic", "Topics associated with the artifact"),
        _param(t, "context", "token", "useContext.valueCodeableConcept", "A use context"),
        _param(t, "context-type", "token", "useContext.code", "A type of use context"),
        SearchParam(
            "context-type-value", "composite", f"{t}.useContext",
            "A use context type and its value, as type$value (each a token)",
            context_type_value, f"http://hl7.org/fhir/SearchParameter/{t}-context-type-value",
        ),
        _related(t, "composed-of", "composed-of"),
        _related(t, "depends-on", "depends-on"),
        _related(t, "derived-from", "derived-from"),
        _related(t, "predecessor", "predecessor"),
        _related(t, "successor", "successor"),
    )  # fmt: skip


def _plan_definition() -> tuple[SearchParam, ...]:
    def definition(resource: Resource) -> Iterator[IndexEntry]:
        return _canonical_entries(
            "definition", (a.get("definitionCanonical") for a in _actions(resource))
        )

    return (
        *_definitional("PlanDefinition"),
        _param("PlanDefinition", "type", "token", "type", "The type of plan definition"),
        SearchParam(
            "definition",
            "reference",
            "PlanDefinition.action.definition",
            "Activity or plan definitions used by an action at any depth of nesting "
            "(canonical, with or without |version)",
            definition,
            "http://hl7.org/fhir/SearchParameter/PlanDefinition-definition",
            targets=CANONICAL_TYPES,
            canonical=True,
        ),
    )


def _activity_definition() -> tuple[SearchParam, ...]:
    def product(resource: Resource) -> Iterator[IndexEntry]:
        return _reference_entries("product", _walk(resource, "productReference"))

    return (
        *_definitional("ActivityDefinition"),
        # Not an R4 parameter (R4 has none for the product): ours, so that
        # _include=ActivityDefinition:product can reach the Medications.
        SearchParam(
            "product",
            "reference",
            "ActivityDefinition.product.as(Reference)",
            "The Medication the activity gives (this server's own parameter, not R4's)",
            product,
            targets=("Medication",),
        ),
    )


def _medication() -> tuple[SearchParam, ...]:
    t = "Medication"

    def ingredient(resource: Resource) -> Iterator[IndexEntry]:
        return _reference_entries("ingredient", _walk(resource, "ingredient.itemReference"))

    def manufacturer(resource: Resource) -> Iterator[IndexEntry]:
        return _reference_entries("manufacturer", _walk(resource, "manufacturer"))

    return (
        _param(t, "code", "token", "code", "Codes for the medication", standard=False),
        _param(t, "status", "token", "status", "active | inactive | entered-in-error",
               standard=False),
        _param(t, "form", "token", "form", "Dose form", standard=False),
        _param(t, "identifier", "token", "identifier", "Business identifier", standard=False),
        _param(t, "ingredient-code", "token", "ingredient.itemCodeableConcept",
               "Ingredient, as a code", standard=False),
        SearchParam("ingredient", "reference", "Medication.ingredient.itemReference",
                    "Ingredient, as a reference", ingredient, targets=("Medication",)),
        SearchParam("manufacturer", "reference", "Medication.manufacturer",
                    "Manufacturer of the item", manufacturer),
        _param(t, "lot-number", "token", "batch.lotNumber", "Batch lot number", standard=False),
        _param(t, "expiration-date", "date", "batch.expirationDate", "Batch expiry",
               standard=False),
    )  # fmt: skip


PARAMETERS: dict[str, dict[str, SearchParam]] = {
    resource_type: {p.name: p for p in (*_common(), *specific)}
    for resource_type, specific in (
        ("PlanDefinition", _plan_definition()),
        ("ActivityDefinition", _activity_definition()),
        ("Medication", _medication()),
    )
}
"""Resource type -> parameter name -> parameter. Its keys are the types this server serves."""

RESOURCE_TYPES: tuple[str, ...] = tuple(PARAMETERS)

# What ``_sort`` accepts per type, and the store column each key sorts on.
SORT_KEYS: dict[str, frozenset[str]] = {
    "PlanDefinition": frozenset({"_id", "_lastUpdated", "title", "date", "version"}),
    "ActivityDefinition": frozenset({"_id", "_lastUpdated", "title", "date", "version"}),
    "Medication": frozenset({"_id", "_lastUpdated"}),
}


def index_entries(resource: Resource) -> list[IndexEntry]:
    """Every search-index row for ``resource`` (of a type in ``PARAMETERS``)."""
    params = PARAMETERS[resource["resourceType"]]
    entries: list[IndexEntry] = []
    for param in params.values():
        if param.extract is not None:
            entries.extend(param.extract(resource))
    return list(dict.fromkeys(entries))
