"""Probes for load balancers and orchestrators, outside the FHIR API (plain JSON, never
cached, never a 500).

``GET /healthz`` is liveness: the process is up and serving. It never touches the
database, so an outage of the shared database does not get every node restarted, and it
answers before any other request hook runs (``init_app`` must come before the store's, see
there).

``GET /readyz`` is readiness: this node can answer from the database now (it answers, and
its schema is at the latest migration). Otherwise a 503 with ``Retry-After`` names what
failed, and the log says why under the response's request id; the body keeps driver
messages, hosts and users to the log. A node that started while the database was away
migrates on the first request that finds it back (``service.storage``), a readiness probe
included, so a node the load balancer sends nothing to still becomes ready.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Flask, Response, request

from service.storage import get_store
from service.store import StoreUnavailable

RETRY_AFTER = 5  # seconds; as the API's 503
LIVENESS_ENDPOINT = "health.healthz"

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


def _answer(status: int, body: dict[str, str]) -> Response:
    response = Response(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_ready(reason: str) -> Response:
    response = _answer(503, {"status": "unavailable", "reason": reason})
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _answer(200, {"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    try:
        get_store().check()
    except StoreUnavailable as e:
        return _database_unavailable(e)
    except Exception:  # a probe answers; a bug in the check is "not ready", and logged
        log.exception("readiness check failed")
        return _not_ready("error")
    return _answer(200, {"status": "ready"})


@bp.errorhandler(StoreUnavailable)
def _database_unavailable(error: StoreUnavailable) -> Response:
    """Also for the store's own request hook, which raises this before ``readyz`` runs
    when a migration is still pending and the database is away."""
    log.warning("not ready: %s", error)
    return _not_ready("database")


def _liveness_first() -> Response | None:
    """Answer liveness before the next hooks run: the store's opens a read snapshot and,
    while a start-up migration is pending, tries the database."""
    if request.endpoint == LIVENESS_ENDPOINT:
        return healthz()
    return None


def init_app(app: Flask) -> None:
    """Call before ``storage.init_app``: request hooks run in the order they were added."""
    app.before_request(_liveness_first)
    app.register_blueprint(bp)
