"""``POST /fhir/{type}/$validate``: an OperationOutcome listing every problem of a resource.

The body is the resource (FHIR JSON or XML) or a ``Parameters`` resource whose ``resource``
parameter holds it. Problems with the resource are the answer (200), not an error; only a
body that cannot be read at all is a 400. References are checked against this store.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from mappings.documents import DocumentError, check_text, find_bidi, loads_json
from service.formats.xml import XmlError, XmlSyntaxError, from_xml
from service.loading import StoreReferences
from service.storage import get_store
from service.validation import Issue, validate

from .errors import FhirError, operation_outcome
from .views import reply, resource_type_or_404

JSON_BODIES = ("application/fhir+json", "application/json")
XML_BODIES = ("application/fhir+xml", "application/xml", "text/xml")
BODY_TYPES = JSON_BODIES + XML_BODIES


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
            resource = from_xml(data)
        except XmlSyntaxError as e:
            raise FhirError(400, f"the body is not FHIR XML: {e}", "structure") from None
        except XmlError as e:
            # Well-formed XML that is not a FHIR resource: a finding, like JSON that is not one.
            return _NotAResource(str(e))
        _refuse_bidi(data, resource)
        return resource
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise FhirError(400, f"the body is not UTF-8 JSON (line {line})", "structure") from None
    try:
        # The reader every input passes (mappings.documents): duplicate keys, nesting,
        # number size and bidi controls are refused with the line, as $import refuses them.
        return loads_json(text)
    except DocumentError as e:
        raise FhirError(400, f"the body cannot be read: {e}", "structure") from None


def _refuse_bidi(data: bytes, resource: Any) -> None:
    """Bidi controls in XML, written or as character references, as in JSON."""
    found = find_bidi(resource)
    if found is None:
        return
    try:
        check_text(data.decode("utf-8", errors="replace"))
        check_text(found)
    except DocumentError as e:
        raise FhirError(400, f"the body cannot be read: {e}", "structure") from None


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
