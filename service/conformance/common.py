"""What every conformance resource of this server shares: publisher, date, status, and how
its canonical URL is made from the canonical base."""

from __future__ import annotations

from typing import Any

# The package name `flask export` uses unless PACKAGE_NAME says otherwise; the
# ImplementationGuide's packageId and id.
DEFAULT_PACKAGE_NAME = "ped.education.content"

PUBLISHER = "ped-fhir"
# When these definitions last changed; bump it with them. A fixed date, not the clock,
# so the same configuration gives byte-identical resources (and export packages).
DATE = "2026-12-07"
STATUS = "active"
FHIR_VERSION = "4.0.1"

Json = dict[str, Any]


def canonical(canonical_base: str, resource_type: str, resource_id: str) -> str:
    """The canonical URL of one of our conformance resources: ``{base}/{Type}/{id}``, so
    that it is also where the server serves it when the base is the server's own."""
    return f"{canonical_base}/{resource_type}/{resource_id}"


def header(
    resource_type: str,
    resource_id: str,
    canonical_base: str,
    version: str,
    name: str,
    title: str,
    description: str,
) -> Json:
    """The metadata elements every canonical resource of ours starts with."""
    return {
        "resourceType": resource_type,
        "id": resource_id,
        "url": canonical(canonical_base, resource_type, resource_id),
        "version": version,
        "name": name,
        "title": title,
        "status": STATUS,
        "experimental": False,
        "date": DATE,
        "publisher": PUBLISHER,
        "description": description,
    }
