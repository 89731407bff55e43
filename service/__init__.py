"""The web service: a Flask application factory. Components attach via ``init_app``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import settings
from .settings import ConfigError

__all__ = ["ConfigError", "create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The app, configured from the defaults, then ``FLASK_*`` environment variables, then
    ``test_config`` (``service.settings``). Raises ``ConfigError`` (one line) for a setting
    that cannot be used. Opens no database: the store does on first use."""
    chosen = settings.load(os.environ, test_config)
    app = Flask(__name__, instance_relative_config=True)
    # An empty path segment (`/fhir//Medication`) matches no route and answers 404 in the
    # front end's format, instead of werkzeug's HTML redirect to a merged path (whose
    # Location would be built from the request's Host).
    app.url_map.merge_slashes = False
    # Flask's own settings (SECRET_KEY, …) from FLASK_* as Flask reads them; the service's
    # are parsed by service.settings, whose values replace these below.
    try:
        app.config.from_prefixed_env()
    except TypeError as e:  # FLASK_A__B where A is not a table
        raise ConfigError(f"FLASK_* environment: {e}") from None
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings.init_app(app, chosen)  # first: its request hook refuses untrusted hosts

    from . import api, cli, education, headers, health, infobutton, limits, observability, storage

    limits.init_app(app)  # inside observability's wrapper: a refused request is logged too
    observability.init_app(app)  # first: whatever the others log at start-up is JSON already
    health.init_app(app)  # before storage: liveness answers before the store's request hook
    storage.init_app(app)
    api.init_app(app)
    education.init_app(app)
    infobutton.init_app(app)
    cli.init_app(app)
    headers.init_app(app)
    fix = chosen.proxy_fix
    if fix.enabled:  # outermost: the access log sees the client, links the public host
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=fix.x_for,
            x_proto=fix.x_proto,
            x_host=fix.x_host,
            x_port=fix.x_port,
            x_prefix=fix.x_prefix,
        )
    return app
