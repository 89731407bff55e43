"""``$package`` on PlanDefinition (CRMI): by id, or by ``url`` and optionally ``version``.

Parameters come from the query string, or for POST from a ``Parameters`` resource body.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from marshmallow import Schema, ValidationError, fields, validate

from mappings.documents import DocumentError, loads_json
from service.packaging import dependencies, package
from service.search.query import SearchError, SearchQuery, parse_search
from service.storage import get_store
from service.store import StoredResource

from .errors import FhirError
from .views import cacheable, reply

_TYPE = "PlanDefinition"


class PackageParameters(Schema):
    """The $package parameters this server takes (CRMI names)."""

    url = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Canonical URL of the PlanDefinition"},
    )
    version = fields.String(
        validate=validate.Length(min=1),
        metadata={"description": "Its business version (with url)"},
    )


_SCHEMA = PackageParameters()
_IGNORED = {"_format", "_pretty"}


def package_instance(resource_id: str) -> Response:
    """A PlanDefinition and its dependencies as a transaction Bundle."""
    options = _parameters()
    if options:
        raise FhirError(400, "$package on an instance takes no url or version")
    stored = get_store().read(_TYPE, resource_id)
    if stored is None:
        raise FhirError(404, f"{_TYPE}/{resource_id} is not known", "not-found")
    return _package(stored)


def package_type() -> Response:
    """The PlanDefinition with this url (and version) and its dependencies."""
    options = _parameters()
    if "url" not in options:
        raise FhirError(400, "$package needs url (and optionally version), or an id in the path")
    pairs = [("url", options["url"])]
    if "version" in options:
        pairs.append(("version", options["version"]))
    try:
        query: SearchQuery = parse_search(_TYPE, pairs, strict=True).query
    except SearchError as e:
        raise FhirError(400, f"$package: {e}") from None
    page = get_store().search(query)
    if not page.items:
        raise FhirError(404, f"no {_TYPE} has {_describe(options)}", "not-found")
    if page.total is not None and page.total > 1:
        raise FhirError(
            400,
            f"{page.total} versions of {options['url']} are stored; give version",
            "multiple-matches",
        )
    return _package(page.items[0])


def _describe(options: dict[str, str]) -> str:
    return " and ".join(f"{k} {v!r}" for k, v in options.items())


def _package(artifact: StoredResource) -> Response:
    store = get_store()
    try:
        needed = dependencies(store, artifact)
    except ValueError as e:
        raise FhirError(400, str(e), "too-costly") from None
    bundle = package(artifact, needed)
    return cacheable(reply(json.dumps(bundle, ensure_ascii=False).encode()))


def _parameters() -> dict[str, str]:
    raw: dict[str, Any] = {k: v for k, v in request.args.items() if k not in _IGNORED}
    if request.method == "POST" and request.content_length:
        raw.update(_from_parameters_resource())
    unknown = sorted(set(raw) - set(_SCHEMA.fields))
    if unknown:
        raise FhirError(
            400, f"$package does not support {', '.join(unknown)} (supported: url, version)"
        )
    if not raw:
        return {}
    try:
        loaded: dict[str, str] = _SCHEMA.load(raw)
    except ValidationError as e:
        raise FhirError(400, f"$package parameters: {e.messages}") from None
    return loaded


def _from_parameters_resource() -> dict[str, Any]:
    if request.mimetype not in ("application/fhir+json", "application/json"):
        raise FhirError(415, "POST $package takes a Parameters resource as application/fhir+json")
    try:
        body = loads_json(request.get_data().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise FhirError(400, "the body is not UTF-8 JSON") from None
    except DocumentError as e:
        raise FhirError(400, f"the body cannot be read: {e}", "structure") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError(400, "the body must be a Parameters resource")
    parameters = body.get("parameter", [])
    if not isinstance(parameters, list):
        raise FhirError(400, "Parameters.parameter must be a list")
    found: dict[str, Any] = {}
    for parameter in parameters:
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise FhirError(400, "each Parameters.parameter needs a name")
        values = [v for k, v in parameter.items() if k.startswith("value")]
        if len(values) != 1:
            raise FhirError(400, f"parameter {parameter['name']!r} needs exactly one value[x]")
        found[parameter["name"]] = values[0]
    return found
