"""``POST /fhir/$import``: map, validate and store a page, middle-format content, or FHIR.

The body's content type says what it is. Writes need ``Authorization: Bearer <token>``
matching ``API_TOKEN``; with no token configured every write is refused.
"""

from __future__ import annotations

import hmac

from flask import Response, current_app, request

from service.loading import TOO_COSTLY, Kind, LoadError, mapping_config, prepare, read_bytes
from service.storage import get_store

from . import bundles
from .errors import FhirError, operation_outcome
from .views import fhir_base, reply

BODY_KINDS: dict[str, Kind | None] = {
    "text/plain": "page",
    "application/yaml": "content",
    "application/x-yaml": "content",
    "text/yaml": "content",
    "application/json": None,  # middle format or FHIR: the document says which
    "application/fhir+json": "fhir",
}


def _authorize() -> None:
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


def _refusal(error: LoadError) -> FhirError:
    """400 (413 for input over a size limit) naming every problem, one issue each."""
    issues: list[tuple[str, str, str, str | None]] = [
        ("error", p.code, str(p), p.expression) for p in error.problems
    ]
    if error.truncated:
        issues.append(("error", TOO_COSTLY, "more problems were found than are listed", None))
    status = 413 if error.code == TOO_COSTLY else 400
    return FhirError(status, str(error), error.code, issues=issues)


def import_content() -> Response:
    _authorize()
    mimetype = request.mimetype
    if mimetype not in BODY_KINDS:
        raise FhirError(
            415,
            f"cannot import {mimetype or 'a body without content type'}; send one of "
            + ", ".join(BODY_KINDS),
        )
    config = mapping_config(current_app.config)
    store = get_store()
    try:
        loaded = read_bytes("body", request.get_data(), BODY_KINDS[mimetype], config)
        with store.transaction():  # conditional creates settled under the write lock
            prepared = prepare([loaded], store)  # one resource per (type, id)
            outcomes = store.put(prepared.resources)
    except LoadError as e:
        raise _refusal(e) from None
    base = fhir_base()
    warnings = (
        operation_outcome([("warning", "informational", w, None) for w in loaded.warnings])
        if loaded.warnings
        else None
    )
    responses: dict[tuple[str, str], dict[str, object]] = {
        (o.resource_type, o.id): {
            "status": "201 Created" if o.action == "created" else "200 OK",
            "location": f"{o.resource_type}/{o.id}/_history/{o.version_id}",
            "etag": f'W/"{o.version_id}"',
            "lastModified": o.last_updated,
        }
        for o in outcomes
    }
    # One entry per request entry, in request order (R4 http.html#transaction-response); a
    # conditional create that matched a stored resource is "200 OK" with where it is.
    entries = []
    for n, (resource_type, resource_id) in enumerate(prepared.order):
        response = dict(
            responses.get((resource_type, resource_id))
            or {"status": "200 OK", "location": f"{resource_type}/{resource_id}"}
        )
        if n == 0 and warnings is not None:
            response["outcome"] = warnings
        entries.append(bundles.entry_of_url(f"{base}/{resource_type}/{resource_id}", response))
    return reply(bundles.bundle("transaction-response", entries=entries))
