"""Reply bodies in the negotiated format and FHIR version.

Views produce R4 JSON (stored bytes, spliced Bundles). This is the one place that turns it
into FHIR XML or R5; R4 JSON goes out as it is, without being parsed.
"""

from __future__ import annotations

import json
from functools import lru_cache

from werkzeug.exceptions import NotAcceptable

from service.formats.r5 import ConversionError, to_r5
from service.formats.xml import Release, loads_exact, to_xml

from .negotiation import Negotiated

# Renderings of single resources are cached (a read of a popular resource in XML or R5
# should not convert it every time); large bodies such as search Bundles are not.
_CACHED_BODY_LIMIT = 256 * 1024


def render(body: bytes, negotiated: Negotiated) -> bytes:
    if negotiated.is_default:
        return body
    release: Release = "5.0.0" if negotiated.fhir_version == "5.0.0" else "4.0.1"
    if len(body) <= _CACHED_BODY_LIMIT:
        return _cached(body, negotiated.format.name, release)
    return _convert(body, negotiated.format.name, release)


@lru_cache(maxsize=512)
def _cached(body: bytes, format_name: str, release: Release) -> bytes:
    return _convert(body, format_name, release)


def _convert(body: bytes, format_name: str, release: Release) -> bytes:
    # XML keeps numbers as written; R5 JSON is re-serialized, so numbers go through float.
    resource = loads_exact(body) if format_name == "xml" else json.loads(body)
    if release == "5.0.0":
        try:
            resource = to_r5(resource)
        except ConversionError as e:
            raise NotAcceptable(f"this content cannot be given as FHIR R5: {e}") from None
    if format_name == "xml":
        return to_xml(resource, release)
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
