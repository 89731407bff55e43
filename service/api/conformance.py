"""Read and search of our own conformance resources (``service.conformance``):
StructureDefinition, SearchParameter, OperationDefinition, ImplementationGuide.

They are generated from the server's registries for its ``CANONICAL_BASE`` and
``ARTIFACT_VERSION``, not stored: they are read-only (any write is a 405), have no
history, and are searched in memory by the parameters ``SERVED_PARAMETERS`` lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, current_app
from marshmallow import ValidationError

from service.conformance import definitions
from service.conformance.search_parameters import SERVED_PARAMETERS, ServedParam
from service.search.query import MAX_CLAUSES, MAX_VALUES, ResultSchema, first_problem
from service.search.values import normalise

from . import bundles
from .errors import FhirError, operation_outcome
from .subsetting import is_subsetting, subset
from .views import cacheable, fhir_base, paging_links, reply, search_pairs, strict_handling

Resource = dict[str, Any]

ALLOWED = "GET, HEAD"
_RESULT = frozenset({"_count", "_offset", "_summary", "_elements", "_total"})
_IGNORED = frozenset({"_format", "_pretty"})
_MODIFIERS = {"string": frozenset({"exact", "contains"})}


class ConformanceSearchSchema(ResultSchema):
    """The result parameters of a search of our conformance resources: the stored types'
    (``ResultSchema``, the same checks) but ``_sort``."""

    class Meta:
        exclude = ("_sort",)


_SCHEMA = ConformanceSearchSchema()


def resources_of(resource_type: str) -> list[Resource]:
    """Our conformance resources of ``resource_type``, for this app's configuration."""
    config = current_app.config
    return [
        r
        for r in definitions(
            config["CANONICAL_BASE"],
            config["ARTIFACT_VERSION"],
            package_name=config["PACKAGE_NAME"],
        )
        if r["resourceType"] == resource_type
    ]


def _dumps(resource: Resource) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()


def _refuse_write(resource_type: str) -> FhirError:
    return FhirError(
        405,
        f"{resource_type} resources here are read-only: they are generated from the "
        f"server's own registries (allowed: {ALLOWED})",
        "not-supported",
        headers={"Allow": ALLOWED},
    )


def read(resource_type: str, resource_id: str) -> Response:
    """Read one of our conformance resources."""
    for resource in resources_of(resource_type):
        if resource["id"] == resource_id:
            return cacheable(reply(_dumps(resource)))
    raise FhirError(404, f"{resource_type}/{resource_id} is not known", "not-found")


# --- search ------------------------------------------------------------------------------


def _values_at(resource: Resource, param: ServedParam) -> list[str]:
    value = resource.get(param.path)
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _matcher(param: ServedParam, modifier: str | None, wanted: str) -> Callable[[str], bool]:
    """Whether one value of the resource matches one value of the request."""
    if param.type == "string":
        text = normalise(wanted)
        if modifier == "exact":
            return lambda value: value == wanted
        if modifier == "contains":
            return lambda value: text in normalise(value)
        return lambda value: normalise(value).startswith(text)
    if param.type == "token":
        code = wanted.rsplit("|", 1)[-1]  # system|code: codes here have one implicit system
        return lambda value: value == code
    return lambda value: value == wanted  # uri and canonical references: exact


def _matches(
    resource: Resource, param: ServedParam, modifier: str | None, values: Sequence[str]
) -> bool:
    """Any of ``values`` (ORed) matches: ``url`` also takes ``url|version``."""
    present = _values_at(resource, param)
    for wanted in values:
        url, bar, version = wanted.partition("|")
        if param.type in ("uri", "reference") and bar:
            if param.code == "url" and resource.get("version") != version:
                continue
            wanted = url
        match = _matcher(param, modifier, wanted)
        if any(match(value) for value in present):
            return True
    return False


def _split_values(raw: str) -> list[str]:
    """Comma-separated values (``\\,`` is a comma within one)."""
    values = [v.replace("\\,", ",") for v in re.split(r"(?<!\\),", raw)]
    if any(not v for v in values):
        raise FhirError(400, "a search value is empty", "invalid")
    return values


def search(resource_type: str) -> Response:
    """Search our conformance resources of one type."""
    params = {p.code: p for p in SERVED_PARAMETERS[resource_type]}
    strict = strict_handling()
    clauses: list[tuple[ServedParam, str | None, list[str]]] = []
    applied: list[tuple[str, str]] = []
    ignored: list[str] = []
    result: dict[str, str] = {}
    pairs = search_pairs()
    if len(pairs) > MAX_CLAUSES * 2:
        raise FhirError(400, f"at most {MAX_CLAUSES} search parameters are taken", "too-costly")
    for name, raw in pairs:
        if name in _IGNORED:
            continue
        if name in _RESULT:
            if name in result:
                raise FhirError(400, f"{name} is given more than once", "invalid")
            result[name] = raw
            continue
        code, _, modifier = name.partition(":")
        param = params.get(code)
        if param is None and (code == "_has" or "." in code):
            # Never ignored: ignoring a narrowing parameter would answer every resource.
            raise FhirError(
                400,
                f"{name}: chained parameters and _has are not supported on {resource_type}",
                "not-supported",
                expression=name,
            )
        if param is None:
            if strict:
                raise FhirError(
                    400,
                    f"unknown search parameter {name!r} for {resource_type} (known: "
                    f"{', '.join(params)})",
                    "not-supported",
                    expression=name,
                )
            ignored.append(name)
            continue
        if modifier and modifier not in _MODIFIERS.get(param.type, frozenset()):
            raise FhirError(
                400, f"{name}: modifier {modifier!r} is not supported here", "not-supported"
            )
        values = _split_values(raw)
        if len(values) > MAX_VALUES:
            raise FhirError(400, f"{code} has {len(values)} values; at most {MAX_VALUES}")
        clauses.append((param, modifier or None, values))
        applied.append((name, raw))
    try:
        options = _SCHEMA.load(result)
    except ValidationError as e:
        raise FhirError(400, first_problem(e), "invalid") from None
    matches = [
        r for r in resources_of(resource_type) if all(_matches(r, p, m, v) for p, m, v in clauses)
    ]
    count = 0 if options["_summary"] == "count" else options["_count"]
    offset = options["_offset"]
    page = matches[offset : offset + count]
    base = fhir_base()
    pairs_used = [*applied]
    summary, names = options["_summary"], options["_elements"]  # names: a tuple, or None
    if summary:
        pairs_used.append(("_summary", summary))
    if names:
        pairs_used.append(("_elements", ",".join(names)))
    links = paging_links(
        f"{base}/{resource_type}",
        pairs_used,
        count=count,
        offset=offset,
        total=len(matches),
        has_more=offset + count < len(matches),
    )
    subsetting = is_subsetting(summary, names)
    entries = [
        bundles.entry(
            f"{base}/{resource_type}/{r['id']}",
            subset(_dumps(r), summary, names) if subsetting else _dumps(r),
            {"search": {"mode": "match"}},
        )
        for r in page
    ]
    if ignored:
        issues: list[tuple[str, str, str, str | None]] = [
            ("warning", "not-supported", f"search parameter {name!r} is not supported and "
             "was ignored (send Prefer: handling=strict to have it rejected)", name)
            for name in ignored
        ]  # fmt: skip
        entries.append(bundles.entry_of(operation_outcome(issues), {"search": {"mode": "outcome"}}))
    return cacheable(
        reply(bundles.bundle("searchset", total=len(matches), links=links, entries=entries))
    )


def no_history(resource_type: str, **_: str) -> Response:
    """History of our conformance resources: there is none (they are not versioned)."""
    raise FhirError(
        404,
        f"{resource_type} resources here have no history: they are generated for this "
        "server's version, not stored (read or search them)",
        "not-supported",
    )


def refuse(resource_type: str, resource_id: str | None = None) -> Response:
    """Writes to our conformance resources: always 405."""
    raise _refuse_write(resource_type)
