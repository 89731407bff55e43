"""Content negotiation: which format and FHIR version a reply uses.

``_format`` wins over ``Accept``; a ``fhirVersion`` parameter on either picks R4 (the
default) or R5 (R4 §3.1.0.1.9). A request that accepts nothing we produce gets 406.
The registries below are what the CapabilityStatement and OpenAPI list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import NotAcceptable
from werkzeug.http import parse_accept_header


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

XML = Format(
    "xml",
    "application/fhir+xml",
    frozenset({"xml", "application/fhir+xml", "application/xml", "text/xml",
               "application/xml+fhir"}),
)  # fmt: skip

FORMATS: tuple[Format, ...] = (JSON, XML)

# fhirVersion parameter values -> the release they name; the first is the default.
FHIR_VERSIONS = {"4.0": "4.0.1", "4.0.1": "4.0.1", "5.0": "5.0.0", "5.0.0": "5.0.0"}
DEFAULT_FHIR_VERSION = "4.0.1"


@dataclass(frozen=True)
class Negotiated:
    format: Format
    fhir_version: str

    @property
    def content_type(self) -> str:
        """The reply's Content-Type: the media type with the FHIR version it used."""
        return f"{self.format.media_type}; fhirVersion={self.fhir_version[:3]}; charset=utf-8"

    @property
    def is_default(self) -> bool:
        """R4 JSON: the stored bytes go out as they are."""
        return self.format is JSON and self.fhir_version == DEFAULT_FHIR_VERSION


DEFAULT = Negotiated(JSON, DEFAULT_FHIR_VERSION)


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
            raise NotAcceptable(f"_format={format_param} is not a format this server produces "
                                f"({', '.join(f.name for f in FORMATS)})")  # fmt: skip
        return Negotiated(chosen, _fhir_version(params, _accepted_version(accept_header)))
    accept = parse_accept_header(accept_header, MIMEAccept) if accept_header else ()
    offers = sorted(accept, key=lambda item: -item[1])
    if not offers:
        return DEFAULT
    for media_range, quality in offers:
        if quality <= 0:
            continue
        media_type, params = _parse_media_range(media_range)
        if media_type in ("*/*", "application/*"):
            return Negotiated(JSON, _fhir_version(params))
        chosen = _by_media_type(media_type)
        if chosen is not None and params.get("fhirversion", "4.0") in FHIR_VERSIONS:
            return Negotiated(chosen, _fhir_version(params))
    raise NotAcceptable(
        "none of the accepted media types is produced here; use "
        + ", ".join(sorted(f.media_type for f in FORMATS))
        + " (fhirVersion 4.0 or 5.0)"
    )


def _accepted_version(accept_header: str | None) -> str | None:
    """A fhirVersion the Accept header asks for, when ``_format`` names the format."""
    for media_range, _quality in parse_accept_header(accept_header or "", MIMEAccept):
        version = _parse_media_range(media_range)[1].get("fhirversion")
        if version is not None:
            return version
    return None


def _fhir_version(params: dict[str, str], fallback: str | None = None) -> str:
    requested = params.get("fhirversion", fallback)
    if requested is None:
        return DEFAULT_FHIR_VERSION
    if requested not in FHIR_VERSIONS:
        raise NotAcceptable(f"fhirVersion={requested} is not served (4.0 or 5.0)")
    return FHIR_VERSIONS[requested]
