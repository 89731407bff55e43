"""``POST /fhir`` with a transaction Bundle (all or nothing, R4's processing order,
``urn:uuid:`` and conditional references, ``ifMatch``/``ifNoneExist`` per entry) or a batch
Bundle (each entry on its own), and loading what this server hands out: a ``$package``
Bundle and ``flask export``'s transaction Bundles, twice, the second time changing nothing."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mappings.limits import MAX_RESOURCES
from service.search.params import RESOURCE_TYPES
from tests.api.conftest import TOKEN, make_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/fhir+json"}


def medication(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "identifier": [{"system": "urn:test", "value": code}],
        "code": {"text": f"test drug {code}"},
        **extra,
    }


def activity(resource_id: str, product: str) -> dict[str, Any]:
    return {
        "resourceType": "ActivityDefinition",
        "id": resource_id,
        "url": f"https://fhir.example.org/ped/ActivityDefinition/{resource_id}",
        "version": "1.0.0",
        "name": "TestActivity",
        "title": "A test activity",
        "status": "draft",
        "kind": "MedicationRequest",
        "intent": "proposal",
        "productReference": {"reference": product},
    }


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put(resource: dict[str, Any], **request: str) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url, **request}}


def delete(url: str) -> dict[str, Any]:
    return {"request": {"method": "DELETE", "url": url}}


@pytest.fixture
def client(writable_app: Flask) -> FlaskClient:
    return writable_app.test_client()


def versions(client: FlaskClient) -> int:
    store = client.application.extensions["ped.store"]
    return sum(
        store.history(t, None, count=0, offset=0).total or 0
        for t in ("PlanDefinition", "ActivityDefinition", "Medication")
    )


def send(client: FlaskClient, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/fhir", data=json.dumps(body), headers={**JSON, **headers})


# --- transaction ---------------------------------------------------------------------------


def test_a_transaction_rewrites_urn_references_and_answers_in_request_order(
    client: FlaskClient,
) -> None:
    urn = "urn:uuid:6f1d2c1e-0000-4000-8000-000000000001"
    response = send(client, bundle(
        "transaction",
        put(activity("test-activity", urn)),  # processed after the POST it names
        post(medication("tx-1"), urn),
    ))  # fmt: skip
    assert response.status_code == 200, response.get_json()
    reply = response.get_json()
    assert reply["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in reply["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    location = reply["entry"][1]["response"]["location"]
    assert location.startswith("Medication/") and location.endswith("/_history/1")
    medication_id = location.split("/")[1]
    stored = client.get("/fhir/ActivityDefinition/test-activity").get_json()
    assert stored["productReference"]["reference"] == f"Medication/{medication_id}"
    store = client.application.extensions["ped.store"]
    assert store.latest("Medication", medication_id).method == "POST"
    assert store.latest("ActivityDefinition", "test-activity").method == "PUT"


def test_a_failing_entry_fails_the_whole_transaction_naming_it(client: FlaskClient) -> None:
    before = versions(client)
    response = send(client, bundle(
        "transaction",
        post(medication("tx-2")),
        put(medication("tx-3", id="bad-one", status="bogus")),
    ))  # fmt: skip
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[1]" in json.dumps(outcome)
    assert versions(client) == before


def test_a_stale_if_match_in_an_entry_is_a_412_and_nothing_is_written(
    client: FlaskClient,
) -> None:
    current = client.get("/fhir/Medication/cytarabine").get_json()
    before = versions(client)
    response = send(client, bundle(
        "transaction",
        post(medication("tx-4")),
        put({**current, "status": "inactive"}, ifMatch='W/"7"'),
    ))  # fmt: skip
    assert response.status_code == 412
    assert "Bundle.entry[1]" in response.get_json()["issue"][0]["diagnostics"]
    assert versions(client) == before
    fresh = send(client, bundle("transaction", put({**current, "status": "inactive"},
                                                   ifMatch='W/"1"')))  # fmt: skip
    assert fresh.status_code == 200
    assert fresh.get_json()["entry"][0]["response"]["etag"] == 'W/"2"'


def test_if_none_exist_in_an_entry_finds_what_is_there(client: FlaskClient) -> None:
    entry = post(medication("tx-5"), ifNoneExist="identifier=urn:test|tx-5")
    first = send(client, bundle("transaction", entry))
    again = send(client, bundle("transaction", entry))
    assert first.get_json()["entry"][0]["response"]["status"] == "201 Created"
    assert again.get_json()["entry"][0]["response"]["status"] == "200 OK"
    assert (
        again.get_json()["entry"][0]["response"]["location"]
        == first.get_json()["entry"][0]["response"]["location"]
    )


def test_deletes_come_first_and_referenced_ones_wait_for_their_referrers(
    client: FlaskClient,
) -> None:
    urn = "urn:uuid:6f1d2c1e-0000-4000-8000-000000000002"
    created = send(client, bundle(
        "transaction", post(medication("tx-6"), urn), put(activity("tx-activity", urn))
    )).get_json()  # fmt: skip
    medication_url = created["entry"][0]["response"]["location"].rsplit("/_history", 1)[0]
    alone = send(client, bundle("transaction", delete(medication_url)))
    assert alone.status_code == 409
    assert "ActivityDefinition/tx-activity" in alone.get_json()["issue"][0]["diagnostics"]
    together = send(client, bundle(
        "transaction", delete(medication_url), delete("ActivityDefinition/tx-activity")
    ))  # fmt: skip
    assert together.status_code == 200, together.get_json()
    assert [e["response"]["status"] for e in together.get_json()["entry"]] == [
        "204 No Content",
        "204 No Content",
    ]
    store = client.application.extensions["ped.store"]
    assert store.latest("ActivityDefinition", "tx-activity").deleted


def test_a_conditional_reference_is_resolved_to_its_one_match(client: FlaskClient) -> None:
    send(client, bundle("transaction", post(medication("tx-7"))))
    response = send(client, bundle(
        "transaction", put(activity("tx-conditional", "Medication?identifier=urn:test|tx-7"))
    ))  # fmt: skip
    assert response.status_code == 200, response.get_json()
    reference = client.get("/fhir/ActivityDefinition/tx-conditional").get_json()[
        "productReference"
    ]["reference"]
    assert reference.startswith("Medication/") and "?" not in reference
    nothing = send(client, bundle(
        "transaction", put(activity("tx-conditional", "Medication?identifier=urn:test|none"))
    ))  # fmt: skip
    assert nothing.status_code == 412


def test_patch_and_get_entries(client: FlaskClient) -> None:
    patch = [{"op": "add", "path": "/status", "value": "inactive"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(json.dumps(patch).encode()).decode(),
    }
    response = send(client, bundle(
        "transaction",
        {"resource": binary, "request": {"method": "PATCH", "url": "Medication/cytarabine"}},
        {"request": {"method": "GET", "url": "Medication/cytarabine"}},
    ))  # fmt: skip
    assert response.status_code == 200, response.get_json()
    read = response.get_json()["entry"][1]
    assert read["resource"]["status"] == "inactive"  # the GET runs after the PATCH
    store = client.application.extensions["ped.store"]
    assert store.latest("Medication", "cytarabine").method == "PATCH"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (bundle("collection"), "transaction or batch"),
        ({"resourceType": "Medication"}, "transaction or batch Bundle"),
        (bundle("transaction", {"request": {"method": "HEAD", "url": "Medication/x"}}),
         "one of the methods"),
        (bundle("transaction", {"request": {"method": "PUT", "url": "Medication"},
                                "resource": medication("x")}), "allowed: PUT Medication/[id]"),
        (bundle("transaction", {"request": {"method": "POST", "url": "Patient"},
                                "resource": {"resourceType": "Patient"}}), "served here"),
        (bundle("transaction", put(medication("a", id="a")), put(medication("a", id="a"))),
         "only once"),
        (bundle("transaction", put(activity("tx-x", "urn:uuid:nobody"))), "no entry"),
    ],
)  # fmt: skip
def test_what_is_not_a_write_this_server_takes_is_a_400_naming_it(
    client: FlaskClient, body: dict[str, Any], expected: str
) -> None:
    before = versions(client)
    response = send(client, body)
    assert response.status_code == 400
    assert expected in json.dumps(response.get_json())
    assert versions(client) == before


def test_more_entries_than_the_limit_is_a_413(client: FlaskClient) -> None:
    body = bundle("batch", *[delete(f"Medication/m{n}") for n in range(MAX_RESOURCES + 1)])
    response = send(client, body)
    assert response.status_code == 413


# --- batch ---------------------------------------------------------------------------------


def test_a_batch_writes_the_good_entries_and_reports_the_bad_one(client: FlaskClient) -> None:
    before = versions(client)
    response = send(client, bundle(
        "batch",
        post(medication("b-1")),
        put(medication("b-2", id="b-2", status="bogus")),
        {"request": {"method": "PUT", "url": "Nothing/x"}},
        put(activity("b-activity", "urn:uuid:6f1d2c1e-0000-4000-8000-000000000003")),
        put(medication("b-3", id="b-3")),
        {"request": {"method": "GET", "url": "Medication/b-3"}},
    ))  # fmt: skip
    assert response.status_code == 200
    reply = response.get_json()
    assert reply["type"] == "batch-response"
    statuses = [e["response"]["status"][:3] for e in reply["entry"]]
    assert statuses == ["201", "400", "400", "400", "201", "200"]
    for n in (1, 2, 3):
        outcome = reply["entry"][n]["response"]["outcome"]
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["severity"] == "error"
    assert "status" in json.dumps(reply["entry"][1]["response"]["outcome"])
    assert versions(client) == before + 2
    assert reply["entry"][5]["resource"]["id"] == "b-3"


# --- $import hands a Bundle of requests to the same engine -------------------------------


def _import(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.post("/fhir/$import", data=json.dumps(body), headers=JSON)


def test_import_of_a_transaction_honours_if_match_and_records_each_method(
    client: FlaskClient,
) -> None:
    """Through $import a transaction Bundle had only PUT and POST, ignored ifMatch (an
    update lost silently) and recorded POST for a PUT: it is POST [base]'s now."""
    current = client.get("/fhir/Medication/cytarabine").get_json()
    before = versions(client)
    stale = _import(client, bundle("transaction", put({**current, "status": "inactive"},
                                                      ifMatch='W/"7"')))  # fmt: skip
    assert stale.status_code == 412, stale.get_json()
    assert "Bundle.entry[0]" in stale.get_json()["issue"][0]["diagnostics"]
    assert versions(client) == before
    reply = _import(client, bundle(
        "transaction",
        put({**current, "status": "inactive"}, ifMatch='W/"1"'),
        delete("Medication/tx-gone"),
        post(medication("tx-import")),
    ))  # fmt: skip
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["type"] == "transaction-response"
    statuses = [e["response"]["status"][:3] for e in reply.get_json()["entry"]]
    assert statuses == ["200", "204", "201"]
    store = client.application.extensions["ped.store"]
    assert store.latest("Medication", "cytarabine").method == "PUT"


def test_import_of_a_batch_answers_a_batch_response(client: FlaskClient) -> None:
    before = versions(client)
    reply = _import(client, bundle(
        "batch", post(medication("b-import")), put(medication("b-bad", id="b-bad", status="x"))
    ))  # fmt: skip
    assert reply.status_code == 200
    assert reply.get_json()["type"] == "batch-response"
    assert [e["response"]["status"][:3] for e in reply.get_json()["entry"]] == ["201", "400"]
    assert versions(client) == before + 1


# --- loading what this server hands out ----------------------------------------------------


@pytest.fixture
def fresh(tmp_path: Path) -> FlaskClient:
    app = make_app(tmp_path / "fresh.sqlite3")
    assert app.test_cli_runner().invoke(args=["migrate"]).exit_code == 0
    return app.test_client()


def _current_versions(client: FlaskClient) -> dict[str, str]:
    found = {}
    for resource_type in ("PlanDefinition", "ActivityDefinition", "Medication"):
        page = client.get(f"/fhir/{resource_type}?_count=200").get_json()
        for entry in page.get("entry", []):
            resource = entry["resource"]
            found[f"{resource_type}/{resource['id']}"] = resource["meta"]["versionId"]
    return found


def test_a_package_loads_into_a_fresh_server_and_again_changes_nothing(
    client: FlaskClient, fresh: FlaskClient
) -> None:
    package = client.get("/fhir/PlanDefinition/all-induction/$package").get_json()
    assert package["type"] == "transaction"
    first = send(fresh, package)
    assert first.status_code == 200, first.get_json()
    assert {e["response"]["status"] for e in first.get_json()["entry"]} == {"201 Created"}
    loaded = _current_versions(fresh)
    assert len(loaded) == len(package["entry"])
    again = send(fresh, package)
    assert again.status_code == 200, again.get_json()
    assert {e["response"]["status"] for e in again.get_json()["entry"]} == {"200 OK"}
    assert _current_versions(fresh) == loaded
    original = client.get("/fhir/PlanDefinition/all-induction").get_json()
    found = fresh.get(f"/fhir/PlanDefinition?url={original['url']}").get_json()
    assert found["total"] == 1  # POSTed (with ifNoneExist on its url): a new id, once
    assert found["entry"][0]["resource"]["title"] == original["title"]


def test_an_export_loads_into_a_fresh_server_and_again_changes_nothing(
    writable_app: Flask, fresh: FlaskClient, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    result = writable_app.test_cli_runner().invoke(args=["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted((out / "bundles").glob("transaction-*.json"))
    assert files
    for path in files:
        response = fresh.post("/fhir", data=path.read_bytes(), headers=JSON)
        assert response.status_code == 200, response.get_json()
    loaded = _current_versions(fresh)
    assert set(loaded) == set(_current_versions(writable_app.test_client()))
    for path in files:
        response = fresh.post("/fhir", data=path.read_bytes(), headers=JSON)
        assert {e["response"]["status"] for e in response.get_json()["entry"]} == {"200 OK"}
    assert _current_versions(fresh) == loaded


# --- the CapabilityStatement ---------------------------------------------------------------


def test_the_capability_statement_lists_the_writes(client: FlaskClient) -> None:
    statement = client.get("/fhir/metadata").get_json()
    rest = statement["rest"][0]
    assert {i["code"] for i in rest["interaction"]} >= {"transaction", "batch"}
    assert "Read-only" not in statement["description"]
    assert statement["patchFormat"] == ["application/json-patch+json"]
    for resource in rest["resource"]:
        codes = {i["code"] for i in resource["interaction"]}
        # Ours are writable; the conformance types are read-only (tests/api/test_conformance.py).
        writable = codes >= {"create", "update", "patch", "delete"}
        assert writable == (resource["type"] in RESOURCE_TYPES)
        assert "transaction" not in codes
        assert resource["updateCreate"] is writable
        assert resource["conditionalCreate"] is writable
        assert resource["conditionalUpdate"] is writable
        assert resource["conditionalDelete"] == ("single" if writable else "not-supported")
