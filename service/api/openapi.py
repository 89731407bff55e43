"""An OpenAPI 3.1 description of the FHIR API, and a human-readable page rendered from it.

Nothing here lists an endpoint, a parameter or a format by hand. The paths, methods and
operations come from the routing registry (``ROUTES``), the search parameters and their
modifiers from ``PARAMETERS``, the result parameters from the marshmallow schemas the views
validate with, and the media types from ``FORMATS`` and ``FHIR_VERSIONS``. A route, parameter
or format added to a registry therefore appears here and on ``/docs`` without an edit, and
schemathesis (``tests/api/test_openapi.py``) holds the server to what this document says.

Query parameter schemas mirror the server's own grammar exactly (value lists, escapes,
tokens, dates), so a value the schema allows is one the server accepts and the other way
round: that is what lets schemathesis check both acceptance and rejection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, render_template
from marshmallow import Schema

from mappings.numbers import MAX_DIGITS
from service.conformance.search_parameters import SERVED_PARAMETERS
from service.search.params import PARAMETERS, SORT_KEYS, SearchParam
from service.search.query import (
    DATE_PREFIXES,
    MAX_CLAUSES,
    MAX_COUNT,
    MAX_VALUES,
    ResultSchema,
)

from . import conformance, imports, writes
from .capability import CONFORMANCE_RESULT_PARAMETERS, REVISED
from .negotiation import DEFAULT_FHIR_VERSION, FHIR_VERSIONS, FORMATS
from .registry import CONFORMANCE_ROUTES, ROUTES, Operation, Route, read_statement
from .views import HistorySchema, ReadSchema

OPENAPI_VERSION = "3.1.0"
_EXTENSION_KEY = "ped.openapi"

# --- the server's value grammar, as patterns ---------------------------------------------
# A backslash escapes the next character; a lone backslash can only end the whole value.


def _char(excluded: str) -> str:
    """One character of a value that is not an unescaped separator in ``excluded``."""
    return rf"(?:[^{excluded}\\]|\\[\s\S]|\\$)"


def _value_list(item: str) -> str:
    """Comma-separated values (ORed), each non-empty, at most MAX_VALUES of them."""
    return rf"^(?:{item},){{0,{MAX_VALUES - 1}}}{item}$"


_S = _char(",")
_T = _char(",|")
_C = _char(",|$")
STRING_VALUES = _value_list(rf"{_S}+")
TOKEN_VALUES = _value_list(rf"(?:{_T}+(?:\|{_T}*)?|\|{_T}+)")
_COMPONENT = rf"(?:{_C}*\|{_C}+|{_C}*)"
COMPOSITE_VALUES = _value_list(rf"{_COMPONENT}\${_COMPONENT}")

_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH = r"(?:0[1-9]|1[0-2])"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)"
)
_TIME = (
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
FHIR_DATE = rf"(?:(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)(?:{_TIME})?|{_YEAR}-{_MONTH}|{_YEAR})"
DATE_VALUES = _value_list(rf"(?:{'|'.join(DATE_PREFIXES)})?\s*{FHIR_DATE}\s*")
SINCE = rf"^(?:\s*{FHIR_DATE}\s*)?$"  # empty: no lower bound, as the server reads it
AT = rf"^\s*{FHIR_DATE}\s*$"
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"

_VALUE_PATTERNS = {
    "string": STRING_VALUES,
    "token": TOKEN_VALUES,
    "uri": STRING_VALUES,
    "reference": STRING_VALUES,
    "date": DATE_VALUES,
    "composite": COMPOSITE_VALUES,
}
_VALUE_SYNTAX = {
    "string": "text; matches case- and accent-insensitively on a prefix",
    "token": "`code`, `system|code`, `|code` or `system|`",
    "uri": "a URI, matched exactly",
    "reference": "a canonical or reference, with or without `|version`",
    "date": f"a FHIR date, optionally prefixed by one of {', '.join(DATE_PREFIXES)}",
    "composite": "`type$value`, each a token",
}
_MODIFIERS = {
    "missing": ("`true`: resources without a value; `false`: resources with one", None),
    "exact": ("matches the whole value, case- and accent-sensitively", "string"),
    "contains": ("matches anywhere in the value", "string"),
    "not": ("resources without a matching value", "token"),
}


# --- schemas of what the server sends ----------------------------------------------------


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _object(required: tuple[str, ...], **properties: Any) -> dict[str, Any]:
    """An object with these properties; FHIR content may carry more, so others are allowed."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _resource_schema(resource_type: str) -> dict[str, Any]:
    meta = _object(
        (),
        versionId={"type": "string"},
        lastUpdated={"type": "string"},
        tag={"type": "array", "items": {"type": "object"}},
    )
    return {
        **_object(
            ("resourceType", "id"),
            resourceType=_enum(resource_type),
            id={"type": "string", "pattern": FHIR_ID},
            meta=meta,
        ),
        "description": f"A FHIR {resource_type} (http://hl7.org/fhir/R4/"
        f"{resource_type.lower()}.html); _summary and _elements return a subset tagged "
        "SUBSETTED.",
    }


def _outcome_schema() -> dict[str, Any]:
    issue = _object(
        ("severity", "code"),
        severity=_enum("fatal", "error", "warning", "information"),
        code={"type": "string"},
        diagnostics={"type": "string"},
        expression={"type": "array", "items": {"type": "string"}},
    )
    return {
        **_object(
            ("resourceType", "issue"),
            resourceType=_enum("OperationOutcome"),
            issue={"type": "array", "minItems": 1, "items": issue},
        ),
        "description": "What went wrong (errors) or what the server noted (warnings).",
    }


def _capability_schema() -> dict[str, Any]:
    return _object(
        ("resourceType", "fhirVersion", "rest"),
        resourceType=_enum("CapabilityStatement"),
        fhirVersion=_enum(*sorted(set(FHIR_VERSIONS.values()))),
        format={"type": "array", "items": {"type": "string"}},
        rest={"type": "array", "items": {"type": "object"}},
    )


def _bundle_schema(bundle_type: str, entry: dict[str, Any], *, total: bool) -> dict[str, Any]:
    link = _object(
        ("relation", "url"),
        relation=_enum("self", "first", "previous", "next", "last"),
        url={"type": "string"},
    )
    properties: dict[str, Any] = {
        "resourceType": _enum("Bundle"),
        "type": _enum(bundle_type),
        "link": {"type": "array", "items": link},
        "entry": {"type": "array", "items": entry},
    }
    if total:
        properties["total"] = {"type": "integer", "minimum": 0}
    return _object(("resourceType", "type"), **properties)


def _searchset_schema(resource_type: str) -> dict[str, Any]:
    match = _object(
        ("fullUrl", "resource", "search"),
        fullUrl={"type": "string"},
        resource=_ref("schemas", resource_type),
        search=_object(("mode",), mode=_enum("match")),
    )
    outcome = _object(
        ("resource", "search"),
        resource=_ref("schemas", "OperationOutcome"),
        search=_object(("mode",), mode=_enum("outcome")),
    )
    return _bundle_schema("searchset", {"anyOf": [match, outcome]}, total=True)


def _history_schema(resource_type: str | None) -> dict[str, Any]:
    """Of one type, or of every type (None). A delete's entry has no resource."""
    entry = _object(
        ("fullUrl", "request", "response"),
        fullUrl={"type": "string"},
        resource=_ref("schemas", resource_type or "Resource"),
        request=_object(
            ("method", "url"),
            method=_enum("POST", "PUT", "PATCH", "DELETE"),
            url={"type": "string"},
        ),
        response=_object(
            ("status", "etag", "lastModified"),
            status={"type": "string"},
            etag={"type": "string"},
            lastModified={"type": "string"},
        ),
    )
    return _bundle_schema("history", entry, total=True)


def _transaction_response_schema() -> dict[str, Any]:
    response = _object(
        ("status", "location", "etag", "lastModified"),
        status=_enum("201 Created", "200 OK"),
        location={"type": "string"},
        etag={"type": "string"},
        lastModified={"type": "string"},
        outcome=_ref("schemas", "OperationOutcome"),
    )
    entry = _object(("fullUrl", "response"), fullUrl={"type": "string"}, response=response)
    return _bundle_schema("transaction-response", entry, total=False)


def _write_response_schema() -> dict[str, Any]:
    """A transaction-response or batch-response: each entry's status, and where it is."""
    response = _object(
        ("status",),
        status={"type": "string", "pattern": "^[1-5][0-9][0-9]( .*)?$"},
        location={"type": "string"},
        etag={"type": "string"},
        lastModified={"type": "string"},
        outcome=_ref("schemas", "OperationOutcome"),
    )
    entry = _object(("response",), fullUrl={"type": "string"}, response=response,
                    resource=_ref("schemas", "Resource"))  # fmt: skip
    return _object(
        ("resourceType", "type"),
        resourceType=_enum("Bundle"),
        type=_enum("transaction-response", "batch-response"),
        entry={"type": "array", "items": entry},
    )


# --- media types --------------------------------------------------------------------------


def _is_json(media_type: str) -> bool:
    return media_type.split(";")[0].strip().endswith("json")


def _versions_note() -> str:
    releases = ", ".join(f"{k} ({v})" for k, v in FHIR_VERSIONS.items())
    return (
        f"The FHIR release is chosen by a fhirVersion parameter on Accept or _format: {releases}; "
        f"the default is {DEFAULT_FHIR_VERSION}. Content-Type names the release it used."
    )


def _content(json_schema: dict[str, Any] | None) -> dict[str, Any]:
    """The reply in every format of FORMATS. JSON formats carry ``json_schema``; other
    formats (FHIR XML) hold the same resource in a form JSON Schema cannot describe."""
    content: dict[str, Any] = {}
    for fmt in FORMATS:
        content[fmt.media_type] = (
            {"schema": json_schema} if json_schema is not None and _is_json(fmt.media_type) else {}
        )
    return content


# --- parameters ---------------------------------------------------------------------------


def _format_values() -> list[str]:
    """Every ``_format`` value that asks for a format we produce, with each fhirVersion."""
    names = sorted({name for fmt in FORMATS for name in fmt.accepted})
    return names + [f"{name};fhirVersion={v}" for name in names for v in FHIR_VERSIONS]


def _format_parameter() -> dict[str, Any]:
    produced = ", ".join(f"{f.name} ({f.media_type})" for f in FORMATS)
    return {
        "in": "query",
        "name": "_format",
        "required": False,
        "description": f"Overrides Accept. Formats produced: {produced}. Any other value is "
        f"a 406. {_versions_note()}",
        "schema": _enum(*_format_values()),
    }


def _clean_property(schema: dict[str, Any]) -> dict[str, Any]:
    """A query value is never null, and a default apispec cannot render (a tuple) is noise."""
    cleaned = dict(schema)
    kind = cleaned.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        cleaned["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in cleaned:
        cleaned["enum"] = [v for v in cleaned["enum"] if v is not None]
    default = cleaned.get("default")
    if default is None or (isinstance(default, str) and default.startswith("(")):
        cleaned.pop("default", None)
    return cleaned


@dataclass(frozen=True)
class _Builder:
    """Builds the document for one app configuration."""

    spec: APISpec
    plugin: MarshmallowPlugin
    config: Mapping[str, Any]

    def marshmallow_parameters(self, schema: type[Schema]) -> list[dict[str, Any]]:
        """Query parameters from a marshmallow schema, through apispec's converter."""
        converted = self.plugin.converter.schema2parameters(schema, location="query")  # type: ignore[union-attr]
        return [{**p, "schema": _clean_property(p["schema"])} for p in converted]


def _value_schema(param: SearchParam, modifier: str | None) -> dict[str, Any]:
    if modifier == "missing":
        return _enum("true", "false")
    kind = _MODIFIERS[modifier][1] if modifier else None
    return {"type": "string", "pattern": _VALUE_PATTERNS[kind or param.type]}


def _search_parameter(param: SearchParam, modifier: str | None) -> dict[str, Any]:
    name = f"{param.name}:{modifier}" if modifier else param.name
    if modifier:
        description = f"{param.documentation}, with :{modifier}: {_MODIFIERS[modifier][0]}."
    else:
        description = f"{param.documentation}. Value: {_VALUE_SYNTAX[param.type]}."
    description += " Commas separate alternatives (OR, `\\,` escapes); repeating ANDs."
    parameter: dict[str, Any] = {
        "in": "query",
        "name": name,
        "required": False,
        "description": description,
        "schema": _value_schema(param, modifier),
        "x-fhir-type": param.type,
    }
    if param.definition:
        parameter["x-fhir-definition"] = param.definition
    return parameter


def search_parameters(resource_type: str) -> list[dict[str, Any]]:
    """Every parameter of the type and every modifier it takes, as literal query names:
    OpenAPI has no notion of a modifier, and ``name:contains`` is the name a client sends."""
    found = []
    for param in PARAMETERS[resource_type].values():
        found.append(_search_parameter(param, None))
        found += [_search_parameter(param, m) for m in sorted(param.modifiers)]
    return found


def search_object(resource_type: str) -> dict[str, Any]:
    """The search parameters as one object: each is a query (or form) field of its own, and
    the object says what single parameters cannot, that a search takes at most MAX_CLAUSES.
    Unknown parameters are allowed (ignored unless Prefer: handling=strict) and count
    toward that limit."""
    properties = {
        p["name"]: {**p["schema"], "description": p["description"], "x-fhir-type": p["x-fhir-type"]}
        for p in search_parameters(resource_type)
    }
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": True,
        "maxProperties": MAX_CLAUSES,
    }


def _search_query(resource_type: str) -> dict[str, Any]:
    return {
        "in": "query",
        "name": "search",
        "style": "form",
        "explode": True,
        "required": False,
        "description": f"The search parameters of {resource_type}, each sent under its own "
        f"name (at most {MAX_CLAUSES} in one search). An unknown name is ignored and named in "
        "an OperationOutcome entry, or refused (400) with Prefer: handling=strict.",
        "schema": search_object(resource_type),
    }


def _sort_pattern(resource_type: str) -> str:
    keys = "|".join(re.escape(k) for k in sorted(SORT_KEYS[resource_type]))
    key = rf"\s*-*(?:{keys})\s*"
    return rf"^{key}(?:,{key})*$"


def _result_parameters(builder: _Builder, resource_type: str) -> list[dict[str, Any]]:
    """ResultSchema's fields, with the value sets the server checks after loading them."""
    refined: dict[str, dict[str, Any]] = {
        "_sort": {"pattern": _sort_pattern(resource_type)},
        "_elements": {"pattern": r"^[\s\S]*[^,\s][\s\S]*$"},
        # Capped at MAX_COUNT when used; the longest number a parameter may be is read.
        "_count": {"maximum": 10**MAX_DIGITS - 1},
    }
    notes = {
        "_sort": f"Comma-separated sort keys ({', '.join(sorted(SORT_KEYS[resource_type]))}); "
        "a leading - sorts descending.",
        "_elements": "Comma-separated top-level elements to return (id, meta and mandatory "
        "elements are kept); the subset is tagged SUBSETTED.",
        "_count": f"Page size, at most {MAX_COUNT} (a larger one is capped, and the self link "
        "gives the size used); 0 returns only the total.",
        "_offset": "Position of the first entry; the paging links carry it.",
        "_summary": "A summary of each resource; count returns only the total.",
        "_total": "Whether Bundle.total is given (none omits it).",
    }
    params = []
    for p in builder.marshmallow_parameters(ResultSchema):
        schema = {**p["schema"], **refined.get(p["name"], {})}
        params.append({**p, "schema": schema, "description": notes.get(p["name"], "")})
    return params


def _prefer_header() -> dict[str, Any]:
    return {
        "in": "header",
        "name": "Prefer",
        "required": False,
        "description": "handling=strict turns an unknown search parameter into a 400; "
        "otherwise it is ignored and named in an OperationOutcome entry.",
        "schema": {"type": "string"},
    }


# --- routes -------------------------------------------------------------------------------

_RULE_PARAMETER = re.compile(r"<(?:[a-z]+:)?(\w+)>")


@dataclass(frozen=True)
class _Endpoint:
    """One route for one resource type (or for none): an OpenAPI path."""

    route: Route
    path: str
    resource_type: str | None

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def endpoints() -> Iterator[_Endpoint]:
    """Every route of ROUTES, expanded per served type where its rule names one."""
    for route in ROUTES:
        rule = _RULE_PARAMETER.sub(r"<\1>", route.rule)  # converters are not part of the path
        typed = "<resource_type>" in rule
        for resource_type in PARAMETERS if typed else (None,):
            path = rule.replace("<resource_type>", resource_type or "")
            yield _Endpoint(route, "/fhir" + _RULE_PARAMETER.sub(r"{\1}", path), resource_type)


def _path_parameter(name: str) -> dict[str, Any]:
    if name.startswith("version"):
        schema: dict[str, Any] = {"type": "integer", "minimum": 1}
        description = "Version (meta.versionId)"
    else:
        schema = {"type": "string", "pattern": FHIR_ID}
        description = "Logical id"
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": schema,
        "description": description,
    }


def _summary(route: Route) -> tuple[str, str]:
    """(summary, description): the view's docstring, else the operation, else the route."""
    doc = (route.view.__doc__ or "").strip()
    if doc:
        first, _, rest = doc.partition("\n")
        return first.strip(), " ".join(rest.split())
    if route.operation is not None:
        return (
            f"${route.operation.name}",
            f"FHIR operation, defined by {route.operation.definition}.",
        )
    if route.interaction:
        return route.interaction.replace("-", " ").capitalize(), ""
    return route.endpoint.replace("_", " ").capitalize(), ""


def _success(endpoint: _Endpoint) -> tuple[str, dict[str, Any]]:
    """The 2xx reply of a route, by the FHIR interaction or operation it implements."""
    route, resource_type = endpoint.route, endpoint.resource_type
    if route.operation is not None and _writes(route):
        return "The outcome of each resource written, as a transaction-response Bundle", (
            _ref("schemas", "Bundle_transaction-response")
        )
    if route.operation is not None:
        return f"The result of ${route.operation.name}", _ref("schemas", "Resource")
    if route.interaction == "history-system":
        return "Versions of every type, newest first, one page", _ref("schemas", "Bundle_history")
    if route.interaction == "search-system":
        return "The matching resources of the types searched, one page", _ref(
            "schemas", "Bundle_searchset"
        )
    if resource_type is None:
        return "The CapabilityStatement: what this server does", _ref(
            "schemas", "CapabilityStatement"
        )
    if route.interaction == "search-type":
        return f"The matching {resource_type} resources, one page", _ref(
            "schemas", f"Bundle_searchset_{resource_type}"
        )
    if route.interaction in ("history-type", "history-instance"):
        return "Versions, newest first, one page", _ref(
            "schemas", f"Bundle_history_{resource_type}"
        )
    if route.interaction in ("read", "vread"):
        return f"The {resource_type}", _ref("schemas", resource_type)
    raise LookupError(f"no reply is described for route {route.rule} ({route.interaction})")


# The write interactions (service.api.writes), by the view that answers them.
_INTERACTION_WRITES = {
    writes.create: "create",
    writes.update: "update",
    writes.conditional_update: "update",
    writes.patch: "patch",
    writes.delete: "delete",
    writes.conditional_delete: "delete",
    writes.transaction_or_batch: "transaction",
}


def _writes(route: Route) -> bool:
    """Whether the route writes, and so needs the Bearer token. The registry does not say
    (an ``Operation.requires_token`` would be better); the writing views are known here."""
    return route.view is imports.import_content or route.view in _INTERACTION_WRITES


def _write_responses(endpoint: _Endpoint) -> dict[str, Any]:
    """The replies of a write interaction: what it answers, and each error it can give."""
    route, resource_type = endpoint.route, endpoint.resource_type
    kind = _INTERACTION_WRITES[route.view]
    outcome = _content(_ref("schemas", "OperationOutcome"))
    versioned = {name: _ref("headers", name) for name in ("ETag", "Last-Modified", "Location")}
    responses: dict[str, Any]
    if kind == "transaction":
        responses = {
            "200": {
                "description": "A transaction-response (all entries done) or batch-response "
                "(each entry's own status and outcome) Bundle",
                "content": _content(_ref("schemas", "Bundle_write-response")),
            }
        }
    elif kind == "delete":
        responses = {
            "204": {"description": "Deleted, or nothing was there to delete"},
            "200": {"description": "Deleted, with Prefer: return=OperationOutcome",
                    "content": outcome},
        }  # fmt: skip
    else:
        stored = {
            "anyOf": [_ref("schemas", str(resource_type)), _ref("schemas", "OperationOutcome")]
        }
        body = _content(stored)
        note = (
            " (no body with Prefer: return=minimal, an OperationOutcome with "
            "return=OperationOutcome)"
        )
        responses = {
            "200": {"description": f"Updated, unchanged or (If-None-Exist) found{note}",
                    "content": body, "headers": versioned},
            "201": {"description": f"Created{note}", "content": body, "headers": versioned},
        }  # fmt: skip
        if kind == "patch":
            del responses["201"]
    errors = {400, 401, 403, 406, 412, 413, 415, 503}
    if endpoint.path_parameters:
        errors.add(404)
    if kind in ("delete", "transaction"):
        errors.add(409)
    if kind == "delete":
        errors -= {413, 415}
    if kind in ("patch", "transaction"):
        errors |= {410, 422}
    for status in sorted(errors):
        responses[str(status)] = _ref("responses", f"Error{status}")
    return responses


def _write_body(endpoint: _Endpoint) -> dict[str, Any]:
    route, resource_type = endpoint.route, endpoint.resource_type
    kind = _INTERACTION_WRITES[route.view]
    if kind == "patch":
        operation = _object(
            ("op", "path"),
            op=_enum("add", "remove", "replace", "move", "copy", "test"),
            path={"type": "string"},
            value={},
            **{"from": {"type": "string"}},
        )
        return {
            "required": True,
            "description": "A JSON Patch (RFC 6902); the patched resource passes the gate",
            "content": {writes.PATCH_BODIES[0]: {"schema": {"type": "array", "items": operation}}},
        }
    if kind == "transaction":
        schema = _object(("resourceType", "type"), resourceType=_enum("Bundle"),
                         type=_enum("transaction", "batch"), entry={"type": "array"})  # fmt: skip
        return {
            "required": True,
            "description": "A transaction Bundle (all or nothing) or a batch Bundle",
            "content": {m: {"schema": schema} for m in writes.JSON_BODIES},
        }
    content = {
        media_type: {"schema": _ref("schemas", str(resource_type))} if _is_json(media_type) else {}
        for media_type in writes.RESOURCE_BODIES
    }
    return {"required": True, "description": f"The {resource_type}", "content": content}


def _write_headers(endpoint: _Endpoint) -> list[dict[str, Any]]:
    kind = _INTERACTION_WRITES[endpoint.route.view]
    headers = [_header_parameter("Prefer", "return=minimal | representation | OperationOutcome")]
    if kind == "create":
        headers.append(_header_parameter("If-None-Exist", "Search criteria: create only if "
                                         "nothing matches (one match: 200 with it)"))  # fmt: skip
    if kind in ("update", "patch", "delete") and endpoint.path_parameters:
        headers.append(_header_parameter("If-Match", 'The version to change, W/"n" (412 if stale)'))
    return headers


def _header_parameter(name: str, description: str) -> dict[str, Any]:
    return {"in": "header", "name": name, "required": False, "schema": {"type": "string"},
            "description": description}  # fmt: skip


def _reads_store(route: Route) -> bool:
    return route.interaction is not None or route.operation is not None


def _responses(endpoint: _Endpoint, method: str, has_parameters: bool) -> dict[str, Any]:
    route = endpoint.route
    if route.view in _INTERACTION_WRITES:
        return _write_responses(endpoint)
    description, schema = _success(endpoint)
    ok: dict[str, Any] = {"description": description, "content": _content(schema)}
    conditional = route.interaction in ("read", "vread")
    if conditional or route.interaction == "search-type":
        ok["headers"] = {"Cache-Control": _ref("headers", "Cache-Control")}
    if conditional:
        ok["headers"].update(
            {"ETag": _ref("headers", "ETag"), "Last-Modified": _ref("headers", "Last-Modified")}
        )
    links = _links(endpoint, method)
    if links:
        ok["links"] = links
    responses: dict[str, Any] = {"200": ok}
    if conditional:
        responses["304"] = {"description": "Not modified (If-None-Match, If-Modified-Since)"}
    errors = {406, 410} if conditional else {406}
    if has_parameters:
        errors.add(400)
    if endpoint.path_parameters:
        errors.add(404)
    if _reads_store(route):
        errors.add(503)
    if method == "post":
        errors |= {413, 415}
    if route.operation is not None:
        errors |= {400, 404}  # 404: what the parameters name is not stored
    if _writes(route):
        errors |= {401, 403}
    for status in sorted(errors):
        responses[str(status)] = _ref("responses", f"Error{status}")
    return responses


# --- links: how one reply leads to the next request ---------------------------------------
# OpenAPI links (runtime expressions) say which values of a reply a client sends next: the
# id of a search match to read it, a read's version to vread it, what $import wrote to read
# it back. Schemathesis follows them to chain calls (tests/api/test_stateful.py).

_ID = r"([A-Za-z0-9.\-]+)"  # a logical id (no "}": it would end the runtime expression)
_ETAG_VERSION = r'^W/"([0-9]+)"$'


def _operation_id(endpoint: str, resource_type: str | None, method: str) -> str:
    return f"{endpoint}-{resource_type or 'system'}-{method}"


def _link(target: str, description: str, **parameters: str) -> dict[str, Any]:
    return {
        "operationId": target,
        "description": description,
        "parameters": {f"path.{name}": value for name, value in parameters.items()},
    }


def _instance_links(
    resource_type: str, resource_id: str, version_id: str | None, source: str
) -> dict[str, Any]:
    """Read and history of the resource ``resource_id`` names, and vread of ``version_id``."""
    links = {
        "read": _link(
            _operation_id("read", resource_type, "get"),
            f"Read the {resource_type} {source}",
            resource_id=resource_id,
        ),
        "history": _link(
            _operation_id("history_instance", resource_type, "get"),
            f"The history of the {resource_type} {source}",
            resource_id=resource_id,
        ),
    }
    if version_id is not None:
        links["vread"] = _link(
            _operation_id("vread", resource_type, "get"),
            f"Read that version of the {resource_type} {source}",
            resource_id=resource_id,
            version_id=version_id,
        )
    return links


def _import_links() -> dict[str, Any]:
    """What $import wrote, from its first entry's location (``Type/id/_history/n``), for
    each type: a link whose type is not the first entry's finds nothing to follow."""
    links: dict[str, Any] = {}
    for resource_type in PARAMETERS:
        location = f"$response.body#/entry/0/response/location#regex:^{resource_type}/"
        found = _instance_links(
            resource_type,
            f"{location}{_ID}/_history/[0-9]+$",
            f"{location}[^/]+/_history/([0-9]+)$",
            "written first",
        )
        links |= {f"{name}-{resource_type}": link for name, link in found.items()}
    return links


def _instance_operation_links(resource_type: str) -> dict[str, Any]:
    """Each instance-level operation (``$package``) of the resource read, by GET."""
    links = {}
    for route in ROUTES:
        operation = route.operation
        if operation is None or operation.level != "instance" or "GET" not in route.methods:
            continue
        if resource_type not in (operation.resource_types or PARAMETERS):
            continue
        typed = "resource_type>" in route.rule
        links[operation.name] = _link(
            _operation_id(route.endpoint, resource_type if typed else None, "get"),
            f"${operation.name} of the {resource_type} read",
            resource_id="$request.path.resource_id",
        )
    return links


def _links(endpoint: _Endpoint, method: str) -> dict[str, Any]:
    """The links of a route's 200 reply (HEAD has its GET's: they are enough to chain)."""
    route, resource_type = endpoint.route, endpoint.resource_type
    if method == "head":
        return {}
    if route.operation is not None and _writes(route):
        return _import_links()
    if resource_type is None:
        return {}
    first = "$response.body#/entry/0/resource"
    this = "$request.path.resource_id"
    if route.interaction == "search-type":
        return _instance_links(resource_type, f"{first}/id", None, "matched first")
    if route.interaction == "history-type":
        return _instance_links(
            resource_type, f"{first}/id", f"{first}/meta/versionId", "changed last"
        )
    if route.interaction == "history-instance":
        links = _instance_links(
            resource_type, this, f"{first}/meta/versionId", "whose history this is"
        )
        del links["history"]  # this reply
        return links
    if route.interaction == "read":
        etag = f"$response.header.ETag#regex:{_ETAG_VERSION}"
        links = _instance_links(resource_type, this, etag, "read")
        del links["read"]  # this reply
        return links | _instance_operation_links(resource_type)
    return {}


def _form_body(resource_type: str) -> dict[str, Any]:
    """POST _search: the search parameters as a form."""
    return {
        "required": True,
        "description": f"The search parameters of {resource_type}, form-encoded (at most "
        f"{MAX_CLAUSES}); result parameters and _format go in the query.",
        "content": {"application/x-www-form-urlencoded": {"schema": search_object(resource_type)}},
    }


def _common_search_object() -> dict[str, Any]:
    """The parameters every served type has, as one object (as ``search_object``)."""
    properties = search_object(next(iter(PARAMETERS)))["properties"]
    return {
        "type": "object",
        "properties": {name: f for name, f in properties.items() if name.startswith("_")},
        "additionalProperties": True,  # ignored, as on a type's search
        "maxProperties": MAX_CLAUSES,
    }


def _type_parameter() -> dict[str, Any]:
    return {
        "in": "query",
        "name": "_type",
        "style": "form",
        "explode": False,
        "required": False,
        "description": "The types to search, comma-separated (default: every type served). "
        "With one type, every parameter of that type applies.",
        "schema": {"type": "array", "items": _enum(*PARAMETERS), "minItems": 1,
                   "uniqueItems": True},
    }  # fmt: skip


def _system_query() -> dict[str, Any]:
    return {
        "in": "query",
        "name": "search",
        "style": "form",
        "explode": True,
        "required": False,
        "description": "Parameters every type searched has, each under its own name; a "
        "parameter only some of the types have is a 400.",
        "schema": _common_search_object(),
    }


def _system_form_body() -> dict[str, Any]:
    """POST [base]/_search: the parameters every type has, as a form (``_type`` in the
    query)."""
    return {
        "required": True,
        "description": "A search across types, form-encoded: the parameters every type has; "
        "_type, result parameters and _format go in the query.",
        "content": {"application/x-www-form-urlencoded": {"schema": _common_search_object()}},
    }


def _parameters_resource(builder: _Builder, operation: Operation) -> dict[str, Any]:
    """A FHIR operation's input as a Parameters resource: its parameters, each a string."""
    fields = builder.marshmallow_parameters(operation.parameters) if operation.parameters else []
    parameter = {
        "type": "object",
        "required": ["name", "valueString"],
        "additionalProperties": False,
        "properties": {
            "name": _enum(*(p["name"] for p in fields)),
            "valueString": {"type": "string", "minLength": 1},
        },
    }
    return _object(
        ("resourceType",),
        resourceType=_enum("Parameters"),
        parameter={"type": "array", "items": parameter},
    )


def _body_schema(builder: _Builder, route: Route, media_type: str) -> dict[str, Any]:
    """Writes take content (a page, YAML, FHIR); other operations a Parameters resource."""
    if not _is_json(media_type):
        return {"type": "string"}
    if route.operation is not None and route.operation.body_is_subject:
        return {"description": "Any JSON: what is wrong with it is the answer, not an error"}
    if _writes(route) or route.operation is None:
        return {"type": "object"}
    return _parameters_resource(builder, route.operation)


def _narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'}


def _import_examples(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """One FHIR resource of each served type, valid as it stands, to $import as FHIR JSON:
    what a client can send as is, and what schemathesis sends to follow the reply's links."""
    base = config.get("CANONICAL_BASE")

    def canonical(resource_type: str, resource_id: str, title: str) -> dict[str, Any]:
        return {
            "resourceType": resource_type,
            "id": resource_id,
            "text": _narrative(title),
            "url": f"{base}/{resource_type}/{resource_id}",
            "version": "1.0.0",
            "name": "".join(word.capitalize() for word in resource_id.split("-")),
            "title": title,
            "status": "draft",
        }

    resources = {
        "PlanDefinition": canonical("PlanDefinition", "example-plan", "An example plan"),
        "ActivityDefinition": {
            **canonical("ActivityDefinition", "example-activity", "An example activity"),
            "kind": "MedicationRequest",
            "intent": "proposal",
        },
        "Medication": {
            "resourceType": "Medication",
            "id": "example-medication",
            "text": _narrative("asparaginase"),
            "status": "active",
            "code": {
                "coding": [
                    {
                        "system": "http://www.whocc.no/atc",
                        "code": "L01XX02",
                        "display": "asparaginase",
                    }
                ],
                "text": "asparaginase",
            },
        },
    }
    return {
        resource_type: {"summary": f"{resource_type}/{resource['id']}", "value": resource}
        for resource_type, resource in resources.items()
        if resource_type in PARAMETERS
    }


def _operation_body(builder: _Builder, route: Route, operation: Operation) -> dict[str, Any]:
    content = {
        media_type: {"schema": _body_schema(builder, route, media_type)}
        for media_type in operation.body
    }
    if _writes(route):
        for media_type, media in content.items():
            if _is_json(media_type):
                media["examples"] = _import_examples(builder.config)
    return {
        "required": True,
        "content": content,
        "description": f"The input of ${operation.name}, as {', '.join(operation.body)}",
    }


def _parameters(builder: _Builder, endpoint: _Endpoint, method: str) -> list[Any]:
    route, resource_type = endpoint.route, endpoint.resource_type
    params: list[Any] = [_path_parameter(name) for name in endpoint.path_parameters]
    params.append("_format")  # apispec turns a component name into its $ref
    if route.operation is not None and route.operation.parameters is not None:
        params += builder.marshmallow_parameters(route.operation.parameters)
    if route.interaction == "history-system":
        return params + _history_parameters(builder)
    if route.view in _INTERACTION_WRITES:
        params += _write_headers(endpoint)
        if resource_type is not None and not endpoint.path_parameters and method != "post":
            params.append(_search_query(resource_type))  # conditional update and delete
        return params
    if route.interaction == "search-system":
        fewest = min(SORT_KEYS, key=lambda t: len(SORT_KEYS[t]))  # the keys every type has
        params += _result_parameters(builder, fewest)
        params.append(_prefer_header())
        params.append(_type_parameter())
        if method != "post":
            params.append(_system_query())
        return params
    if resource_type is None:
        return params
    if route.interaction == "search-type":
        params += _result_parameters(builder, resource_type)
        params.append(_prefer_header())
        if method != "post":
            params.append(_search_query(resource_type))
    elif route.interaction in ("history-type", "history-instance"):
        params += _history_parameters(builder)
    elif route.interaction in ("read", "vread"):
        params += builder.marshmallow_parameters(ReadSchema)
    return params


def _history_parameters(builder: _Builder) -> list[dict[str, Any]]:
    params = builder.marshmallow_parameters(HistorySchema)
    for p in params:
        if p["name"] == "_since":
            p["schema"] = {**p["schema"], "pattern": SINCE}
            p["description"] = "Only versions stored at or after this FHIR date or instant"
        elif p["name"] == "_at":
            p["schema"] = {**p["schema"], "pattern": AT}
            p["description"] = (
                "Only versions current at some moment of this FHIR date, dateTime or instant "
                "(at its precision); with _since, versions meeting both"
            )
    return params


def _operation(builder: _Builder, endpoint: _Endpoint, method: str) -> dict[str, Any]:
    route = endpoint.route
    summary, description = _summary(route)
    params = _parameters(builder, endpoint, method)
    operation: dict[str, Any] = {
        "operationId": _operation_id(route.endpoint, endpoint.resource_type, method),
        "summary": summary,
        "tags": [endpoint.resource_type or "System"],
        "parameters": params,
    }
    if description:
        operation["description"] = description
    if method == "head":
        operation["description"] = "As GET, without a body."
    if route.interaction:
        operation["x-fhir-interaction"] = route.interaction
    if route.operation is not None:
        operation["x-fhir-operation"] = route.operation.definition
        if _writes(route):
            operation["security"] = [{"bearer": []}]
        if route.operation.body:
            operation["requestBody"] = _operation_body(builder, route, route.operation)
    if method == "post" and route.interaction == "search-system":
        operation["requestBody"] = _system_form_body()
    if method == "post" and route.interaction == "search-type":
        assert endpoint.resource_type is not None  # noqa: S101 (typed routes only)
        operation["requestBody"] = _form_body(endpoint.resource_type)
    if route.view in _INTERACTION_WRITES:
        operation["security"] = [{"bearer": []}]
        if method in ("post", "put", "patch"):
            operation["requestBody"] = _write_body(endpoint)
    has_parameters = len(params) > 1 + len(endpoint.path_parameters)
    operation["responses"] = _responses(endpoint, method, has_parameters or method == "post")
    return operation


def _methods(route: Route) -> list[str]:
    """The route's methods; Flask answers HEAD for every GET."""
    methods = [m.lower() for m in route.methods]
    if "get" in methods and "head" not in methods:
        methods.insert(methods.index("get") + 1, "head")
    return methods


# --- components ---------------------------------------------------------------------------

_ERRORS = {
    400: "A parameter value or body the server cannot use",
    401: "No valid Authorization: Bearer token",
    403: "Writes are disabled: the server has no API token configured",
    404: "No such resource, version or type",
    409: "A delete refused: other stored resources reference it",
    410: "The resource was deleted (the version asked for is its delete)",
    412: "A precondition failed: If-Match is stale, or a conditional search matches several",
    422: "A JSON Patch that does not apply, or would change the type or id",
    405: "Method not allowed here (Allow lists the allowed ones)",
    406: "No format or FHIR version the client accepts is produced here",
    413: "The body is larger than the server accepts",
    415: "The body's content type is not accepted here",
    503: "The database is unavailable; try again shortly",
}
_ERROR_HEADERS = {401: "WWW-Authenticate", 405: "Allow", 503: "Retry-After"}


def _headers() -> dict[str, dict[str, Any]]:
    def header(description: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
        return {"description": description, "required": required, "schema": schema}

    return {
        "ETag": header(
            'The version, weak: W/"{versionId}"', {"type": "string", "pattern": r'^W/"[0-9]+"$'}
        ),
        "Last-Modified": header("When this version was stored (HTTP date)", {"type": "string"}),
        "Cache-Control": header("How long a cache may keep the reply", {"type": "string"}),
        "WWW-Authenticate": header("The scheme to authenticate with", {"type": "string"}),
        "Allow": header("The methods this endpoint allows", {"type": "string"}),
        "Location": header(
            "Where the version written is: [base]/Type/id/_history/n", {"type": "string"}
        ),
        "Retry-After": header("Seconds to wait", {"type": "string", "pattern": "^[0-9]+$"}),
    }


def _error_response(status: int, config: Mapping[str, Any]) -> dict[str, Any]:
    description = _ERRORS[status]
    if status == 413:
        description += f" ({config.get('MAX_CONTENT_LENGTH')} bytes)"
    response: dict[str, Any] = {
        "description": f"{description}: an OperationOutcome",
        "content": _content(_ref("schemas", "OperationOutcome")),
    }
    if status in _ERROR_HEADERS:
        name = _ERROR_HEADERS[status]
        response["headers"] = {name: _ref("headers", name)}
    return response


def _register_components(spec: APISpec, config: Mapping[str, Any]) -> None:
    schemas: dict[str, dict[str, Any]] = {
        "OperationOutcome": _outcome_schema(),
        "CapabilityStatement": _capability_schema(),
        "Bundle_transaction-response": _transaction_response_schema(),
        "Bundle_write-response": _write_response_schema(),
        "Resource": _object(("resourceType",), resourceType={"type": "string"}),
        "Bundle_history": _history_schema(None),
        "Bundle_searchset": _searchset_schema("Resource"),
    }
    for resource_type in PARAMETERS:
        schemas[resource_type] = _resource_schema(resource_type)
        schemas[f"Bundle_searchset_{resource_type}"] = _searchset_schema(resource_type)
        schemas[f"Bundle_history_{resource_type}"] = _history_schema(resource_type)
    for name, schema in schemas.items():
        spec.components.schema(name, component=schema)
    for name, header in _headers().items():
        spec.components.header(name, header)
    for status in _ERRORS:
        spec.components.response(f"Error{status}", _error_response(status, config))
    spec.components.parameter("_format", "query", _format_parameter())
    spec.components.security_scheme(
        "bearer",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "The token configured as API_TOKEN (FLASK_API_TOKEN)",
        },
    )


def _description(config: Mapping[str, Any]) -> str:
    formats = ", ".join(f.media_type for f in FORMATS)
    return "\n\n".join(
        [
            "FHIR R4 server for cancer patient-education content: PlanDefinitions per "
            f"treatment phase, ActivityDefinitions and Medications ({', '.join(PARAMETERS)}).",
            f"Replies are {formats} (with charset=utf-8), chosen by Accept or _format; "
            f"{_versions_note()} Every error is an OperationOutcome.",
            "Search modifiers are listed as parameters of their own (name:contains, "
            "code:not, …), because that is the name a client sends. A comma inside a value "
            "separates alternatives (OR) and \\, escapes it; repeating a parameter ANDs. At "
            f"most {MAX_CLAUSES} search parameters and {MAX_VALUES} alternatives each.",
            "A method a path does not list is answered 405 with Allow. Reads and searches "
            "are public; $import and every write (create, update, patch, delete, "
            "POST /fhir with a transaction or batch Bundle) need Authorization: Bearer.",
            f"Canonical base of the content: {config.get('CANONICAL_BASE')}.",
        ]
    )


# --- our conformance resources -------------------------------------------------------------


def _conformance_operations(builder: _Builder, route: Route) -> tuple[str, dict[str, Any]] | None:
    """The path and operations of a conformance route that reads or searches
    (``registry.CONFORMANCE_ROUTES``); the refusing ones (405, no history) are not
    operations and have no entry."""
    if route.view not in (conformance.read, conformance.search, read_statement):
        return None
    resource_type = route.rule.split("/")[1]
    path = "/fhir" + _RULE_PARAMETER.sub(r"{\1}", route.rule)
    searching = route.view is conformance.search
    operations = {}
    for method in _methods(route):
        params: list[Any] = [_path_parameter(n) for n in re.findall(r"{(\w+)}", path)]
        params.append("_format")
        if searching:
            params += [
                p
                for p in _result_parameters(builder, next(iter(PARAMETERS)))
                if p["name"] in CONFORMANCE_RESULT_PARAMETERS
            ]
            params.append(_prefer_header())
            if method != "post":
                params += [
                    {"in": "query", "name": p.code, "required": False,
                     "schema": {"type": "string", "pattern": STRING_VALUES},
                     "description": p.documentation}
                    for p in SERVED_PARAMETERS[resource_type]
                ]  # fmt: skip
        schema = _ref("schemas", "Bundle_searchset" if searching else "Resource")
        ok: dict[str, Any] = {
            "description": f"The matching {resource_type} resources, one page"
            if searching
            else f"The {resource_type}",
            "content": _content(schema),
            "headers": {"Cache-Control": _ref("headers", "Cache-Control")},
        }
        errors = {400, 406} if searching else {404, 406}
        if method == "post":
            errors |= {413, 415}
        operation: dict[str, Any] = {
            "operationId": _operation_id(route.endpoint, resource_type, method),
            "summary": (route.view.__doc__ or "").strip().partition("\n")[0],
            "description": "Generated from the server's registries; read-only."
            if method != "head"
            else "As GET, without a body.",
            "tags": [resource_type],
            "parameters": params,
            "x-fhir-interaction": "search-type" if searching else "read",
            "responses": {"200": ok}
            | {str(e): _ref("responses", f"Error{e}") for e in sorted(errors)},
        }
        if method == "post":
            operation["requestBody"] = {
                "required": True,
                "description": f"The search parameters of {resource_type}, form-encoded",
                "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object",
                    "properties": {p.code: {"type": "string", "pattern": STRING_VALUES}
                                   for p in SERVED_PARAMETERS[resource_type]},
                    # Other names are ignored (lenient handling), but a chain or _has is a
                    # 400 here: nothing of these types is a reference.
                    "additionalProperties": True,
                    "propertyNames": {"pattern": r"^(?!_has(?::|$))[^.]*$"},
                }}},
            }  # fmt: skip
        operations[method] = operation
    return path, operations


def build_document(config: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI document for an app with this configuration."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Patient-education structured content (FHIR R4)",
        version=version("ped-fhir"),
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": _description(config), "x-revised": REVISED},
    )
    builder = _Builder(spec, plugin, config)
    _register_components(spec, config)
    for endpoint in endpoints():
        operations = {m: _operation(builder, endpoint, m) for m in _methods(endpoint.route)}
        spec.path(path=endpoint.path, operations=operations)
    for route in CONFORMANCE_ROUTES:
        found = _conformance_operations(builder, route)
        if found is not None:
            spec.path(path=found[0], operations=found[1])
    return spec.to_dict()


# --- the docs page ------------------------------------------------------------------------


def _resolve(doc: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A component a ``$ref`` points at (the page shows it inline)."""
    ref = item.get("$ref")
    if not isinstance(ref, str):
        return item
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    resolved: dict[str, Any] = node
    return resolved


def _schema_text(schema: dict[str, Any]) -> str:
    """A short rendering of a parameter's schema: its type, values or pattern."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    text = str(schema.get("type", "any"))
    bounds = [f"{k} {schema[k]}" for k in ("minimum", "maximum") if k in schema]
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _parameter_rows(doc: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for raw in operation.get("parameters", []):
        p = _resolve(doc, raw)
        schema = p.get("schema", {})
        if p.get("explode") and "properties" in schema:  # one field per property
            rows += [
                {
                    "name": name,
                    "in": p["in"],
                    "required": False,
                    "type": _schema_text(prop),
                    "pattern": prop.get("pattern"),
                    "default": None,
                    "description": prop.get("description", ""),
                }
                for name, prop in schema["properties"].items()
            ]
            continue
        rows.append(
            {
                "name": p["name"],
                "in": p["in"],
                "required": p.get("required", False),
                "type": _schema_text(schema),
                "pattern": schema.get("pattern"),
                "default": schema.get("default"),
                "description": p.get("description", ""),
            }
        )
    return rows


def _body_rows(operation: dict[str, Any]) -> list[dict[str, Any]]:
    body = operation.get("requestBody")
    if body is None:
        return []
    rows = []
    for media_type, media in body["content"].items():
        schema = media.get("schema", {})
        fields = sorted(schema.get("properties", {}))
        rows.append({"media_type": media_type, "type": _schema_text(schema), "fields": fields})
    return rows


def _response_rows(doc: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for status, raw in operation["responses"].items():
        response = _resolve(doc, raw)
        media = [
            {"type": media_type, "schema": _schema_text(m["schema"]) if "schema" in m else None}
            for media_type, m in response.get("content", {}).items()
        ]
        rows.append(
            {
                "status": status,
                "description": response["description"],
                "media": media,
                "headers": sorted(response.get("headers", {})),
            }
        )
    return rows


def _anchor(text: str) -> str:
    return "p-" + (re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "root")


def page_context(doc: dict[str, Any]) -> dict[str, Any]:
    """What the docs template shows: every path and operation of ``doc``, resolved."""
    sections = []
    for path, item in doc["paths"].items():
        operations = []
        for method, operation in item.items():
            if method == "head" and "get" in item:
                continue  # shown with its GET
            operations.append(
                {
                    "method": method.upper(),
                    "also_head": method == "get" and "head" in item,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "secured": bool(operation.get("security")),
                    "parameters": _parameter_rows(doc, operation),
                    "body": _body_rows(operation),
                    "responses": _response_rows(doc, operation),
                }
            )
        sections.append({"path": path, "anchor": _anchor(path), "operations": operations})
    schemas = {
        name: json.dumps(schema, indent=2, ensure_ascii=False)
        for name, schema in doc["components"]["schemas"].items()
    }
    return {
        "info": doc["info"],
        "openapi": doc["openapi"],
        "paragraphs": doc["info"].get("description", "").split("\n\n"),
        "sections": sections,
        "schemas": schemas,
    }


# --- serving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cached:
    document: dict[str, Any]
    body: bytes


def _cached(app: Flask) -> _Cached:
    """Built once per app: the document depends on its configuration only."""
    found: _Cached | None = app.extensions.get(_EXTENSION_KEY)
    if found is None:
        document = build_document(app.config)
        found = _Cached(document, json.dumps(document, ensure_ascii=False).encode())
        app.extensions[_EXTENSION_KEY] = found
    return found


def document() -> dict[str, Any]:
    """The current app's OpenAPI document."""
    return _cached(current_app._get_current_object()).document  # type: ignore[attr-defined]


def openapi_json() -> Response:
    """The OpenAPI 3.1 description of the FHIR API."""
    body = _cached(current_app._get_current_object()).body  # type: ignore[attr-defined]
    return Response(body, content_type="application/json")


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def docs_policy(html: str) -> str:
    """The page's Content-Security-Policy: its own inline stylesheets (by hash), links, and
    nothing else; no script, no framing (``service.headers`` adds ``X-Frame-Options``)."""
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"
        for css in _STYLE.findall(html)
    ]
    styles = " ".join(hashes) or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def docs() -> Response:
    """The API reference, as one HTML page rendered from the OpenAPI document."""
    html = render_template("openapi_docs.html", **page_context(document()))
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = docs_policy(html)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def blueprint() -> Blueprint:
    bp = Blueprint("openapi", __name__, template_folder="templates")
    bp.add_url_rule("/openapi.json", "document", openapi_json, methods=["GET"])
    bp.add_url_rule("/docs", "docs", docs, methods=["GET"])
    return bp
