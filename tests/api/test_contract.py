"""Contract tests for the FHIR REST API: read, vread, history, CapabilityStatement, CORS and
``$import``.

Expectations are derived from the files under fixtures/ (the store the ``client`` fixture
serves is loaded from them). Search, paging and subsetting live in test_contract_search.py;
errors and robustness in test_contract_errors.py. Helpers shared by the three files are
defined here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.search.params import PARAMETERS
from service.search.query import MAX_COUNT
from tests.conftest import FIXTURES

from .conftest import TOKEN, make_app

SERVER_META = ("versionId", "lastUpdated")


@pytest.fixture(scope="module")
def app(app_on_each_backend: Flask) -> Flask:
    """Reads, versions, history and the CapabilityStatement run on SQLite and on
    PostgreSQL."""
    return app_on_each_backend


FHIR_JSON = "application/fhir+json; fhirVersion=4.0; charset=utf-8"
BASE = "http://localhost/fhir"
SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
STRICT = {"Prefer": "handling=strict"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INDUCTION_URL = "https://fhir.example.org/ped/PlanDefinition/all-induction"


# --- shared helpers -------------------------------------------------------------------------


@cache
def fixture_resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Every distinct (type, id) in fixtures/fhir/*.json, as the fixture has it."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        bundle = json.loads(path.read_text("utf-8"))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            found[(resource["resourceType"], resource["id"])] = resource
    return found


def fixture_ids(resource_type: str) -> set[str]:
    return {i for t, i in fixture_resources() if t == resource_type}


def fixture(resource_type: str, resource_id: str) -> dict[str, Any]:
    return fixture_resources()[(resource_type, resource_id)]


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without what the server sets in meta (versionId, lastUpdated); what
    the content claims there (meta.profile) stays."""
    kept = {k: v for k, v in resource.get("meta", {}).items() if k not in SERVER_META}
    return {k: v for k, v in resource.items() if k != "meta"} | ({"meta": kept} if kept else {})


def body(response: TestResponse) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return data


def assert_outcome(response: TestResponse, status: int) -> dict[str, Any]:
    """``status`` with an OperationOutcome body carrying an error issue."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == FHIR_JSON
    outcome = body(response)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"], outcome
    assert outcome["issue"][0]["severity"] == "error"
    assert outcome["issue"][0]["diagnostics"]
    return outcome


def matches(bundle: dict[str, Any]) -> list[str]:
    """Ids of the search-mode ``match`` entries, in order."""
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle.get("link", [])}


def search(client: FlaskClient, url: str, **kwargs: Any) -> dict[str, Any]:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == FHIR_JSON
    result = body(response)
    assert result["resourceType"] == "Bundle"
    assert result["type"] == "searchset"
    return result


def search_ids(client: FlaskClient, url: str, **kwargs: Any) -> set[str]:
    bundle = search(client, url, **kwargs)
    found = matches(bundle)
    assert bundle["total"] == len(found), "total disagrees with a single page of matches"
    return set(found)


def follow(client: FlaskClient, url: str) -> Iterator[dict[str, Any]]:
    """Every page of a search, following ``next`` links (relative to the test client)."""
    seen = set()
    while url:
        assert url not in seen, f"paging loops at {url}"
        seen.add(url)
        bundle = search(client, url)
        yield bundle
        url = links(bundle).get("next", "")


def history_total(client: FlaskClient, resource_type: str) -> int:
    response = client.get(f"/fhir/{resource_type}/_history?_count=0")
    assert response.status_code == 200
    total: int = body(response)["total"]
    return total


# --- read ---------------------------------------------------------------------------------

ALL_RESOURCES = sorted(fixture_resources())


def test_fixture_counts_match_the_brief() -> None:
    assert len(fixture_ids("PlanDefinition")) == 2
    assert len(fixture_ids("ActivityDefinition")) == 35
    assert len(fixture_ids("Medication")) == 13


@pytest.mark.parametrize(("resource_type", "resource_id"), ALL_RESOURCES)
def test_read_serves_the_fixture_resource(
    client: FlaskClient, resource_type: str, resource_id: str
) -> None:
    response = client.get(f"/fhir/{resource_type}/{resource_id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == FHIR_JSON
    served = body(response)
    assert without_meta(served) == fixture(resource_type, resource_id)
    assert served["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Last-Modified"].endswith(" GMT")


@pytest.mark.parametrize("resource_type", ["PlanDefinition", "ActivityDefinition", "Medication"])
def test_store_holds_every_fixture_resource(client: FlaskClient, resource_type: str) -> None:
    bundle = search(client, f"/fhir/{resource_type}?_summary=count")
    assert bundle["total"] == len(fixture_ids(resource_type))


def test_read_last_modified_is_meta_last_updated(client: FlaskClient) -> None:
    response = client.get("/fhir/PlanDefinition/all-induction")
    last_updated = body(response)["meta"]["lastUpdated"]
    modified = parsedate_to_datetime(response.headers["Last-Modified"])
    # meta.lastUpdated is an instant with milliseconds; HTTP dates have whole seconds.
    assert modified == datetime.fromisoformat(last_updated).replace(microsecond=0)


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/PlanDefinition/does-not-exist",
        "/fhir/Medication/all-induction",  # an id of another type
        "/fhir/Patient/x",  # a type not served
        "/fhir/PlanDefinition/bad_id",  # '_' is not allowed in an id
        "/fhir/PlanDefinition/" + "a" * 65,  # ids are at most 64 characters
        "/fhir/PlanDefinition/%C3%A9",
    ],
)
def test_read_of_unknown_or_invalid_is_404_outcome(client: FlaskClient, path: str) -> None:
    assert_outcome(client.get(path), 404)


# --- vread ----------------------------------------------------------------------------------


def test_vread_1_equals_read(client: FlaskClient) -> None:
    read = client.get("/fhir/PlanDefinition/all-induction")
    vread = client.get("/fhir/PlanDefinition/all-induction/_history/1")
    assert vread.status_code == 200
    assert vread.headers["Content-Type"] == FHIR_JSON
    assert vread.headers["ETag"] == 'W/"1"'
    assert vread.headers["Last-Modified"] == read.headers["Last-Modified"]
    assert body(vread) == body(read)


@pytest.mark.parametrize("version", ["2", "0", "abc", "99999999999"])
def test_vread_of_missing_version_is_404_outcome(client: FlaskClient, version: str) -> None:
    assert_outcome(client.get(f"/fhir/PlanDefinition/all-induction/_history/{version}"), 404)


def test_vread_of_unknown_resource_is_404_outcome(client: FlaskClient) -> None:
    outcome = assert_outcome(client.get("/fhir/PlanDefinition/nope/_history/1"), 404)
    assert "PlanDefinition/nope" in outcome["issue"][0]["diagnostics"]


# --- history --------------------------------------------------------------------------------


def history_bundle(client: FlaskClient, url: str) -> dict[str, Any]:
    """A 200 history Bundle in FHIR JSON from ``url``."""
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == FHIR_JSON
    bundle = body(response)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "history"
    return bundle


def test_history_instance_lists_the_one_version(client: FlaskClient) -> None:
    bundle = history_bundle(client, "/fhir/PlanDefinition/all-induction/_history")
    assert bundle["total"] == 1
    (entry,) = bundle["entry"]
    assert entry["fullUrl"] == f"{BASE}/PlanDefinition/all-induction"
    assert without_meta(entry["resource"]) == fixture("PlanDefinition", "all-induction")
    assert entry["request"] == {"method": "POST", "url": "PlanDefinition"}
    assert entry["response"]["status"] == "201 Created"
    assert entry["response"]["etag"] == 'W/"1"'
    assert entry["response"]["lastModified"] == entry["resource"]["meta"]["lastUpdated"]
    assert links(bundle)["self"].startswith(f"{BASE}/PlanDefinition/all-induction/_history")


@pytest.mark.parametrize("resource_type", ["PlanDefinition", "ActivityDefinition", "Medication"])
def test_history_type_counts_every_version(client: FlaskClient, resource_type: str) -> None:
    bundle = history_bundle(client, f"/fhir/{resource_type}/_history?_count=200")
    assert bundle["total"] == len(fixture_ids(resource_type))
    assert {e["resource"]["id"] for e in bundle["entry"]} == fixture_ids(resource_type)
    assert all(e["response"]["status"] == "201 Created" for e in bundle["entry"])


def test_history_type_pages(client: FlaskClient) -> None:
    expected = fixture_ids("ActivityDefinition")
    url = "/fhir/ActivityDefinition/_history?_count=10"
    collected: list[str] = []
    first = history_bundle(client, url)
    assert set(links(first)) == {"self", "first", "next", "last"}
    assert links(first)["last"] == f"{BASE}/ActivityDefinition/_history?_count=10&_offset=30"
    while url:
        page = history_bundle(client, url)
        assert page["total"] == len(expected)
        collected += [e["resource"]["id"] for e in page["entry"]]
        url = links(page).get("next", "")
        assert not url or url.startswith(f"{BASE}/ActivityDefinition/_history?")
    assert sorted(collected) == sorted(expected)
    assert "previous" in links(page)


def test_history_links_keep_since(client: FlaskClient) -> None:
    bundle = history_bundle(client, "/fhir/ActivityDefinition/_history?_since=2000-01-01&_count=10")
    assert bundle["total"] == len(fixture_ids("ActivityDefinition"))
    for relation in ("self", "first", "next", "last"):
        assert "_since=2000-01-01" in links(bundle)[relation], relation


def test_history_of_unknown_resource_is_404(client: FlaskClient) -> None:
    assert_outcome(client.get("/fhir/PlanDefinition/nope/_history"), 404)
    assert_outcome(client.get("/fhir/Patient/_history"), 404)


@pytest.mark.parametrize("query", ["_count=abc", "_count=-1", "_offset=-5", "_since=notadate"])
def test_history_rejects_bad_result_params(client: FlaskClient, query: str) -> None:
    assert_outcome(client.get(f"/fhir/PlanDefinition/_history?{query}"), 400)


@pytest.mark.parametrize("path", ["/fhir/ActivityDefinition", "/fhir/ActivityDefinition/_history"])
@pytest.mark.parametrize("asked", [MAX_COUNT + 1, 500, 10**12])
def test_a_page_size_over_the_maximum_is_capped_and_the_self_link_says_so(
    client: FlaskClient, path: str, asked: int
) -> None:
    # It was a 400: R4 lets a server return fewer than _count asks, and clients ask for 500.
    response = client.get(f"{path}?_count={asked}")
    assert response.status_code == 200, response.get_data(as_text=True)
    bundle = response.get_json()
    self_link = links(bundle)["self"]
    assert ("_count", str(MAX_COUNT)) in parse_qsl(urlsplit(self_link).query)
    assert len(bundle.get("entry", [])) <= MAX_COUNT


def test_history_since_in_the_future_is_empty(client: FlaskClient) -> None:
    bundle = history_bundle(client, "/fhir/PlanDefinition/_history?_since=9999-01-01T00:00:00Z")
    assert bundle["total"] == 0
    assert "entry" not in bundle


# --- CapabilityStatement ----------------------------------------------------------------------

RESULT_PARAMS = {
    "_count",
    "_offset",
    "_summary",
    "_elements",
    "_total",
    "_sort",
    "_include",
    "_revinclude",
}
PLAUSIBLE = {
    "string": "x",
    "token": "http://example.org|x",
    "uri": "http://example.org/x",
    "date": "ge2024-01-01",
    "reference": "x",
    "composite": "a$b",
    "number": "1",
}
KNOWN_ID = {"PlanDefinition": "all-induction", "ActivityDefinition": "imatinib",
            "Medication": "methotrexate"}  # fmt: skip


@pytest.fixture(scope="module")
def statement(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == FHIR_JSON
    data: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return data


def _served(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored types (our conformance types: tests/api/test_conformance.py)."""
    resources: list[dict[str, Any]] = statement["rest"][0]["resource"]
    return [r for r in resources if r["type"] in PARAMETERS]


def test_capability_statement_basics(statement: dict[str, Any]) -> None:
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["kind"] == "instance"
    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]
    assert statement["implementation"]["url"] == BASE
    assert statement["rest"][0]["mode"] == "server"
    assert [op["name"] for op in statement["rest"][0]["operation"]] == ["import"]


def test_capability_statement_is_valid(statement: dict[str, Any]) -> None:
    CapabilityStatement.model_validate(statement)


def test_capability_lists_every_registered_type_and_param(statement: dict[str, Any]) -> None:
    listed = {r["type"]: {p["name"] for p in r["searchParam"]} for r in _served(statement)}
    assert set(listed) == set(PARAMETERS)
    for resource_type, params in PARAMETERS.items():
        assert set(params) <= listed[resource_type], resource_type
        assert listed[resource_type] - set(params) == RESULT_PARAMS, resource_type


def _listed_params(app: Flask) -> list[tuple[str, str, str]]:
    response = app.test_client().get("/fhir/metadata")
    return [
        (resource["type"], param["name"], param["type"])
        for resource in _served(body(response))
        for param in resource["searchParam"]
        if param["name"] not in RESULT_PARAMS
    ]


def _all_listed_params() -> list[tuple[str, str, str]]:
    """The listed parameters, from a throwaway app over an empty store (collection time)."""
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(Path(folder) / "empty.sqlite3")
        listed = _listed_params(app)
        app.extensions["ped.store"].engine.dispose()
    return listed


@pytest.mark.parametrize(("resource_type", "name", "kind"), _all_listed_params())
def test_every_listed_search_param_is_accepted_strictly(
    client: FlaskClient, resource_type: str, name: str, kind: str
) -> None:
    response = client.get(
        f"/fhir/{resource_type}", query_string={name: PLAUSIBLE[kind]}, headers=STRICT
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert not [e for e in body(response).get("entry", []) if e["search"]["mode"] == "outcome"]


INTERACTION_URLS = {
    "read": "/fhir/{type}/{id}",
    "vread": "/fhir/{type}/{id}/_history/1",
    "history-instance": "/fhir/{type}/{id}/_history",
    "history-type": "/fhir/{type}/_history",
    "search-type": "/fhir/{type}",
}

WRITE_INTERACTIONS = {"create", "update", "patch", "delete"}


def test_every_listed_interaction_works(client: FlaskClient, statement: dict[str, Any]) -> None:
    for resource in _served(statement):
        codes = [i["code"] for i in resource["interaction"]]
        # The writes are driven by tests/api/test_writes.py.
        assert set(codes) == set(INTERACTION_URLS) | WRITE_INTERACTIONS, resource["type"]
        for code in set(codes) - WRITE_INTERACTIONS:
            url = INTERACTION_URLS[code].format(
                type=resource["type"], id=KNOWN_ID[resource["type"]]
            )
            response = client.get(url)
            assert response.status_code == 200, (code, url)
            assert response.headers["Content-Type"] == FHIR_JSON


# --- CORS and health ----------------------------------------------------------------------------

ORIGIN = {"Origin": "https://widget.example"}


def test_cors_on_get(client: FlaskClient) -> None:
    response = client.get("/fhir/PlanDefinition/all-induction", headers=ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://widget.example")
    exposed = {
        h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"etag", "last-modified"} <= exposed


def test_cors_preflight_for_get(client: FlaskClient) -> None:
    response = client.options(
        "/fhir/PlanDefinition",
        headers={**ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204  # No Content, with Allow (tests/api/test_edges.py)
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://widget.example")
    assert "GET" in response.headers["Access-Control-Allow-Methods"]


def test_cors_on_errors(client: FlaskClient) -> None:
    response = client.get("/fhir/PlanDefinition/nope", headers=ORIGIN)
    assert_outcome(response, 404)
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://widget.example")


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


# --- $import ----------------------------------------------------------------------------------

PAGE = FIXTURES / "pages" / "all-induction.txt"
INTRO_SENTENCE = "The induction phase of treatment usually lasts about a month."
CHANGED_SENTENCE = "The induction phase of treatment usually lasts about four weeks."


def _import(client: FlaskClient, data: bytes, content_type: str, **headers: str) -> TestResponse:
    return client.post(
        "/fhir/$import", data=data, headers={**AUTH, "Content-Type": content_type, **headers}
    )


def _transaction_response(response: TestResponse) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == FHIR_JSON
    bundle = body(response)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction-response"
    entries: list[dict[str, Any]] = bundle["entry"]
    return entries


def _expected_keys(stem: str) -> set[tuple[str, str]]:
    bundle = json.loads((FIXTURES / "fhir" / f"{stem}.json").read_text("utf-8"))
    return {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}


def _entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    resource_type, resource_id = entry["fullUrl"].removeprefix(f"{BASE}/").split("/")
    return resource_type, resource_id


def test_import_refused_without_configured_token(loaded_database: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store.sqlite3"
    shutil.copyfile(loaded_database, copy)
    app = make_app(copy, API_TOKEN=None)
    response = _import(app.test_client(), PAGE.read_bytes(), "text/plain")
    assert_outcome(response, 403)
    app.extensions["ped.store"].engine.dispose()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"{TOKEN}"]
)
def test_import_needs_the_bearer_token(writable_app: Flask, authorization: str | None) -> None:
    headers = {"Content-Type": "text/plain"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = writable_app.test_client().post(
        "/fhir/$import", data=PAGE.read_bytes(), headers=headers
    )
    assert_outcome(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_import_of_loaded_page_changes_nothing(writable_app: Flask) -> None:
    client = writable_app.test_client()
    entries = _transaction_response(_import(client, PAGE.read_bytes(), "text/plain"))
    assert {_entry_key(e) for e in entries} == _expected_keys("all-induction")
    for entry in entries:
        resource_type, resource_id = _entry_key(entry)
        assert entry["response"]["status"] == "200 OK"
        assert entry["response"]["etag"] == 'W/"1"'
        assert entry["response"]["location"] == f"{resource_type}/{resource_id}/_history/1"


def test_import_of_changed_page_creates_version_2(writable_app: Flask) -> None:
    client = writable_app.test_client()
    old = body(client.get("/fhir/PlanDefinition/all-induction"))
    text = PAGE.read_text("utf-8")
    assert INTRO_SENTENCE in text
    changed = text.replace(INTRO_SENTENCE, CHANGED_SENTENCE).encode()

    entries = _transaction_response(_import(client, changed, "text/plain"))
    by_key = {_entry_key(e): e["response"] for e in entries}
    plan = by_key.pop(("PlanDefinition", "all-induction"))
    assert plan["status"] in ("200 OK", "201 Created")
    assert plan["location"] == "PlanDefinition/all-induction/_history/2"
    assert plan["etag"] == 'W/"2"'
    assert all(r["etag"] == 'W/"1"' for r in by_key.values()), "only the plan changed"

    read = client.get("/fhir/PlanDefinition/all-induction")
    assert read.headers["ETag"] == 'W/"2"'
    new = body(read)
    assert new["meta"]["versionId"] == "2"
    assert CHANGED_SENTENCE in new["description"]
    assert INTRO_SENTENCE not in new["description"]

    first = body(client.get("/fhir/PlanDefinition/all-induction/_history/1"))
    assert first == old
    assert INTRO_SENTENCE in first["description"]

    history = body(client.get("/fhir/PlanDefinition/all-induction/_history"))
    assert history["total"] == 2
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert history["entry"][0]["request"] == {
        "method": "PUT",
        "url": "PlanDefinition/all-induction",
    }
    assert history["entry"][0]["response"]["status"] == "200 OK"
    assert history["entry"][1]["response"]["status"] == "201 Created"

    # The search index follows the current version.
    words = "title:contains=induction&description:contains=four weeks"
    assert search_ids(client, f"/fhir/PlanDefinition?{words}") == {"all-induction"}
    month = "lasts about a month"
    unchanged = fixture("PlanDefinition", "all-maintenance")["description"].casefold()
    expected = {"all-maintenance"} if month in unchanged else set()
    assert search_ids(client, f"/fhir/PlanDefinition?description:contains={month}") == expected


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (FIXTURES / "content" / "all-induction.yaml", "application/yaml"),
        (FIXTURES / "content" / "all-maintenance.yaml", "text/yaml"),
        (FIXTURES / "fhir" / "all-maintenance.json", "application/fhir+json"),
        (FIXTURES / "fhir" / "all-induction.json", "application/json"),
    ],
    ids=["yaml", "yaml-text", "fhir-bundle", "fhir-as-json"],
)
def test_import_of_loaded_content_is_unchanged(
    writable_app: Flask, path: Path, content_type: str
) -> None:
    client = writable_app.test_client()
    entries = _transaction_response(_import(client, path.read_bytes(), content_type))
    assert {_entry_key(e) for e in entries} == _expected_keys(path.stem)
    assert {e["response"]["status"] for e in entries} == {"200 OK"}
    assert {e["response"]["etag"] for e in entries} == {'W/"1"'}


def test_import_of_middle_format_as_json_is_unchanged(writable_app: Flask) -> None:
    content = yaml.safe_load((FIXTURES / "content" / "all-maintenance.yaml").read_text("utf-8"))
    data = json.dumps(content).encode()
    entries = _transaction_response(_import(writable_app.test_client(), data, "application/json"))
    assert {_entry_key(e) for e in entries} == _expected_keys("all-maintenance")
    assert {e["response"]["etag"] for e in entries} == {'W/"1"'}


def test_import_of_single_resource_updates_search_index(writable_app: Flask) -> None:
    client = writable_app.test_client()
    medication = {
        **fixture("Medication", "methotrexate"),
        "ingredient": [
            {
                "itemCodeableConcept": {
                    "coding": [{"system": "http://example.org/substances", "code": "MTX"}]
                },
                "isActive": True,
            }
        ],
        "identifier": [{"system": "http://example.org/ids", "value": "med-42"}],
    }
    entries = _transaction_response(
        _import(client, json.dumps(medication).encode(), "application/fhir+json")
    )
    assert [e["response"]["location"] for e in entries] == ["Medication/methotrexate/_history/2"]
    for query in (
        "ingredient-code=MTX",
        "ingredient-code=http://example.org/substances|MTX",
        "identifier=http://example.org/ids|med-42",
        "identifier=med-42",
    ):
        assert search_ids(client, f"/fhir/Medication?{query}") == {"methotrexate"}, query
    assert search_ids(client, "/fhir/Medication?ingredient-code=|MTX") == set()


def test_import_of_garbage_page_names_the_line(writable_app: Flask) -> None:
    client = writable_app.test_client()
    before = history_total(client, "PlanDefinition")
    outcome = assert_outcome(
        _import(client, b"A title\n\nfine text\n\x01 not text\n", "text/plain"), 400
    )
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert diagnostics.startswith("body:4:"), diagnostics
    assert history_total(client, "PlanDefinition") == before


@pytest.mark.parametrize(
    ("data", "content_type", "line"),
    [
        (b"{not json", "application/fhir+json", 1),
        (b'{"a": 1}', "application/fhir+json", 1),
        (b"key: [unclosed\n  - x", "application/yaml", 2),
        (b"", "text/plain", 1),
        (b"\xff\xfe", "application/yaml", 1),
    ],
)
def test_import_of_bad_body_is_400_with_line(
    writable_app: Flask, data: bytes, content_type: str, line: int
) -> None:
    outcome = assert_outcome(_import(writable_app.test_client(), data, content_type), 400)
    assert outcome["issue"][0]["diagnostics"].startswith(f"body:{line}:")


def test_import_of_bundle_with_patient_writes_nothing(writable_app: Flask) -> None:
    client = writable_app.test_client()
    totals = {t: history_total(client, t) for t in PARAMETERS}
    changed = {**fixture("ActivityDefinition", "imatinib"), "title": "imatinib, changed"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": changed},
            {"resource": {"resourceType": "Patient", "id": "p1"}},
        ],
    }
    outcome = assert_outcome(
        _import(client, json.dumps(bundle, indent=1).encode(), "application/fhir+json"), 400
    )
    assert "Patient" in outcome["issue"][0]["diagnostics"]
    assert {t: history_total(client, t) for t in PARAMETERS} == totals
    assert body(client.get("/fhir/ActivityDefinition/imatinib"))["title"] == "imatinib"


def _twice(first: dict[str, Any], second: dict[str, Any]) -> bytes:
    entries = [{"resource": first}, {"resource": second}]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def test_import_of_one_id_twice_with_different_content_is_400(writable_app: Flask) -> None:
    """Two different ActivityDefinition/imatinib in one body: the client's error, and
    nothing is written."""
    client = writable_app.test_client()
    totals = {t: history_total(client, t) for t in PARAMETERS}
    imatinib = fixture("ActivityDefinition", "imatinib")
    data = _twice({**imatinib, "title": "imatinib, changed"}, imatinib)
    outcome = assert_outcome(_import(client, data, "application/fhir+json"), 400)
    assert "imatinib" in outcome["issue"][0]["diagnostics"]
    assert {t: history_total(client, t) for t in PARAMETERS} == totals


def test_import_of_one_resource_twice_is_not_a_server_error(writable_app: Flask) -> None:
    """The same resource twice in one body may be refused (400) or stored once (200)."""
    client = writable_app.test_client()
    imatinib = fixture("ActivityDefinition", "imatinib")
    response = _import(client, _twice(imatinib, imatinib), "application/fhir+json")
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert history_total(client, "ActivityDefinition") == len(fixture_ids("ActivityDefinition"))


def test_import_of_invalid_resource_is_400(writable_app: Flask) -> None:
    client = writable_app.test_client()
    broken = {**fixture("ActivityDefinition", "imatinib"), "status": 42, "bogus": True}
    outcome = assert_outcome(
        _import(client, json.dumps(broken).encode(), "application/fhir+json"), 400
    )
    assert "ActivityDefinition/imatinib" in outcome["issue"][0]["diagnostics"]
    assert history_total(client, "ActivityDefinition") == len(fixture_ids("ActivityDefinition"))


def test_import_too_large_is_413(writable_app: Flask) -> None:
    limit = writable_app.config["MAX_CONTENT_LENGTH"]
    assert limit == 2 * 1024 * 1024
    data = b"x" * (limit + 1)
    assert_outcome(_import(writable_app.test_client(), data, "text/plain"), 413)


@pytest.mark.parametrize("content_type", ["image/png", "application/xml", "multipart/form-data"])
def test_import_unsupported_media_type_is_415(writable_app: Flask, content_type: str) -> None:
    response = _import(writable_app.test_client(), b"\x89PNG\r\n", content_type)
    assert_outcome(response, 415)


def test_import_is_not_a_get(client: FlaskClient) -> None:
    response = client.get("/fhir/$import")
    assert response.status_code in (404, 405)
    assert body(response)["resourceType"] == "OperationOutcome"
