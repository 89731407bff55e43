"""The reading view's edges: its errors are HTML pages, no page can be framed or cached as
an error, page prose is never Markdown it did not come as, and stored bidirectional-text
controls cannot reorder what a reader sees.
"""

from __future__ import annotations

import json
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import golden_bundle, resources

PLAN_URL = "/education/PlanDefinition/all-induction"
RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"


def _plan() -> dict[str, Any]:
    plan = next(
        r
        for r in resources(golden_bundle("all-induction"))
        if r["resourceType"] == "PlanDefinition"
    )
    copied: dict[str, Any] = json.loads(json.dumps(plan))
    return copied


def _html_page(response: TestResponse, status: int) -> Any:
    assert response.status_code == status, response.data[:300]
    assert response.content_type == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    return lxml.html.fromstring(response.data)


# --- errors are pages --------------------------------------------------------------------


def test_an_unexpected_error_is_an_html_500(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.extensions["ped.store"], "read", broken)
    document = _html_page(app.test_client().get(PLAN_URL), 500)
    assert document.xpath("//h1/text()") == ["Internal Server Error"]
    assert "a bug" not in document.text_content()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/education/", PLAN_URL, "/education/Medication/imatinib"])
def test_another_method_is_an_html_405(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)
    document = _html_page(response, 405)
    assert document.xpath("//h1/text()") == ["Method Not Allowed"]
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "HEAD"}


def test_a_404_is_an_html_page_that_is_not_cached(client: FlaskClient) -> None:
    _html_page(client.get("/education/PlanDefinition/no-such-phase"), 404)


def test_a_long_address_is_an_html_414(client: FlaskClient) -> None:
    document = _html_page(client.get("/education/PlanDefinition/" + "a" * 5000), 414)
    assert document.xpath("//h1/text()") == ["Request URI Too Long"]


# --- no page can be framed -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/education/", PLAN_URL, "/education/Medication/imatinib", "/education/nope"]
)
def test_no_page_can_be_framed(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy  # the page's own policy is kept
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
