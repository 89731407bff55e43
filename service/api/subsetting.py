"""``_summary`` and ``_elements``: a subset of each resource, tagged SUBSETTED.

Only these re-serialize a stored resource; full reads and searches serve stored bytes.
The element flags come from the pinned FHIR release (``mappings.fhir``); subsetting is
applied to top-level elements.
"""

from __future__ import annotations

import json
from typing import Any

from mappings.fhir import required_elements, summary_elements

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}


def is_subsetting(summary: str | None, elements: tuple[str, ...] | None) -> bool:
    return summary in ("true", "text", "data") or (summary in (None, "false") and bool(elements))


def _kept(
    resource_type: str, summary: str | None, elements: tuple[str, ...] | None
) -> set[str] | None:
    """Top-level elements to keep; None means every element but ``text``."""
    always = {"resourceType", "id", "meta", *required_elements(resource_type)}
    if summary == "data":
        return None
    if summary == "text":
        return always | {"text"}
    if summary == "true":
        return always | summary_elements(resource_type)
    names = {name.split(".", 1)[1] if name.startswith(f"{resource_type}.") else name
             for name in elements or ()}  # fmt: skip
    return always | names


def subset(body: bytes, summary: str | None, elements: tuple[str, ...] | None) -> bytes:
    resource: dict[str, Any] = json.loads(body)
    keep = _kept(resource["resourceType"], summary, elements)
    if keep is None:
        result = {k: v for k, v in resource.items() if k != "text"}
    else:
        result = {k: v for k, v in resource.items() if k in keep}
    meta = dict(result.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    result["meta"] = meta
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()
