"""The single-resource write interactions (R4 http.html): create, update, conditional
update, JSON Patch, delete and conditional delete, behind the Bearer token and the gate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import TOKEN, make_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/fhir+json"}
PATCH = {**AUTH, "Content-Type": "application/json-patch+json"}


def medication(code: str = "a", **extra: Any) -> dict[str, Any]:
    """A Medication named by an identifier ``urn:test|code`` (no coded drug: a test's
    made-up RxNorm code would not be in the terminology tables)."""
    return {
        "resourceType": "Medication",
        "identifier": [{"system": "urn:test", "value": code}],
        "code": {"text": f"test drug {code}"},
        **extra,
    }


@pytest.fixture
def client(writable_app: Flask) -> FlaskClient:
    return writable_app.test_client()


def history_methods(client: FlaskClient, path: str) -> list[str]:
    store = client.application.extensions["ped.store"]
    resource_type, resource_id = path.strip("/").split("/")[-2:]
    page = store.history(resource_type, resource_id, count=50, offset=0)
    return [item.method for item in reversed(page.items)]


def version_count(client: FlaskClient) -> int:
    store = client.application.extensions["ped.store"]
    return sum(
        store.history(t, None, count=0, offset=0).total or 0
        for t in ("PlanDefinition", "ActivityDefinition", "Medication")
    )


# --- create ----------------------------------------------------------------------------------


def test_create_assigns_the_id_and_answers_201_with_where_it_is(client: FlaskClient) -> None:
    response = client.post("/fhir/Medication", json=medication(id="mine"), headers=JSON)
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] != "mine"  # the server chooses the id of a created resource
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == (
        f"http://localhost/fhir/Medication/{body['id']}/_history/1"
    )
    assert response.headers["Last-Modified"].endswith("GMT")
    assert client.get(f"/fhir/Medication/{body['id']}").status_code == 200
    assert history_methods(client, f"Medication/{body['id']}") == ["POST"]


def test_a_write_without_the_token_is_refused_and_reads_stay_public(
    client: FlaskClient,
) -> None:
    before = version_count(client)
    for method, path in (
        ("POST", "/fhir/Medication"),
        ("PUT", "/fhir/Medication/cytarabine"),
        ("PATCH", "/fhir/Medication/cytarabine"),
        ("DELETE", "/fhir/Medication/cytarabine"),
        ("PUT", "/fhir/Medication?code=x"),
        ("DELETE", "/fhir/Medication?code=x"),
        ("POST", "/fhir"),
    ):
        response = client.open(
            path, method=method, data=b"{}", headers={"Content-Type": "application/fhir+json"}
        )
        assert response.status_code == 401, (method, path)
        assert response.get_json()["issue"][0]["code"] == "login"
        assert "Bearer" in response.headers["WWW-Authenticate"]
    assert version_count(client) == before
    assert client.get("/fhir/Medication/cytarabine").status_code == 200


def test_writes_are_refused_when_no_token_is_configured(loaded_database: Any) -> None:
    app = make_app(loaded_database, API_TOKEN="")
    response = app.test_client().post("/fhir/Medication", json=medication(), headers=JSON)
    assert response.status_code == 403


def test_if_none_exist_finds_the_one_match_or_creates(client: FlaskClient) -> None:
    criteria = "identifier=urn:test|a"
    first = client.post("/fhir/Medication", json=medication(),
                        headers={**JSON, "If-None-Exist": criteria})  # fmt: skip
    assert first.status_code == 201
    again = client.post("/fhir/Medication", json=medication(),
                        headers={**JSON, "If-None-Exist": criteria})  # fmt: skip
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["ETag"] == 'W/"1"'
    client.post("/fhir/Medication", json=medication(), headers=JSON)  # a second match
    several = client.post("/fhir/Medication", json=medication(),
                          headers={**JSON, "If-None-Exist": criteria})  # fmt: skip
    assert several.status_code == 412
    assert "more than one" in several.get_json()["issue"][0]["diagnostics"]


def test_create_refuses_what_the_gate_refuses_and_writes_nothing(client: FlaskClient) -> None:
    before = version_count(client)
    bad = medication(status="bogus")
    response = client.post("/fhir/Medication", json=bad, headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "status" in json.dumps(response.get_json())
    wrong_type = client.post("/fhir/Medication", json={"resourceType": "Patient"}, headers=JSON)
    assert wrong_type.status_code == 400
    assert "not a Medication" in wrong_type.get_json()["issue"][0]["diagnostics"]
    unsupported = client.post("/fhir/Medication", data="x", headers={**AUTH,
                              "Content-Type": "text/plain"})  # fmt: skip
    assert unsupported.status_code == 415
    assert version_count(client) == before


# --- update ----------------------------------------------------------------------------------


def test_update_makes_the_next_version_recorded_as_put(client: FlaskClient) -> None:
    current = client.get("/fhir/Medication/cytarabine").get_json()
    changed = {**current, "status": "inactive"}
    response = client.put("/fhir/Medication/cytarabine", json=changed, headers=JSON)
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"2"'
    assert response.get_json()["status"] == "inactive"
    assert history_methods(client, "Medication/cytarabine") == ["POST", "PUT"]
    same = client.put("/fhir/Medication/cytarabine", json=changed, headers=JSON)
    assert same.status_code == 200 and same.headers["ETag"] == 'W/"2"'  # unchanged


def test_update_creates_a_resource_under_our_id(client: FlaskClient) -> None:
    response = client.put("/fhir/Medication/new-one", json=medication(id="new-one"), headers=JSON)
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/fhir/Medication/new-one/_history/1")
    assert history_methods(client, "Medication/new-one") == ["PUT"]


def test_a_stale_if_match_is_a_412_and_the_update_is_not_lost(client: FlaskClient) -> None:
    current = client.get("/fhir/Medication/cytarabine").get_json()
    first = client.put("/fhir/Medication/cytarabine", json={**current, "status": "inactive"},
                       headers={**JSON, "If-Match": 'W/"1"'})  # fmt: skip
    assert first.status_code == 200
    stale = client.put("/fhir/Medication/cytarabine", json={**current, "status": "active"},
                       headers={**JSON, "If-Match": 'W/"1"'})  # fmt: skip
    assert stale.status_code == 412
    outcome = stale.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert 'it is W/"2"' in outcome["issue"][0]["diagnostics"]
    assert client.get("/fhir/Medication/cytarabine").get_json()["status"] == "inactive"


def test_the_id_in_the_body_must_be_the_one_in_the_url(client: FlaskClient) -> None:
    current = client.get("/fhir/Medication/cytarabine").get_json()
    response = client.put("/fhir/Medication/cytarabine", json={**current, "id": "other"},
                          headers=JSON)  # fmt: skip
    assert response.status_code == 400
    assert "the id in the URL" in response.get_json()["issue"][0]["diagnostics"]
    missing = {k: v for k, v in current.items() if k != "id"}
    assert client.put("/fhir/Medication/cytarabine", json=missing, headers=JSON).status_code == 400


def test_conditional_update_updates_the_one_match_creates_on_none_refuses_several(
    client: FlaskClient,
) -> None:
    one = client.put("/fhir/Medication?identifier=urn:test|99999", json=medication("99999"),
                     headers=JSON)  # fmt: skip
    assert one.status_code == 201
    created_id = one.get_json()["id"]
    again = client.put("/fhir/Medication?identifier=urn:test|99999",
                       json=medication("99999", status="active"), headers=JSON)  # fmt: skip
    assert again.status_code == 200
    assert again.get_json()["id"] == created_id
    assert again.headers["ETag"] == 'W/"2"'
    client.post("/fhir/Medication", json=medication("99999"), headers=JSON)
    several = client.put("/fhir/Medication?identifier=urn:test|99999", json=medication("99999"),
                         headers=JSON)  # fmt: skip
    assert several.status_code == 412
    no_criteria = client.put("/fhir/Medication", json=medication(), headers=JSON)
    assert no_criteria.status_code == 400


# --- patch -----------------------------------------------------------------------------------


def test_json_patch_applies_passes_the_gate_and_is_recorded_as_patch(
    client: FlaskClient,
) -> None:
    operations = [{"op": "add", "path": "/status", "value": "inactive"}]
    response = client.patch("/fhir/Medication/cytarabine", data=json.dumps(operations),
                            headers={**PATCH, "If-Match": 'W/"1"'})  # fmt: skip
    assert response.status_code == 200
    assert response.get_json()["status"] == "inactive"
    assert response.headers["ETag"] == 'W/"2"'
    assert history_methods(client, "Medication/cytarabine") == ["POST", "PATCH"]
    stale = client.patch("/fhir/Medication/cytarabine", data=json.dumps(operations),
                         headers={**PATCH, "If-Match": 'W/"1"'})  # fmt: skip
    assert stale.status_code == 412


@pytest.mark.parametrize(
    ("operations", "status"),
    [
        ([{"op": "test", "path": "/status", "value": "entered-in-error"}], 422),
        ([{"op": "remove", "path": "/nothing/here"}], 422),
        ([{"op": "replace", "path": "/id", "value": "elsewhere"}], 422),
        ([{"op": "fly", "path": "/status"}], 400),
        ({"not": "a patch"}, 400),
        ([{"op": "add", "path": "/status", "value": "bogus"}], 400),  # the gate refuses it
    ],
)
def test_a_patch_that_cannot_apply_or_makes_an_invalid_resource_writes_nothing(
    client: FlaskClient, operations: Any, status: int
) -> None:
    response = client.patch("/fhir/Medication/cytarabine", data=json.dumps(operations),
                            headers=PATCH)  # fmt: skip
    assert response.status_code == status, response.get_json()
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert history_methods(client, "Medication/cytarabine") == ["POST"]


def test_patch_of_an_unknown_resource_is_404_and_takes_only_json_patch(
    client: FlaskClient,
) -> None:
    operations = json.dumps([{"op": "add", "path": "/status", "value": "active"}])
    assert client.patch("/fhir/Medication/nope", data=operations, headers=PATCH).status_code == 404
    assert client.patch("/fhir/Medication/cytarabine", data=operations,
                        headers=JSON).status_code == 415  # fmt: skip


# --- delete ----------------------------------------------------------------------------------


def test_delete_is_a_new_version_and_history_keeps_the_old(client: FlaskClient) -> None:
    created = client.post("/fhir/Medication", json=medication(), headers=JSON).get_json()
    path = f"/fhir/Medication/{created['id']}"
    response = client.delete(path, headers=AUTH)
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(path).status_code in (404, 410)
    assert history_methods(client, path) == ["POST", "DELETE"]
    store = client.application.extensions["ped.store"]
    assert store.vread("Medication", created["id"], 1) is not None
    again = client.delete(path, headers=AUTH)  # deleting what is gone changes nothing
    assert again.status_code == 204
    assert history_methods(client, path) == ["POST", "DELETE"]


def test_delete_of_a_referenced_resource_is_a_409_naming_the_referrers(
    client: FlaskClient,
) -> None:
    referrers = client.get("/fhir/ActivityDefinition?product=Medication/cytarabine").get_json()
    names = [f"ActivityDefinition/{e['resource']['id']}" for e in referrers["entry"]]
    assert names
    response = client.delete("/fhir/Medication/cytarabine", headers=AUTH)
    assert response.status_code == 409
    diagnostics = response.get_json()["issue"][0]["diagnostics"]
    assert all(name in diagnostics for name in names)
    assert client.get("/fhir/Medication/cytarabine").status_code == 200
    # A PlanDefinition's actions name ActivityDefinitions by canonical: those count too.
    plan_member = client.delete("/fhir/ActivityDefinition/anthracycline", headers=AUTH)
    assert plan_member.status_code == 409
    assert "PlanDefinition/" in plan_member.get_json()["issue"][0]["diagnostics"]


def test_conditional_delete_deletes_the_one_match_and_refuses_several(
    client: FlaskClient,
) -> None:
    created = client.post("/fhir/Medication", json=medication("55555"), headers=JSON).get_json()
    one = client.delete("/fhir/Medication?identifier=urn:test|55555", headers=AUTH)
    assert one.status_code == 204
    assert history_methods(client, f"Medication/{created['id']}") == ["POST", "DELETE"]
    none = client.delete("/fhir/Medication?identifier=urn:test|55555", headers=AUTH)
    assert none.status_code == 204
    client.post("/fhir/Medication", json=medication("55555"), headers=JSON)
    client.post("/fhir/Medication", json=medication("55555"), headers=JSON)
    several = client.delete("/fhir/Medication?identifier=urn:test|55555", headers=AUTH)
    assert several.status_code == 412
    unknown = client.delete("/fhir/Medication?nonsense=1", headers=AUTH)
    assert unknown.status_code == 400


# --- Prefer ----------------------------------------------------------------------------------


def test_prefer_return_says_what_a_write_answers(client: FlaskClient) -> None:
    minimal = client.post("/fhir/Medication", json=medication(),
                          headers={**JSON, "Prefer": "return=minimal"})  # fmt: skip
    assert minimal.status_code == 201 and minimal.data == b""
    assert minimal.headers["Location"] and minimal.headers["ETag"] == 'W/"1"'
    outcome = client.post("/fhir/Medication", json=medication(),
                          headers={**JSON, "Prefer": "return=OperationOutcome"})  # fmt: skip
    assert outcome.status_code == 201
    assert outcome.get_json()["resourceType"] == "OperationOutcome"
    created = client.post("/fhir/Medication", json=medication(),
                          headers={**JSON, "Prefer": "return=representation"})  # fmt: skip
    assert created.get_json()["resourceType"] == "Medication"
    gone = client.delete(f"/fhir/Medication/{created.get_json()['id']}",
                         headers={**AUTH, "Prefer": "return=OperationOutcome"})  # fmt: skip
    assert gone.status_code == 200
    assert gone.get_json()["issue"][0]["severity"] == "information"


def test_preflight_allows_the_write_methods(client: FlaskClient) -> None:
    response = client.options(
        "/fhir/Medication/cytarabine",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "Authorization, Content-Type, If-Match"},
    )  # fmt: skip
    allowed = response.headers.get("Access-Control-Allow-Methods", "")
    for method in ("PUT", "PATCH", "DELETE"):
        assert method in allowed
        assert method in response.headers["Allow"]
