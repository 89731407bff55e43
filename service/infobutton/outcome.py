"""Errors as FHIR OperationOutcomes, in the format the client asked its answer in.

An Infobutton client that asked for JSON gets ``application/fhir+json``; any other gets
FHIR XML (``application/fhir+xml``), as an XML client expects XML even when it fails. The
XML is written by ``service.formats.xml``, the same writer the FHIR API uses, so the two
front ends' errors read alike without this package depending on the API's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from service.formats.xml import to_xml

FHIR_JSON = "application/fhir+json; fhirVersion=4.0; charset=utf-8"
FHIR_XML = "application/fhir+xml; fhirVersion=4.0; charset=utf-8"


@dataclass(frozen=True)
class Issue:
    code: str
    """The OperationOutcome issue type (``invalid``, ``required``, ``transient``, …)."""
    diagnostics: str
    severity: str = "error"


def operation_outcome(issues: Iterable[Issue]) -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": i.severity, "code": i.code, "diagnostics": i.diagnostics} for i in issues
        ],
    }


def render(issues: Iterable[Issue], *, as_json: bool) -> tuple[bytes, str]:
    """The body and its content type."""
    resource = operation_outcome(issues)
    if as_json:
        return json.dumps(resource, ensure_ascii=False).encode("utf-8"), FHIR_JSON
    return to_xml(resource), FHIR_XML
