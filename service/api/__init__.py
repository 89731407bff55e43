"""The FHIR REST API under ``/fhir``: routing registry, negotiation, views, errors."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_cors import CORS

from . import admission, errors, openapi
from .registry import CONVERTERS, READ_ONLY_ENDPOINTS, blueprint
from .views import negotiated

# Headers a browser-based widget may read from a cross-origin GET.
EXPOSED_HEADERS = ["ETag", "Last-Modified", "Location", "Content-Location"]
# What a cross-origin script may send: reads, and the writes (each needs the Bearer token).
CORS_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
# How long a browser may reuse a CORS preflight's answer (browsers cap it lower).
PREFLIGHT_MAX_AGE = 86400


def _options() -> Response | None:
    """``OPTIONS``: 204 No Content with ``Allow``, the methods this path takes (RFC 9110
    9.3.7), before negotiation, so any ``Accept`` gets it. flask-cors adds a preflight's
    ``Access-Control-Allow-*`` headers to it. Not the CapabilityStatement, even for
    ``/fhir/metadata``: that was DSTU2's ``OPTIONS [base]``; R4 reads it with ``GET``."""
    if request.method != "OPTIONS":
        return None
    allowed = current_app.make_default_options_response().allow
    if request.endpoint in READ_ONLY_ENDPOINTS:  # writes there are routed, to be refused
        allowed = {"GET", "HEAD", "OPTIONS"}
    response = Response(status=204)
    response.allow.update(allowed)
    del response.headers["Content-Type"]
    return response


def _negotiate() -> None:
    negotiated()  # refuse unacceptable requests (406) before doing any work


def init_app(app: Flask) -> None:
    errors.init_app(app)
    admission.init_app(app)  # deadlines for every /fhir request, slots for heavy ones
    app.url_map.converters.update(CONVERTERS)
    bp = blueprint()
    bp.before_request(_options)
    bp.before_request(_negotiate)
    app.register_blueprint(bp)
    app.register_blueprint(openapi.blueprint())
    CORS(
        app,
        resources={r"/fhir*": {"origins": "*", "methods": CORS_METHODS}},
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )
