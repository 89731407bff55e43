"""Interoperability over HTTP: ``_include``/``_revinclude``, ``$package`` and ``$validate``.

- **Includes**: what a search pulls in with ``_include``/``_revinclude`` (and ``:iterate``)
  is exactly what the fixture JSON says the matches point to or are pointed to by, with
  ``search.mode = include``; includes do not count toward ``_count``/``total`` and paging
  keeps them; what cannot be honoured is a 400; /metadata lists exactly what works. Real
  clients (fhirpy, fhirclient) fetch a phase with every dependency against live gunicorn.
- **$package**: a transaction Bundle another server loads as it is (checked against the
  fixture JSON), in JSON, XML and R5, loaded into a fresh instance of this service through
  ``$import`` and ``flask load``.
- **$validate**: every fixture resource is clean in JSON and XML, bare and in Parameters;
  one planted error of each kind is reported where it is; bad bodies are 4xx; every reply is
  an R4 OperationOutcome.

Expected values come from fixtures/fhir/*.json, never from the server.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import fhir.resources as r5_models
import pytest
from fhirclient import client as smart_client
from fhirclient.models.activitydefinition import ActivityDefinition as SmartActivityDefinition
from fhirclient.models.bundle import Bundle as SmartBundle
from fhirclient.models.medication import Medication as SmartMedication
from fhirclient.models.plandefinition import PlanDefinition as SmartPlanDefinition
from fhirpy import SyncFHIRClient
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.search.params import RESOURCE_TYPES as STORED
from tests.support.r4_validator import validate_r4
from tests.support.xml_validator import check_xml

from .conftest import TOKEN, make_app
from .test_contract import fixture_resources, without_meta
from .test_formats import decimals_as_numbers, first_difference

Resource = dict[str, Any]

CANONICAL = "https://fhir.example.org/ped"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
VERSION = "1.0.0"
TIMEOUT = 30.0
PLANS = ("all-induction", "all-maintenance")
JSON_TYPE = "application/fhir+json; fhirVersion=4.0; charset=utf-8"
XML_TYPE = "application/fhir+xml; fhirVersion=4.0; charset=utf-8"
R5_JSON = {"Accept": "application/fhir+json; fhirVersion=5.0"}
R5_JSON_TYPE = "application/fhir+json; fhirVersion=5.0; charset=utf-8"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# --- what the fixtures say ------------------------------------------------------------------

FIXTURE: dict[str, dict[str, Resource]] = {}
for (_type, _id), _resource in fixture_resources().items():
    FIXTURE.setdefault(_type, {})[_id] = _resource


def _actions(resource: Resource) -> Iterator[Resource]:
    for action in resource.get("action", []):
        yield action
        yield from _actions(action)


def _canonical_targets() -> dict[str, tuple[str, str]]:
    """``url|version`` and ``url`` -> (type, id) of every fixture canonical resource."""
    found: dict[str, tuple[str, str]] = {}
    for resource_type in ("PlanDefinition", "ActivityDefinition"):
        for rid, resource in FIXTURE[resource_type].items():
            found[f"{resource['url']}|{resource['version']}"] = (resource_type, rid)
            found[resource["url"]] = (resource_type, rid)
    return found


BY_CANONICAL = _canonical_targets()


def definitions(plan_id: str) -> set[tuple[str, str]]:
    """What the plan's actions (at any depth, through nested plans) use, by definitionCanonical."""
    found: set[tuple[str, str]] = set()
    todo = [FIXTURE["PlanDefinition"][plan_id]]
    while todo:
        plan = todo.pop()
        for action in _actions(plan):
            canonical = action.get("definitionCanonical")
            if canonical is None:
                continue
            assert canonical in BY_CANONICAL, f"fixture canonical {canonical} does not resolve"
            target = BY_CANONICAL[canonical]
            if target not in found and target[0] == "PlanDefinition":
                todo.append(FIXTURE["PlanDefinition"][target[1]])
            found.add(target)
    return found


def products(activity_ids: set[str]) -> set[tuple[str, str]]:
    found = set()
    for aid in activity_ids:
        reference = FIXTURE["ActivityDefinition"][aid].get("productReference", {}).get("reference")
        if reference is not None:
            resource_type, _, rid = reference.partition("/")
            assert rid in FIXTURE[resource_type], f"fixture reference {reference} does not resolve"
            found.add((resource_type, rid))
    return found


def dependencies(plan_id: str) -> set[tuple[str, str]]:
    """Everything a plan needs: its definitions and their products."""
    used = definitions(plan_id)
    return used | products({rid for t, rid in used if t == "ActivityDefinition"})


def plans_using(resource_type: str, rid: str) -> set[str]:
    resource = FIXTURE[resource_type][rid]
    wanted = {resource["url"], f"{resource['url']}|{resource['version']}"}
    return {
        pid
        for pid, plan in FIXTURE["PlanDefinition"].items()
        if any(a.get("definitionCanonical") in wanted for a in _actions(plan))
    }


def activities_giving(medication_id: str) -> set[str]:
    return {
        aid
        for aid, activity in FIXTURE["ActivityDefinition"].items()
        if activity.get("productReference", {}).get("reference") == f"Medication/{medication_id}"
    }


def single_rxnorm(resource: Resource) -> str | None:
    codes = [c["code"] for c in resource.get("code", {}).get("coding", []) if c["system"] == RXNORM]
    return codes[0] if len(codes) == 1 else None


def test_expected_sets_are_not_vacuous() -> None:
    # Guards on the data the tests below rely on.
    for plan_id in PLANS:
        used = definitions(plan_id)
        assert len([t for t, _ in used if t == "ActivityDefinition"]) >= 10
        assert len(products({rid for t, rid in used if t == "ActivityDefinition"})) >= 5
    assert plans_using("ActivityDefinition", "imatinib") == set(PLANS)
    assert len(activities_giving("methotrexate")) >= 2
    assert {
        p for a in activities_giving("methotrexate") for p in plans_using("ActivityDefinition", a)
    } == set(PLANS)
    medications = [
        FIXTURE["Medication"][rid] for t, rid in dependencies("all-induction") if t == "Medication"
    ]
    # $package writes both kinds of Medication entry for the induction phase.
    assert any(single_rxnorm(m) for m in medications)
    assert any(single_rxnorm(m) is None for m in medications)


# --- HTTP helpers -------------------------------------------------------------------------------


def as_json(response: TestResponse) -> Resource:
    data: Resource = json.loads(response.get_data(as_text=True))
    return data


def get_bundle(client: FlaskClient, url: str) -> Resource:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True))
    bundle = as_json(response)
    assert bundle["resourceType"] == "Bundle"
    return bundle


def by_mode(bundle: Resource, mode: str) -> list[tuple[str, str]]:
    return [
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def assert_outcome(response: TestResponse, status: int | tuple[int, ...]) -> Resource:
    statuses = (status,) if isinstance(status, int) else status
    text = response.get_data(as_text=True)
    assert response.status_code in statuses, text
    assert response.content_type == JSON_TYPE, text
    outcome = json.loads(text)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] and all(i["severity"] in ("error", "fatal") for i in outcome["issue"])
    return outcome


# --- _include / _revinclude ------------------------------------------------------------------


@pytest.mark.parametrize("plan_id", PLANS)
def test_include_definition_gives_exactly_the_activities_used(
    client: FlaskClient, plan_id: str
) -> None:
    bundle = get_bundle(
        client, f"/fhir/PlanDefinition?_id={plan_id}&_include=PlanDefinition:definition"
    )
    assert bundle["total"] == 1
    assert by_mode(bundle, "match") == [("PlanDefinition", plan_id)]
    included = by_mode(bundle, "include")
    assert len(included) == len(set(included)), "an included resource came twice"
    assert set(included) == definitions(plan_id)
    assert len(bundle["entry"]) == 1 + len(included)  # nothing without a search mode
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert without_meta(resource) == FIXTURE[resource["resourceType"]][resource["id"]]
        assert entry["fullUrl"].endswith(f"/fhir/{resource['resourceType']}/{resource['id']}")


@pytest.mark.parametrize("plan_id", PLANS)
def test_include_iterate_product_adds_exactly_their_medications(
    client: FlaskClient, plan_id: str
) -> None:
    bundle = get_bundle(
        client,
        f"/fhir/PlanDefinition?_id={plan_id}&_include=PlanDefinition:definition"
        "&_include:iterate=ActivityDefinition:product",
    )
    assert by_mode(bundle, "match") == [("PlanDefinition", plan_id)]
    included = by_mode(bundle, "include")
    assert len(included) == len(set(included))
    assert set(included) == dependencies(plan_id)
    assert {t for t, _ in included} == {"ActivityDefinition", "Medication"}
    assert bundle["total"] == 1


def test_without_iterate_the_products_are_not_followed(client: FlaskClient) -> None:
    bundle = get_bundle(
        client,
        "/fhir/PlanDefinition?_id=all-induction&_include=PlanDefinition:definition"
        "&_include:iterate=Medication:ingredient",
    )
    assert set(by_mode(bundle, "include")) == definitions("all-induction")


@pytest.mark.parametrize("activity_id", sorted(FIXTURE["ActivityDefinition"]))
def test_revinclude_definition_gives_the_plans_using_an_activity(
    client: FlaskClient, activity_id: str
) -> None:
    bundle = get_bundle(
        client,
        f"/fhir/ActivityDefinition?_id={activity_id}&_revinclude=PlanDefinition:definition",
    )
    assert bundle["total"] == 1
    assert by_mode(bundle, "match") == [("ActivityDefinition", activity_id)]
    expected = plans_using("ActivityDefinition", activity_id)
    assert expected, f"{activity_id} is used by no plan in the fixtures"
    assert sorted(by_mode(bundle, "include")) == sorted(("PlanDefinition", p) for p in expected)


def test_methotrexate_with_its_activities_and_both_phases(client: FlaskClient) -> None:
    bundle = get_bundle(
        client,
        f"/fhir/Medication?code={RXNORM}|6851&_revinclude=ActivityDefinition:product"
        "&_revinclude:iterate=PlanDefinition:definition",
    )
    assert bundle["total"] == 1
    assert by_mode(bundle, "match") == [("Medication", "methotrexate")]
    activities = activities_giving("methotrexate")
    plans = {p for a in activities for p in plans_using("ActivityDefinition", a)}
    assert plans == set(PLANS)
    included = by_mode(bundle, "include")
    assert len(included) == len(set(included))
    assert set(included) == {("ActivityDefinition", a) for a in activities} | {
        ("PlanDefinition", p) for p in plans
    }


# Canonicals with and without a version, planted through $import.


def _plan(plan_id: str, *canonicals: str) -> Resource:
    return {
        "resourceType": "PlanDefinition",
        "id": plan_id,
        "url": f"{CANONICAL}/PlanDefinition/{plan_id}",
        "version": VERSION,
        "name": "PlantedPlan",
        "status": "active",
        "action": [
            {"title": f"step {n}", "definitionCanonical": c} for n, c in enumerate(canonicals)
        ],
    }


def _import(client: FlaskClient, *resources: Resource) -> Resource:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    response = client.post(
        "/fhir/$import",
        data=json.dumps(bundle),
        content_type="application/fhir+json",
        headers=AUTH,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    reply = as_json(response)
    assert reply["type"] == "transaction-response"
    assert {e["response"]["status"] for e in reply["entry"]} == {"201 Created"}
    return reply


def _plant(app: Flask, *resources: Resource) -> None:
    """Write straight to the store what ``$import`` now refuses (canonicals that resolve to
    nothing: ``service.loading.gate``), as a store loaded before that gate may hold."""
    app.extensions["ped.store"].put(list(resources))


def _imatinib_v2() -> Resource:
    activity = copy.deepcopy(FIXTURE["ActivityDefinition"]["imatinib"])
    activity.update(id="imatinib-v2", version="2.0.0")
    return activity


IMATINIB = f"{CANONICAL}/ActivityDefinition/imatinib"


def _includes_of(client: FlaskClient, plan_id: str) -> set[tuple[str, str]]:
    bundle = get_bundle(
        client, f"/fhir/PlanDefinition?_id={plan_id}&_include=PlanDefinition:definition"
    )
    assert by_mode(bundle, "match") == [("PlanDefinition", plan_id)]
    return set(by_mode(bundle, "include"))


def _revincludes_of(client: FlaskClient, activity_id: str) -> set[str]:
    bundle = get_bundle(
        client,
        f"/fhir/ActivityDefinition?_id={activity_id}&_revinclude=PlanDefinition:definition",
    )
    assert by_mode(bundle, "match") == [("ActivityDefinition", activity_id)]
    return {rid for _, rid in by_mode(bundle, "include")}


def test_unversioned_and_wrong_version_canonicals_include(writable_app: Flask) -> None:
    client = writable_app.test_client()
    _plant(
        writable_app,
        _plan("plant-unversioned", IMATINIB),
        _plan("plant-wrong-version", f"{IMATINIB}|9.9.9"),
        _plan("plant-unknown", f"{CANONICAL}/ActivityDefinition/nope|{VERSION}"),
    )
    assert _includes_of(client, "plant-unversioned") == {("ActivityDefinition", "imatinib")}
    assert _includes_of(client, "plant-wrong-version") == set()
    assert _includes_of(client, "plant-unknown") == set()


def test_a_pinned_canonical_includes_only_that_version(writable_app: Flask) -> None:
    client = writable_app.test_client()
    _import(client, _imatinib_v2(), _plan("plant-v2", f"{IMATINIB}|2.0.0"))
    assert _includes_of(client, "plant-v2") == {("ActivityDefinition", "imatinib-v2")}
    induction = _includes_of(client, "all-induction")
    assert induction == definitions("all-induction")
    assert ("ActivityDefinition", "imatinib-v2") not in induction


def test_an_unversioned_canonical_resolves_to_the_latest_version(writable_app: Flask) -> None:
    # R4 (references.html#canonical): a canonical without a version means the current one.
    # Two versions of one url must not both be pulled in by one reference.
    client = writable_app.test_client()
    _import(client, _imatinib_v2(), _plan("plant-unversioned", IMATINIB))
    assert _includes_of(client, "plant-unversioned") == {("ActivityDefinition", "imatinib-v2")}


def test_revinclude_leaves_out_plans_pinned_to_another_version(writable_app: Flask) -> None:
    # plant-wrong-version uses imatinib|9.9.9, which is not ActivityDefinition/imatinib (1.0.0).
    client = writable_app.test_client()
    _plant(writable_app, _plan("plant-wrong-version", f"{IMATINIB}|9.9.9"))
    assert _revincludes_of(client, "imatinib") == set(PLANS)


def test_revinclude_of_a_new_version_leaves_out_plans_pinned_to_the_old(
    writable_app: Flask,
) -> None:
    client = writable_app.test_client()
    _import(client, _imatinib_v2(), _plan("plant-v2", f"{IMATINIB}|2.0.0"))
    assert _revincludes_of(client, "imatinib-v2") == {"plant-v2"}
    assert _revincludes_of(client, "imatinib") == set(PLANS)


def test_paging_keeps_includes_out_of_count_and_total(client: FlaskClient) -> None:
    url: str | None = "/fhir/ActivityDefinition?_count=5&_include=ActivityDefinition:product"
    seen: list[str] = []
    pages = 0
    while url is not None:
        pages += 1
        assert pages <= 20, "paging does not end"
        bundle = get_bundle(client, url)
        assert bundle["total"] == len(FIXTURE["ActivityDefinition"])
        matches = by_mode(bundle, "match")
        assert {t for t, _ in matches} == {"ActivityDefinition"}
        assert len(matches) == min(5, len(FIXTURE["ActivityDefinition"]) - len(seen))
        seen += [rid for _, rid in matches]
        included = by_mode(bundle, "include")
        assert len(included) == len(set(included))
        assert set(included) == products({rid for _, rid in matches}), url
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        for relation in ("self", "first", "last", "next"):
            if relation in links:
                query = parse_qs(urlsplit(links[relation]).query)
                assert query["_include"] == ["ActivityDefinition:product"], links[relation]
        next_url = urlsplit(links["next"]) if "next" in links else None
        url = None if next_url is None else f"{next_url.path}?{next_url.query}"
    assert pages == 7
    assert len(seen) == len(set(seen))
    assert set(seen) == set(FIXTURE["ActivityDefinition"])


BAD_INCLUDES = [
    "PlanDefinition?_include=*",
    "PlanDefinition?_include=PlanDefinition:*",
    "PlanDefinition?_include=PlanDefinition:title",
    "PlanDefinition?_include=PlanDefinition:nope",
    "PlanDefinition?_include=PlanDefinition:definition:Medication",
    "PlanDefinition?_include:foo=PlanDefinition:definition",
    "PlanDefinition?_include=Patient:subject",
    "PlanDefinition?_include=PlanDefinition",
    "PlanDefinition?_include=",
    "PlanDefinition?_revinclude=Patient:subject",
    "PlanDefinition?_revinclude=ActivityDefinition:product",
    "PlanDefinition?_revinclude:foo=PlanDefinition:definition",
    "Medication?_revinclude=PlanDefinition:definition",
    "ActivityDefinition?_include=ActivityDefinition:product:PlanDefinition",
]


@pytest.mark.parametrize("query", BAD_INCLUDES)
def test_an_include_the_server_cannot_honour_is_a_400(client: FlaskClient, query: str) -> None:
    outcome = assert_outcome(client.get(f"/fhir/{query}"), 400)
    assert outcome["issue"][0]["code"] == "invalid"


def test_an_include_from_another_type_is_a_no_op_with_an_information_issue(
    client: FlaskClient,
) -> None:
    # It was a 400; R4 follows a non-iterated _include from the matches only, so servers
    # answer the search and include nothing.
    plain = as_json(client.get("/fhir/PlanDefinition"))
    bundle = as_json(client.get("/fhir/PlanDefinition?_include=ActivityDefinition:product"))
    matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert [e["fullUrl"] for e in matches] == [e["fullUrl"] for e in plain["entry"]]
    assert not [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    (issue,) = outcome["issue"]
    assert issue["severity"] == "information"
    assert "ActivityDefinition:product includes nothing" in issue["diagnostics"]
    assert "_include" not in bundle["link"][0]["url"]


def test_metadata_lists_exactly_the_includes_that_work(client: FlaskClient) -> None:
    statement = as_json(client.get("/fhir/metadata"))
    # The stored types: our conformance types take no _include (tests/api/test_conformance.py).
    served = {r["type"]: r for r in statement["rest"][0]["resource"] if r["type"] in STORED}
    assert "PlanDefinition:definition" in served["PlanDefinition"]["searchInclude"]
    assert "ActivityDefinition:product" in served["ActivityDefinition"]["searchInclude"]
    assert "PlanDefinition:definition" in served["ActivityDefinition"]["searchRevInclude"]
    assert "ActivityDefinition:product" in served["Medication"]["searchRevInclude"]
    candidates = {
        f"{t}:{p['name']}"
        for t, r in served.items()
        for p in r["searchParam"]
        if p["type"] == "reference"
    }
    assert "ActivityDefinition:product" in candidates
    followable = {v for r in served.values() for v in r.get("searchInclude", [])}
    for resource_type, resource in served.items():
        for kind, listed in (
            ("_include", resource.get("searchInclude", [])),
            ("_revinclude", resource.get("searchRevInclude", [])),
        ):
            assert listed, f"{resource_type} lists no {kind}"
            for value in sorted(candidates | set(listed)):
                response = client.get(f"/fhir/{resource_type}?{kind}={value}&_count=3")
                # An _include the server can follow, from another type, is a no-op (it
                # includes nothing) and not listed.
                no_op = (
                    kind == "_include"
                    and value.split(":")[0] != resource_type
                    and value in followable
                )
                expected = 200 if value in listed or no_op else 400
                assert response.status_code == expected, (resource_type, kind, value)
                if no_op and value not in listed:
                    included = [e for e in response.get_json().get("entry", [])
                                if e["search"]["mode"] == "include"]  # fmt: skip
                    assert included == [], (resource_type, value)


# --- real clients against live gunicorn ----------------------------------------------------------


@pytest.fixture(scope="module")
def live_bundles(live_server: str) -> dict[str, list[Resource]]:
    """(client, plan) -> the Bundles each client fetched for one phase with every dependency."""
    fhirpy_client = SyncFHIRClient(live_server, requests_config={"timeout": TIMEOUT})
    smart = smart_client.FHIRClient(settings={"app_id": "ped-tests", "api_base": live_server})
    found: dict[str, list[Resource]] = {}
    for plan_id in PLANS:
        search = (
            fhirpy_client.resources("PlanDefinition")
            .search(_id=plan_id)
            .include("PlanDefinition", "definition")
            .include("ActivityDefinition", "product", iterate=True)
        )
        raw = search.fetch_raw()
        found[f"fhirpy:{plan_id}"] = [
            {**raw, "entry": [{**e, "resource": e["resource"].serialize()} for e in raw["entry"]]}
        ]
        smart_search = SmartPlanDefinition.where(
            struct={
                "_id": plan_id,
                "_include": "PlanDefinition:definition",
                "_include:iterate": "ActivityDefinition:product",
            }
        )
        pages = list(smart_search.perform_iter(smart.server))
        for page in pages:
            assert isinstance(page, SmartBundle)
            for entry in page.entry:
                model = {
                    "PlanDefinition": SmartPlanDefinition,
                    "ActivityDefinition": SmartActivityDefinition,
                    "Medication": SmartMedication,
                }[entry.resource.resource_type]
                assert isinstance(entry.resource, model), entry.resource
        found[f"fhirclient:{plan_id}"] = [page.as_json() for page in pages]
    return found


@pytest.mark.parametrize("client_name", ["fhirpy", "fhirclient"])
@pytest.mark.parametrize("plan_id", PLANS)
def test_real_clients_fetch_a_phase_with_every_dependency(
    live_bundles: dict[str, list[Resource]], client_name: str, plan_id: str
) -> None:
    bundles = live_bundles[f"{client_name}:{plan_id}"]
    assert len(bundles) == 1
    entries = [e for b in bundles for e in b["entry"]]
    got = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries]
    assert len(got) == len(set(got))
    assert set(got) == {("PlanDefinition", plan_id)} | dependencies(plan_id)
    modes = {
        (e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"] for e in entries
    }
    assert modes.pop(("PlanDefinition", plan_id)) == "match"
    assert set(modes.values()) == {"include"}
    for entry in entries:
        resource = entry["resource"]
        assert without_meta(resource) == FIXTURE[resource["resourceType"]][resource["id"]]


def test_everything_the_clients_fetched_is_valid_r4(
    live_bundles: dict[str, list[Resource]],
) -> None:
    bundles = [b for found in live_bundles.values() for b in found]
    resources = [e["resource"] for b in bundles for e in b["entry"]]
    assert len(resources) > 100
    invalid = [r.describe() for r in validate_r4([*bundles, *resources]) if not r.valid]
    assert not invalid, "\n".join(invalid)


# --- $package ------------------------------------------------------------------------------------


def _package_url(plan_id: str) -> str:
    return f"{CANONICAL}/PlanDefinition/{plan_id}"


def _parameters(**values: str) -> str:
    kinds = {"url": "valueUri", "version": "valueString"}
    return json.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [{"name": k, kinds.get(k, "valueString"): v} for k, v in values.items()],
        }
    )


@pytest.fixture(scope="module")
def packages(app: Flask) -> dict[str, dict[str, TestResponse]]:
    """plan -> how it was asked for -> the reply."""
    client = app.test_client()
    found: dict[str, dict[str, TestResponse]] = {}
    for plan_id in PLANS:
        url = _package_url(plan_id)
        found[plan_id] = {
            "instance": client.get(f"/fhir/PlanDefinition/{plan_id}/$package"),
            "type": client.get(f"/fhir/PlanDefinition/$package?url={url}&version={VERSION}"),
            "type-url-only": client.get(f"/fhir/PlanDefinition/$package?url={url}"),
            "post-type": client.post(
                "/fhir/PlanDefinition/$package",
                data=_parameters(url=url, version=VERSION),
                content_type="application/fhir+json",
            ),
            "post-instance": client.post(f"/fhir/PlanDefinition/{plan_id}/$package"),
            "xml": client.get(f"/fhir/PlanDefinition/{plan_id}/$package?_format=xml"),
            "r5": client.get(f"/fhir/PlanDefinition/{plan_id}/$package", headers=R5_JSON),
        }
    return found


def package_of(packages: dict[str, dict[str, TestResponse]], plan_id: str) -> Resource:
    response = packages[plan_id]["instance"]
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == JSON_TYPE
    return as_json(response)


@pytest.mark.parametrize("plan_id", PLANS)
def test_package_is_the_same_however_it_is_asked_for(
    packages: dict[str, dict[str, TestResponse]], plan_id: str
) -> None:
    expected = package_of(packages, plan_id)
    for how in ("type", "type-url-only", "post-type", "post-instance"):
        response = packages[plan_id][how]
        assert response.status_code == 200, (how, response.get_data(as_text=True))
        assert response.content_type == JSON_TYPE, how
        assert as_json(response) == expected, how


def _posted(bundle: Resource) -> dict[str, str]:
    """``Type/id`` of every entry's resource -> its fullUrl."""
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["fullUrl"]
        for e in bundle["entry"]
    }


def _references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, reference) of every Reference.reference in a resource."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "reference" and isinstance(child, str):
                yield f"{path}.reference", child
            else:
                yield from _references(child, f"{path}.{key}")
    elif isinstance(value, list):
        for n, child in enumerate(value):
            yield from _references(child, f"{path}[{n}]")


def _map_references(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: mapping.get(v, v)
            if k == "reference" and isinstance(v, str)
            else _map_references(v, mapping)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_map_references(v, mapping) for v in value]
    return value


@pytest.mark.parametrize("plan_id", PLANS)
def test_package_is_the_artifact_then_exactly_its_dependencies(
    packages: dict[str, dict[str, TestResponse]], plan_id: str
) -> None:
    bundle = package_of(packages, plan_id)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    assert "total" not in bundle and "link" not in bundle
    got = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
    assert got[0] == ("PlanDefinition", plan_id)
    assert len(got) == len(set(got))
    assert set(got[1:]) == dependencies(plan_id)


@pytest.mark.parametrize("plan_id", PLANS)
def test_package_entries_are_conditional_creates_or_puts(
    packages: dict[str, dict[str, TestResponse]], plan_id: str
) -> None:
    bundle = package_of(packages, plan_id)
    methods = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        fixture = FIXTURE[resource["resourceType"]][resource["id"]]
        request = entry["request"]
        methods.add((resource["resourceType"], request["method"]))
        assert "meta" not in resource or not (
            {"versionId", "lastUpdated"} & set(resource["meta"])
        ), resource["meta"]
        if "url" in fixture:
            assert request["method"] == "POST"
            assert request["url"] == resource["resourceType"]
            assert parse_qsl(request["ifNoneExist"], strict_parsing=True) == [
                ("url", fixture["url"]),
                ("version", fixture["version"]),
            ]
        elif single_rxnorm(fixture) is not None:
            assert request["method"] == "POST"
            assert request["url"] == "Medication"
            assert parse_qsl(request["ifNoneExist"], strict_parsing=True) == [
                ("code", f"{RXNORM}|{single_rxnorm(fixture)}")
            ]
        else:
            assert resource["resourceType"] == "Medication"
            assert request == {"method": "PUT", "url": f"Medication/{resource['id']}"}
        assert entry["fullUrl"].startswith("urn:uuid:")
    assert ("ActivityDefinition", "POST") in methods
    assert ("Medication", "POST") in methods


@pytest.mark.parametrize("plan_id", PLANS)
def test_package_references_use_the_full_urls_of_posted_entries(
    packages: dict[str, dict[str, TestResponse]], plan_id: str
) -> None:
    bundle = package_of(packages, plan_id)
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))
    posted = _posted(bundle)
    methods = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["request"]["method"]
        for e in bundle["entry"]
    }
    back = {url: key for key, url in posted.items()}
    uuid_references = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        fixture = FIXTURE[resource["resourceType"]][resource["id"]]
        for path, reference in _references(resource):
            if reference.startswith("urn:uuid:"):
                uuid_references += 1
                assert reference in back, f"{resource['id']}{path}: {reference} is no entry"
                assert methods[back[reference]] == "POST"
            else:
                assert methods.get(reference) != "POST", (
                    f"{resource['id']}{path}: {reference} names a POSTed entry by id"
                )
                if reference.startswith("Medication/"):
                    assert methods.get(reference) == "PUT", f"{reference} is not in the package"
        # With references mapped back, the resource is the fixture's.
        assert _map_references(without_meta(resource), back) == fixture
        for action in _actions(resource):
            if "definitionCanonical" in action:
                assert BY_CANONICAL[action["definitionCanonical"]] in {
                    (e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]
                }
    assert uuid_references > 0


def test_package_bundles_are_valid_r4(packages: dict[str, dict[str, TestResponse]]) -> None:
    bundles = [package_of(packages, p) for p in PLANS]
    invalid = [r.describe() for r in validate_r4(bundles) if not r.valid]
    assert not invalid, "\n".join(invalid)


def test_package_in_xml_is_the_json_package(packages: dict[str, dict[str, TestResponse]]) -> None:
    items = []
    for plan_id in PLANS:
        response = packages[plan_id]["xml"]
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.content_type == XML_TYPE
        items.append((response.data, None))
    for plan_id, result in zip(PLANS, check_xml(items), strict=True):
        assert result.valid, result.describe()
        expected = package_of(packages, plan_id)
        parsed = decimals_as_numbers(result.parsed, expected)
        assert parsed == expected, first_difference(parsed, expected)


@pytest.mark.parametrize("plan_id", PLANS)
def test_package_in_r5_is_a_valid_r5_transaction(
    packages: dict[str, dict[str, TestResponse]], plan_id: str
) -> None:
    response = packages[plan_id]["r5"]
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == R5_JSON_TYPE
    r5 = as_json(response)
    r5_models.get_fhir_model_class("Bundle").model_validate(r5)
    r4 = package_of(packages, plan_id)
    assert r5["type"] == "transaction"
    assert [(e["fullUrl"], e["request"]) for e in r5["entry"]] == [
        (e["fullUrl"], e["request"]) for e in r4["entry"]
    ]
    assert [(e["resource"]["resourceType"], e["resource"]["id"]) for e in r5["entry"]] == [
        (e["resource"]["resourceType"], e["resource"]["id"]) for e in r4["entry"]
    ]
    r5_references = {ref for e in r5["entry"] for _, ref in _references(e["resource"])}
    assert {ref for ref in r5_references if ref.startswith("urn:uuid:")} <= {
        e["fullUrl"] for e in r5["entry"]
    }


PLAN_URL = _package_url("all-induction")

PACKAGE_ERRORS: list[tuple[str, str, str | None, str | None, int | tuple[int, ...]]] = [
    ("GET", "/fhir/PlanDefinition/nope/$package", None, None, 404),
    ("GET", f"/fhir/PlanDefinition/$package?url={CANONICAL}/PlanDefinition/nope", None, None, 404),
    ("GET", f"/fhir/PlanDefinition/$package?url={PLAN_URL}&version=9.9.9", None, None, 404),
    ("GET", "/fhir/PlanDefinition/$package", None, None, 400),
    ("GET", f"/fhir/PlanDefinition/$package?version={VERSION}", None, None, 400),
    ("POST", "/fhir/PlanDefinition/$package", _parameters(version=VERSION),
     "application/fhir+json", 400),
    ("GET", f"/fhir/PlanDefinition/$package?url={PLAN_URL}&include-components=true", None, None,
     400),
    ("GET", "/fhir/PlanDefinition/$package?manifest=x", None, None, 400),
    ("POST", "/fhir/PlanDefinition/$package", _parameters(url=PLAN_URL, capability="x"),
     "application/fhir+json", 400),
    ("GET", f"/fhir/PlanDefinition/all-induction/$package?url={PLAN_URL}", None, None, 400),
    ("POST", "/fhir/PlanDefinition/$package", "{not json", "application/fhir+json", 400),
    ("POST", "/fhir/PlanDefinition/$package", '{"resourceType": "Patient"}',
     "application/fhir+json", 400),
    ("POST", "/fhir/PlanDefinition/$package", f"url={PLAN_URL}", "text/plain", 415),
    ("GET", "/fhir/ActivityDefinition/$package", None, None, (404, 405)),
    ("POST", "/fhir/ActivityDefinition/$package", None, None, (404, 405)),
    ("GET", "/fhir/ActivityDefinition/imatinib/$package", None, None, (404, 405)),
    ("POST", "/fhir/Medication/methotrexate/$package", None, None, (404, 405)),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url", "data", "content_type", "status"), PACKAGE_ERRORS)
def test_package_errors_are_operation_outcomes(
    client: FlaskClient,
    method: str,
    url: str,
    data: str | None,
    content_type: str | None,
    status: int | tuple[int, ...],
) -> None:
    response = client.open(url, method=method, data=data, content_type=content_type)
    outcome = assert_outcome(response, status)
    (result,) = validate_r4([outcome])
    assert result.valid, result.describe()


# Loading the package into a fresh instance of this service.


def _normalised(bundle: Resource) -> list[str]:
    """The entries without ids, meta and urn:uuid values: a reference to an entry becomes
    the entry's identity (url|version, the RxNorm code, or Type/id for a PUT)."""

    def identity(entry: Resource) -> str:
        resource = entry["resource"]
        if "url" in resource:
            return f"{resource['resourceType']}:{resource['url']}|{resource.get('version')}"
        return f"{resource['resourceType']}:{single_rxnorm(resource) or resource['id']}"

    by_full_url = {e["fullUrl"]: identity(e) for e in bundle["entry"]}
    out = []
    for entry in bundle["entry"]:
        resource = {k: v for k, v in entry["resource"].items() if k not in ("id", "meta")}
        out.append(
            json.dumps([entry["request"], _map_references(resource, by_full_url)], sort_keys=True)
        )
    return out


def _count(client: FlaskClient, resource_type: str) -> int:
    total: int = get_bundle(client, f"/fhir/{resource_type}?_summary=count")["total"]
    return total


def _post_package(client: FlaskClient, package: Resource) -> Resource:
    response = client.post(
        "/fhir/$import",
        data=json.dumps(package),
        content_type="application/fhir+json",
        headers=AUTH,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    reply = as_json(response)
    assert reply["type"] == "transaction-response"
    assert len(reply["entry"]) == len(package["entry"])
    return reply


@pytest.fixture
def fresh(tmp_path: Path) -> FlaskClient:
    """A new instance of this service over an empty database."""
    client = make_app(tmp_path / "x.sqlite3").test_client()
    assert all(_count(client, t) == 0 for t in FIXTURE)
    return client


@pytest.mark.parametrize("plan_id", PLANS)
def test_package_loads_into_a_fresh_instance(
    packages: dict[str, dict[str, TestResponse]], fresh: FlaskClient, plan_id: str
) -> None:
    package = package_of(packages, plan_id)
    reply = _post_package(fresh, package)
    assert {e["response"]["status"] for e in reply["entry"]} == {"201 Created"}
    counts = {t: _count(fresh, t) for t in FIXTURE}
    assert counts == {
        t: len([e for e in package["entry"] if e["resource"]["resourceType"] == t]) for t in FIXTURE
    }
    # The plan is found by its url, and packages there to the same resources.
    found = get_bundle(fresh, f"/fhir/PlanDefinition?url={_package_url(plan_id)}")
    assert found["total"] == 1
    new_id = found["entry"][0]["resource"]["id"]
    again = fresh.get(f"/fhir/PlanDefinition/{new_id}/$package")
    assert again.status_code == 200, again.get_data(as_text=True)
    repackaged = as_json(again)
    assert _normalised(repackaged)[0] == _normalised(package)[0]
    assert sorted(_normalised(repackaged)) == sorted(_normalised(package))
    # Every activity's product resolves by read, to the packaged Medication.
    medications = {
        f"Medication:{single_rxnorm(e['resource']) or e['resource']['id']}"
        for e in package["entry"]
        if e["resource"]["resourceType"] == "Medication"
    }
    resolved = set()
    activities = get_bundle(fresh, "/fhir/ActivityDefinition?_count=200")
    for entry in activities["entry"]:
        reference = entry["resource"].get("productReference", {}).get("reference")
        if reference is None:
            continue
        assert reference.startswith("Medication/"), reference
        read = fresh.get(f"/fhir/{reference}")
        assert read.status_code == 200, reference
        medication = as_json(read)
        resolved.add(f"Medication:{single_rxnorm(medication) or medication['id']}")
    assert resolved == medications
    # Importing the same package again creates nothing.
    second = _post_package(fresh, package)
    assert {e["response"]["status"] for e in second["entry"]} == {"200 OK"}
    assert {t: _count(fresh, t) for t in FIXTURE} == counts


def test_transaction_response_entries_follow_the_request_order(
    packages: dict[str, dict[str, TestResponse]], fresh: FlaskClient
) -> None:
    # R4 http.html#transaction-response: one entry per request entry, in the same order.
    package = package_of(packages, "all-induction")
    for _ in range(2):  # created, then all found by their conditions
        reply = _post_package(fresh, package)
        got = [urlsplit(e["fullUrl"]).path.split("/")[-2] for e in reply["entry"]]
        assert got == [e["resource"]["resourceType"] for e in package["entry"]]
        for request, response in zip(package["entry"], reply["entry"], strict=True):
            if request["request"]["method"] == "PUT":
                assert response["fullUrl"].endswith("/" + request["request"]["url"])


def test_both_packages_load_into_one_instance_and_share_what_they_share(
    packages: dict[str, dict[str, TestResponse]], fresh: FlaskClient
) -> None:
    for plan_id in PLANS:
        _post_package(fresh, package_of(packages, plan_id))
    union = set().union(*(dependencies(p) for p in PLANS))
    for resource_type in ("ActivityDefinition", "Medication"):
        assert _count(fresh, resource_type) == len({r for t, r in union if t == resource_type})
    assert _count(fresh, "PlanDefinition") == 2


@pytest.mark.parametrize("plan_id", PLANS)
def test_flask_load_takes_the_package(
    packages: dict[str, dict[str, TestResponse]], tmp_path: Path, plan_id: str
) -> None:
    package = package_of(packages, plan_id)
    path = tmp_path / "package.json"
    path.write_text(json.dumps(package), "utf-8")
    app = make_app(tmp_path / "loaded.sqlite3")
    counts = {
        t: len([e for e in package["entry"] if e["resource"]["resourceType"] == t])
        for t in ("ActivityDefinition", "Medication", "PlanDefinition")
    }
    described = ", ".join(f"{n} {t}" for t, n in counts.items())
    total = len(package["entry"])
    for created, unchanged in ((total, 0), (0, total)):
        result = app.test_cli_runner().invoke(args=["load", str(path)])
        assert result.exit_code == 0, result.output
        assert result.output.strip().splitlines()[-1] == (
            f"loaded 1 files: {total} resources ({described}); "
            f"{created} created, 0 updated, {unchanged} unchanged"
        )
    client = app.test_client()
    found = get_bundle(client, f"/fhir/PlanDefinition?url={_package_url(plan_id)}")
    assert found["total"] == 1


# --- $validate -----------------------------------------------------------------------------------


def _find_action(plan: Resource, key: str) -> tuple[Resource, str]:
    """The first action (document order, any depth) with ``key``, and its FHIRPath."""

    def walk(actions: list[Resource], where: str) -> tuple[Resource, str] | None:
        for n, action in enumerate(actions):
            here = f"{where}.action[{n}]"
            if key in action:
                return action, here
            found = walk(action.get("action", []), here)
            if found:
                return found
        return None

    found = walk(plan["action"], "PlanDefinition")
    assert found, f"no action with {key} in the fixture"
    return found


def _rxnorm_index(medication: Resource) -> int:
    return next(n for n, c in enumerate(medication["code"]["coding"]) if c["system"] == RXNORM)


Plant = Callable[[Resource], str]
"""Plants an error in a copy of a resource; returns the expected issue location."""


def _unknown(r: Resource) -> str:
    r["colour"] = "blue"
    return "Medication.colour"


def _r5_only(r: Resource) -> str:
    r["doseForm"] = {"text": "tablet"}
    return "Medication.doseForm"


def _missing(r: Resource) -> str:
    del r["status"]
    return "PlanDefinition.status"


def _binding(r: Resource) -> str:
    action, where = _find_action(r, "selectionBehavior")
    action["selectionBehavior"] = "sometimes"
    return f"{where}.selectionBehavior"


def _pdf_0(r: Resource) -> str:
    r["name"] = "lower case"
    return "PlanDefinition"


def _ext_1(r: Resource) -> str:
    r["extension"] = [
        {
            "url": "http://example.org/x",
            "valueString": "a",
            "extension": [{"url": "y", "valueString": "b"}],
        }
    ]
    return "PlanDefinition.extension[0]"


def _unknown_canonical(r: Resource) -> str:
    action, where = _find_action(r, "definitionCanonical")
    action["definitionCanonical"] = f"{CANONICAL}/ActivityDefinition/nope|{VERSION}"
    return f"{where}.definitionCanonical"


def _unknown_product(r: Resource) -> str:
    assert r["productReference"]["reference"].startswith("Medication/")
    r["productReference"] = {"reference": "Medication/nope"}
    return "ActivityDefinition.productReference"


def _malformed_rxnorm(r: Resource) -> str:
    n = _rxnorm_index(r)
    r["code"]["coding"][n]["code"] = "9999-999"  # an unknown well-formed code is information
    return f"Medication.code.coding[{n}]"


# (name, endpoint type, (type, id) of the resource planted in, plant, severity, code)
PLANTED: list[tuple[str, str, tuple[str, str], Plant, str, str]] = [
    ("unknown-element", "Medication", ("Medication", "methotrexate"), _unknown, "error",
     "structure"),
    ("r5-only-element", "Medication", ("Medication", "methotrexate"), _r5_only, "error",
     "structure"),
    ("missing-required", "PlanDefinition", ("PlanDefinition", "all-induction"), _missing,
     "error", "required"),
    ("required-binding", "PlanDefinition", ("PlanDefinition", "all-induction"), _binding,
     "error", "code-invalid"),
    ("invariant-pdf-0", "PlanDefinition", ("PlanDefinition", "all-induction"), _pdf_0,
     "warning", "invariant"),
    ("invariant-ext-1", "PlanDefinition", ("PlanDefinition", "all-induction"), _ext_1,
     "error", "invariant"),
    ("unknown-canonical", "PlanDefinition", ("PlanDefinition", "all-maintenance"),
     _unknown_canonical, "error", "not-found"),
    ("unknown-product", "ActivityDefinition", ("ActivityDefinition", "methotrexate-weekly"),
     _unknown_product, "error", "not-found"),
    ("malformed-rxnorm", "Medication", ("Medication", "imatinib"), _malformed_rxnorm, "error",
     "code-invalid"),
]  # fmt: skip

MALFORMED: list[tuple[str, str, str, bytes, int]] = [
    ("text-plain", "PlanDefinition", "text/plain", b"PlanDefinition all-induction", 415),
    ("no-content-type", "PlanDefinition", "", b'{"resourceType": "PlanDefinition"}', 415),
    ("malformed-json", "PlanDefinition", "application/fhir+json", b'{"resourceType": "Plan', 400),
    ("empty-json", "PlanDefinition", "application/fhir+json", b"", 400),
    ("malformed-xml", "PlanDefinition", "application/fhir+xml",
     b'<PlanDefinition xmlns="http://hl7.org/fhir"><id value="x"/>', 400),
    ("unknown-type", "Patient", "application/fhir+json", b'{"resourceType": "Patient"}', 404),
    ("two-resources", "Medication", "application/fhir+json", json.dumps(
        {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {}}] * 2}
    ).encode(), 400),
]  # fmt: skip


def _xml_in_parameters(xml: bytes) -> bytes:
    body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><Parameters xmlns="http://hl7.org/fhir">'
        b'<parameter><name value="resource"/><resource>' + body + b"</resource></parameter>"
        b"</Parameters>"
    )


@pytest.fixture(scope="module")
def validated(app: Flask) -> dict[str, TestResponse]:
    """Every $validate request of this module: label -> reply."""
    client = app.test_client()

    def post(resource_type: str, body: bytes, content_type: str) -> TestResponse:
        return client.post(f"/fhir/{resource_type}/$validate", data=body, content_type=content_type)

    replies: dict[str, TestResponse] = {}
    for resource_type, ids in FIXTURE.items():
        for rid in sorted(ids):
            read = client.get(f"/fhir/{resource_type}/{rid}")
            xml = client.get(f"/fhir/{resource_type}/{rid}?_format=xml")
            assert read.status_code == xml.status_code == 200
            assert xml.content_type == XML_TYPE
            wrapped = {
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": as_json(read)}],
            }
            key = f"{resource_type}/{rid}"
            replies[f"{key} json"] = post(resource_type, read.data, "application/fhir+json")
            replies[f"{key} json-parameters"] = post(
                resource_type, json.dumps(wrapped).encode(), "application/fhir+json"
            )
            replies[f"{key} xml"] = post(resource_type, xml.data, "application/fhir+xml")
            replies[f"{key} xml-parameters"] = post(
                resource_type, _xml_in_parameters(xml.data), "application/fhir+xml"
            )
    for name, endpoint, (resource_type, rid), plant, _, _ in PLANTED:
        resource = as_json(client.get(f"/fhir/{resource_type}/{rid}"))
        plant(resource)
        replies[f"planted {name}"] = post(
            endpoint, json.dumps(resource).encode(), "application/fhir+json"
        )
    medication = client.get("/fhir/Medication/methotrexate").data
    replies["wrong-type"] = post("PlanDefinition", medication, "application/fhir+json")
    for name, endpoint, content_type, body, _ in MALFORMED:
        replies[f"malformed {name}"] = post(endpoint, body, content_type)
    return replies


def _issues(response: TestResponse) -> list[Resource]:
    assert response.content_type == JSON_TYPE
    outcome = as_json(response)
    assert outcome["resourceType"] == "OperationOutcome"
    issues: list[Resource] = outcome["issue"]
    return issues


def _problems(response: TestResponse) -> list[Resource]:
    return [i for i in _issues(response) if i["severity"] in ("fatal", "error", "warning")]


@pytest.mark.parametrize("how", ["json", "json-parameters", "xml", "xml-parameters"])
@pytest.mark.parametrize("resource_type", sorted(FIXTURE))
def test_every_fixture_resource_validates_with_no_problem(
    validated: dict[str, TestResponse], resource_type: str, how: str
) -> None:
    failing = {}
    for rid in sorted(FIXTURE[resource_type]):
        response = validated[f"{resource_type}/{rid} {how}"]
        assert response.status_code == 200, response.get_data(as_text=True)
        errors = [i for i in _issues(response) if i["severity"] in ("fatal", "error")]
        if errors:
            failing[rid] = errors
    assert not failing, failing


@pytest.mark.parametrize(
    ("name", "severity", "code"),
    [(name, severity, code) for name, _, _, _, severity, code in PLANTED],
)
def test_a_planted_error_is_reported_where_it_is(
    validated: dict[str, TestResponse], name: str, severity: str, code: str
) -> None:
    _, _, (resource_type, rid), plant, _, _ = next(p for p in PLANTED if p[0] == name)
    location = plant(copy.deepcopy(FIXTURE[resource_type][rid]))
    response = validated[f"planted {name}"]
    assert response.status_code == 200, response.get_data(as_text=True)
    problems = _problems(response)
    assert [(i["severity"], i["code"]) for i in problems] == [(severity, code)], problems
    expression = problems[0].get("expression")
    assert expression, f"{name}: the issue does not say where it is: {problems[0]}"
    assert expression[0] == location or expression[0].startswith(f"{location}."), expression


def test_a_resource_of_the_wrong_type_is_reported_where_it_is(
    validated: dict[str, TestResponse],
) -> None:
    response = validated["wrong-type"]
    assert response.status_code == 200, response.get_data(as_text=True)
    problems = _problems(response)
    assert [(i["severity"], i["code"]) for i in problems] == [("fatal", "invalid")]
    assert "Medication" in problems[0]["diagnostics"]
    assert "PlanDefinition" in problems[0]["diagnostics"]
    expression = problems[0].get("expression")
    assert expression, f"the issue does not say where it is: {problems[0]}"
    assert expression[0].split(".")[0] == "Medication", expression


@pytest.mark.parametrize(("name", "status"), [(m[0], m[4]) for m in MALFORMED])
def test_a_body_that_cannot_be_read_is_a_4xx_outcome(
    validated: dict[str, TestResponse], name: str, status: int
) -> None:
    response = validated[f"malformed {name}"]
    assert response.status_code == status, response.get_data(as_text=True)
    issues = _issues(response)
    assert issues and all(i["severity"] in ("error", "fatal") for i in issues)


def test_every_validate_reply_is_a_valid_r4_operation_outcome(
    validated: dict[str, TestResponse],
) -> None:
    labels = sorted(validated)
    assert len(labels) == 4 * sum(len(ids) for ids in FIXTURE.values()) + len(PLANTED) + 1 + len(
        MALFORMED
    )
    outcomes = []
    for label in labels:
        response = validated[label]
        assert response.content_type == JSON_TYPE, label
        outcome = as_json(response)
        assert outcome["resourceType"] == "OperationOutcome", label
        outcomes.append(outcome)
    invalid = [
        f"{label}: {result.describe()}"
        for label, result in zip(labels, validate_r4(outcomes), strict=True)
        if not result.valid
    ]
    assert not invalid, "\n".join(invalid)


def test_well_formed_xml_that_is_not_fhir_is_a_fatal_finding(client: FlaskClient) -> None:
    response = client.post(
        "/fhir/PlanDefinition/$validate",
        data=b"<html><body/></html>",
        headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"},
    )
    assert response.status_code == 200
    issues = response.get_json()["issue"]
    assert [i["severity"] for i in issues] == ["fatal"]
    assert "not a FHIR resource" in issues[0]["diagnostics"]
