"""Read, vread, history and search: thin views over the store.

Views parse the request, ask the store, and set HTTP metadata. Full resources go out as
the bytes the store holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from urllib.parse import quote, urlencode

from flask import Response, current_app, request
from marshmallow import Schema, ValidationError, fields, validate

from mappings.fhir import is_valid_id
from mappings.numbers import VERSION_ID_DIGITS, strict_int
from service.search.params import RESOURCE_TYPES
from service.search.query import (
    DEFAULT_COUNT,
    MAX_OFFSET,
    PageSize,
    ParsedSearch,
    SearchError,
    SearchQuery,
    StrictInteger,
    first_problem,
    parse_search,
)
from service.search.values import date_range
from service.settings import public_root
from service.storage import get_store
from service.store import MAX_INCLUDED, Included, Page, StoredResource, resolve_includes

from . import bundles
from .errors import FhirError, operation_outcome
from .negotiation import Negotiated, negotiate
from .rendering import render
from .subsetting import is_subsetting, subset

_SAFE_IN_LINKS = ":|,$/"


def resource_type_or_404(resource_type: str) -> str:
    if resource_type not in RESOURCE_TYPES:
        raise FhirError(
            404,
            f"resource type {resource_type!r} is not served here "
            f"(served: {', '.join(RESOURCE_TYPES)})",
            "not-supported",
        )
    return resource_type


def fhir_base() -> str:
    """The absolute base of the FHIR endpoint: under ``PUBLIC_BASE_URL`` when set, else as
    the client reached it through a trusted ``Host`` (``service.settings.public_root``)."""
    return f"{public_root()}fhir"


def negotiated() -> Negotiated:
    """The reply format for this request (406 if there is none), worked out once."""
    environ = request.environ
    found: Negotiated | None = environ.get("ped.negotiated")
    if found is None:
        try:
            format_param = request.args.get("_format") if environ.get("QUERY_STRING") else None
        except UnicodeDecodeError as error:
            # Decoded before any view runs, so this is the one place an undecodable query
            # string (not UTF-8) can surface; gunicorn refuses most of these first.
            raise FhirError(400, "the query string is not valid UTF-8", "invalid") from error
        found = negotiate(format_param, environ.get("HTTP_ACCEPT"))
        environ["ped.negotiated"] = found
    return found


def reply(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """R4 JSON ``body`` in the negotiated format and FHIR version."""
    chosen = negotiated()
    return Response(
        render(body, chosen), status=status, headers=headers, content_type=chosen.content_type
    )


@lru_cache(maxsize=4096)
def _http_date(instant: str) -> str:
    return format_datetime(datetime.fromisoformat(instant), usegmt=True)


def version_headers(stored: StoredResource) -> dict[str, str]:
    return {
        "ETag": f'W/"{stored.version_id}"',
        "Last-Modified": _http_date(stored.last_updated),
    }


class ReadSchema(Schema):
    """The parameters of a read or vread (OpenAPI describes them from here)."""

    _summary = fields.String(validate=validate.OneOf(("true", "false", "text", "data")))
    _elements = fields.String()


_READ_SCHEMA = ReadSchema()


def _subsetting() -> tuple[str | None, tuple[str, ...] | None]:
    try:
        options = _READ_SCHEMA.load(
            {k: v for k, v in request.args.items() if k in ("_summary", "_elements")}
        )
    except ValidationError as e:
        raise FhirError(400, first_problem(e), "invalid") from None
    elements = options.get("_elements")
    names = tuple(n.strip() for n in elements.split(",") if n.strip()) if elements else None
    return options.get("_summary"), names


# A version never changes once written, so a vread can be cached for good.
_IMMUTABLE = 365 * 24 * 3600


def cacheable(response: Response, max_age: int | None = None) -> Response:
    """Published content: any cache may keep it for ``max_age`` seconds (default: the
    CACHE_MAX_AGE setting), then revalidate. Replies differ by Accept (format, version)."""
    response.cache_control.public = True
    response.cache_control.max_age = (
        current_app.config["CACHE_MAX_AGE"] if max_age is None else max_age
    )
    response.vary.add("Accept")
    return response


def _precondition_failed(stored: StoredResource) -> str | None:
    """Why ``If-Match`` or ``If-Unmodified-Since`` fails for ``stored`` (RFC 9110 13.2.2,
    steps 1 and 2), or None. ``If-Match`` matches the version in either form, ``W/"3"`` as
    FHIR writes it (R4 http.html#concurrency) or ``"3"``: a version is the only validator
    this server has, and a strong comparison would fail every weak one."""
    if_match = request.if_match
    version = str(stored.version_id)
    if request.headers.get("If-Match") is not None:
        if not (if_match.star_tag or if_match.contains_weak(version)):
            return f'If-Match: the current version is W/"{version}"'
    elif request.if_unmodified_since is not None:
        modified = datetime.fromisoformat(stored.last_updated).replace(microsecond=0)
        if modified > request.if_unmodified_since:
            changed = _http_date(stored.last_updated)
            return f"If-Unmodified-Since: the resource was modified at {changed}"
    return None


def _not_modified(stored: StoredResource) -> bool:
    """``If-None-Match`` (weak comparison), else ``If-Modified-Since`` (RFC 9110 13.2.2,
    steps 3 and 4): the client's copy is current."""
    if request.headers.get("If-None-Match") is not None:
        if_none_match = request.if_none_match
        return if_none_match.star_tag or if_none_match.contains_weak(str(stored.version_id))
    since = request.if_modified_since
    modified = datetime.fromisoformat(stored.last_updated).replace(microsecond=0)
    return since is not None and modified <= since


def _resource_response(stored: StoredResource, *, immutable: bool = False) -> Response:
    """One resource, answering conditional requests from its version alone: 412 with an
    OperationOutcome when ``If-Match``/``If-Unmodified-Since`` fails, 304 (no body) when
    ``If-None-Match``/``If-Modified-Since`` says the client's copy is current."""
    body = stored.body
    if "_summary" in request.args or "_elements" in request.args:
        summary, elements = _subsetting()  # a 400 comes before any precondition (13.2.1)
        if is_subsetting(summary, elements):
            body = subset(body, summary, elements)
    failed = _precondition_failed(stored)
    if failed is not None:
        raise FhirError(412, f"precondition failed: {failed}", "conflict")
    response = cacheable(
        reply(body, headers=version_headers(stored)), _IMMUTABLE if immutable else None
    )
    if immutable:
        response.cache_control.immutable = True
    if _not_modified(stored):
        response.status_code = 304
    return response


def _valid_id(resource_type: str, resource_id: str) -> str:
    if not is_valid_id(resource_id):
        raise FhirError(404, f"{resource_id!r} is not a valid {resource_type} id", "not-found")
    return resource_id


def _gone(resource_type: str, resource_id: str, version_id: int, last_updated: str) -> FhirError:
    """410 Gone for a deleted resource (R4 http.html#read: a read after a delete), with the
    version of the delete as its ETag."""
    return FhirError(
        410,
        f"{resource_type}/{resource_id} was deleted (version {version_id}, {last_updated}); "
        "its history and earlier versions stay readable",
        "deleted",
        headers={"ETag": f'W/"{version_id}"', "Last-Modified": _http_date(last_updated)},
    )


def read(resource_type: str, resource_id: str) -> Response:
    resource_type = resource_type_or_404(resource_type)
    store = get_store()  # every request reads one snapshot (service.storage)
    stored = store.read(resource_type, _valid_id(resource_type, resource_id))
    if stored is None:
        latest = store.latest(resource_type, resource_id)
        if latest is not None and latest.deleted:
            raise _gone(resource_type, resource_id, latest.version_id, latest.last_updated)
        raise FhirError(404, f"{resource_type}/{resource_id} is not known", "not-found")
    return _resource_response(stored)


def vread(resource_type: str, resource_id: str, version_id: str) -> Response:
    resource_type = resource_type_or_404(resource_type)
    _valid_id(resource_type, resource_id)
    store = get_store()
    try:
        number = strict_int(version_id, max_digits=VERSION_ID_DIGITS)
    except ValueError:  # '²', '1.0', Arabic-Indic digits: no version given here
        number = None
    stored = store.vread(resource_type, resource_id, number) if number is not None else None
    if stored is None:
        if store.latest(resource_type, resource_id) is None:
            raise FhirError(404, f"{resource_type}/{resource_id} is not known", "not-found")
        raise FhirError(
            404, f"{resource_type}/{resource_id} has no version {version_id!r}", "not-found"
        )
    if stored.deleted:
        raise _gone(resource_type, resource_id, stored.version_id, stored.last_updated)
    return _resource_response(stored, immutable=True)


# --- links -------------------------------------------------------------------------------


def _url(path: str, pairs: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(pairs), quote_via=quote, safe=_SAFE_IN_LINKS)
    return f"{path}?{query}" if query else path


def paging_links(
    path: str,
    applied: Sequence[tuple[str, str]],
    *,
    count: int,
    offset: int,
    total: int | None,
    has_more: bool,
) -> list[tuple[str, str]]:
    """self/first/previous/next/last, absolute, each repeating every applied parameter."""

    def at(position: int) -> str:
        pairs = [*applied, ("_count", str(count))]
        if position:
            pairs.append(("_offset", str(position)))
        return _url(path, pairs)

    links = [("self", at(offset)), ("first", at(0))]
    if count and offset:
        links.append(("previous", at(max(0, offset - count))))
    if count and has_more:
        links.append(("next", at(offset + count)))
    if count and total is not None and total:
        links.append(("last", at((total - 1) // count * count)))
    return links


# --- search ------------------------------------------------------------------------------


def strict_handling() -> bool:
    """Whether the request sent ``Prefer: handling=strict``."""
    prefer = request.headers.get("Prefer", "")
    return any(
        part.strip().replace(" ", "").lower() == "handling=strict"
        for part in re.split(r"[,;]", prefer)
    )


def search_pairs() -> list[tuple[str, str]]:
    """The search parameters of a GET, or of a form-encoded POST (with its query's)."""
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        if request.mimetype != "application/x-www-form-urlencoded":
            raise FhirError(
                415,
                "POST _search takes application/x-www-form-urlencoded parameters, "
                f"not {request.mimetype or 'no content type'}",
            )
        pairs += list(request.form.items(multi=True))
    return pairs


def _result_pairs(query: SearchQuery) -> list[tuple[str, str]]:
    """The result parameters the search used, for its links (``_count``/``_offset`` aside)."""
    pairs = []
    if query.sort:
        pairs.append(("_sort", ",".join(("-" if d else "") + k for k, d in query.sort)))
    if query.summary:
        pairs.append(("_summary", query.summary))
    if query.elements:
        pairs.append(("_elements", ",".join(query.elements)))
    if query.total != "accurate":
        pairs.append(("_total", query.total))
    return pairs


def _search_outcome(parsed: ParsedSearch, included: Included) -> bytes | None:
    """Warnings for the client: parameters ignored, includes cut short."""
    issues: list[tuple[str, str, str, str | None]] = [
        ("warning", "not-supported", f"search parameter {name!r} is not supported and "
         "was ignored (send Prefer: handling=strict to have it rejected)", name)
        for name in parsed.ignored
    ]  # fmt: skip
    issues += [
        ("information", "informational", f"{given} includes nothing: it starts from "
         f"{given.split('=', 1)[1].split(':', 1)[0]} resources and this search returns "
         f"{parsed.query.resource_type}; _include:iterate follows it from included resources",
         given.split("=", 1)[0])
        for given in parsed.skipped
    ]  # fmt: skip
    if included.truncated:
        issues.append(("warning", "too-costly", f"only the first {MAX_INCLUDED} included "
                       "resources are returned; page with a smaller _count", None))  # fmt: skip
    if not issues:
        return None
    return bundles.entry_of(operation_outcome(issues), {"search": {"mode": "outcome"}})


def search(resource_type: str) -> Response:
    resource_type = resource_type_or_404(resource_type)
    try:
        parsed = parse_search(
            resource_type, search_pairs(), strict=strict_handling(), base=fhir_base()
        )
    except SearchError as e:
        raise FhirError(400, str(e), "invalid") from None
    store = get_store()
    page = store.search(parsed.query)
    included = resolve_includes(store, parsed.query, page.items)
    return searchset(f"{fhir_base()}/{resource_type}", [], parsed, page, included)


def searchset(
    path: str,
    leading: Sequence[tuple[str, str]],
    parsed: ParsedSearch,
    page: Page,
    included: Included,
) -> Response:
    """The searchset Bundle of one page: matches, included resources, an outcome entry for
    what the client should know, and paging links to ``path`` that repeat ``leading`` and
    every applied parameter."""
    query = parsed.query
    base = fhir_base()
    applied = [*leading, *parsed.applied, *_result_pairs(query)]
    links = paging_links(
        path,
        applied,
        count=query.count,
        offset=query.offset,
        total=page.total,
        has_more=page.has_more,
    )
    entries = _match_entries(base, page, query)
    entries += [
        bundles.entry(
            f"{base}/{item.resource_type}/{item.id}", item.body, {"search": {"mode": "include"}}
        )
        for item in included.items
    ]
    outcome = _search_outcome(parsed, included)
    if outcome is not None:
        entries.append(outcome)
    return cacheable(
        reply(bundles.bundle("searchset", total=page.total, links=links, entries=entries))
    )


def _match_entries(base: str, page: Page, query: SearchQuery) -> list[bytes]:
    subsetting = is_subsetting(query.summary, query.elements)
    return [
        bundles.entry(
            f"{base}/{item.resource_type}/{item.id}",
            subset(item.body, query.summary, query.elements) if subsetting else item.body,
            {"search": {"mode": "match"}},
        )
        for item in page.items
    ]


# --- history -----------------------------------------------------------------------------


class HistorySchema(Schema):
    """The parameters of a history interaction (OpenAPI describes them from here)."""

    _count = PageSize(validate=validate.Range(min=0), load_default=DEFAULT_COUNT)
    _offset = StrictInteger(validate=validate.Range(min=0, max=MAX_OFFSET), load_default=0)
    _since = fields.String(load_default=None)
    _at = fields.String(load_default=None)


_HISTORY_SCHEMA = HistorySchema()
_HISTORY_PARAMETERS = ("_count", "_offset", "_since", "_at")

# The reply each method gave, as a history entry's response.status.
_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


def _history_entry(base: str, item: StoredResource) -> bytes:
    """One version as a history entry: ``request`` with the method that made it (the
    type's URL for a create, the instance's otherwise) and ``response``; a delete has no
    ``resource`` (R4 Bundle rule bdl-5's exception for history), only its fullUrl."""
    full_url = f"{base}/{item.resource_type}/{item.id}"
    method = item.method
    created = method == "POST" or (method == "PUT" and item.version_id == 1)
    extra = {
        "request": {
            "method": method,
            "url": item.resource_type if method == "POST" else f"{item.resource_type}/{item.id}",
        },
        "response": {
            "status": "201 Created" if created else _STATUS[method],
            "etag": f'W/"{item.version_id}"',
            "lastModified": item.last_updated,
        },
    }
    if item.deleted:
        return json.dumps({"fullUrl": full_url, **extra}, separators=(",", ":")).encode()
    return bundles.entry(full_url, item.body, extra)


def _history_bound(options: dict[str, str | None], name: str) -> tuple[str, str] | None:
    """``[low, high)`` of a ``_since``/``_at`` date (FHIR date, dateTime or instant at its
    own precision), or None when absent; a value that is not one is a 400."""
    given = options[name]
    if given is None:
        return None
    try:
        found = date_range(given)
    except ValueError as e:
        raise FhirError(400, f"{name}: {e}", expression=name) from None
    return found.low, found.high


def _history(resource_type: str | None, resource_id: str | None) -> Response:
    supported = {*_HISTORY_PARAMETERS, "_format", "_pretty"}
    unknown = [name for name in request.args if name not in supported]
    if unknown and strict_handling():
        raise FhirError(400, f"history does not support {', '.join(unknown)}")
    try:
        options = _HISTORY_SCHEMA.load(
            {k: request.args[k] for k in _HISTORY_PARAMETERS if k in request.args}
        )
    except ValidationError as e:
        raise FhirError(400, first_problem(e), "invalid") from None
    # An empty _since sets no lower bound; an empty _at names no moment (a 400).
    since = _history_bound(options, "_since") if options["_since"] else None
    at = _history_bound(options, "_at")
    count = options["_count"]
    page = get_store().history(
        resource_type,
        resource_id,
        since=since[0] if since else None,
        at=at,
        count=count,
        offset=options["_offset"],
    )
    base = fhir_base()
    path = "/".join(p for p in (base, resource_type, resource_id, "_history") if p)
    applied = [(name, options[name]) for name in ("_since", "_at") if options[name]]
    links = paging_links(
        path,
        applied,
        count=count,
        offset=options["_offset"],
        total=page.total,
        has_more=page.has_more,
    )
    entries = [_history_entry(base, item) for item in page.items]
    return reply(bundles.bundle("history", total=page.total, links=links, entries=entries))


def history_system() -> Response:
    """Every version of every resource served, newest first."""
    return _history(None, None)


def history_type(resource_type: str) -> Response:
    return _history(resource_type_or_404(resource_type), None)


def history_instance(resource_type: str, resource_id: str) -> Response:
    resource_type = resource_type_or_404(resource_type)
    _valid_id(resource_type, resource_id)
    if get_store().latest(resource_type, resource_id) is None:  # a deleted one has history
        raise FhirError(404, f"{resource_type}/{resource_id} is not known", "not-found")
    return _history(resource_type, resource_id)
