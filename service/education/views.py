"""``/education/``: the reading view's routes, caching and errors, all in HTML.

Pages are static documents: no script, no external asset, one inline stylesheet allowed by
its hash in the Content-Security-Policy, and no framing by any site. Each page's ETag is
derived from the versions of every resource it was built from, so a client revalidates
cheaply and sees a change to any of them.

Every answer under ``/education/`` is an HTML page, errors included: a missing page, a
method other than GET, a limit (``service.limits``), an unavailable store, a bug.

Bidirectional-text controls are taken out of every page (``BIDI_CONTROLS``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from importlib.resources import files

from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

from service import catalog
from service.catalog import Entry
from service.loading import mapping_config
from service.storage import get_store
from service.store import StoreUnavailable

from . import reading

CSS = (files(__package__) / "templates" / "reading.css").read_text(encoding="utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
# What a page may load: its own inline stylesheet and nothing else.
POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
BIDI_CONTROLS = dict.fromkeys(
    (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069), None
)
"""The explicit embedding, override and isolate controls (LRE, RLE, PDF, LRO, RLO, LRI,
RLI, FSI, PDI), which reorder the text that follows them ("Trojan Source", CVE-2021-42574;
Unicode UTS #55). They are removed from the page rather than isolated with ``dir="auto"`` or
``<bdi>``: isolation only keeps a control from reaching the text around its element, while an
override still reverses the words inside it ("\u202e05 mg" reads "gm 50"). The page's own
words have none, and letters keep their own direction without them (the implicit marks
LRM, RLM and ALM are kept)."""
_TEMPLATE_VERSION = hashlib.sha256(
    b"".join((files(__package__) / "templates").joinpath(n).read_bytes() for n in
             ("base.html", "_content.html", "phase.html", "medication.html", "index.html"))
).hexdigest()[:12]  # fmt: skip
"""Part of every ETag, so a deployment that changes the page layout invalidates caches."""

CONTENT_LANGUAGE = "en"  # the language of the view's own words (headings, labels)

bp = Blueprint("education", __name__, template_folder="templates", url_prefix="/education")


def _page(template: str, lang: str, status: int = 200, **context: object) -> Response:
    # The stylesheet is ours and must reach the browser byte for byte (its hash is in the
    # policy, and a <style> element does not decode character references).
    html = render_template(template, css=Markup(CSS), lang=lang, **context)  # noqa: S704
    html = html.translate(BIDI_CONTROLS)  # the whole page: text, attributes, Markdown
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Language"] = lang
    return response


def _cached(entries: Iterable[Entry], render: Callable[[], Response]) -> Response:
    """Weak ETag over the resources shown. A client that already has this page gets a 304
    before anything is rendered."""
    versions = sorted(f"{e.reference}/{e.version_id}" for e in entries)
    digest = hashlib.sha256("\n".join([_TEMPLATE_VERSION, *versions]).encode()).hexdigest()
    etag = digest[:32]
    fresh = request.if_none_match.contains_weak(etag)  # weak comparison (RFC 9110 13.1.2)
    response = Response(status=304) if fresh else render()
    response.set_etag(etag, weak=True)
    response.cache_control.public = True
    response.cache_control.max_age = int(current_app.config["CACHE_MAX_AGE"])
    response.vary.add("Accept-Encoding")
    return response


@bp.get("/")
def index() -> Response:
    store = get_store()
    phases = list(catalog.every(store, "PlanDefinition"))
    medications = list(catalog.every(store, "Medication"))
    page = reading.index_page(phases, medications, CONTENT_LANGUAGE)
    return _cached([*phases, *medications], lambda: _page("index.html", page.lang, page=page))


@bp.get("/PlanDefinition/<resource_id>")
def phase(resource_id: str) -> Response:
    store = get_store()
    entry = catalog.read(store, "PlanDefinition", resource_id)
    if entry is None:
        raise NotFound(f"There is no treatment phase with the id {resource_id!r}.")
    contents = catalog.contents(store, entry.resource)
    # The other phases too: a "Find out more" sentence links to the one it names, so a new
    # phase changes this page.
    phases = list(catalog.every(store, "PlanDefinition"))
    shown = [*phases, *contents.activities.values(), *contents.medications.values()]

    def render() -> Response:
        page = reading.phase_page(entry, contents, mapping_config(current_app.config), phases)
        return _page("phase.html", page.lang, page=page)

    return _cached(shown, render)


@bp.get("/Medication/<resource_id>")
def medication(resource_id: str) -> Response:
    store = get_store()
    entry = catalog.read(store, "Medication", resource_id)
    if entry is None:
        raise NotFound(f"There is no drug with the id {resource_id!r}.")
    uses = catalog.uses_of(store, entry)
    shown = [entry, *(p for p, _ in uses), *(a for _, used in uses for a in used)]

    def render() -> Response:
        page = reading.medication_page(entry, uses)
        return _page("medication.html", page.lang, page=page)

    return _cached(shown, render)


@bp.get("/<path:rest>")
def unknown(rest: str) -> Response:
    raise NotFound("There is no page at this address.")


_OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@bp.route("/", methods=_OTHER_METHODS)
@bp.route("/<path:rest>", methods=_OTHER_METHODS)
def read_only(rest: str | None = None) -> Response:
    """Routed, not left to the router: a 405 the router raises belongs to no blueprint, and
    the app's handler would answer it as FHIR."""
    raise MethodNotAllowed(["GET", "HEAD"], "These pages can only be read.")


def _error(error: HTTPException) -> Response:
    status = error.code or 500
    response = _page(
        "error.html",
        CONTENT_LANGUAGE,
        status=status,
        title=error.name,
        message=error.description or error.name,
    )
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unavailable(error: StoreUnavailable) -> Response:
    current_app.logger.warning("store unavailable: %s", error)
    response = _page(
        "error.html",
        CONTENT_LANGUAGE,
        status=503,
        title="Temporarily unavailable",
        message="The content cannot be read right now. Please try again shortly.",
    )
    response.headers["Retry-After"] = "5"
    return response


def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("unhandled error in the reading view", exc_info=error)
    return _error(InternalServerError("Something went wrong on our side. It has been logged."))


bp.register_error_handler(HTTPException, _error)
bp.register_error_handler(StoreUnavailable, _unavailable)
bp.register_error_handler(Exception, _unexpected)
