"""The API's edges: bodies of any framing, preconditions, OPTIONS, and the headers of errors.

Bodies sent without a length (``Transfer-Encoding: chunked``) reach the app as gunicorn
hands them on: de-chunked, with ``wsgi.input_terminated`` set (``tests/test_gunicorn_limits``
does the same against a live gunicorn).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import FIXTURES
from tests.support.servers import TOKEN

LIMIT = 4096
PAGE = (FIXTURES / "pages" / "all-induction.txt").read_bytes()
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STREAMED = {"wsgi.input_terminated": True}
CHUNKED = {"Transfer-Encoding": "chunked"}
URL = "/fhir/PlanDefinition/all-induction"


def outcome(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/fhir+json"
    found: dict[str, Any] = json.loads(response.data)
    assert found["resourceType"] == "OperationOutcome"
    assert found["issue"][0]["severity"] == "error"
    return found


# --- errors are never cached ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/fhir/PlanDefinition/no-such-plan", 404),
        ("GET", "/fhir/PlanDefinition?_count=bogus", 400),
        ("DELETE", "/fhir/PlanDefinition/all-induction", 405),
        ("GET", "/fhir/metadata?_format=image/png", 406),
        ("POST", "/fhir/$import", 401),
        ("GET", "/nowhere", 404),
    ],
)
def test_errors_are_not_stored_by_caches(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_500_is_not_stored_by_caches(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.extensions["ped.store"], "read", broken)
    response = app.test_client().get(URL)
    outcome(response, 500)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_docs_page_cannot_be_framed_or_sniffed(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_docs_policy_allows_its_own_stylesheet(client: FlaskClient) -> None:
    response = client.get("/docs")
    style = lxml.html.fromstring(response.data).xpath("//style/text()")[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in response.headers["Content-Security-Policy"]
