"""The web service: a Flask application factory. Components attach via ``init_app``."""

from __future__ import annotations

from typing import Any

from flask import Flask

from mappings.rules import DEFAULT_BASE


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        CANONICAL_BASE=DEFAULT_BASE,
        ARTIFACT_VERSION="1.0.0",
        PACKAGE_NAME="ped.education.content",  # the FHIR NPM package `flask export` writes
        DATABASE_URL=None,  # None: a SQLite file in the instance folder
        DATABASE_CONNECT_TIMEOUT=5,  # seconds to reach the database before answering 503
        DATABASE_STATEMENT_TIMEOUT=15,  # seconds one statement may run (PostgreSQL)
        DATABASE_LOCK_TIMEOUT=120,  # seconds a load waits for another load to finish
        DATABASE_MIGRATE=True,  # bring the schema to the latest revision at start-up
        API_TOKEN=None,  # None: writes are refused
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        CACHE_MAX_AGE=300,  # seconds a cache may serve a read or search before revalidating
        SERVICE_NAME="Patient-education FHIR service",  # author of Infobutton feeds
        LOG_LEVEL="INFO",  # DEBUG, INFO, WARNING (drops the access records), ERROR
        LOG_FORMAT="json",  # one JSON object a line on stderr; "text" for a terminal
    )
    # FLASK_CANONICAL_BASE, FLASK_ARTIFACT_VERSION, … from the environment.
    app.config.from_prefixed_env()
    if test_config is not None:
        app.config.from_mapping(test_config)

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
    return app
