"""``POST /fhir/$import``: map, validate and store a page, middle-format content, or FHIR.

The body's content type says what it is. A transaction or batch Bundle is FHIR's own
interaction, ``POST [base]``, and is carried out by it (``service.writes``): one engine for
every Bundle of requests. Writes need ``Authorization: Bearer <token>`` (``access``).
"""

from __future__ import annotations

from flask import Response, current_app, request

from service.loading import (
    Kind,
    Lines,
    LoadError,
    mapping_config,
    prepare,
    read_bytes,
    read_document,
    read_json,
)
from service.storage import get_store
from service.writes import is_request_bundle

from . import bundles
from .access import authorize
from .errors import FhirError, load_refusal, operation_outcome
from .views import fhir_base, reply
from .writes import bundle_reply

BODY_KINDS: dict[str, Kind | None] = {
    "text/plain": "page",
    "application/yaml": "content",
    "application/x-yaml": "content",
    "text/yaml": "content",
    "application/json": None,  # middle format or FHIR: the document says which
    "application/fhir+json": "fhir",
}


def import_content() -> Response:
    authorize()
    mimetype = request.mimetype
    if mimetype not in BODY_KINDS:
        raise FhirError(
            415,
            f"cannot import {mimetype or 'a body without content type'}; send one of "
            + ", ".join(BODY_KINDS),
        )
    config = mapping_config(current_app.config)
    store = get_store()
    kind = BODY_KINDS[mimetype]
    try:
        if kind == "page" or kind == "content":
            loaded = read_bytes("body", request.get_data(), kind, config)
        else:
            text, document = read_json("body", request.get_data())
            if is_request_bundle(document):  # FHIR's own interaction: POST [base]
                return bundle_reply(Lines(text), document)
            loaded = read_document("body", text, document, kind, config)
        with store.transaction():  # conditional creates settled under the write lock
            prepared = prepare([loaded], store)  # one resource per (type, id)
            outcomes = store.put(prepared.resources)
    except LoadError as e:
        raise load_refusal(e) from None
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
