"""Content negotiation: which format and FHIR version a reply uses.

``_format`` wins over ``Accept``. A request that accepts nothing we produce gets 406.
The registry below is what the CapabilityStatement lists as formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from .errors import FhirError


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    """What replies carry (with ``charset=utf-8``) and the CapabilityStatement lists."""
    accepted: frozenset[str]
    """Media types and ``_format`` values that ask for it."""


JSON = Format(
    "json",
    "application/fhir+json",
    frozenset({"json", "application/fhir+json", "application/json", "application/json+fhir"}),
)

FORMATS: tuple[Format, ...] = (JSON,)

# fhirVersion parameter values (R4 §3.1.0.1.9) -> the release they name.
FHIR_VERSIONS = {"4.0": "4.0.1", "4.0.1": "4.0.1"}
DEFAULT_FHIR_VERSION = "4.0.1"


@dataclass(frozen=True)
class Negotiated:
    format: Format
    fhir_version: str


def _parse_media_range(text: str) -> tuple[str, dict[str, str]]:
    media_type, *params = (part.strip() for part in text.split(";"))
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return media_type.lower(), parsed


def _by_media_type(media_type: str) -> Format | None:
    for candidate in FORMATS:
        if media_type in candidate.accepted:
            return candidate
    return None


@lru_cache(maxsize=512)
def negotiate(format_param: str | None, accept_header: str | None) -> Negotiated:
    """The reply's format and FHIR version for a request's ``_format`` and ``Accept``.

    Clients send few distinct headers, so answers are cached (errors are not)."""
    if format_param is not None:
        # An unencoded '+' in a query string arrives as a space.
        media_type, params = _parse_media_range(format_param.replace(" ", "+"))
        chosen = _by_media_type(media_type)
        if chosen is None:
            raise FhirError(406, f"_format={format_param} is not a format this server produces "
                            f"({', '.join(f.name for f in FORMATS)})")  # fmt: skip
        return Negotiated(chosen, _fhir_version(params))
    accept = parse_accept_header(accept_header, MIMEAccept) if accept_header else ()
    offers = sorted(accept, key=lambda item: -item[1])
    if not offers:
        return Negotiated(JSON, DEFAULT_FHIR_VERSION)
    for media_range, quality in offers:
        if quality <= 0:
            continue
        media_type, params = _parse_media_range(media_range)
        if media_type in ("*/*", "application/*"):
            return Negotiated(JSON, DEFAULT_FHIR_VERSION)
        chosen = _by_media_type(media_type)
        if chosen is not None and params.get("fhirversion", "4.0") in FHIR_VERSIONS:
            return Negotiated(chosen, _fhir_version(params))
    raise FhirError(
        406,
        "none of the accepted media types is produced here; use "
        + ", ".join(sorted(f.media_type for f in FORMATS)),
    )


def _fhir_version(params: dict[str, str]) -> str:
    requested = params.get("fhirversion")
    if requested is None:
        return DEFAULT_FHIR_VERSION
    if requested not in FHIR_VERSIONS:
        raise FhirError(406, f"fhirVersion={requested} is not served (only 4.0)")
    return FHIR_VERSIONS[requested]
