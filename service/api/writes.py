"""The write interactions (R4 http.html): create, update, conditional update, patch,
delete, conditional delete, and ``POST [base]`` with a transaction or batch Bundle.

Every one needs ``Authorization: Bearer <token>`` (as ``$import``) and goes through the
write engine (``service.writes``), so through the gate. ``Prefer: return=minimal``,
``representation`` (the default) or ``OperationOutcome`` says what a reply carries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from flask import Response, request

from service.formats.xml import XmlError, from_xml
from service.loading import Lines, LoadError, read_json
from service.storage import get_store
from service.writes import (
    JSON_PATCH,
    Request,
    Result,
    WriteError,
    batch,
    bundle_requests,
    transaction,
)

from . import bundles
from .access import authorize
from .errors import FhirError, load_refusal, operation_outcome
from .views import fhir_base, reply, resource_type_or_404

JSON_BODIES = ("application/fhir+json", "application/json")
XML_BODIES = ("application/fhir+xml", "application/xml", "text/xml")
RESOURCE_BODIES = JSON_BODIES + XML_BODIES
PATCH_BODIES = (JSON_PATCH,)
_RETURNS = ("minimal", "representation", "OperationOutcome")


def _http_date(instant: str) -> str:
    return format_datetime(datetime.fromisoformat(instant), usegmt=True)


def _prefer_return() -> str | None:
    """``Prefer: return=…`` (None when absent or unknown)."""
    for part in request.headers.get("Prefer", "").replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "return" and value.strip().strip('"') in _RETURNS:
            return value.strip().strip('"')
    return None


def _body(allowed: tuple[str, ...]) -> tuple[Any, Lines | None]:
    """The request body read as a document (JSON, or FHIR XML), with its lines (JSON's)."""
    data = _data(allowed)
    if request.mimetype in XML_BODIES:
        try:
            return from_xml(data), None
        except XmlError as e:
            raise FhirError(400, f"the body is not FHIR XML: {e}", "structure") from None
    return _json(data)


def _data(allowed: tuple[str, ...]) -> bytes:
    """The request body, of one of the ``allowed`` media types and not empty."""
    mimetype = request.mimetype
    if mimetype not in allowed:
        raise FhirError(
            415,
            f"{request.method} takes {', '.join(allowed)}, not {mimetype or 'no content type'}",
        )
    data = request.get_data()
    if not data.strip():
        raise FhirError(400, f"{request.method} needs a body", "required")
    return data


def _json(data: bytes) -> tuple[Any, Lines]:
    try:
        text, document = read_json("body", data)
    except LoadError as e:
        raise load_refusal(e) from None
    return document, Lines(text)


def _resource_body(resource_type: str, where: str) -> tuple[Mapping[str, Any], Lines | None]:
    document, lines = _body(RESOURCE_BODIES)
    if not isinstance(document, Mapping) or document.get("resourceType") != resource_type:
        found = document.get("resourceType") if isinstance(document, Mapping) else None
        raise FhirError(
            400,
            f"{where}: the body is a {found or 'document without resourceType'}, "
            f"not a {resource_type}",
            "invalid",
        )
    return document, lines


def _criteria() -> str:
    return request.query_string.decode("utf-8", "replace")


def _run(one: Request) -> Result:
    authorize()
    try:
        return transaction([one], get_store())[0]
    except WriteError as e:
        raise _error(e) from None
    except LoadError as e:
        raise load_refusal(e) from None


def _error(error: WriteError) -> FhirError:
    return FhirError(error.status, error.message, error.code, expression=error.expression)


def _headers(result: Result) -> dict[str, str]:
    headers: dict[str, str] = {}
    if result.version_id and result.last_updated and result.status != 204:
        headers["ETag"] = f'W/"{result.version_id}"'
        headers["Last-Modified"] = _http_date(result.last_updated)
        headers["Location"] = f"{fhir_base()}/{result.location}"
    return headers


def _outcome(result: Result) -> dict[str, object]:
    issues = result.issues or [
        ("information", "informational", f"{HTTPStatus(result.status).phrase}", None)
    ]
    return operation_outcome(issues)


def _respond(result: Result) -> Response:
    preference = _prefer_return()
    headers = _headers(result)
    if preference == "OperationOutcome":
        status = 200 if result.status == 204 else result.status
        return reply(json.dumps(_outcome(result)).encode(), status, headers)
    if result.status == 204 or preference == "minimal" or result.body is None:
        response = Response(status=result.status, headers=headers)
        del response.headers["Content-Type"]
        return response
    return reply(result.body, result.status, headers)


# --- single interactions -------------------------------------------------------------------


def _with_body(method: str, resource_type: str, target: str, **fields: Any) -> Response:
    """A create or an update, whose body is the resource: ``target`` is what follows the
    type in its URL (``/id``, ``?criteria``, or nothing), ``fields`` the rest of its
    Request. A create's id is the server's: any the body has is dropped."""
    resource_type = resource_type_or_404(resource_type)
    authorize()
    where = f"{method} {resource_type}{target}"
    resource, lines = _resource_body(resource_type, where)
    if method == "POST":
        resource = {k: v for k, v in resource.items() if k != "id"}
    return _respond(
        _run(Request(method, resource_type, resource=resource, where=where, lines=lines, **fields))
    )


def create(resource_type: str) -> Response:
    """Create: the server chooses the id; with If-None-Exist, nothing when one resource
    matches (200 with it), a 412 when several do."""
    return _with_body("POST", resource_type, "", if_none_exist=request.headers.get("If-None-Exist"))


def update(resource_type: str, resource_id: str) -> Response:
    """Update, or create with this id (201); If-Match W/"n" must name the current version."""
    return _with_body(
        "PUT",
        resource_type,
        f"/{resource_id}",
        resource_id=resource_id,
        if_match=request.headers.get("If-Match"),
    )


def conditional_update(resource_type: str) -> Response:
    """Conditional update: the one resource the search matches, or a new one (none); a
    412 when several match."""
    return _with_body(
        "PUT",
        resource_type,
        f"?{_criteria()}",
        criteria=_criteria(),
        if_match=request.headers.get("If-Match"),
    )


def patch(resource_type: str, resource_id: str) -> Response:
    """JSON Patch (application/json-patch+json); the patched resource passes the gate."""
    resource_type = resource_type_or_404(resource_type)
    authorize()
    document, _ = _body(PATCH_BODIES)
    where = f"PATCH {resource_type}/{resource_id}"
    return _respond(
        _run(
            Request(
                "PATCH",
                resource_type,
                resource_id,
                patch=document,
                if_match=request.headers.get("If-Match"),
                where=where,
            )
        )
    )


def delete(resource_type: str, resource_id: str) -> Response:
    """Delete: a new version without content; refused (409) while others reference it."""
    resource_type = resource_type_or_404(resource_type)
    return _respond(
        _run(
            Request(
                "DELETE",
                resource_type,
                resource_id,
                if_match=request.headers.get("If-Match"),
                where=f"DELETE {resource_type}/{resource_id}",
            )
        )
    )


def conditional_delete(resource_type: str) -> Response:
    """Conditional delete: the one resource the search matches (a 412 when several do)."""
    resource_type = resource_type_or_404(resource_type)
    return _respond(
        _run(
            Request(
                "DELETE",
                resource_type,
                criteria=_criteria(),
                where=f"DELETE {resource_type}?{_criteria()}",
            )
        )
    )


# --- transaction and batch -----------------------------------------------------------------


def _response_entry(result: Result, base: str, preference: str | None, read: bool) -> bytes:
    """One entry of a transaction-response or batch-response: its status and where the
    resource is; the resource itself for a read or with ``Prefer: return=representation``,
    an OperationOutcome with ``Prefer: return=OperationOutcome``."""
    response: dict[str, object] = {"status": f"{result.status} {HTTPStatus(result.status).phrase}"}
    if result.location is not None and result.status != 204:
        response["location"] = result.location
        response["etag"] = f'W/"{result.version_id}"'
        response["lastModified"] = result.last_updated
    if preference == "OperationOutcome":
        response["outcome"] = _outcome(result)
    if result.resource_id is None:
        return json.dumps({"response": response}, ensure_ascii=False).encode()
    full_url = f"{base}/{result.resource_type}/{result.resource_id}"
    if result.body is not None and (read or preference == "representation"):
        return bundles.entry(full_url, result.body, {"response": response})
    return bundles.entry_of_url(full_url, response)


def _error_entry(error: WriteError | LoadError) -> bytes:
    if isinstance(error, WriteError):
        status, issues = error.status, [("error", error.code, error.message, error.expression)]
    else:
        refusal = load_refusal(error)
        status, issues = refusal.status, refusal.issues
    response = {
        "status": f"{status} {HTTPStatus(status).phrase}",
        "outcome": operation_outcome(list(issues)),
    }
    return json.dumps({"response": response}, ensure_ascii=False).encode()


def transaction_or_batch() -> Response:
    """``POST [base]``: a transaction (all or nothing) or batch (each entry on its own)
    Bundle."""
    authorize()
    document, lines = _json(_data(JSON_BODIES))
    return bundle_reply(lines, document)


def bundle_reply(lines: Lines, document: Any) -> Response:
    """Carry out a transaction or batch Bundle (of ``POST [base]``, or one sent to
    ``$import``), answering its ``transaction-response`` or ``batch-response``."""
    base = fhir_base()
    preference = _prefer_return()
    store = get_store()
    try:
        parsed = bundle_requests("body", lines, document, base)
        if parsed.bundle_type == "transaction":
            results = transaction(parsed.requests, store)
            entries = [
                _response_entry(r, base, preference, q.method == "GET")
                for r, q in zip(results, parsed.requests, strict=True)
            ]
            return reply(bundles.bundle("transaction-response", entries=entries))
    except WriteError as e:
        raise _error(e) from None
    except LoadError as e:
        raise load_refusal(e) from None
    runnable = [r for r in parsed.requests if r.index not in parsed.refused]
    done = iter(batch(runnable, store))
    entries = []
    for request_ in parsed.requests:
        outcome = parsed.refused.get(request_.index) or next(done)
        if isinstance(outcome, Result):
            entries.append(_response_entry(outcome, base, preference, request_.method == "GET"))
        else:
            entries.append(_error_entry(outcome))
    return reply(bundles.bundle("batch-response", entries=entries))
