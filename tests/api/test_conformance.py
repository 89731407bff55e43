"""Our conformance resources over the API: read, search, refused writes, and what the
CapabilityStatement says about them.

Contract: ``GET /fhir/{StructureDefinition,SearchParameter,OperationDefinition,
ImplementationGuide}[/id]`` serves exactly ``service.conformance.definitions`` (JSON and
XML), searches answer searchset Bundles, every write is a 405 OperationOutcome, and every
canonical the CapabilityStatement or our resources name under CANONICAL_BASE resolves with
a GET when CANONICAL_BASE is the served base.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fhirclient import client as smart_client
from fhirclient.models.operationdefinition import OperationDefinition as SmartOperationDefinition
from fhirpy import SyncFHIRClient
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mappings.rules.config import MappingConfig
from mappings.rules.definitions import profile_url
from service.api.imports import BODY_KINDS
from service.api.registry import ROUTES
from service.conformance import CONFORMANCE_TYPES, definitions
from service.conformance.operations import IMPORT
from service.conformance.search_parameters import R4_SEARCH_PARAMETER, r4_id
from service.search.params import PARAMETERS
from tests.support.r4_validator import validate_r4
from tests.support.servers import make_app
from tests.support.xml_validator import check_xml

SERVED = "http://localhost/fhir"
DEFAULT_CANONICAL = "https://fhir.example.org/ped"
VERSION = "1.0.0"
STRICT = {"Prefer": "handling=strict"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """CANONICAL_BASE as configured by default: not the served base."""
    app = make_app(tmp_path_factory.mktemp("conformance") / "store.sqlite3")
    yield app
    app.extensions["ped.store"].engine.dispose()


@pytest.fixture(scope="module")
def own_base_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """CANONICAL_BASE is the served base: canonicals are where the resources are."""
    app = make_app(
        tmp_path_factory.mktemp("conformance-own") / "store.sqlite3", CANONICAL_BASE=SERVED
    )
    yield app
    app.extensions["ped.store"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def as_json(response: TestResponse) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return data


def matched(bundle: dict[str, Any]) -> list[str]:
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def outcome_of(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    outcome = as_json(response)
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome


RESOURCES = definitions(DEFAULT_CANONICAL, VERSION)
KEYS = [(r["resourceType"], r["id"]) for r in RESOURCES]


# --- read --------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource_type", "resource_id"), KEYS)
def test_read_serves_each_resource_as_generated(
    client: FlaskClient, resource_type: str, resource_id: str
) -> None:
    response = client.get(f"/fhir/{resource_type}/{resource_id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    expected = RESOURCES[KEYS.index((resource_type, resource_id))]
    assert as_json(response) == expected


def test_read_of_an_unknown_id_is_a_404_outcome(client: FlaskClient) -> None:
    for resource_type in CONFORMANCE_TYPES:
        outcome = outcome_of(client.get(f"/fhir/{resource_type}/not-ours"), 404)
        assert outcome["issue"][0]["code"] == "not-found"


def test_served_resources_pass_the_independent_r4_validator(client: FlaskClient) -> None:
    served = [as_json(client.get(f"/fhir/{t}/{i}")) for t, i in KEYS]
    invalid = [r.describe() for r in validate_r4(served) if not r.valid]
    assert not invalid, "\n".join(invalid)


def test_xml_is_the_same_resource(client: FlaskClient) -> None:
    pairs = []
    for resource_type, resource_id in KEYS:
        xml = client.get(
            f"/fhir/{resource_type}/{resource_id}", headers={"Accept": "application/fhir+xml"}
        )
        assert xml.status_code == 200
        assert xml.headers["Content-Type"].startswith("application/fhir+xml")
        pairs.append((xml.get_data(), as_json(client.get(f"/fhir/{resource_type}/{resource_id}"))))
    for (_, resource), result in zip(pairs, check_xml(pairs), strict=True):
        assert result.valid, result.describe()
        assert result.parsed == resource


# --- search ------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", CONFORMANCE_TYPES)
def test_search_without_parameters_lists_every_resource_of_the_type(
    client: FlaskClient, resource_type: str
) -> None:
    bundle = as_json(client.get(f"/fhir/{resource_type}"))
    expected = [i for t, i in KEYS if t == resource_type]
    assert matched(bundle) == expected
    assert bundle["total"] == len(expected)
    for entry in bundle.get("entry", []):
        # Served here, whatever the canonical base: fullUrl is where it is, url what it is.
        assert entry["fullUrl"] == f"{SERVED}/{resource_type}/{entry['resource']['id']}"
        assert entry["resource"]["url"].startswith(DEFAULT_CANONICAL)


def test_search_by_url_with_and_without_version(client: FlaskClient) -> None:
    for resource in RESOURCES:
        path = f"/fhir/{resource['resourceType']}"
        for url in (resource["url"], f"{resource['url']}|{VERSION}"):
            bundle = as_json(client.get(path, query_string={"url": url}))
            assert matched(bundle) == [resource["id"]], url
        bundle = as_json(client.get(path, query_string={"url": f"{resource['url']}|0.0.1"}))
        assert matched(bundle) == []


def test_search_by_id_name_version_status(client: FlaskClient) -> None:
    operation = "/fhir/OperationDefinition"
    assert matched(as_json(client.get(operation, query_string={"_id": "import"}))) == ["import"]
    assert matched(as_json(client.get(operation, query_string={"_id": "nothing,import"}))) == [
        "import"
    ]
    assert matched(as_json(client.get(operation, query_string={"name": "imp"}))) == ["import"]
    assert matched(as_json(client.get(operation, query_string={"name:exact": "imp"}))) == []
    assert matched(as_json(client.get(operation, query_string={"name:exact": "Import"}))) == [
        "import"
    ]
    assert matched(as_json(client.get(operation, query_string={"name:contains": "POR"}))) == [
        "import"
    ]
    assert matched(as_json(client.get(operation, query_string={"version": VERSION}))) == ["import"]
    assert matched(as_json(client.get(operation, query_string={"version": "2.0.0"}))) == []
    assert matched(as_json(client.get(operation, query_string={"status": "retired"}))) == []
    assert (
        matched(as_json(client.get(operation, query_string=[("status", "active"), ("_id", "x")])))
        == []
    )  # parameters are ANDed


def test_search_by_code_base_and_type(client: FlaskClient) -> None:
    search = "/fhir/SearchParameter"
    found = matched(as_json(client.get(search, query_string={"code": "product"})))
    assert found == ["ActivityDefinition-product"]
    assert matched(as_json(client.get(search, query_string={"base": "ActivityDefinition"}))) == [
        "ActivityDefinition-product"
    ]
    assert matched(as_json(client.get(search, query_string={"base": "Medication"}))) == []
    assert matched(as_json(client.get(search, query_string={"type": "reference"}))) == [
        "ActivityDefinition-product"
    ]
    assert matched(as_json(client.get(search, query_string={"type": "string"}))) == []
    operation = "/fhir/OperationDefinition"
    assert matched(as_json(client.get(operation, query_string={"code": "import"}))) == ["import"]
    assert matched(as_json(client.get(operation, query_string={"code": "validate"}))) == []


def test_search_by_post_form(client: FlaskClient) -> None:
    response = client.post(
        "/fhir/OperationDefinition/_search",
        data={"code": "import"},
        content_type="application/x-www-form-urlencoded",
    )
    assert matched(as_json(response)) == ["import"]


def test_paging_and_count(client: FlaskClient) -> None:
    bundle = as_json(client.get("/fhir/OperationDefinition", query_string={"_count": "0"}))
    assert matched(bundle) == []
    assert bundle["total"] == 1
    summary = as_json(client.get("/fhir/OperationDefinition", query_string={"_summary": "count"}))
    assert (matched(summary), summary["total"]) == ([], 1)
    capped = as_json(client.get("/fhir/SearchParameter", query_string={"_count": "5000"}))
    self_link = next(link["url"] for link in capped["link"] if link["relation"] == "self")
    assert "_count=200" in self_link
    page = as_json(client.get("/fhir/OperationDefinition", query_string={"_offset": "1"}))
    assert (matched(page), page["total"]) == ([], 1)
    outcome_of(client.get("/fhir/OperationDefinition", query_string={"_count": "-1"}), 400)


def test_unknown_parameters_are_ignored_with_a_warning_or_refused_when_strict(
    client: FlaskClient,
) -> None:
    bundle = as_json(client.get("/fhir/StructureDefinition", query_string={"nonsense": "x"}))
    outcomes = [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    assert "nonsense" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    strict = client.get("/fhir/StructureDefinition", query_string={"nonsense": "x"}, headers=STRICT)
    assert "nonsense" in outcome_of(strict, 400)["issue"][0]["diagnostics"]
    outcome_of(client.get("/fhir/SearchParameter", query_string={"code:exact": "x"}), 400)
    outcome_of(client.get("/fhir/SearchParameter", query_string={"code": "a,,b"}), 400)


@pytest.mark.parametrize(
    "query",
    [
        {"base.url": "http://hl7.org/fhir/StructureDefinition/PlanDefinition"},
        {"_has:SearchParameter:base:code": "product"},
    ],
)
def test_chained_and_has_are_refused_even_when_lenient(
    client: FlaskClient, query: dict[str, str]
) -> None:
    # Ignored, they would answer every resource as if it matched.
    outcome = outcome_of(client.get("/fhir/StructureDefinition", query_string=query), 400)
    assert next(iter(query)) in outcome["issue"][0]["diagnostics"]


def test_a_result_parameter_given_twice_or_too_many_values_are_refused(
    client: FlaskClient,
) -> None:
    twice = [("_count", "1"), ("_count", "2")]
    outcome_of(client.get("/fhir/SearchParameter", query_string=twice), 400)
    many = ",".join(f"x{n}" for n in range(101))
    outcome_of(client.get("/fhir/SearchParameter", query_string={"code": many}), 400)


def test_search_answers_in_xml(client: FlaskClient) -> None:
    response = client.get("/fhir/OperationDefinition", query_string={"_format": "xml"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+xml")
    (result,) = check_xml([(response.get_data(), None)])
    assert result.valid, result.describe()


def test_each_resource_is_also_served_as_r5(client: FlaskClient) -> None:
    for resource_type, resource_id in KEYS:
        response = client.get(
            f"/fhir/{resource_type}/{resource_id}",
            headers={"Accept": "application/fhir+json; fhirVersion=5.0"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert (
            as_json(response)["url"] == RESOURCES[KEYS.index((resource_type, resource_id))]["url"]
        )


def test_the_capability_statement_is_read_by_its_id(client: FlaskClient) -> None:
    statement = as_json(client.get("/fhir/CapabilityStatement/ped-fhir"))
    assert statement == as_json(client.get("/fhir/metadata"))
    outcome_of(client.get("/fhir/CapabilityStatement/other"), 404)
    outcome_of(client.put("/fhir/CapabilityStatement/ped-fhir", json=statement), 405)


# --- writes ------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", CONFORMANCE_TYPES)
def test_every_write_is_a_405_outcome(client: FlaskClient, resource_type: str) -> None:
    resource = {"resourceType": resource_type, "id": "x"}
    for method, path in (
        ("POST", f"/fhir/{resource_type}"),
        ("PUT", f"/fhir/{resource_type}"),
        ("DELETE", f"/fhir/{resource_type}"),
        ("PUT", f"/fhir/{resource_type}/x"),
        ("PATCH", f"/fhir/{resource_type}/x"),
        ("DELETE", f"/fhir/{resource_type}/x"),
        ("POST", f"/fhir/{resource_type}/x"),
    ):
        response = client.open(
            path,
            method=method,
            json=resource,
            headers={"Content-Type": "application/fhir+json", "Authorization": "Bearer x"},
        )
        outcome = outcome_of(response, 405)
        assert outcome["issue"][0]["code"] == "not-supported"
        assert "read-only" in outcome["issue"][0]["diagnostics"]
        assert response.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/fhir/SearchParameter", "/fhir/SearchParameter/x"])
def test_options_allows_only_reads(client: FlaskClient, path: str) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/StructureDefinition/_history",
        "/fhir/OperationDefinition/import/_history",
        "/fhir/OperationDefinition/import/_history/1",
    ],
)
def test_history_is_not_supported(client: FlaskClient, path: str) -> None:
    outcome = outcome_of(client.get(path), 404)
    assert outcome["issue"][0]["code"] == "not-supported"
    assert "no history" in outcome["issue"][0]["diagnostics"]


# --- the CapabilityStatement --------------------------------------------------------------


def statement_of(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/fhir/metadata")
    assert response.status_code == 200
    return as_json(response)


def test_the_capability_statement_passes_the_independent_r4_validator(app: Flask) -> None:
    (result,) = validate_r4([statement_of(app)])
    assert result.valid, result.describe()


def test_capability_lists_the_conformance_types_read_only(app: Flask) -> None:
    entries = {r["type"]: r for r in statement_of(app)["rest"][0]["resource"]}
    assert set(entries) == {*PARAMETERS, *CONFORMANCE_TYPES, "CapabilityStatement"}
    assert [i["code"] for i in entries["CapabilityStatement"]["interaction"]] == ["read"]
    for resource_type in CONFORMANCE_TYPES:
        entry = entries[resource_type]
        assert [i["code"] for i in entry["interaction"]] == ["read", "search-type"]
        names = {p["name"] for p in entry["searchParam"]}
        assert {"_id", "url", "name", "version", "status"} <= names
    assert {p["name"] for p in entries["SearchParameter"]["searchParam"]} >= {
        "code",
        "base",
        "type",
    }
    assert {p["name"] for p in entries["StructureDefinition"]["searchParam"]} >= {"type", "base"}


def test_every_listed_search_parameter_has_its_definition(app: Flask) -> None:
    for entry in statement_of(app)["rest"][0]["resource"]:
        for param in entry.get("searchParam", []):
            if param["name"] in ("_count", "_offset", "_summary", "_elements", "_total",
                                 "_include", "_revinclude", "_sort"):  # fmt: skip
                continue  # result parameters: no SearchParameter defines them
            definition = param["definition"]
            expected = r4_id(entry["type"], param["name"])
            if expected is not None:
                assert definition == R4_SEARCH_PARAMETER + expected
            else:
                assert definition.startswith(f"{DEFAULT_CANONICAL}/SearchParameter/")
    product = next(
        p
        for r in statement_of(app)["rest"][0]["resource"]
        if r["type"] == "ActivityDefinition"
        for p in r["searchParam"]
        if p["name"] == "product"
    )
    assert (
        product["definition"] == f"{DEFAULT_CANONICAL}/SearchParameter/ActivityDefinition-product"
    )


def test_capability_names_our_guide_and_operation(app: Flask) -> None:
    statement = statement_of(app)
    assert statement["implementationGuide"] == [
        f"{DEFAULT_CANONICAL}/ImplementationGuide/ped.education.content"
    ]
    (operation,) = statement["rest"][0]["operation"]
    assert operation == {
        "name": "import",
        "definition": f"{DEFAULT_CANONICAL}/OperationDefinition/import",
    }


def test_the_import_route_is_described_by_its_operation_definition() -> None:
    (route,) = [r for r in ROUTES if r.operation is not None and r.operation.name == "import"]
    assert route.operation is not None
    assert (route.operation.name, route.operation.level) == (IMPORT.code, IMPORT.level)
    assert route.operation.definition == IMPORT.path
    assert set(route.operation.body) == set(IMPORT.media_types) == set(BODY_KINDS)


def canonicals(value: Any, base: str) -> Iterator[str]:
    """Every string in ``value`` that is a URL under ``base``."""
    if isinstance(value, dict):
        for item in value.values():
            yield from canonicals(item, base)
    elif isinstance(value, list):
        for item in value:
            yield from canonicals(item, base)
    elif isinstance(value, str) and value.startswith(f"{base}/"):
        yield value


def test_every_canonical_under_the_base_resolves_with_get(own_base_app: Flask) -> None:
    client = own_base_app.test_client()
    statement = statement_of(own_base_app)
    mentioned = set(canonicals(statement, SERVED))
    for resource in definitions(SERVED, VERSION):
        mentioned |= set(canonicals(resource, SERVED))
    mentioned.discard(statement["implementation"]["url"])
    assert f"{SERVED}/OperationDefinition/import" in mentioned
    assert f"{SERVED}/ImplementationGuide/ped.education.content" in mentioned
    assert f"{SERVED}/SearchParameter/ActivityDefinition-product" in mentioned
    assert statement["url"] in mentioned
    for canonical in sorted(mentioned):
        url = canonical.partition("|")[0]
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200, canonical
        assert as_json(response)["url"] == url


def test_each_mapped_type_names_our_profile_and_it_resolves(app: Flask) -> None:
    client = app.test_client()
    entries = {r["type"]: r for r in statement_of(app)["rest"][0]["resource"]}
    for resource_type in PARAMETERS:
        (profile,) = entries[resource_type]["supportedProfile"]
        assert profile == profile_url(MappingConfig(), resource_type)
        path = urlsplit(profile).path.removeprefix(urlsplit(DEFAULT_CANONICAL).path)
        found = as_json(client.get(f"/fhir{path}"))
        assert (found["resourceType"], found["url"], found["type"]) == (
            "StructureDefinition",
            profile,
            resource_type,
        )
        assert found["derivation"] == "constraint"


OURS = re.compile(
    rf"^{re.escape(DEFAULT_CANONICAL)}/({'|'.join(CONFORMANCE_TYPES)})/([A-Za-z0-9.-]+)$"
)


def test_every_canonical_the_content_names_resolves_on_the_server(
    loaded_database: Path,
) -> None:
    """The loaded fixtures' meta.profile, extension urls and any other canonical of ours:
    each is served (at its own path under the served base) as the resource it names."""
    app = make_app(loaded_database)
    try:
        client = app.test_client()
        named: set[str] = set()
        for resource_type in PARAMETERS:
            for entry in as_json(client.get(f"/fhir/{resource_type}?_count=200"))["entry"]:
                named |= {u.partition("|")[0] for u in canonicals(entry, DEFAULT_CANONICAL)}
        ours = sorted(u for u in named if OURS.match(u))
        assert any("/StructureDefinition/" in u for u in ours)
        assert (
            len([u for u in ours if "/StructureDefinition/" in u]) >= 4
        )  # 3 profiles, 1+ extension
        for url in ours:
            match = OURS.match(url)
            assert match is not None
            response = client.get(f"/fhir/{match[1]}/{match[2]}")
            assert response.status_code == 200, url
            assert as_json(response)["url"] == url
    finally:
        app.extensions["ped.store"].engine.dispose()


def test_with_the_served_base_as_canonical_base_urls_are_where_resources_are(
    own_base_app: Flask,
) -> None:
    client = own_base_app.test_client()
    for resource_type in CONFORMANCE_TYPES:
        for entry in as_json(client.get(f"/fhir/{resource_type}")).get("entry", []):
            assert entry["fullUrl"] == entry["resource"]["url"]


def test_a_configured_version_and_package_name_are_served(tmp_path: Path) -> None:
    app = make_app(
        tmp_path / "store.sqlite3", ARTIFACT_VERSION="2.1.0", PACKAGE_NAME="org.example.edu"
    )
    try:
        client = app.test_client()
        guide = as_json(client.get("/fhir/ImplementationGuide/org.example.edu"))
        assert (guide["packageId"], guide["version"]) == ("org.example.edu", "2.1.0")
        assert statement_of(app)["implementationGuide"] == [guide["url"]]
        assert as_json(client.get("/fhir/OperationDefinition/import"))["version"] == "2.1.0"
    finally:
        app.extensions["ped.store"].engine.dispose()


# --- real clients against live gunicorn ----------------------------------------------------


def test_fhirpy_and_fhirclient_find_our_definitions_on_the_live_server(live_server: str) -> None:
    fhirpy = SyncFHIRClient(live_server, requests_config={"timeout": 30})
    profile = profile_url(MappingConfig(), "PlanDefinition")
    found = fhirpy.resources("StructureDefinition").search(url=profile).fetch()
    assert [r["url"] for r in found] == [profile]
    assert found[0]["type"] == "PlanDefinition"
    (parameter,) = fhirpy.resources("SearchParameter").search(code="product").fetch()
    assert parameter["base"] == ["ActivityDefinition"]
    smart = smart_client.FHIRClient(settings={"app_id": "ped-tests", "api_base": live_server})
    operation = SmartOperationDefinition.read("import", smart.server)
    assert (operation.code, operation.system, operation.url) == (
        "import",
        True,
        f"{DEFAULT_CANONICAL}/OperationDefinition/import",
    )
