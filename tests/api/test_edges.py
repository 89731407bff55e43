"""The API's edges: bodies of any framing, preconditions, OPTIONS, and the headers of errors.

Bodies sent without a length (``Transfer-Encoding: chunked``) reach the app as gunicorn
hands them on: de-chunked, with ``wsgi.input_terminated`` set (``tests/test_gunicorn_limits``
does the same against a live gunicorn).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import FIXTURES
from tests.support.servers import TOKEN, make_app

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


@pytest.fixture
def small(tmp_path: Path) -> Flask:
    """An empty store that takes bodies of at most ``LIMIT`` bytes."""
    return make_app(tmp_path / "store.sqlite3", MAX_CONTENT_LENGTH=LIMIT)


def _plans(client: FlaskClient) -> int:
    total: int = client.get("/fhir/PlanDefinition?_summary=count").get_json()["total"]
    return total


def _import(client: FlaskClient, body: bytes, *, chunked: bool) -> TestResponse:
    return client.post(
        "/fhir/$import",
        data=body,
        headers={**AUTH, "Content-Type": "text/plain", **(CHUNKED if chunked else {})},
        environ_overrides=STREAMED,
    )


# --- bodies --------------------------------------------------------------------------------


def test_a_chunked_import_over_the_limit_is_a_413_and_stores_nothing(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path / "store.sqlite3", MAX_CONTENT_LENGTH=len(PAGE) + 100)
    client = app.test_client()
    # Blank lines: a prefix cut anywhere after the page is the same page, and was stored.
    response = _import(client, PAGE + b"\n" * 200, chunked=True)
    assert outcome(response, 413)["issue"][0]["code"] == "too-costly"
    assert _plans(client) == 0


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 3])
def test_any_chunked_body_over_the_limit_is_a_413(small: Flask, size: int) -> None:
    response = _import(small.test_client(), b"x" * size, chunked=True)
    outcome(response, 413)


def test_a_chunked_import_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    app = make_app(tmp_path / "store.sqlite3", MAX_CONTENT_LENGTH=len(PAGE) + 10)
    client = app.test_client()
    response = _import(client, PAGE + b"\n" * 10, chunked=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert _plans(client) == 1


def test_the_same_body_is_refused_alike_with_or_without_a_length(small: Flask) -> None:
    client = small.test_client()
    with_length = _import(client, b"x" * (LIMIT + 1), chunked=False)
    without = _import(client, b"x" * (LIMIT + 1), chunked=True)
    assert outcome(with_length, 413) == outcome(without, 413)


def test_a_chunked_search_form_over_the_limit_is_a_413(small: Flask) -> None:
    form = b"_count=1&title=" + b"a" * LIMIT
    response = small.test_client().post(
        "/fhir/PlanDefinition/_search",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", **CHUNKED},
        environ_overrides=STREAMED,
    )
    outcome(response, 413)


def test_a_chunked_search_form_within_the_limit_is_answered(small: Flask) -> None:
    response = small.test_client().post(
        "/fhir/PlanDefinition/_search",
        data=b"_summary=count",
        headers={"Content-Type": "application/x-www-form-urlencoded", **CHUNKED},
        environ_overrides=STREAMED,
    )
    assert response.status_code == 200
    assert response.get_json()["total"] == 0


def test_a_body_over_the_limit_is_refused_in_the_negotiated_front_end(small: Flask) -> None:
    """A reading-view address answers its own way (HTML), even to a body it never reads."""
    response = small.test_client().get(
        "/education/", data=b"x" * (LIMIT + 1), headers=CHUNKED, environ_overrides=STREAMED
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"


def test_a_long_request_target_is_a_414_outcome(client: FlaskClient) -> None:
    found = outcome(client.get("/fhir/PlanDefinition?title=" + "a" * 5000), 414)
    assert found["issue"][0]["code"] == "too-long"


def test_a_large_header_field_is_a_431_outcome(client: FlaskClient) -> None:
    outcome(client.get("/fhir/metadata", headers={"X-Padding": "a" * 9000}), 431)


# --- preconditions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Match": 'W/"999"'},
        {"If-Match": '"999"'},
        {"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
        {"If-Match": 'W/"999"', "If-None-Match": 'W/"999"'},
        {"If-Match": 'W/"999"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    ],
)
def test_a_failed_precondition_is_a_412_outcome_without_the_resource(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.get(URL, headers=headers)
    found = outcome(response, 412)
    assert found["issue"][0]["code"] == "conflict"
    assert "ETag" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    head = client.head(URL, headers=headers)
    assert head.status_code == 412
    assert head.data == b""


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Match": "*"},
        {"If-Match": 'W/"1"'},  # FHIR's form of a version (R4 http.html#concurrency)
        {"If-Match": '"1"'},
        {"If-Match": 'W/"7", W/"1"'},
        {"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        # RFC 9110 13.1.4: If-Unmodified-Since is ignored when If-Match is present.
        {"If-Match": 'W/"1"', "If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
    ],
)
def test_a_met_precondition_is_the_resource(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["resourceType"] == "PlanDefinition"
    assert response.headers["ETag"] == 'W/"1"'


def test_a_met_if_match_then_a_matching_if_none_match_is_a_304(client: FlaskClient) -> None:
    response = client.get(URL, headers={"If-Match": "*", "If-None-Match": 'W/"1"'})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == 'W/"1"'


def test_a_vread_answers_preconditions_too(client: FlaskClient) -> None:
    outcome(client.get(f"{URL}/_history/1", headers={"If-Match": 'W/"2"'}), 412)
    assert client.get(f"{URL}/_history/1", headers={"If-None-Match": 'W/"1"'}).status_code == 304


# --- OPTIONS -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/fhir/metadata", {"GET", "HEAD", "OPTIONS"}),
        ("/fhir", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("/fhir/_search", {"POST", "OPTIONS"}),
        ("/fhir/PlanDefinition", {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"}),
        ("/fhir/PlanDefinition/_search", {"GET", "HEAD", "POST", "OPTIONS"}),
        (
            "/fhir/PlanDefinition/all-induction",
            {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"},
        ),
        ("/fhir/PlanDefinition/all-induction/_history/1", {"GET", "HEAD", "OPTIONS"}),
        ("/fhir/$import", {"POST", "OPTIONS"}),
        ("/fhir/PlanDefinition/$validate", {"POST", "OPTIONS"}),
        ("/fhir/PlanDefinition/$package", {"GET", "HEAD", "POST", "OPTIONS"}),
    ],
)
def test_options_is_a_204_with_allow(client: FlaskClient, path: str, methods: set[str]) -> None:
    response = client.options(path, headers={"Accept": "text/html"})
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert {m.strip() for m in response.headers["Allow"].split(",")} == methods


def test_options_on_an_unknown_path_is_a_404_outcome(client: FlaskClient) -> None:
    outcome(client.options("/fhir/PlanDefinition/a/b/c"), 404)


def test_a_cors_preflight_is_a_204_that_allows_the_request(client: FlaskClient) -> None:
    response = client.options(
        "/fhir/PlanDefinition/all-induction",
        headers={
            "Origin": "https://widget.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "If-None-Match, Prefer",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://widget.example")
    allowed = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert "GET" in allowed
    requested = response.headers["Access-Control-Allow-Headers"].lower()
    assert {"if-none-match", "prefer"} <= {h.strip() for h in requested.split(",")}
    assert int(response.headers["Access-Control-Max-Age"]) > 0


# --- errors are never cached ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/fhir/PlanDefinition/no-such-plan", 404),
        ("GET", "/fhir/PlanDefinition?_count=bogus", 400),
        ("PATCH", "/fhir/metadata", 405),
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
