"""History, deletes and ``_at`` over HTTP, on SQLite and PostgreSQL: a deleted resource
reads as 410 Gone, every version keeps the method that made it, ``GET /fhir/_history``
covers every type, and ``_at`` keeps the versions current at a moment.

Deletes are made through the store (HTTP DELETE is another part of issue 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle
from flask import Flask
from flask.testing import FlaskClient

from service.search.params import RESOURCE_TYPES
from service.store import Store
from tests.support.r4_validator import validate_r4

from .conftest import make_app
from .test_contract import BASE, STRICT, assert_outcome, body, history_bundle, links

AD = "ActivityDefinition"


def _activity(resource_id: str, title: str) -> dict[str, Any]:
    return {"resourceType": AD, "id": resource_id, "status": "active", "title": title}


MEDICATION = {"resourceType": "Medication", "id": "m", "status": "active"}


def _moment(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, 1, 10, minute, second, tzinfo=UTC)


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app over a small store written version by version, one minute apart from 10:01
    (UTC, 2026-12-01):

    10:01 AD/a v1 POST · 10:02 AD/b v1 PUT (created by an update) · 10:03 AD/a v2 PATCH ·
    10:04 Medication/m v1 POST · 10:05 AD/a v3 DELETE
    """
    moments = [_moment(0)]

    def now() -> datetime:
        moments.append(moments[-1] + timedelta(minutes=1))
        return moments[-1]

    monkeypatch.setattr("service.store.store._now", now)
    flask_app = make_app(database_url)
    store: Store = flask_app.extensions["ped.store"]
    store.migrate()
    store.put([_activity("a", "first")])
    store.put([_activity("b", "made by update")], methods=["PUT"])
    store.put([_activity("a", "patched")], methods=["PATCH"])
    store.put([MEDICATION])
    store.delete([(AD, "a")])
    yield flask_app
    store.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _history(client: FlaskClient, url: str) -> dict[str, Any]:
    bundle = history_bundle(client, url)
    Bundle.model_validate(bundle)  # R4 structure (a delete's entry has no resource)
    return bundle


def _versions(bundle: dict[str, Any]) -> list[str]:
    """``Type/id/version:METHOD`` of each entry, in order."""
    return [
        f"{e['fullUrl'].removeprefix(BASE + '/')}/{e['response']['etag'][3:-1]}:"
        f"{e['request']['method']}"
        for e in bundle.get("entry", [])
    ]


def test_a_read_of_a_deleted_resource_is_410_gone(client: FlaskClient) -> None:
    response = client.get(f"/fhir/{AD}/a")
    outcome = assert_outcome(response, 410)
    assert outcome["issue"][0]["code"] == "deleted"
    assert "deleted" in outcome["issue"][0]["diagnostics"]
    assert response.headers["ETag"] == 'W/"3"'
    assert_outcome(client.get(f"/fhir/{AD}/never"), 404)  # never existed: still 404


def test_a_vread_of_the_delete_is_410_and_earlier_versions_stay(client: FlaskClient) -> None:
    outcome = assert_outcome(client.get(f"/fhir/{AD}/a/_history/3"), 410)
    assert outcome["issue"][0]["code"] == "deleted"
    earlier = client.get(f"/fhir/{AD}/a/_history/2")
    assert earlier.status_code == 200
    assert body(earlier)["title"] == "patched"
    assert_outcome(client.get(f"/fhir/{AD}/a/_history/4"), 404)


def test_instance_history_of_a_deleted_resource_shows_every_method(client: FlaskClient) -> None:
    bundle = _history(client, f"/fhir/{AD}/a/_history")
    assert _versions(bundle) == [f"{AD}/a/3:DELETE", f"{AD}/a/2:PATCH", f"{AD}/a/1:POST"]
    deleted, patched, created = bundle["entry"]
    assert deleted == {
        "fullUrl": f"{BASE}/{AD}/a",
        "request": {"method": "DELETE", "url": f"{AD}/a"},
        "response": {
            "status": "204 No Content",
            "etag": 'W/"3"',
            "lastModified": "2026-12-01T10:05:00.000Z",
        },
    }
    assert patched["request"] == {"method": "PATCH", "url": f"{AD}/a"}
    assert patched["response"]["status"] == "200 OK"
    assert patched["resource"]["meta"]["versionId"] == "2"
    assert created["request"] == {"method": "POST", "url": AD}
    assert created["response"]["status"] == "201 Created"


def test_history_shows_a_create_by_update_as_put(client: FlaskClient) -> None:
    [entry] = _history(client, f"/fhir/{AD}/b/_history")["entry"]
    assert entry["request"] == {"method": "PUT", "url": f"{AD}/b"}
    assert entry["response"]["status"] == "201 Created"


def test_system_history_covers_every_type_newest_first(client: FlaskClient) -> None:
    bundle = _history(client, "/fhir/_history")
    assert bundle["total"] == 5
    assert _versions(bundle) == [
        f"{AD}/a/3:DELETE",
        "Medication/m/1:POST",
        f"{AD}/a/2:PATCH",
        f"{AD}/b/1:PUT",
        f"{AD}/a/1:POST",
    ]
    assert links(bundle)["self"] == f"{BASE}/_history?_count=20"


def test_system_history_pages(client: FlaskClient) -> None:
    url = "/fhir/_history?_count=2"
    first = _history(client, url)
    assert set(links(first)) == {"self", "first", "next", "last"}
    assert links(first)["last"] == f"{BASE}/_history?_count=2&_offset=4"
    seen: list[str] = []
    while url:
        page = _history(client, url)
        seen += _versions(page)
        url = links(page).get("next", "")
    assert seen == _versions(_history(client, "/fhir/_history"))


EVERY_AD = [f"{AD}/a/3:DELETE", f"{AD}/a/2:PATCH", f"{AD}/b/1:PUT", f"{AD}/a/1:POST"]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-12-01T10:00:00Z", []),
        ("2026-12-01T10:02:30Z", [f"{AD}/b/1:PUT", f"{AD}/a/1:POST"]),
        ("2026-12-01T10:03:00Z", [f"{AD}/a/2:PATCH", f"{AD}/b/1:PUT"]),  # a/1 replaced then
        ("2026-12-01T12:00:00+02:00", []),  # 10:00 UTC: before anything was written
        ("2026-12-01T10:04", [f"{AD}/a/2:PATCH", f"{AD}/b/1:PUT"]),  # the minute 10:04
        # A date is a period: the versions current at some moment of it (here: all).
        (
            "2026-12-01",
            [f"{AD}/a/{n}" for n in ("3:DELETE", "2:PATCH")] + [f"{AD}/b/1:PUT", f"{AD}/a/1:POST"],
        ),
    ],
)
def test_at_on_type_history_keeps_versions_current_then(
    client: FlaskClient, at: str, expected: list[str]
) -> None:
    bundle = _history(client, f"/fhir/{AD}/_history?_at={at.replace('+', '%2B')}")
    assert _versions(bundle) == expected
    assert bundle["total"] == len(expected)


def test_at_on_instance_and_system_history(client: FlaskClient) -> None:
    instance = _history(client, f"/fhir/{AD}/a/_history?_at=2026-12-01T10:03:30Z")
    assert _versions(instance) == [f"{AD}/a/2:PATCH"]
    system = _history(client, "/fhir/_history?_at=2026-12-01T10:06:00Z&_count=1")
    assert system["total"] == 3  # a's delete, b/1, m/1
    assert _versions(system) == [f"{AD}/a/3:DELETE"]
    for relation in ("self", "first", "next", "last"):
        assert "_at=2026-12-01T10:06:00Z" in links(system)[relation], relation


def test_since_and_at_together_keep_versions_meeting_both(client: FlaskClient) -> None:
    url = "/fhir/_history?_since=2026-12-01T10:02:00Z&_at=2026-12-01T10:03:30Z"
    bundle = _history(client, url)
    assert _versions(bundle) == [f"{AD}/a/2:PATCH", f"{AD}/b/1:PUT"]
    applied = dict(parse_qsl(urlsplit(links(bundle)["self"]).query))
    assert (applied["_since"], applied["_at"]) == ("2026-12-01T10:02:00Z", "2026-12-01T10:03:30Z")


PATHS = ["/fhir/_history", f"/fhir/{AD}/_history", f"/fhir/{AD}/a/_history"]
BAD_AT = ["", "yesterday", "2026-13-01", "ge2026-12-01", "2026-12-01T25:00Z"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("value", BAD_AT)
def test_a_bad_at_is_a_400_naming_it(client: FlaskClient, path: str, value: str) -> None:
    outcome = assert_outcome(client.get(f"{path}?_at={value}"), 400)
    assert outcome["issue"][0]["expression"] == ["_at"]
    assert "_at" in outcome["issue"][0]["diagnostics"]


def test_system_history_takes_the_common_parameters_only(client: FlaskClient) -> None:
    assert_outcome(client.get("/fhir/_history?_count=abc"), 400)
    assert_outcome(client.get("/fhir/_history?_sort=title", headers=STRICT), 400)
    lenient = _history(client, "/fhir/_history?_sort=title&_count=1")
    assert lenient["total"] == 5


def test_the_capability_statement_lists_system_history_at_system_level(
    client: FlaskClient,
) -> None:
    statement = body(client.get("/fhir/metadata"))
    [rest] = statement["rest"]
    assert {"code": "history-system"} in rest["interaction"]
    for resource in rest["resource"]:
        codes = [i["code"] for i in resource["interaction"]]
        assert "history-system" not in codes
        # Ours have history; the conformance types are read-only (tests/api/test_conformance.py).
        assert ("history-type" in codes) == (resource["type"] in RESOURCE_TYPES)


def test_history_bodies_are_the_stored_versions(client: FlaskClient) -> None:
    bundle = _history(client, f"/fhir/{AD}/_history")
    for entry in bundle["entry"]:
        if "resource" not in entry:
            continue
        version = entry["response"]["etag"][3:-1]
        path = entry["fullUrl"].removeprefix(BASE)
        vread = client.get(f"/fhir{path}/_history/{version}")
        assert json.loads(vread.get_data()) == entry["resource"]


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/fhir+xml", "application/fhir+xml; fhirVersion=4.0; charset=utf-8"),
        (
            "application/fhir+json; fhirVersion=5.0",
            "application/fhir+json; fhirVersion=5.0; charset=utf-8",
        ),
    ],
)
def test_a_history_with_a_delete_renders_in_every_format(
    client: FlaskClient, accept: str, content_type: str
) -> None:
    response = client.get(f"/fhir/{AD}/a/_history", headers={"Accept": accept})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == content_type
    assert response.get_data(as_text=True).count("DELETE") == 1


def test_the_new_replies_are_valid_r4_for_the_independent_validator(client: FlaskClient) -> None:
    """FHIR.js (validators/) checks what fhir.resources does not: a history entry without
    a resource, the 410 OperationOutcome, rest.interaction in the CapabilityStatement."""
    replies = [
        body(client.get(f"/fhir/{AD}/a/_history")),
        body(client.get("/fhir/_history?_at=2026-12-01")),
        body(client.get(f"/fhir/{AD}/a")),
        body(client.get("/fhir/metadata")),
    ]
    verdicts = validate_r4(replies)
    assert all(v.valid for v in verdicts), "\n".join(v.describe() for v in verdicts)
