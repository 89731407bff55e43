"""``/healthz`` (liveness, never the database) and ``/readyz`` (readiness, the store's check)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.api.admission import EXTENSION
from service.deadlines import Admission
from service.store import Store, StoreUnavailable
from tests.support.servers import make_app

from .support import database_use

PROBES = ["/healthz", "/readyz"]


def assert_probe(response: TestResponse, status: int, body: dict[str, str] | None) -> None:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    if body is not None:
        assert response.get_json() == body


def assert_not_ready(response: TestResponse, reason: str | None) -> None:
    """``reason`` None: a HEAD, without a body."""
    body = None if reason is None else {"status": "unavailable", "reason": reason}
    assert_probe(response, 503, body)
    assert int(response.headers["Retry-After"]) > 0


@pytest.fixture
def broken_check(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """``Store.check`` raises the first exception put in the returned list."""
    errors: list[BaseException] = []

    def check(_store: Store) -> None:
        raise errors[0]

    monkeypatch.setattr(Store, "check", check)
    return errors


def test_healthz_is_ok(client: FlaskClient) -> None:
    assert_probe(client.get("/healthz"), 200, {"status": "ok"})


def test_readyz_is_ready_on_the_loaded_store(client: FlaskClient) -> None:
    assert_probe(client.get("/readyz"), 200, {"status": "ready"})


@pytest.mark.parametrize("path", PROBES)
def test_head_answers_without_a_body(client: FlaskClient, path: str) -> None:
    response = client.head(path)
    assert_probe(response, 200, None)
    assert response.data == b""
    assert int(response.headers["Content-Length"]) > 0  # the length a GET would have


def test_readyz_is_503_when_the_database_is_unavailable(
    client: FlaskClient, broken_check: list[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    broken_check.append(StoreUnavailable('connection to server at "db.internal" refused'))
    response = client.get("/readyz")
    assert_not_ready(response, "database")
    assert b"OperationOutcome" not in response.data
    assert b"db.internal" not in response.data, "driver messages stay in the log"
    logged = [r for r in caplog.records if r.name == "service.health"]
    assert [r.levelno for r in logged] == [logging.WARNING]
    assert "db.internal" in logged[0].getMessage()


def test_readyz_is_503_not_500_when_the_check_itself_fails(
    client: FlaskClient, broken_check: list[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    broken_check.append(ValueError("a bug in the check"))
    assert_not_ready(client.get("/readyz"), "error")
    logged = [r for r in caplog.records if r.name == "service.health"]
    assert [r.levelno for r in logged] == [logging.ERROR]
    assert logged[0].exc_info is not None


def test_readyz_is_503_on_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    app = make_app(tmp_path / "empty.sqlite3", DATABASE_MIGRATE=False)
    assert_not_ready(app.test_client().get("/readyz"), "database")
    assert_probe(app.test_client().get("/healthz"), 200, {"status": "ok"})


def test_healthz_never_touches_the_database(app: Flask, client: FlaskClient) -> None:
    with database_use(app) as used:
        client.get("/fhir/PlanDefinition/all-induction")
    assert used, "the counter sees a read"
    with database_use(app) as used:
        assert client.get("/healthz").status_code == 200
        assert client.head("/healthz").status_code == 200
    assert used == []


@pytest.mark.parametrize("database", ["not-yet/store.sqlite3", "."])
def test_a_node_started_while_the_database_was_away(tmp_path: Path, database: str) -> None:
    """A SQLite file that cannot be opened (its directory is missing, or it is a
    directory): liveness stays up without trying the database; readiness says why not."""
    app = make_app(tmp_path / database)
    client = app.test_client()
    with database_use(app) as used:
        assert_probe(client.get("/healthz"), 200, {"status": "ok"})
    assert used == []
    assert_not_ready(client.get("/readyz"), "database")
    assert_not_ready(client.head("/readyz"), None)


def test_a_node_becomes_ready_when_the_database_returns(tmp_path: Path) -> None:
    """The pending migration runs on the readiness probe itself: a node the load balancer
    sends no traffic to while it is not ready still becomes ready."""
    app = make_app(tmp_path / "later" / "store.sqlite3")
    client = app.test_client()
    assert_not_ready(client.get("/readyz"), "database")
    (tmp_path / "later").mkdir()
    assert_probe(client.get("/readyz"), 200, {"status": "ready"})


def test_the_probes_answer_while_every_heavy_slot_is_taken(loaded_database: Path) -> None:
    """gthread workers have 4 threads; heavy requests may hold at most
    ``FLASK_HEAVY_REQUESTS`` of them, so a probe never waits behind them: here the slot is
    held by another thread, the next heavy request is refused at once, and both probes are
    answered (were either to wait for the slot, this test would not finish)."""
    app = make_app(loaded_database, HEAVY_REQUESTS=1)
    admission: Admission = app.extensions[EXTENSION]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with admission.admit():
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait()
        client = app.test_client()
        large = {"resourceType": "PlanDefinition", "status": "draft", "description": "x" * 70_000}
        refused = client.post(
            "/fhir/PlanDefinition/$validate",
            data=json.dumps(large),
            content_type="application/fhir+json",
        )
        assert refused.status_code == 503
        assert refused.get_json()["issue"][0]["code"] == "throttled"
        assert_probe(client.get("/healthz"), 200, {"status": "ok"})
        assert_probe(client.get("/readyz"), 200, {"status": "ready"})
        assert admission.busy == 1
    finally:
        release.set()
        holder.join()


def test_healthz_has_no_deadline_to_pass(loaded_database: Path) -> None:
    """Liveness does no work a deadline bounds: with every deadline already passed it is
    still answered, and a FHIR request past its deadline is a 503."""
    app = make_app(loaded_database, REQUEST_DEADLINE=1e-9)
    client = app.test_client()
    assert_probe(client.get("/healthz"), 200, {"status": "ok"})
    slow = client.get("/fhir/PlanDefinition?_include=PlanDefinition:definition&_format=xml")
    assert slow.status_code == 503
