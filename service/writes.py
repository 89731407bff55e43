"""The write engine: every FHIR write, one interaction or a Bundle's entries, is settled
against the store, passes the gate (``service.loading.gate``) and is written here.

A ``Request`` is one interaction (R4 http.html): create (``POST Type``, with
``ifNoneExist``), update (``PUT Type/id``, create-on-update, ``ifMatch``), conditional update
(``PUT Type?criteria``), JSON Patch (``PATCH Type/id``), delete (``DELETE Type/id`` or
``Type?criteria``) and read (``GET Type/id``, in Bundles). ``transaction`` runs requests all
or nothing, in one store transaction and in R4's processing order (DELETE, POST, PUT/PATCH,
GET), with ``urn:uuid:`` fullUrls and conditional references (``Type?criteria``) rewritten
to the ``Type/id`` they became; ``batch`` runs each request on its own.

A request that cannot be carried out raises ``WriteError`` (an HTTP status and what is
wrong, naming the entry); input the gate or the FHIR models refuse raises ``LoadError``.
Either way nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch
import jsonpointer

from mappings import fhir
from mappings.documents import walk
from service.loading import (
    Lines,
    LoadError,
    Origin,
    bundle_entries,
    check_urns,
    checked_resource,
    fhirpath_steps,
    gate,
)
from service.search.params import CANONICAL_TYPES, PARAMETERS, RESOURCE_TYPES
from service.search.query import SearchError, parse_search
from service.store import Store

Resource = dict[str, Any]
Key = tuple[str, str]
Issue = tuple[str, str, str, str | None]

METHODS = ("POST", "PUT", "PATCH", "DELETE", "GET")
# R4 http.html#trules: deletes, then creates, then updates and patches, then reads.
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3}
JSON_PATCH = "application/json-patch+json"
# Conditional references name at most this many search results (one is a match).
_PROBE = 2


class WriteError(Exception):
    """A write that cannot be carried out: HTTP ``status``, the issue ``code``, and what is
    wrong (starting with the request or Bundle entry it is about)."""

    def __init__(
        self, status: int, message: str, code: str, *, expression: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.expression = expression


@dataclass(frozen=True)
class Request:
    """One write (or read) interaction."""

    method: str
    resource_type: str
    resource_id: str | None = None
    criteria: str | None = None
    """The search of a conditional update or delete (a query string), else None."""
    resource: Mapping[str, Any] | None = None
    """The body of a POST or PUT."""
    patch: Any = None
    """The JSON Patch document of a PATCH."""
    if_match: str | None = None
    """``If-Match`` / ``request.ifMatch``: an ETag, ``W/"n"``."""
    if_none_exist: str | None = None
    full_url: str | None = None
    where: str = "the request"
    """How errors name it: ``Bundle.entry[3]`` or ``PUT PlanDefinition/x``."""
    source: str = "body"
    lines: Lines | None = None
    at: tuple[str | int, ...] = ()
    """Where its resource is in its input (``("entry", 3, "resource")`` in a Bundle)."""
    index: int = 0


@dataclass
class Result:
    """What one request did: its HTTP status, where the resource is now, and for a read or
    a ``Prefer: return=representation`` its current body."""

    status: int
    resource_type: str
    resource_id: str | None = None
    version_id: int | None = None
    last_updated: str | None = None
    body: bytes | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        if self.resource_id is None or self.version_id is None:
            return None
        return f"{self.resource_type}/{self.resource_id}/_history/{self.version_id}"


# --- the engine ----------------------------------------------------------------------------


def transaction(requests: Sequence[Request], store: Store) -> list[Result]:
    """Carry out every request, all or nothing, in one store transaction; the results are
    in request order."""
    with store.transaction():
        return _Run(store, requests, atomic=True).run()


def batch(requests: Sequence[Request], store: Store) -> list[Result | WriteError | LoadError]:
    """Carry out each request on its own: a failed one is its error, and the others stand."""
    results: list[Result | WriteError | LoadError] = []
    for request in requests:
        try:
            with store.transaction():
                results.append(_Run(store, [request], atomic=False).run()[0])
        except (WriteError, LoadError) as e:
            results.append(e)
    return results


def _weak_version(tag: str) -> str:
    """``W/"3"`` or ``"3"`` -> ``3``."""
    tag = tag.strip()
    if tag.startswith(("W/", "w/")):
        tag = tag[2:]
    return tag.strip('"')


class _Run:
    def __init__(self, store: Store, requests: Sequence[Request], *, atomic: bool) -> None:
        self.store = store
        self.requests = list(requests)
        self.atomic = atomic
        self.targets: dict[str, str] = {}
        """fullUrl -> ``Type/id`` of what its entry became."""

    def run(self) -> list[Result]:
        results: dict[int, Result] = {}
        order = sorted(range(len(self.requests)), key=lambda n: _ORDER[self.requests[n].method])
        keys: dict[Key, int] = {}
        writes: list[tuple[int, Resource, str]] = []  # (request, resource, method)
        deletes: list[tuple[int, Key]] = []
        reads: list[int] = []
        for n in order:
            request = self.requests[n]
            if request.method == "GET":
                reads.append(n)
                continue
            if request.method == "DELETE":
                key = self._delete_target(request)
                if key is None:
                    results[n] = Result(204, request.resource_type, issues=[_info(
                        f"{request.where}: no {request.resource_type} matches; nothing deleted"
                    )])  # fmt: skip
                    continue
                self._claim(keys, key, n)
                deletes.append((n, key))
                continue
            if request.method == "POST":
                found = self._create_target(request)
                if found is not None:  # a conditional create that matched
                    self._claim(keys, found, n)
                    self._target(request, found)
                    results[n] = self._existing(found, request)
                    continue
                key = (request.resource_type, str(uuid.uuid4()))
            elif request.method == "PUT":
                key = self._update_target(request)
            else:
                key = self._patch_target(request)
            self._claim(keys, key, n)
            self._target(request, key)
            resource = self._content(request, key)
            writes.append((n, resource, request.method))
        # Deletes first (R4's order): what is written after them resolves without them.
        deleted_bodies = {key: self.store.read(*key) for _, key in deletes}
        for (n, key), outcome in zip(
            deletes, self.store.delete([k for _, k in deletes]), strict=True
        ):
            request = self.requests[n]
            if outcome.action == "absent":
                results[n] = Result(204, key[0], key[1], issues=[_info(
                    f"{request.where}: {key[0]}/{key[1]} is not stored; nothing deleted"
                )])  # fmt: skip
            else:
                results[n] = Result(204, key[0], key[1], outcome.version_id, outcome.last_updated,
                                    issues=[_info(f"{key[0]}/{key[1]} deleted")])  # fmt: skip
        resources = []
        origins: dict[Key, Origin] = {}
        for n, resource, _ in writes:
            request = self.requests[n]
            resource = self._resolved(request, resource)
            checked = checked_resource(request.source, _lines(request), request.at, resource)
            resources.append(checked)
            origins[(checked["resourceType"], checked["id"])] = Origin(
                request.source, request.lines, request.at, created=request.method == "POST"
            )
        gate(resources, self.store, origins)
        outcomes = self.store.put(resources, methods=[m for _, _, m in writes])
        for (n, _, _), outcome in zip(writes, outcomes, strict=True):
            status = 201 if outcome.action == "created" else 200
            result = Result(status, outcome.resource_type, outcome.id, outcome.version_id,
                            outcome.last_updated)  # fmt: skip
            if outcome.action == "unchanged":
                result.issues.append(_info(
                    f"{outcome.resource_type}/{outcome.id} is unchanged: the content is its "
                    f"current version's (version {outcome.version_id})"
                ))  # fmt: skip
            results[n] = result
        self._check_references([(n, key) for n, key in deletes], deleted_bodies)
        for n in reads:
            results[n] = self._read(self.requests[n])
        for result in results.values():
            if result.body is None and result.resource_id is not None and result.status != 204:
                stored = self.store.read(result.resource_type, result.resource_id)
                if stored is not None:
                    result.body = stored.body
        return [results[n] for n in range(len(self.requests))]

    # --- settling each request against the store -------------------------------------------

    def _claim(self, keys: dict[Key, int], key: Key, n: int) -> None:
        if key in keys:
            first = self.requests[keys[key]].where
            raise WriteError(
                400,
                f"{self.requests[n].where}: {key[0]}/{key[1]} is also the subject of {first}; "
                "a transaction may change a resource only once",
                "invalid",
            )
        keys[key] = n

    def _target(self, request: Request, key: Key) -> None:
        if request.full_url:
            self.targets[request.full_url] = f"{key[0]}/{key[1]}"

    def _search(self, request: Request, criteria: str, what: str) -> list[str]:
        """The ids of the (at most two) stored resources matching ``criteria``."""
        pairs = parse_qsl(criteria, keep_blank_values=True)
        if not pairs:
            raise WriteError(400, f"{request.where}: {what} needs search criteria", "invalid")
        try:
            query = parse_search(request.resource_type, pairs, strict=True).query
        except SearchError as e:
            raise WriteError(400, f"{request.where}: {what} {criteria!r}: {e}", "invalid") from None
        query = replace(query, count=_PROBE, offset=0)
        return [item.id for item in self.store.search(query).items]

    def _single(self, request: Request, criteria: str, what: str) -> str | None:
        found = self._search(request, criteria, what)
        if len(found) > 1:
            raise WriteError(
                412,
                f"{request.where}: {what} {criteria!r} matches more than one "
                f"{request.resource_type}; it needs at most one",
                "multiple-matches",
            )
        return found[0] if found else None

    def _check_if_match(self, request: Request, key: Key) -> None:
        if request.if_match is None:
            return
        latest = self.store.latest(*key)
        current = None if latest is None or latest.deleted else str(latest.version_id)
        if current is None or _weak_version(request.if_match) not in (current, "*"):
            now = f'W/"{current}"' if current else "none (it is not stored)"
            raise WriteError(
                412,
                f"{request.where}: If-Match {request.if_match} is not the current version of "
                f"{key[0]}/{key[1]}: it is {now}",
                "conflict",
            )

    def _delete_target(self, request: Request) -> Key | None:
        if request.criteria is not None:
            found = self._single(request, request.criteria, "a conditional delete")
            if found is None:
                return None
            key = (request.resource_type, found)
        else:
            key = (request.resource_type, str(request.resource_id))
        self._check_if_match(request, key)
        return key

    def _create_target(self, request: Request) -> Key | None:
        if request.if_none_exist is None:
            return None
        criteria = request.if_none_exist.split("?", 1)[-1]
        found = self._single(request, criteria, "If-None-Exist")
        return None if found is None else (request.resource_type, found)

    def _update_target(self, request: Request) -> Key:
        body_id = (request.resource or {}).get("id")
        if request.criteria is not None:
            found = self._single(request, request.criteria, "a conditional update")
            if found is not None:
                if body_id is not None and body_id != found:
                    raise WriteError(
                        400,
                        f"{request.where}: the resource's id {body_id!r} is not {found!r}, "
                        f"the {request.resource_type} the search matched",
                        "invalid",
                    )
                key = (request.resource_type, found)
            else:
                new = body_id if isinstance(body_id, str) else str(uuid.uuid4())
                key = (request.resource_type, new)
        else:
            if body_id != request.resource_id:
                raise WriteError(
                    400,
                    f"{request.where}: the resource's id is {body_id!r}; an update needs it to "
                    f"be {request.resource_id!r}, the id in the URL",
                    "invalid",
                    expression=f"{request.resource_type}.id",
                )
            key = (request.resource_type, str(request.resource_id))
        self._check_if_match(request, key)
        return key

    def _patch_target(self, request: Request) -> Key:
        key = (request.resource_type, str(request.resource_id))
        self._check_if_match(request, key)
        return key

    def _content(self, request: Request, key: Key) -> Resource:
        """The resource to write for a POST, PUT or PATCH, with its id."""
        if request.method != "PATCH":
            return {**dict(request.resource or {}), "id": key[1]}
        stored = self.store.read(*key)
        if stored is None:
            latest = self.store.latest(*key)
            if latest is not None and latest.deleted:
                raise WriteError(410, f"{request.where}: {key[0]}/{key[1]} was deleted", "deleted")
            raise WriteError(404, f"{request.where}: {key[0]}/{key[1]} is not known", "not-found")
        current = json.loads(stored.body)
        try:
            patched = jsonpatch.JsonPatch(request.patch).apply(current)
        except jsonpatch.InvalidJsonPatch as e:
            raise WriteError(400, f"{request.where}: not a JSON Patch: {e}", "invalid") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            raise WriteError(
                422, f"{request.where}: the patch does not apply to {key[0]}/{key[1]}: {e}",
                "processing",
            ) from None  # fmt: skip
        if not isinstance(patched, dict) or (patched.get("resourceType"), patched.get("id")) != key:
            raise WriteError(
                422,
                f"{request.where}: a patch may not change the resource's type or id",
                "processing",
            )
        meta = patched.get("meta")
        if isinstance(meta, dict):  # the server's own, assigned again when it is stored
            meta.pop("versionId", None)
            meta.pop("lastUpdated", None)
            if not meta:
                patched.pop("meta")
        return patched

    def _resolved(self, request: Request, resource: Resource) -> Resource:
        """``resource`` with fullUrl and conditional references rewritten to ``Type/id``."""
        conditional: dict[str, str] = {}
        for steps, value in walk(resource):
            if (
                steps
                and steps[-1] == "reference"
                and isinstance(value, str)
                and "?" in value
                and value not in conditional
            ):
                conditional[value] = self._conditional_reference(request, value)
        if not self.targets and not conditional:
            return resource
        rewritten: Resource = fhir.rewrite_references(resource, {**self.targets, **conditional})
        return rewritten

    def _conditional_reference(self, request: Request, reference: str) -> str:
        resource_type, _, criteria = reference.partition("?")
        if resource_type not in RESOURCE_TYPES:
            raise WriteError(
                400,
                f"{request.where}: conditional reference {reference!r}: {resource_type!r} is "
                f"not served here (only {', '.join(RESOURCE_TYPES)})",
                "invalid",
            )
        probe = replace(request, resource_type=resource_type)
        found = self._search(probe, criteria, f"conditional reference {reference!r}")
        if len(found) != 1:
            raise WriteError(
                412,
                f"{request.where}: conditional reference {reference!r} matches "
                f"{'no' if not found else 'more than one'} {resource_type}; it needs exactly one",
                "not-found" if not found else "multiple-matches",
            )
        return f"{resource_type}/{found[0]}"

    def _existing(self, key: Key, request: Request) -> Result:
        stored = self.store.read(*key)
        if stored is None:  # found by a search in this very transaction: cannot happen
            raise WriteError(409, f"{request.where}: {key[0]}/{key[1]} vanished", "conflict")
        return Result(
            200, key[0], key[1], stored.version_id, stored.last_updated, stored.body,
            [_info(f"{request.where}: If-None-Exist matched {key[0]}/{key[1]}; nothing created")],
        )  # fmt: skip

    def _read(self, request: Request) -> Result:
        key = (request.resource_type, str(request.resource_id))
        stored = self.store.read(*key)
        if stored is None:
            raise WriteError(404, f"{request.where}: {key[0]}/{key[1]} is not known", "not-found")
        return Result(200, key[0], key[1], stored.version_id, stored.last_updated, stored.body)

    def _check_references(
        self, deletes: Sequence[tuple[int, Key]], bodies: Mapping[Key, Any]
    ) -> None:
        """A deleted resource that another stored resource still references is refused
        (409): the store keeps every reference resolving."""
        for n, key in deletes:
            stored = bodies.get(key)
            if stored is None:
                continue
            referrers = _referrers(self.store, key, json.loads(stored.body))
            if referrers:
                shown = ", ".join(referrers[:10]) + (" …" if len(referrers) > 10 else "")
                raise WriteError(
                    409,
                    f"{self.requests[n].where}: {key[0]}/{key[1]} cannot be deleted: "
                    f"{len(referrers)} stored resource{'s' if len(referrers) != 1 else ''} "
                    f"reference{'' if len(referrers) != 1 else 's'} it ({shown}); delete or "
                    "change them first, or in the same transaction",
                    "conflict",
                )


def _lines(request: Request) -> Lines:
    return request.lines if request.lines is not None else Lines("{}")


def _info(message: str) -> Issue:
    return ("information", "informational", message, None)


def _referrers(store: Store, key: Key, resource: Mapping[str, Any]) -> list[str]:
    """``Type/id`` of every current resource that references ``resource`` (by a reference
    or, while no other resource has its url, by its canonical)."""
    resource_type, resource_id = key
    literal = [f"{resource_type}/{resource_id}"]
    canonical: list[str] = []
    url, version = resource.get("url"), resource.get("version")
    if resource_type in CANONICAL_TYPES and isinstance(url, str):
        if isinstance(version, str):
            canonical.append(f"{url}|{version}")
        if not any(store.referencing(t, "url", [url]) for t in CANONICAL_TYPES):
            canonical.append(url)  # nothing else answers to the bare url any more
    found: set[str] = set()
    for source, params in PARAMETERS.items():
        for param in params.values():
            if resource_type not in param.targets:
                continue
            values = canonical if param.canonical else literal
            if values:
                found.update(
                    f"{r.resource_type}/{r.id}"
                    for r in store.referencing(source, param.name, values)
                )
    found.discard(f"{resource_type}/{resource_id}")
    return sorted(found)


# --- requests from a Bundle ----------------------------------------------------------------


@dataclass(frozen=True)
class BundleRequests:
    bundle_type: str
    """``transaction`` or ``batch``."""
    requests: tuple[Request, ...]
    refused: Mapping[int, WriteError | LoadError] = field(default_factory=dict)
    """Batch entries refused as they were read (each answered with its error)."""


def is_request_bundle(document: Any) -> bool:
    """Whether ``document`` is a Bundle of requests: a transaction or a batch."""
    return (
        isinstance(document, Mapping)
        and document.get("resourceType") == "Bundle"
        and document.get("type") in ("transaction", "batch")
    )


def bundle_requests(source: str, lines: Lines, document: Any, base: str) -> BundleRequests:
    """The requests of a transaction or batch Bundle. ``base`` is this server's FHIR base:
    an entry's ``request.url`` may be absolute on it. In a transaction every entry must be
    well formed (a LoadError or WriteError otherwise); in a batch a bad entry is refused on
    its own. ``lines`` finds where a problem is in the input."""
    if not isinstance(document, Mapping) or document.get("resourceType") != "Bundle":
        found = document.get("resourceType") if isinstance(document, Mapping) else None
        raise WriteError(
            400,
            f"POST [base] takes a transaction or batch Bundle, not {found or 'this document'}",
            "invalid",
        )
    bundle_type = document.get("type")
    if bundle_type not in ("transaction", "batch"):
        raise WriteError(
            400,
            f"POST [base] takes a Bundle of type transaction or batch, not {bundle_type!r}",
            "invalid",
            expression="Bundle.type",
        )
    entries = bundle_entries(source, lines, document)
    requests: list[Request] = []
    refused: dict[int, WriteError | LoadError] = {}
    full_urls: dict[str, int] = {}
    for n, entry in enumerate(entries):
        try:
            request = _entry_request(source, lines, n, entry, base)
            if request.full_url is not None and bundle_type == "transaction":
                if request.full_url in full_urls:
                    raise WriteError(
                        400,
                        f"Bundle.entry[{n}].fullUrl {request.full_url} is also "
                        f"Bundle.entry[{full_urls[request.full_url]}]'s: the fullUrls of a "
                        "Bundle must be unique",
                        "invalid",
                        expression=f"Bundle.entry[{n}].fullUrl",
                    )
                full_urls[request.full_url] = n
            if bundle_type == "batch" and request.resource is not None:
                check_urns(source, lines, [(("entry", n, "resource"), request.resource)], set())
        except (WriteError, LoadError) as e:
            refusal = _at_its_line(source, lines, e)
            if bundle_type == "transaction":
                raise refusal from None
            refused[n] = refusal
            request = Request("GET", "Bundle", where=f"Bundle.entry[{n}]", index=n)
        requests.append(request)
    if bundle_type == "transaction":
        located = [(r.at, r.resource) for r in requests if r.resource is not None]
        check_urns(source, lines, located, set(full_urls))
    return BundleRequests(bundle_type, tuple(requests), refused)


def _at_its_line(source: str, lines: Lines, error: WriteError | LoadError) -> LoadError:
    """A malformed entry is a problem of the input: named at its line, as the loader
    names every other (``body:12: Bundle.entry[1].fullUrl …``)."""
    if isinstance(error, LoadError):
        return error
    steps = fhirpath_steps(error.expression) if error.expression else ()
    return LoadError(
        source, lines(steps), error.message, code=error.code, expression=error.expression
    )


def _entry_request(source: str, lines: Lines, n: int, entry: Any, base: str) -> Request:
    where = f"Bundle.entry[{n}]"
    if not isinstance(entry, Mapping):
        raise WriteError(400, f"{where} is not an object", "structure", expression=where)
    request = entry.get("request")
    if not isinstance(request, Mapping):
        raise WriteError(
            400, f"{where} has no request (method and url)", "required",
            expression=f"{where}.request",
        )  # fmt: skip
    method, url = request.get("method"), request.get("url")
    if method not in METHODS or not isinstance(url, str):
        raise WriteError(
            400,
            f"{where}.request: method {method!r} url {url!r}: each entry needs a url and "
            f"one of the methods {', '.join(METHODS)}",
            "invalid",
            expression=f"{where}.request",
        )
    if url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    path, _, criteria = url.partition("?")
    resource_type, _, resource_id = path.strip("/").partition("/")
    full_url = entry.get("fullUrl")
    resource = entry.get("resource")
    allowed = {
        "POST": f"POST {resource_type}",
        "PUT": f"PUT {resource_type}/[id] or PUT {resource_type}?[criteria]",
        "PATCH": f"PATCH {resource_type}/[id]",
        "DELETE": f"DELETE {resource_type}/[id] or DELETE {resource_type}?[criteria]",
        "GET": f"GET {resource_type}/[id]",
    }[method]
    shape_ok = {
        "POST": not resource_id and not criteria,
        "PUT": bool(resource_id) != bool(criteria),
        "PATCH": bool(resource_id) and not criteria,
        "DELETE": bool(resource_id) != bool(criteria),
        "GET": bool(resource_id) and not criteria,
    }[method]
    if resource_type not in RESOURCE_TYPES or "/" in resource_id or not shape_ok:
        raise WriteError(
            400,
            f"{where}.request: {method} {request.get('url')} is not a write this server takes; "
            f"allowed: {allowed}, for a type served here ({', '.join(RESOURCE_TYPES)})",
            "not-supported",
            expression=f"{where}.request.url",
        )
    if resource_id and not fhir.is_valid_id(resource_id):
        raise WriteError(400, f"{where}.request.url: {resource_id!r} is not a valid id", "invalid",
                         expression=f"{where}.request.url")  # fmt: skip
    patch: Any = None
    if method in ("POST", "PUT"):
        if not isinstance(resource, Mapping):
            raise WriteError(400, f"{where}: a {method} entry needs a resource", "required",
                             expression=f"{where}.resource")  # fmt: skip
        if resource.get("resourceType") != resource_type:
            raise WriteError(
                400,
                f"{where}: the resource is a {resource.get('resourceType')!r}, not the "
                f"{resource_type} of {method} {request.get('url')}",
                "invalid",
                expression=f"{where}.resource.resourceType",
            )
        if method == "POST":  # the server chooses the id (R4 http.html#create)
            resource = {k: v for k, v in resource.items() if k != "id"}
    elif method == "PATCH":
        patch = _binary_patch(where, resource)
        resource = None
    elif resource is not None:
        raise WriteError(400, f"{where}: a {method} entry has no resource", "invalid",
                         expression=f"{where}.resource")  # fmt: skip
    if_match, if_none_exist = request.get("ifMatch"), request.get("ifNoneExist")
    return Request(
        method,
        resource_type,
        resource_id or None,
        criteria or None,
        resource,
        patch,
        if_match if isinstance(if_match, str) else None,
        if_none_exist if isinstance(if_none_exist, str) and method == "POST" else None,
        full_url if isinstance(full_url, str) else None,
        where,
        source,
        lines,
        ("entry", n, "resource"),
        n,
    )


def _binary_patch(where: str, resource: Any) -> Any:
    """The JSON Patch of a PATCH entry: R4 carries it as a Binary resource."""
    if (
        not isinstance(resource, Mapping)
        or resource.get("resourceType") != "Binary"
        or resource.get("contentType") != JSON_PATCH
        or not isinstance(resource.get("data"), str)
    ):
        raise WriteError(
            400,
            f"{where}: a PATCH entry needs a Binary resource with contentType {JSON_PATCH} "
            "and the patch as base64 data",
            "invalid",
            expression=f"{where}.resource",
        )
    try:
        return json.loads(base64.b64decode(resource["data"], validate=True))
    except (binascii.Error, ValueError):
        raise WriteError(400, f"{where}: the Binary's data is not a base64 JSON Patch",
                         "invalid", expression=f"{where}.resource.data") from None  # fmt: skip
