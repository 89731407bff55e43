"""Observability of the web service: a request id on every request and response, and
structured logs on stderr (``request_id``, ``logs``, ``middleware``).

Sits beside the front ends, not in them: ``init_app`` hooks the whole app, whichever front
end answers. Configuration (``FLASK_`` environment variables, like the rest):

- ``LOG_LEVEL``: ``DEBUG``, ``INFO`` (default), ``WARNING``, ``ERROR``; ``WARNING`` drops
  the access records.
- ``LOG_FORMAT``: ``json`` (default; one object a line) or ``text`` (for a terminal).
"""

from __future__ import annotations

from flask import Flask
from flask.logging import default_handler

from .logs import configure
from .middleware import ACCESS_LOGGER, RequestBoundary
from .request_id import HEADER, current_request_id

__all__ = ["ACCESS_LOGGER", "HEADER", "current_request_id", "init_app"]

EXTENSION = "ped.observability"
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_LOG_FORMAT = "json"


def init_app(app: Flask) -> None:
    """Call first in ``create_app``, so what the other components log while they start is
    already written the configured way."""
    configure(
        app.config.get("LOG_LEVEL", DEFAULT_LOG_LEVEL),
        app.config.get("LOG_FORMAT", DEFAULT_LOG_FORMAT),
    )
    # Flask gives its logger a handler of its own when none is configured yet; records
    # reach ours through the root logger, and a second handler would write them twice.
    app.logger.removeHandler(default_handler)
    if EXTENSION not in app.extensions:  # wrapping twice would log every request twice
        app.wsgi_app = RequestBoundary(app.wsgi_app)  # type: ignore[method-assign]
        app.extensions[EXTENSION] = True
