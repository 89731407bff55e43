"""The Infobutton's errors are its own (FHIR XML, or FHIR JSON when asked) however they
arise, before Flask's routing or in it, and no cache keeps one."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from .support import DISPLAY, RXNORM, TYPE, criteria, get, outcome, url


@pytest.mark.parametrize(
    ("extra", "content_type"),
    [((), "application/fhir+xml"), (((TYPE, "application/json"),), "application/fhir+json")],
)
def test_a_long_request_is_a_414_in_the_infobuttons_format(
    client: FlaskClient, extra: tuple[tuple[str, str], ...], content_type: str
) -> None:
    response = get(client, criteria(RXNORM, "6851", *extra, (DISPLAY, "a" * 5000)))
    assert response.status_code == 414
    assert response.headers["Content-Type"].startswith(content_type)
    assert outcome(response)[0]["severity"] == "error"
    assert response.headers["Cache-Control"] == "no-store"


def test_another_method_is_a_405_in_the_infobuttons_format(client: FlaskClient) -> None:
    pairs = criteria(RXNORM, "6851", (TYPE, "application/json"))
    response = client.post(url(pairs))
    assert response.status_code == 405
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    assert outcome(response)[0]["code"] == "processing"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_bad_request_is_not_cached(client: FlaskClient) -> None:
    response = get(client, criteria(RXNORM, "not digits"))
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
