"""Run the independent FHIR R4 XML check (validators/xml-r4.js) from Python.

validators/xml-r4.js reads FHIR XML with FHIR.js's own XML reader (npm ``fhir``, pinned in
validators/package-lock.json), validates what it read with ``errorOnUnexpected``, and writes
the expected JSON as XML with FHIR.js's own writer. None of this shares code with
``service/formats/xml.py``. One ``node`` process checks the whole batch, so collect the items
and call :func:`check_xml` once rather than per document.

FHIR.js's XML reader is not namespace-aware and ignores unknown elements (see the header of
validators/xml-r4.js): a valid result means "FHIR.js reads R4 content from it", not "the XML
is well-formed FHIR in every respect". Check namespaces and element placement on the XML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.r4_validator import NODE_MODULES, VALIDATORS_DIR, Issue, run_batch

SCRIPT = VALIDATORS_DIR / "xml-r4.js"
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class XmlResult:
    """FHIR.js's verdict on one XML document."""

    parsed: dict[str, Any] | None
    """FHIR.js ``xmlToObj`` of the XML (decimals as the strings written); None if unreadable."""
    valid: bool
    issues: tuple[Issue, ...]
    """Errors and fatals only: from reading the XML, validating it, or writing ``json``."""
    reference_xml: str | None
    """FHIR.js ``objToXml`` of the item's ``json``; None when no json was given."""

    def describe(self) -> str:
        head = "valid" if self.valid else "INVALID"
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])


def check_xml(
    items: Sequence[tuple[bytes | str, Mapping[str, Any] | None]],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[XmlResult]:
    """Check ``(xml, json)`` pairs; one result per pair, in order. ``json`` (may be None) is
    what FHIR.js writes as ``reference_xml``.

    Raises RuntimeError if node or the npm packages are missing, or if the script fails (bad
    input, crash, timeout) instead of returning a verdict.
    """
    if not (NODE_MODULES / "fhir" / "package.json").is_file():  # pragma: no cover
        raise RuntimeError(f"{NODE_MODULES} has no `fhir` package")
    payload = json.dumps(
        [
            {"xml": xml.decode("utf-8") if isinstance(xml, bytes) else xml, "json": resource}
            for xml, resource in items
        ],
        allow_nan=False,
        default=_jsonable,
    )
    raw, returncode = run_batch(SCRIPT, "XML check", payload, len(items), timeout)
    results = [_parse_result(item) for item in raw]
    if (returncode == 0) != all(result.valid for result in results):
        raise RuntimeError(f"XML check exit code {returncode} contradicts its results")
    return results


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON-serialisable for the XML check: {type(value).__name__}")


def _parse_result(item: object) -> XmlResult:
    if not isinstance(item, dict):
        raise RuntimeError(f"XML check result is not an object: {item!r}")
    valid, parsed, reference = item.get("valid"), item.get("parsed"), item.get("reference_xml")
    if not isinstance(valid, bool):
        raise RuntimeError(f"XML check result has no boolean 'valid': {item!r}")
    if parsed is not None and not isinstance(parsed, dict):
        raise RuntimeError(f"XML check result has a non-object 'parsed': {item!r}")
    if reference is not None and not isinstance(reference, str):
        raise RuntimeError(f"XML check result has a non-string 'reference_xml': {item!r}")
    raw_issues = item.get("issues")
    if not isinstance(raw_issues, list):
        raise RuntimeError(f"XML check result has no list 'issues': {item!r}")
    issues = []
    for entry in raw_issues:
        names = ("severity", "location", "message")
        severity, location, message = (
            entry.get(name) if isinstance(entry, dict) else None for name in names
        )
        if not (
            isinstance(severity, str) and isinstance(location, str) and isinstance(message, str)
        ):
            raise RuntimeError(f"XML check issue is malformed: {entry!r}")
        issues.append(Issue(severity=severity, location=location, message=message))
    if valid == bool(issues):
        raise RuntimeError(f"XML check result is valid={valid} with {len(issues)} issues")
    return XmlResult(parsed=parsed, valid=valid, issues=tuple(issues), reference_xml=reference)
