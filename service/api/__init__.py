"""The FHIR REST API under ``/fhir``: routing registry, negotiation, views, errors."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from . import admission, errors, openapi
from .registry import CONVERTERS, blueprint
from .views import negotiated

# Headers a browser-based widget may read from a cross-origin GET.
EXPOSED_HEADERS = ["ETag", "Last-Modified", "Location", "Content-Location"]


def _negotiate() -> None:
    negotiated()  # refuse unacceptable requests (406) before doing any work


def init_app(app: Flask) -> None:
    errors.init_app(app)
    admission.init_app(app)  # deadlines for every /fhir request, slots for heavy ones
    app.url_map.converters.update(CONVERTERS)
    bp = blueprint()
    bp.before_request(_negotiate)
    app.register_blueprint(bp)
    app.register_blueprint(openapi.blueprint())
    CORS(
        app,
        resources={r"/fhir/*": {"origins": "*", "methods": ["GET", "HEAD", "OPTIONS"]}},
        expose_headers=EXPOSED_HEADERS,
    )
