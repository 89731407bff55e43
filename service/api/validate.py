"""``$validate`` (R4 Resource-validate): an OperationOutcome listing every problem of a resource.

Type level ``POST /fhir/{type}/$validate`` takes the resource as the body (FHIR JSON or XML)
or a ``Parameters`` resource (``resource``, ``mode``, ``profile``). Instance level
``POST /fhir/{type}/{id}/$validate`` validates the stored resource when there is no body,
and a body as an update of that id. ``mode`` and ``profile`` may also be in the query:

- ``mode=create``: an id may be absent; ``update``: the resource needs an id (the URL's at
  instance level); ``delete``: whether the stored resource could be deleted (it exists and
  no other stored resource references it);
- ``profile``: a StructureDefinition of ours (``service.conformance``) or a core R4 one
  (``http://hl7.org/fhir/StructureDefinition/{type}``, the base validation). A profile that
  does not resolve is a 400, as R4 requires an error. ``meta.profile`` must resolve (it is a
  canonical) but is checked only when asked for with ``profile``: ``$import`` accepts what
  ``$validate`` without a profile accepts, and no more.

Problems with the resource are the answer (200), not an error; a body that cannot be read,
an unknown mode or profile, or conflicting parameters are a 400. References are checked
against this store and our conformance resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request

from mappings.documents import DocumentError, check_text, find_bidi, loads_json
from service.conformance import resolve as resolve_conformance
from service.formats.xml import XmlError, XmlSyntaxError, from_xml
from service.loading import StoreReferences
from service.search.params import PARAMETERS
from service.storage import get_store
from service.store import Store
from service.validation import Issue, validate
from service.validation.profiles import core_type

from .errors import FhirError, operation_outcome
from .views import reply, resource_type_or_404

JSON_BODIES = ("application/fhir+json", "application/json")
XML_BODIES = ("application/fhir+xml", "application/xml", "text/xml")
BODY_TYPES = JSON_BODIES + XML_BODIES
MODES = ("create", "update", "delete")
_PARAMETERS = ("resource", "mode", "profile")


class _NotAResource(str):
    """XML the reader refused, with its reason."""


_ABSENT: Any = object()  # no resource given (JSON null is a resource to report on)


@dataclass(frozen=True)
class _Request:
    resource: Any  # _ABSENT: no resource given
    mode: str | None
    profile: str | None


def validate_resource(resource_type: str) -> Response:
    """Type level: validate the body against R4, its invariants, this server's content and
    the profiles asked for or claimed."""
    resource_type = resource_type_or_404(resource_type)
    body = _body()
    if isinstance(body, _NotAResource):
        return _fatal(body)
    asked = _request(body)
    if asked.mode == "delete":
        resource_id = asked.resource.get("id") if isinstance(asked.resource, dict) else None
        if not isinstance(resource_id, str):
            raise FhirError(
                400,
                "mode=delete checks a stored resource: use POST "
                f"[base]/{resource_type}/[id]/$validate?mode=delete, or send a resource with an id",
            )
        return _delete(resource_type, resource_id)
    return _validate(resource_type, asked, None)


def validate_instance(resource_type: str, resource_id: str) -> Response:
    """Instance level: the stored resource (no body), or the body as an update of it."""
    resource_type = resource_type_or_404(resource_type)
    body = _body() if _has_body() else _ABSENT
    if isinstance(body, _NotAResource):
        return _fatal(body)
    asked = _request(body)
    if asked.mode == "delete":
        return _delete(resource_type, resource_id)
    if asked.mode == "create":
        raise FhirError(
            400,
            f"mode=create validates a new resource: use POST [base]/{resource_type}/$validate",
        )
    if asked.resource is _ABSENT:
        stored = get_store().read(resource_type, resource_id)
        if stored is None:
            raise FhirError(404, f"{resource_type}/{resource_id} is not known", "not-found")
        asked = _Request(json.loads(stored.body), asked.mode, asked.profile)
    else:
        asked = _Request(asked.resource, "update", asked.profile)
    return _validate(resource_type, asked, resource_id)


def _fatal(reason: str) -> Response:
    outcome = operation_outcome([("fatal", "structure", f"not a FHIR resource: {reason}", None)])
    return reply(json.dumps(outcome, ensure_ascii=False).encode())


def _validate(resource_type: str, asked: _Request, resource_id: str | None) -> Response:
    resource = asked.resource
    if resource is _ABSENT:
        raise FhirError(400, "$validate needs a resource in the body")
    config = current_app.config
    base, version = config["CANONICAL_BASE"], config["ARTIFACT_VERSION"]

    def resolve(url: str) -> Mapping[str, Any] | None:
        found = resolve_conformance(url, base, version)
        return (
            found if found is not None and found["resourceType"] == "StructureDefinition" else None
        )

    profiles = []
    found: list[Issue] = []
    if asked.profile is not None:
        named = core_type(asked.profile)
        if named is None:
            profile = resolve(asked.profile)
            if profile is None:
                raise FhirError(
                    400,
                    f"profile {asked.profile} is not a StructureDefinition this server knows "
                    "(ours are served under /fhir/StructureDefinition; core R4 ones are "
                    f"http://hl7.org/fhir/StructureDefinition/{resource_type})",
                    "not-found",
                )
            profiles.append(profile)
        elif named != resource_type:
            found.append(
                Issue(
                    "error",
                    "invalid",
                    "",
                    f"Profile {asked.profile} is the core definition of {named}, not of "
                    f"{resource_type}.",
                )
            )
    references = StoreReferences(get_store(), served=(base, version))
    found += validate(
        resource,
        expected_type=resource_type,
        references=references,
        profiles=profiles,
        resolve=resolve,
    )
    found += _mode(asked.mode, resource, resource_type, resource_id)
    whole = resource.get("resourceType") if isinstance(resource, dict) else None
    return reply(json.dumps(_outcome(found, whole), ensure_ascii=False).encode())


def _mode(mode: str | None, resource: Any, resource_type: str, url_id: str | None) -> list[Issue]:
    """What ``mode=update`` adds: an id, and at instance level the URL's."""
    if mode != "update" or not isinstance(resource, dict):
        return []
    given = resource.get("id")
    if given is None:
        return [
            Issue(
                "error",
                "required",
                f"{resource_type}.id",
                "An update needs the resource's id (mode=update).",
            )
        ]
    if url_id is not None and given != url_id:
        return [
            Issue(
                "error",
                "invalid",
                f"{resource_type}.id",
                f"The resource's id {given!r} is not the id {url_id!r} of the URL it would update.",
            )
        ]
    return []


def _delete(resource_type: str, resource_id: str) -> Response:
    """mode=delete: could the stored resource be deleted? It must exist, and no other stored
    resource may reference it."""
    store = get_store()
    stored = store.read(resource_type, resource_id)
    key = f"{resource_type}/{resource_id}"
    issues: list[tuple[str, str, str, str | None]]
    if stored is None:
        issues = [("error", "not-found", f"{key} is not stored here: nothing to delete.", None)]
    else:
        referencing = _referencing(store, resource_type, resource_id, json.loads(stored.body))
        if referencing:
            shown = ", ".join(referencing[:20]) + (" ..." if len(referencing) > 20 else "")
            issues = [
                (
                    "error",
                    "conflict",
                    f"{key} cannot be deleted: {len(referencing)} stored resource(s) "
                    f"reference it: {shown}.",
                    None,
                )
            ]
        else:
            issues = [
                (
                    "information",
                    "informational",
                    f"{key} can be deleted: nothing references it.",
                    None,
                )
            ]
    return reply(json.dumps(operation_outcome(issues), ensure_ascii=False).encode())


def _referencing(store: Store, resource_type: str, resource_id: str, resource: Any) -> list[str]:
    """``Type/id`` of every stored resource that references this one, by the reference
    search parameters that can point to its type."""
    url = resource.get("url") if isinstance(resource, dict) else None
    found: set[str] = set()
    for source_type, params in PARAMETERS.items():
        for param in params.values():
            if param.type != "reference" or resource_type not in param.targets:
                continue
            if param.canonical:
                if not isinstance(url, str):
                    continue
                values = [url]
            else:
                values = [f"{resource_type}/{resource_id}"]
            for item in store.referencing(source_type, param.name, values):
                if (item.resource_type, item.id) != (resource_type, resource_id):
                    found.add(f"{item.resource_type}/{item.id}")
    return sorted(found)


def _has_body() -> bool:
    return bool(request.get_data())


def _request(body: Any) -> _Request:
    """The resource, mode and profile, from a Parameters body and the query (both may be
    used; a parameter given twice, or differently in each, is a 400)."""
    query = {}
    for name in ("mode", "profile"):
        values = request.args.getlist(name)
        if len(values) > 1:
            raise FhirError(400, f"$validate takes one {name!r}, not {len(values)}")
        if values:
            query[name] = values[0]
    resource, given = _unwrap(body)
    for name, value in given.items():
        if name in query and query[name] != value:
            raise FhirError(
                400, f"{name!r} is {query[name]!r} in the query but {value!r} in Parameters"
            )
        query[name] = value
    mode = query.get("mode")
    if mode is not None and mode not in MODES:
        raise FhirError(
            400, f"unknown $validate mode {mode!r} (R4 modes: {', '.join(MODES)})", "value"
        )
    profile = query.get("profile")
    if profile is not None and not profile.strip():
        raise FhirError(400, "$validate profile is empty", "value")
    return _Request(resource, mode, profile)


def _body() -> Any:
    mimetype = request.mimetype
    if mimetype not in BODY_TYPES:
        raise FhirError(
            415, f"$validate takes {', '.join(BODY_TYPES)}, not {mimetype or 'no content type'}"
        )
    data = request.get_data()
    if not data.strip():
        raise FhirError(400, "$validate needs a resource in the body")
    if mimetype in XML_BODIES:
        try:
            resource = from_xml(data)
        except XmlSyntaxError as e:
            raise FhirError(400, f"the body is not FHIR XML: {e}", "structure") from None
        except XmlError as e:
            # Well-formed XML that is not a FHIR resource: a finding, like JSON that is not one.
            return _NotAResource(str(e))
        _refuse_bidi(data, resource)
        return resource
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise FhirError(400, f"the body is not UTF-8 JSON (line {line})", "structure") from None
    try:
        # The reader every input passes (mappings.documents): duplicate keys, nesting,
        # number size and bidi controls are refused with the line, as $import refuses them.
        return loads_json(text)
    except DocumentError as e:
        raise FhirError(400, f"the body cannot be read: {e}", "structure") from None


def _refuse_bidi(data: bytes, resource: Any) -> None:
    """Bidi controls in XML, written or as character references, as in JSON."""
    found = find_bidi(resource)
    if found is None:
        return
    try:
        check_text(data.decode("utf-8", errors="replace"))
        check_text(found)
    except DocumentError as e:
        raise FhirError(400, f"the body cannot be read: {e}", "structure") from None


def _unwrap(body: Any) -> tuple[Any, dict[str, str]]:
    """The resource out of a ``Parameters`` wrapper, and its ``mode`` and ``profile``.
    Parameters without a ``resource`` and without mode or profile is validated as it is (and
    reported as the wrong type)."""
    if body is _ABSENT or not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return body, {}
    parameters = body.get("parameter")
    items = [p for p in (parameters if isinstance(parameters, list) else []) if isinstance(p, dict)]
    resources = [p.get("resource") for p in items if p.get("name") == "resource"]
    if len(resources) > 1:
        raise FhirError(400, "Parameters holds more than one 'resource' to validate")
    given: dict[str, str] = {}
    for p in items:
        name = p.get("name")
        if name not in ("mode", "profile"):
            continue
        values = [v for k, v in p.items() if k.startswith("value")]
        if len(values) != 1 or not isinstance(values[0], str):
            raise FhirError(
                400, f"Parameters {name!r} needs one string value (valueCode, valueUri)"
            )
        if name in given:
            raise FhirError(400, f"Parameters holds more than one {name!r}")
        given[name] = values[0]
    if resources:
        return resources[0], given
    if given:
        return _ABSENT, given
    return body, {}


def _outcome(issues: list[Issue], whole: Any) -> dict[str, object]:
    """Issues about the whole resource are located at its type (``expression`` is the
    path clients read)."""
    if not issues:
        return operation_outcome([("information", "informational", "no problems found", None)])
    at_root = whole if isinstance(whole, str) and whole else None
    return operation_outcome(
        [(i.severity, i.code, i.message, i.location or at_root) for i in issues]
    )
