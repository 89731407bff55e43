"""``POST /fhir/{type}/$validate``: an OperationOutcome listing every problem of a resource.

The body is the resource (FHIR JSON or XML) or a ``Parameters`` resource whose ``resource``
parameter holds it. Problems with the resource are the answer (200), not an error; only a
body that cannot be read at all is a 400. References are checked against this store.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from service.formats.xml import XmlError, XmlSyntaxError, from_xml
from service.search.params import CANONICAL_TYPES
from service.storage import get_store
from service.store import Store, resolve_canonicals
from service.validation import Issue, validate

from .errors import FhirError, operation_outcome
from .views import reply, resource_type_or_404

JSON_BODIES = ("application/fhir+json", "application/json")
XML_BODIES = ("application/fhir+xml", "application/xml", "text/xml")
BODY_TYPES = JSON_BODIES + XML_BODIES


class StoreReferences:
    """Reference resolution for the validator, against what this server holds. Each
    distinct reference is looked up once: a plan names the same activity in many actions
    (the 6,370 actions of a 1.9 MB plan hold 3,900 canonicals, 30 distinct)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._literals: dict[tuple[str, str], bool] = {}
        self._canonicals: dict[str, bool] = {}

    def literal_exists(self, resource_type: str, resource_id: str) -> bool:
        key = (resource_type, resource_id)
        if key not in self._literals:
            self._literals[key] = self.store.exists(resource_type, resource_id)
        return self._literals[key]

    def canonical_exists(self, url: str, version: str | None) -> bool:
        canonical = url if version is None else f"{url}|{version}"
        if canonical not in self._canonicals:
            found = resolve_canonicals(self.store, CANONICAL_TYPES, {canonical})
            self._canonicals[canonical] = bool(found)
        return self._canonicals[canonical]


class _NotAResource(str):
    """XML the reader refused, with its reason."""


def validate_resource(resource_type: str) -> Response:
    """Validate a resource against R4, its invariants and this server's content."""
    resource_type = resource_type_or_404(resource_type)
    body = _body()
    if isinstance(body, _NotAResource):
        outcome = operation_outcome([("fatal", "structure", f"not a FHIR resource: {body}", None)])
        return reply(json.dumps(outcome, ensure_ascii=False).encode())
    resource = _unwrap(body)
    issues = validate(
        resource, expected_type=resource_type, references=StoreReferences(get_store())
    )
    whole = resource.get("resourceType") if isinstance(resource, dict) else None
    return reply(json.dumps(_outcome(issues, whole), ensure_ascii=False).encode())


def _body() -> Any:
    mimetype = request.mimetype
    if mimetype not in BODY_TYPES:
        raise FhirError(
            415, f"$validate takes {', '.join(BODY_TYPES)}, not {mimetype or 'no content type'}"
        )
    data = request.get_data()
    if not data.strip():
        raise FhirError(400, "$validate needs a resource in the body")
    if mimetype in XML_BODIES:
        try:
            return from_xml(data)
        except XmlSyntaxError as e:
            raise FhirError(400, f"the body is not FHIR XML: {e}", "structure") from None
        except XmlError as e:
            # Well-formed XML that is not a FHIR resource: a finding, like JSON that is not one.
            return _NotAResource(str(e))
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise FhirError(400, f"the body is not valid JSON: {e}", "structure") from None


def _unwrap(body: Any) -> Any:
    """The resource out of a ``Parameters`` wrapper's ``resource`` parameter; Parameters
    without one is validated as it is (and reported as the wrong type)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return body
    parameters = body.get("parameter")
    resources = [
        p.get("resource")
        for p in (parameters if isinstance(parameters, list) else [])
        if isinstance(p, dict) and p.get("name") == "resource"
    ]
    if len(resources) > 1:
        raise FhirError(400, "Parameters holds more than one 'resource' to validate")
    return resources[0] if resources else body


def _outcome(issues: list[Issue], whole: Any) -> dict[str, object]:
    """Issues about the whole resource are located at its type (``expression`` is the
    path clients read)."""
    if not issues:
        return operation_outcome([("information", "informational", "no problems found", None)])
    at_root = whole if isinstance(whole, str) and whole else None
    return operation_outcome(
        [(i.severity, i.code, i.message, i.location or at_root) for i in issues]
    )
