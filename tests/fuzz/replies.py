"""What every reply of the FHIR API must be, whatever was asked: the invariant the
property tests of this folder hold each reply to.

A reply is a FHIR resource in a FHIR format (JSON or XML, never HTML), or an empty body
where HTTP says there is none (HEAD, 204, 304). It is never a 5xx. An error (4xx) is an
OperationOutcome with at least one issue, each with a severity and a code.
"""

from __future__ import annotations

import json
from typing import Any

from defusedxml import ElementTree
from werkzeug.test import TestResponse

from service.api.negotiation import FORMATS

FHIR_NS = "{http://hl7.org/fhir}"
MEDIA_TYPES = {f.media_type: f.name for f in FORMATS}
SEVERITIES = {"fatal", "error", "warning", "information"}


def _described(response: TestResponse) -> str:
    return f"{response.status} {response.content_type!r} {response.get_data()[:300]!r}"


def _json_resource(response: TestResponse) -> tuple[str, Any]:
    document = json.loads(response.get_data(as_text=True))
    assert isinstance(document, dict), _described(response)
    resource_type = document.get("resourceType")
    assert isinstance(resource_type, str), _described(response)
    if resource_type == "OperationOutcome":
        issues = document.get("issue")
        assert isinstance(issues, list) and issues, _described(response)
        for issue in issues:
            assert issue.get("severity") in SEVERITIES, _described(response)
            assert isinstance(issue.get("code"), str) and issue["code"], _described(response)
    return resource_type, document


def _xml_resource(response: TestResponse) -> tuple[str, Any]:
    root = ElementTree.fromstring(response.get_data())
    assert root.tag.startswith(FHIR_NS), _described(response)
    resource_type = root.tag.removeprefix(FHIR_NS)
    if resource_type == "OperationOutcome":
        issues = root.findall(f"{FHIR_NS}issue")
        assert issues, _described(response)
        for issue in issues:
            severity = issue.find(f"{FHIR_NS}severity")
            code = issue.find(f"{FHIR_NS}code")
            assert severity is not None and severity.get("value") in SEVERITIES
            assert code is not None and code.get("value"), _described(response)
    return resource_type, root


def check_reply(response: TestResponse, method: str = "GET") -> str | None:
    """Hold ``response`` to the invariant; the resource type it carries (None if empty)."""
    assert response.status_code < 500, _described(response)
    body = response.get_data()
    if response.status_code in (204, 304):
        assert body == b"", _described(response)
        return None
    assert response.mimetype in MEDIA_TYPES, _described(response)
    if method == "HEAD":
        assert body == b"", _described(response)
        return None
    if MEDIA_TYPES[response.mimetype] == "json":
        resource_type, _ = _json_resource(response)
    else:
        resource_type, _ = _xml_resource(response)
    if response.status_code >= 400:
        assert resource_type == "OperationOutcome", _described(response)
    return resource_type
