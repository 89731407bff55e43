"""Who may write: ``Authorization: Bearer <token>`` matching ``API_TOKEN``. With no token
configured every write is refused (403); a missing or wrong one is a 401 naming the scheme.
Reads are public."""

from __future__ import annotations

import hmac

from flask import current_app, request

from .errors import FhirError


def authorize() -> None:
    """Refuse the request unless it carries the configured Bearer token."""
    token = current_app.config.get("API_TOKEN")
    if not token:
        raise FhirError(403, "writes are disabled: no API token is configured", "forbidden")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), str(token).encode()
    ):
        raise FhirError(
            401,
            "a valid Authorization: Bearer token is required",
            "login",
            headers={"WWW-Authenticate": 'Bearer realm="ped-fhir"'},
        )
