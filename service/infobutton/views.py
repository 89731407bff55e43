"""``GET /infobutton``: the route, its headers, and its errors.

The reply depends on the URL alone (the format is chosen by ``knowledgeResponseType``, not
by ``Accept``), so it carries no ``Vary``: a shared cache keys it by URL, host included,
and may keep a 200 for ``CACHE_MAX_AGE`` seconds. Any site may read it from a browser
(``Access-Control-Allow-Origin: *``), errors included, so a widget can show why a request
failed.

Content types: an Atom feed is ``application/atom+xml``, except when the client asked for
``knowledgeResponseType=text/xml`` (the Infobutton guide's name for the same feed, and what
MedlinePlus Connect clients ask for), which gets ``text/xml``: a client is answered in the
type it named. The JSON mirror is ``application/json``, ASCII-only (every other character
escaped) so no charset question arises. Errors are OperationOutcomes (``outcome``), every
one of them: a malformed request, a method other than GET, a limit (``service.limits``), an
unavailable store, a bug; none is cached (``service.headers``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, request
from flask_cors import CORS
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from service.settings import public_root
from service.storage import get_store
from service.store import StoreUnavailable

from . import lookup, outcome
from .compose import compose
from .feed import to_atom, to_json
from .request import ATOM, JSON, TEXT_XML, RequestError, not_utf8, parse, wants_json

CONTENT_TYPES = {
    None: "application/atom+xml; charset=utf-8",
    ATOM: "application/atom+xml; charset=utf-8",
    TEXT_XML: "text/xml; charset=utf-8",
    JSON: "application/json",
}

bp = Blueprint("infobutton", __name__)
CORS(bp, origins="*", send_wildcard=True, methods=["GET", "HEAD", "OPTIONS"])


def _args() -> MultiDict[str, str]:
    """The query parameters. werkzeug raises UnicodeDecodeError when the raw query string
    is not UTF-8 (bytes a client sent without percent-encoding them); that is the client's
    error, not ours."""
    try:
        return request.args
    except UnicodeDecodeError:
        raise not_utf8() from None


@bp.get("/infobutton")
def infobutton() -> Response:
    asked = parse(_args())
    found = lookup.find(get_store(), asked)
    feed = compose(
        asked,
        found,
        root=public_root(),  # PUBLIC_BASE_URL, or the trusted Host the client used
        author=str(current_app.config["SERVICE_NAME"]),  # FLASK_SERVICE_NAME
        now=datetime.now(UTC),
    )
    if asked.wants_json:
        body = json.dumps(to_json(feed), ensure_ascii=True).encode("ascii")
    else:
        body = to_atom(feed)
    response = Response(body, content_type=CONTENT_TYPES[asked.response_type])
    response.cache_control.public = True
    response.cache_control.max_age = int(current_app.config["CACHE_MAX_AGE"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/infobutton", methods=["POST", "PUT", "PATCH", "DELETE"])
def read_only() -> Response:
    """Routed, not left to the router: a 405 the router raises belongs to no blueprint, and
    the app's handler would answer it as the FHIR API does."""
    raise MethodNotAllowed(["GET", "HEAD"], "the Infobutton answers GET requests only")


def _error(
    status: int, issues: list[outcome.Issue], headers: dict[str, str] | None = None
) -> Response:
    try:
        as_json = wants_json(_args())
    except RequestError:
        as_json = False
    body, content_type = outcome.render(issues, as_json=as_json)
    response = Response(body, status=status, content_type=content_type, headers=headers)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _bad_request(error: RequestError) -> Response:
    return _error(400, [outcome.Issue(p.code, p.diagnostics) for p in error.problems])


def _unavailable(error: StoreUnavailable) -> Response:
    current_app.logger.warning("store unavailable: %s", error)
    issue = outcome.Issue("transient", "the content store is unavailable; try again shortly")
    return _error(503, [issue], {"Retry-After": "5"})


def _http_error(error: HTTPException) -> Response:
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    issue = outcome.Issue("processing", error.description or error.name)
    return _error(error.code or 500, [issue], headers)


def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("unhandled error in /infobutton", exc_info=error)
    return _error(500, [outcome.Issue("exception", "internal error; it has been logged")])


bp.register_error_handler(RequestError, _bad_request)
bp.register_error_handler(StoreUnavailable, _unavailable)
bp.register_error_handler(HTTPException, _http_error)
bp.register_error_handler(Exception, _unexpected)
