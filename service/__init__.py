"""The web service: a Flask application factory. Components attach via ``init_app``."""

from __future__ import annotations

from typing import Any

from flask import Flask

from mappings.rules import DEFAULT_BASE


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(CANONICAL_BASE=DEFAULT_BASE, ARTIFACT_VERSION="1.0.0")
    # FLASK_CANONICAL_BASE, FLASK_ARTIFACT_VERSION, … from the environment.
    app.config.from_prefixed_env()
    if test_config is not None:
        app.config.from_mapping(test_config)

    from . import cli

    cli.init_app(app)
    return app
