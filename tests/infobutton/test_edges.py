"""The Infobutton's errors are its own (FHIR XML, or FHIR JSON when asked) however they
arise, before Flask's routing or in it, and no cache keeps one."""

from __future__ import annotations

from flask.testing import FlaskClient

from .support import RXNORM, criteria, get


def test_a_bad_request_is_not_cached(client: FlaskClient) -> None:
    response = get(client, criteria(RXNORM, "not digits"))
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
