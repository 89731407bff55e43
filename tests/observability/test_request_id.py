"""``X-Request-Id`` on every response of the app, echoed when the client's is sane."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from flask import Response, request
from flask.testing import FlaskClient

from service.observability import current_request_id
from service.observability.request_id import ENVIRON_KEY
from tests.support.servers import make_app

INFOBUTTON = (
    "/infobutton?mainSearchCriteria.v.c=C91.0&mainSearchCriteria.v.cs=2.16.840.1.113883.6.90"
)
READ = "/fhir/PlanDefinition/all-induction"
PAGE = "/education/PlanDefinition/all-induction"
ORIGIN = {"Origin": "https://widget.example"}


def assert_generated(value: str | None) -> None:
    assert value is not None
    assert uuid.UUID(hex=value).version == 4
    assert value == uuid.UUID(hex=value).hex


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/fhir/metadata", 200),
        ("GET", READ, 200),
        ("HEAD", READ, 200),
        ("GET", "/fhir/PlanDefinition/no-such-plan", 404),
        ("GET", "/fhir/metadata?_format=text/turtle", 406),
        ("POST", READ, 405),
        ("GET", "/no/such/path", 404),
        ("GET", PAGE, 200),
        ("GET", "/education/Medication/no-such-drug", 404),
        ("GET", INFOBUTTON, 200),
        ("GET", "/infobutton", 400),
        ("GET", "/healthz", 200),
        ("HEAD", "/healthz", 200),
        ("POST", "/healthz", 405),
        ("GET", "/readyz", 200),
        ("HEAD", "/readyz", 200),
    ],
)
def test_every_response_carries_the_request_id(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    sent = client.open(path, method=method, headers={"X-Request-Id": "lb-7f3a.1:2_x"})
    assert sent.status_code == status
    assert sent.headers.getlist("X-Request-Id") == ["lb-7f3a.1:2_x"]
    unsent = client.open(path, method=method)
    assert unsent.status_code == status
    assert_generated(unsent.headers.get("X-Request-Id"))


@pytest.mark.parametrize("path", [READ, PAGE])
def test_a_304_carries_the_request_id(client: FlaskClient, path: str) -> None:
    etag = client.get(path).headers["ETag"]
    response = client.get(path, headers={"If-None-Match": etag, "X-Request-Id": "revalidate-1"})
    assert response.status_code == 304
    assert response.headers["X-Request-Id"] == "revalidate-1"


def test_a_new_id_for_every_request(client: FlaskClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5
    for value in ids:
        assert_generated(value)


@pytest.mark.parametrize(
    "sent",
    ["a", "A" * 128, "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:7.span-1_b"],
)
def test_a_sane_id_is_echoed(client: FlaskClient, sent: str) -> None:
    assert client.get("/healthz", headers={"X-Request-Id": sent}).headers["X-Request-Id"] == sent


@pytest.mark.parametrize(
    "sent",
    ["", "A" * 129, "has space", "two, ids", "<script>", "semi;colon", "caf\u00e9", "a/b"],
)
def test_an_insane_id_is_replaced(client: FlaskClient, sent: str) -> None:
    answered = client.get("/healthz", headers={"X-Request-Id": sent}).headers["X-Request-Id"]
    assert answered != sent
    assert_generated(answered)


def test_cors_clients_may_read_the_id(client: FlaskClient) -> None:
    fhir = client.get(READ, headers=ORIGIN)
    exposed = {h.strip() for h in fhir.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-Id", "ETag", "Last-Modified"} <= exposed
    infobutton = client.get(INFOBUTTON, headers=ORIGIN)
    assert infobutton.headers["Access-Control-Allow-Origin"] == "*"
    assert infobutton.headers["Access-Control-Expose-Headers"] == "X-Request-Id"


def test_only_cors_responses_expose_it(client: FlaskClient) -> None:
    response = client.get("/healthz", headers=ORIGIN)  # outside every CORS resource
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


def test_code_reads_the_id_during_the_request(tmp_path: Path) -> None:
    app = make_app(tmp_path / "store.sqlite3")

    @app.get("/which-id")
    def which_id() -> Response:
        return Response(f"{current_request_id()} {request.environ[ENVIRON_KEY]}")

    response = app.test_client().get("/which-id", headers={"X-Request-Id": "seen-by-code"})
    assert response.text == "seen-by-code seen-by-code"
    assert current_request_id() is None, "the id does not outlive its request"
