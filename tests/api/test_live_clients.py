"""Real third-party FHIR clients against the live gunicorn server (``live_server``).

Three clients, each used the way its documentation says to use it:

* fhirpy (``SyncFHIRClient``/``AsyncFHIRClient``): reads, searches with modifiers, counts,
  paging by ``Bundle.link[next]``, sorting and ``_elements``;
* fhirclient (the SMART Python client): ``prepare()`` parses our CapabilityStatement with its
  own R4 models, then reads and pages searches; its models reject unknown elements, so every
  resource it parses is a check of the R4 shape of our JSON;
* plain ``requests`` for what the clients do not show: every page of every type, validated
  with the project's independent npm R4 validator, HTTP metadata, errors, HEAD, concurrency.

Writes by fhirpy and fhirclient (issue 16, item 6) run against servers of their own, so the
reads above see the fixtures unchanged; fhir-kit-client's are in test_fhir_kit_client.py.

Expected values come from fixtures/fhir/*.json (what the live store was loaded from), never
from the server.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.activitydefinition import ActivityDefinition
from fhirclient.models.bundle import Bundle
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.medication import Medication
from fhirclient.models.plandefinition import PlanDefinition
from fhirclient.server import FHIRNotFoundException, FHIRUnauthorizedException
from fhirpy import AsyncFHIRClient, SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, ResourceNotFound
from fhirpy.base.exceptions import OperationOutcome as FhirpyOutcome

from tests.conftest import FIXTURES
from tests.support.r4_validator import validate_r4
from tests.support.servers import TOKEN, gunicorn

from .test_contract import without_meta

Resource = dict[str, Any]

JSON_MEDIA_TYPE = "application/fhir+json; fhirVersion=4.0; charset=utf-8"
TIMEOUT = 30.0
TYPES = ("PlanDefinition", "ActivityDefinition", "Medication")
CANONICAL = "https://fhir.example.org/ped"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
PAGE_SIZE = 7


def _fixture_resources() -> dict[str, dict[str, Resource]]:
    """Resource type -> id -> resource, over every Bundle in fixtures/fhir."""
    found: dict[str, dict[str, Resource]] = {}
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        bundle = json.loads(path.read_text("utf-8"))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            found.setdefault(resource["resourceType"], {})[resource["id"]] = resource
    return found


FIXTURE = _fixture_resources()


def _actions(resource: Resource) -> Iterator[Resource]:
    for action in resource.get("action", []):
        yield action
        yield from _actions(action)


def _plans_using(canonical: str) -> set[str]:
    """PlanDefinition ids with an action (at any depth) whose definitionCanonical is
    ``canonical``, or ``canonical|version`` when ``canonical`` carries no version."""
    versioned = "|" in canonical
    return {
        plan_id
        for plan_id, plan in FIXTURE["PlanDefinition"].items()
        for action in _actions(plan)
        if "definitionCanonical" in action
        and canonical
        == (
            action["definitionCanonical"]
            if versioned
            else action["definitionCanonical"].partition("|")[0]
        )
    }


def _medications_coded(system: str, code: str) -> set[str]:
    return {
        med_id
        for med_id, med in FIXTURE["Medication"].items()
        if any(c.get("system") == system and c.get("code") == code for c in med["code"]["coding"])
    }


def _with_context(resource_type: str, system: str, code: str) -> set[str]:
    return {
        rid
        for rid, resource in FIXTURE[resource_type].items()
        for context in resource.get("useContext", [])
        for coding in context.get("valueCodeableConcept", {}).get("coding", [])
        if coding.get("system") == system and coding.get("code") == code
    }


def test_fixture_counts_are_the_documented_ones() -> None:
    # A guard on the expectations below: the brief's numbers, computed from the fixtures.
    assert {t: len(FIXTURE[t]) for t in TYPES} == {
        "PlanDefinition": 2,
        "ActivityDefinition": 35,
        "Medication": 13,
    }


# --- fhirpy -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fhirpy_client(live_server: str) -> SyncFHIRClient:
    return SyncFHIRClient(live_server, requests_config={"timeout": TIMEOUT})


def test_fhirpy_reads_a_plan_definition_by_reference(fhirpy_client: SyncFHIRClient) -> None:
    plan = fhirpy_client.reference("PlanDefinition", "all-induction").to_resource()
    expected = FIXTURE["PlanDefinition"]["all-induction"]
    assert plan.resource_type == "PlanDefinition"
    assert plan.id == "all-induction"
    assert plan["url"] == f"{CANONICAL}/PlanDefinition/all-induction"
    assert plan["title"] == expected["title"]
    assert plan["meta"]["versionId"] == "1"
    assert without_meta(plan.serialize()) == expected


@pytest.mark.parametrize("plan_id", ["all-induction", "all-maintenance"])
def test_fhirpy_search_by_id_gets_exactly_one(fhirpy_client: SyncFHIRClient, plan_id: str) -> None:
    plan = fhirpy_client.resources("PlanDefinition").search(_id=plan_id).get()
    assert plan.id == plan_id
    assert plan["title"] == FIXTURE["PlanDefinition"][plan_id]["title"]


def test_fhirpy_refresh_of_a_current_copy_is_answered_not_modified(
    fhirpy_client: SyncFHIRClient, live_server: str
) -> None:
    # refresh() sends If-None-Match with the bare versionId. The copy is current, so the
    # server answers 304 and fhirpy keeps what it holds.
    medication = fhirpy_client.reference("Medication", "imatinib").to_resource()
    medication.refresh()
    assert without_meta(medication.serialize()) == FIXTURE["Medication"]["imatinib"]
    response = requests.get(
        f"{live_server}/Medication/imatinib",
        headers={"If-None-Match": medication["meta"]["versionId"]},
        timeout=10,
    )
    assert response.status_code == 304
    assert response.content == b""


@pytest.mark.parametrize("resource_type", TYPES)
def test_fhirpy_status_search_finds_every_active_resource(
    fhirpy_client: SyncFHIRClient, resource_type: str
) -> None:
    found = fhirpy_client.resources(resource_type).search(status="active").limit(200).fetch()
    expected = {rid for rid, r in FIXTURE[resource_type].items() if r.get("status") == "active"}
    assert expected  # every fixture resource is active: the search must not come back empty
    assert {r.id for r in found} == expected
    assert fhirpy_client.resources(resource_type).search(status="retired").fetch() == []


@pytest.mark.parametrize(
    ("resource_type", "fragment"),
    [
        ("ActivityDefinition", "methotrexate"),
        ("ActivityDefinition", "Monthly"),
        ("PlanDefinition", "maintenance"),
        ("PlanDefinition", "LymphoblasticLeukemia"),
    ],
)
def test_fhirpy_name_contains_matches_case_insensitively(
    fhirpy_client: SyncFHIRClient, resource_type: str, fragment: str
) -> None:
    found = fhirpy_client.resources(resource_type).search(name__contains=fragment).fetch_all()
    expected = {
        rid
        for rid, r in FIXTURE[resource_type].items()
        if fragment.casefold() in r.get("name", "").casefold()
    }
    assert expected
    assert sorted(r.id for r in found) == sorted(expected)


@pytest.mark.parametrize("resource_type", TYPES)
def test_fhirpy_count_reads_the_total_of_distinct_fixture_ids(
    fhirpy_client: SyncFHIRClient, resource_type: str
) -> None:
    # .count() sends _count=0 (and fhirpy's own _totalMethod=count, which this server
    # ignores with a warning entry) and reads Bundle.total.
    assert fhirpy_client.resources(resource_type).count() == len(FIXTURE[resource_type])


def test_fhirpy_count_of_a_filtered_search(fhirpy_client: SyncFHIRClient) -> None:
    search = fhirpy_client.resources("ActivityDefinition").search(name__contains="monthly")
    expected = [r for r in FIXTURE["ActivityDefinition"].values() if "Monthly" in r["name"]]
    assert search.count() == len(expected) == 3


def test_fhirpy_fetch_all_follows_next_links_to_every_activity_definition(
    fhirpy_client: SyncFHIRClient,
) -> None:
    found = fhirpy_client.resources("ActivityDefinition").limit(5).fetch_all()
    ids = [r.id for r in found]
    assert len(ids) == len(set(ids)), "a page repeated a resource"
    assert set(ids) == set(FIXTURE["ActivityDefinition"])


def test_fhirpy_pages_in_steps_of_the_limit(
    fhirpy_client: SyncFHIRClient, live_server: str
) -> None:
    first = fhirpy_client.resources("ActivityDefinition").limit(5).fetch_raw()
    assert len(first["entry"]) == 5
    assert first["total"] == 35
    links = {link["relation"]: link["url"] for link in first["link"]}
    next_url = urlsplit(links["next"])
    assert f"{next_url.scheme}://{next_url.netloc}{next_url.path}" == (
        f"{live_server}/ActivityDefinition"
    )
    assert parse_qs(next_url.query) == {"_count": ["5"], "_offset": ["5"]}


@pytest.mark.parametrize(
    ("system", "code"),
    [(RXNORM, "6851"), ("http://www.whocc.no/atc", "L01BA01"), (RXNORM, "282388")],
)
def test_fhirpy_medication_search_by_system_and_code(
    fhirpy_client: SyncFHIRClient, system: str, code: str
) -> None:
    found = fhirpy_client.resources("Medication").search(code=f"{system}|{code}").fetch_all()
    expected = _medications_coded(system, code)
    assert len(expected) == 1
    assert {r.id for r in found} == expected


def test_fhirpy_methotrexate_by_rxnorm_is_the_fixture_medication(
    fhirpy_client: SyncFHIRClient,
) -> None:
    medication = fhirpy_client.resources("Medication").search(code=f"{RXNORM}|6851").get()
    assert medication.id == "methotrexate"
    assert without_meta(medication.serialize()) == FIXTURE["Medication"]["methotrexate"]


def test_fhirpy_medication_code_in_another_system_does_not_match(
    fhirpy_client: SyncFHIRClient,
) -> None:
    assert fhirpy_client.resources("Medication").search(code=f"{SNOMED}|6851").fetch() == []


@pytest.mark.parametrize(
    "canonical",
    [
        f"{CANONICAL}/ActivityDefinition/imatinib|1.0.0",
        f"{CANONICAL}/ActivityDefinition/imatinib",
        f"{CANONICAL}/ActivityDefinition/methotrexate-weekly|1.0.0",
        f"{CANONICAL}/ActivityDefinition/daunorubicin",
    ],
)
def test_fhirpy_plan_definitions_by_definition_canonical(
    fhirpy_client: SyncFHIRClient, canonical: str
) -> None:
    found = fhirpy_client.resources("PlanDefinition").search(definition=canonical).fetch_all()
    expected = _plans_using(canonical)
    assert expected
    assert {r.id for r in found} == expected


def test_fhirpy_imatinib_is_used_by_both_plans(fhirpy_client: SyncFHIRClient) -> None:
    canonical = f"{CANONICAL}/ActivityDefinition/imatinib|1.0.0"
    found = fhirpy_client.resources("PlanDefinition").search(definition=canonical).fetch_all()
    assert {r.id for r in found} == {"all-induction", "all-maintenance"}


def test_fhirpy_definition_with_another_version_matches_nothing(
    fhirpy_client: SyncFHIRClient,
) -> None:
    canonical = f"{CANONICAL}/ActivityDefinition/imatinib|9.9.9"
    assert fhirpy_client.resources("PlanDefinition").search(definition=canonical).fetch() == []


@pytest.mark.parametrize(("system", "code"), [(SNOMED, "91857003"), (ICD10CM, "C91.0")])
def test_fhirpy_plan_definitions_by_use_context(
    fhirpy_client: SyncFHIRClient, system: str, code: str
) -> None:
    found = fhirpy_client.resources("PlanDefinition").search(context=f"{system}|{code}").fetch()
    assert {r.id for r in found} == _with_context("PlanDefinition", system, code)
    assert {r.id for r in found} == {"all-induction", "all-maintenance"}
    # fhirpy spells context-type-value as context_type_value.
    composite = f"focus${system}|{code}"
    by_pair = fhirpy_client.resources("PlanDefinition").search(context_type_value=composite)
    assert {r.id for r in by_pair.fetch()} == {"all-induction", "all-maintenance"}


def _title_key(resource: Resource) -> tuple[str, str]:
    return (" ".join(resource["title"].casefold().split()), resource["id"])


@pytest.mark.parametrize("resource_type", ["ActivityDefinition", "PlanDefinition"])
def test_fhirpy_sort_by_title_ascending_and_descending(
    fhirpy_client: SyncFHIRClient, resource_type: str
) -> None:
    search = fhirpy_client.resources(resource_type).limit(200)
    ascending = [r.id for r in search.sort("title").fetch()]
    by_title = sorted(FIXTURE[resource_type].values(), key=_title_key)
    assert ascending == [r["id"] for r in by_title]
    descending = [r["title"] for r in search.sort("-title").fetch()]
    assert descending == [r["title"] for r in reversed(by_title)]


def test_fhirpy_sort_survives_paging(fhirpy_client: SyncFHIRClient) -> None:
    paged = fhirpy_client.resources("ActivityDefinition").sort("title").limit(4).fetch_all()
    expected = sorted(FIXTURE["ActivityDefinition"].values(), key=_title_key)
    assert [r.id for r in paged] == [r["id"] for r in expected]


@pytest.mark.parametrize("resource_type", ["ActivityDefinition", "PlanDefinition"])
def test_fhirpy_elements_returns_subsetted_resources(
    fhirpy_client: SyncFHIRClient, resource_type: str
) -> None:
    found = fhirpy_client.resources(resource_type).elements("title").limit(200).fetch()
    assert {r.id for r in found} == set(FIXTURE[resource_type])
    for resource in found:
        data = resource.serialize()
        # status is mandatory (1..1) in both types, so _elements keeps it (R4 §3.1.1.5.9).
        assert set(data) == {"resourceType", "id", "meta", "title", "status"}
        assert data["title"] == FIXTURE[resource_type][resource.id]["title"]
        tags = data["meta"].get("tag", [])
        assert {(t.get("system"), t.get("code")) for t in tags} >= {
            ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")
        }


def test_fhirpy_async_client_pages_and_reads(live_server: str) -> None:
    async def run() -> tuple[list[str], str, int]:
        client = AsyncFHIRClient(live_server)
        found = await client.resources("ActivityDefinition").limit(6).fetch_all()
        plan = await client.reference("PlanDefinition", "all-maintenance").to_resource()
        total = await client.resources("Medication").count()
        return [r.id for r in found], plan["title"], total

    ids, title, total = asyncio.run(run())
    assert len(ids) == len(set(ids))
    assert set(ids) == set(FIXTURE["ActivityDefinition"])
    assert title == FIXTURE["PlanDefinition"]["all-maintenance"]["title"]
    assert total == len(FIXTURE["Medication"])


# --- fhirclient (SMART) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def smart(live_server: str) -> smart_client.FHIRClient:
    return smart_client.FHIRClient(settings={"app_id": "ped-tests", "api_base": live_server})


def test_fhirclient_prepare_parses_our_capability_statement(
    smart: smart_client.FHIRClient,
) -> None:
    assert smart.prepare() is True  # an open server: no SMART security extension needed
    statement = smart.server.capabilityStatement
    assert isinstance(statement, CapabilityStatement)
    assert statement.fhirVersion == "4.0.1"
    assert statement.kind == "instance"
    rest = statement.rest[0]
    assert rest.mode == "server"
    served = {resource.type: resource for resource in rest.resource if resource.type in TYPES}
    assert set(served) == set(TYPES)  # and our conformance types (tests/api/test_conformance.py)
    for resource in served.values():
        codes = {i.code for i in resource.interaction}
        assert {"read", "vread", "search-type"} <= codes
        names = {p.name for p in resource.searchParam}
        assert {"_id", "_lastUpdated", "_count", "_sort"} <= names
    assert "definition" in {p.name for p in served["PlanDefinition"].searchParam}
    assert "code" in {p.name for p in served["Medication"].searchParam}


def test_fhirclient_capability_statement_round_trips(
    smart: smart_client.FHIRClient, live_server: str
) -> None:
    # Parsed strictly and re-serialised by fhirclient, /metadata comes back unchanged.
    raw = requests.get(f"{live_server}/metadata", timeout=TIMEOUT).json()
    assert smart.server.capabilityStatement.as_json() == raw


def test_fhirclient_reads_a_plan_definition(smart: smart_client.FHIRClient) -> None:
    plan = PlanDefinition.read("all-induction", smart.server)
    expected = FIXTURE["PlanDefinition"]["all-induction"]
    assert plan.id == "all-induction"
    assert plan.title == expected["title"]
    assert plan.status == "active"
    assert plan.meta.versionId == "1"
    assert len(plan.action) == len(expected["action"])
    assert [a.title for a in plan.action[0].action] == [
        a.get("title") for a in expected["action"][0]["action"]
    ]
    canonicals: list[str] = []
    stack = list(plan.action)
    while stack:
        action = stack.pop()
        if action.definitionCanonical:
            canonicals.append(action.definitionCanonical)
        stack.extend(action.action or [])
    assert sorted(canonicals) == sorted(
        a["definitionCanonical"] for a in _actions(expected) if "definitionCanonical" in a
    )
    assert f"{CANONICAL}/ActivityDefinition/imatinib|1.0.0" in canonicals


def test_fhirclient_round_trips_a_plan_definition(smart: smart_client.FHIRClient) -> None:
    # fhirclient re-serialises what it parsed: nothing is lost or reshaped on the way.
    plan = PlanDefinition.read("all-maintenance", smart.server)
    assert without_meta(plan.as_json()) == FIXTURE["PlanDefinition"]["all-maintenance"]


def test_fhirclient_perform_iter_follows_next_links_page_by_page(
    smart: smart_client.FHIRClient,
) -> None:
    # fhirclient 4.4.0: FHIRSearch.perform_iter yields the first Bundle, then follows
    # Bundle.link[relation=next] (absolute http(s) URLs) until there is none.
    pages = list(ActivityDefinition.where(struct={"_count": "5"}).perform_iter(smart.server))
    assert len(pages) == math.ceil(35 / 5)
    assert all(isinstance(page, Bundle) for page in pages)
    assert all(page.total == 35 for page in pages)
    assert [len(page.entry) for page in pages] == [5] * 7
    assert not any(link.relation == "next" for link in pages[-1].link)


def test_fhirclient_perform_resources_iter_reaches_every_activity_definition(
    smart: smart_client.FHIRClient,
) -> None:
    search = ActivityDefinition.where(struct={"_count": "5"})
    found = list(search.perform_resources_iter(smart.server))
    assert all(isinstance(r, ActivityDefinition) for r in found)
    ids = [r.id for r in found]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(FIXTURE["ActivityDefinition"])


# fhirclient 4.4.0 deprecates perform_resources() (DeprecationWarning) in favour of
# perform_resources_iter(); it is still the documented one-call API, and it now pages too.
@pytest.mark.filterwarnings(r"ignore:perform_resources\(\) is deprecated:DeprecationWarning")
def test_fhirclient_perform_resources_pages_through_everything(
    smart: smart_client.FHIRClient,
) -> None:
    found = ActivityDefinition.where(struct={"_count": "5"}).perform_resources(smart.server)
    ids = [r.id for r in found]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(FIXTURE["ActivityDefinition"])


def test_fhirclient_reads_a_medication(smart: smart_client.FHIRClient) -> None:
    medication = Medication.read("methotrexate", smart.server)
    assert medication.status == "active"
    assert (RXNORM, "6851") in {(c.system, c.code) for c in medication.code.coding}
    assert without_meta(medication.as_json()) == FIXTURE["Medication"]["methotrexate"]


def test_fhirclient_searches_medications_by_code(smart: smart_client.FHIRClient) -> None:
    search = Medication.where(struct={"code": f"{RXNORM}|6851"})
    found = list(search.perform_resources_iter(smart.server))
    assert [r.id for r in found] == ["methotrexate"]
    assert all(isinstance(r, Medication) for r in found)


def test_fhirclient_searches_plan_definitions_by_definition(
    smart: smart_client.FHIRClient,
) -> None:
    search = PlanDefinition.where(
        struct={"definition": f"{CANONICAL}/ActivityDefinition/imatinib|1.0.0"}
    )
    found = list(search.perform_resources_iter(smart.server))
    assert {r.id for r in found} == {"all-induction", "all-maintenance"}


@pytest.mark.parametrize(
    "model", [PlanDefinition, ActivityDefinition, Medication], ids=lambda m: m.resource_type
)
def test_fhirclient_parses_every_resource_strictly(
    smart: smart_client.FHIRClient, model: type[Any]
) -> None:
    # fhirclient's models raise FHIRValidationError on unknown or mistyped elements, so
    # parsing every resource (paged through by the client) checks our JSON is R4.
    found = list(model.where(struct={"_count": "4"}).perform_resources_iter(smart.server))
    assert {r.id for r in found} == set(FIXTURE[model.resource_type])
    for resource in found:
        assert isinstance(resource, model)
        assert without_meta(resource.as_json()) == FIXTURE[model.resource_type][resource.id]


# --- plain requests: every page, HTTP metadata, errors ----------------------------------------


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Accept"] = "application/fhir+json"
        yield s


@pytest.fixture(scope="module")
def pages(live_server: str, session: requests.Session) -> dict[str, list[Resource]]:
    """Resource type -> every searchset Bundle from ``?_count=7``, following only next links."""
    collected: dict[str, list[Resource]] = {}
    for resource_type in TYPES:
        url: str | None = f"{live_server}/{resource_type}?_count={PAGE_SIZE}"
        bundles: list[Resource] = []
        while url is not None:
            assert len(bundles) < 50, f"{resource_type}: paging does not end"
            response = session.get(url, timeout=TIMEOUT)
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"] == JSON_MEDIA_TYPE
            bundle = response.json()
            bundles.append(bundle)
            url = next((x["url"] for x in bundle.get("link", []) if x["relation"] == "next"), None)
        collected[resource_type] = bundles
    return collected


def _matches(bundle: Resource) -> list[Resource]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode", "match") == "match"
    ]


@pytest.mark.parametrize("resource_type", TYPES)
def test_paging_by_next_links_reaches_every_resource_exactly_once(
    pages: dict[str, list[Resource]], resource_type: str
) -> None:
    bundles = pages[resource_type]
    expected = FIXTURE[resource_type]
    assert len(bundles) == math.ceil(len(expected) / PAGE_SIZE)
    ids = [r["id"] for bundle in bundles for r in _matches(bundle)]
    assert len(ids) == len(set(ids)), "a resource came back on two pages"
    assert set(ids) == set(expected)
    for number, bundle in enumerate(bundles):
        assert bundle["type"] == "searchset"
        assert bundle["total"] == len(expected)
        assert len(bundle["entry"]) == min(PAGE_SIZE, len(expected) - number * PAGE_SIZE)
        for link in bundle["link"]:
            query = parse_qs(urlsplit(link["url"]).query)
            assert query["_count"] == [str(PAGE_SIZE)], link


@pytest.mark.parametrize("resource_type", TYPES)
def test_paged_resources_are_the_fixtures_plus_meta(
    pages: dict[str, list[Resource]], resource_type: str
) -> None:
    for bundle in pages[resource_type]:
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert resource["meta"]["versionId"] == "1"
            assert without_meta(resource) == FIXTURE[resource_type][resource["id"]]
            assert entry["fullUrl"].endswith(f"/fhir/{resource_type}/{resource['id']}")


def test_every_paged_resource_is_valid_r4(pages: dict[str, list[Resource]]) -> None:
    resources = [r for bundles in pages.values() for b in bundles for r in _matches(b)]
    assert len(resources) == sum(len(FIXTURE[t]) for t in TYPES)
    invalid = [r.describe() for r in validate_r4(resources) if not r.valid]
    assert not invalid, "\n".join(invalid)


def test_every_searchset_bundle_is_valid_r4(pages: dict[str, list[Resource]]) -> None:
    bundles = [b for bundles in pages.values() for b in bundles]
    invalid = [r.describe() for r in validate_r4(bundles) if not r.valid]
    assert not invalid, "\n".join(invalid)


def test_every_searchset_bundle_parses_strictly_in_fhirclient(
    pages: dict[str, list[Resource]],
) -> None:
    for bundles in pages.values():
        for bundle in bundles:
            assert Bundle(bundle).as_json() == bundle


SUBSETTING_QUERIES = (
    "_elements=title&_count=200",
    "_elements=code,status&_count=200",
    "_summary=true&_count=200",
    "_summary=text&_count=200",
    "_summary=data&_count=200",
    "_summary=count",
    # What fhirpy's .count() sends: an unknown parameter, answered with an outcome entry.
    "_count=0&_totalMethod=count",
)


def test_subsetted_and_outcome_bundles_are_valid_r4(
    live_server: str, session: requests.Session
) -> None:
    urls = [f"{live_server}/{t}?{q}" for t in TYPES for q in SUBSETTING_QUERIES]
    bundles: list[Resource] = []
    for url in urls:
        response = session.get(url, timeout=TIMEOUT)
        assert response.status_code == 200, (url, response.text)
        bundle = response.json()
        Bundle(bundle)  # fhirclient: strict parse
        bundles.append(bundle)
    invalid = [
        f"{url}: {result.describe()}"
        for url, result in zip(urls, validate_r4(bundles), strict=True)
        if not result.valid
    ]
    assert not invalid, "\n".join(invalid)


@pytest.mark.parametrize(
    ("path", "status", "resource_type"),
    [
        ("metadata", 200, "CapabilityStatement"),
        ("PlanDefinition", 200, "Bundle"),
        ("PlanDefinition/all-induction", 200, "PlanDefinition"),
        ("ActivityDefinition?_count=3&_sort=title", 200, "Bundle"),
        ("Medication/methotrexate", 200, "Medication"),
        (f"Medication?code={RXNORM}|6851", 200, "Bundle"),
        ("PlanDefinition/nope", 404, "OperationOutcome"),
        ("Patient", 404, "OperationOutcome"),
        ("ActivityDefinition?_count=abc", 400, "OperationOutcome"),
    ],
)
def test_replies_are_fhir_json_in_utf8(
    live_server: str, session: requests.Session, path: str, status: int, resource_type: str
) -> None:
    response = session.get(f"{live_server}/{path}", timeout=TIMEOUT)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == JSON_MEDIA_TYPE
    assert response.json()["resourceType"] == resource_type


def test_capability_statement_is_valid_r4(live_server: str, session: requests.Session) -> None:
    statement = session.get(f"{live_server}/metadata", timeout=TIMEOUT).json()
    assert statement["resourceType"] == "CapabilityStatement"
    (result,) = validate_r4([statement])
    assert result.valid, result.describe()


@pytest.mark.parametrize("resource_type", TYPES)
def test_reads_carry_weak_etag_of_version_one(
    live_server: str, session: requests.Session, resource_type: str
) -> None:
    for resource_id in FIXTURE[resource_type]:
        response = session.get(f"{live_server}/{resource_type}/{resource_id}", timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == 'W/"1"'
        assert response.headers["Content-Type"] == JSON_MEDIA_TYPE
        assert "Last-Modified" in response.headers
        body = response.json()
        assert body["id"] == resource_id
        assert body["meta"]["versionId"] == "1"


def test_unknown_id_is_a_404_operation_outcome(live_server: str, session: requests.Session) -> None:
    response = session.get(f"{live_server}/PlanDefinition/nope", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == JSON_MEDIA_TYPE
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [(i["severity"], i["code"]) for i in outcome["issue"]] == [("error", "not-found")]
    assert "PlanDefinition/nope" in outcome["issue"][0]["diagnostics"]
    (result,) = validate_r4([outcome])
    assert result.valid, result.describe()


def test_clients_see_the_404_as_not_found(
    fhirpy_client: SyncFHIRClient, smart: smart_client.FHIRClient
) -> None:
    with pytest.raises(ResourceNotFound):
        fhirpy_client.reference("PlanDefinition", "nope").to_resource()
    with pytest.raises(FHIRNotFoundException):
        PlanDefinition.read("nope", smart.server)


def test_head_on_a_read_is_200_with_the_get_headers_and_no_body(
    live_server: str, session: requests.Session
) -> None:
    url = f"{live_server}/PlanDefinition/all-induction"
    get = session.get(url, timeout=TIMEOUT)
    head = session.head(url, timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == JSON_MEDIA_TYPE
    assert head.headers["ETag"] == get.headers["ETag"] == 'W/"1"'
    assert head.headers["Last-Modified"] == get.headers["Last-Modified"]
    assert int(head.headers["Content-Length"]) == len(get.content)


# --- concurrency ----------------------------------------------------------------------------

THREADS = 8
PER_THREAD = 25


def _concurrent_paths() -> list[str]:
    return [
        "PlanDefinition/all-induction",
        "PlanDefinition/all-maintenance",
        "ActivityDefinition/imatinib",
        "Medication/methotrexate",
        "metadata",
        f"ActivityDefinition?_count={PAGE_SIZE}",
        f"ActivityDefinition?_count={PAGE_SIZE}&_offset={PAGE_SIZE}",
        "ActivityDefinition?_sort=-title&_count=10&_elements=title",
        "ActivityDefinition?name:contains=methotrexate",
        f"Medication?code={RXNORM}|6851",
        f"PlanDefinition?definition={CANONICAL}/ActivityDefinition/imatinib|1.0.0",
        f"PlanDefinition?context={SNOMED}|91857003&_summary=true",
        "Medication?_count=0",
    ]


def test_concurrent_reads_and_searches_all_succeed_with_stable_bodies(
    live_server: str, session: requests.Session
) -> None:
    urls = [f"{live_server}/{path}" for path in _concurrent_paths()]
    baseline: dict[str, bytes] = {}
    for url in urls:
        response = session.get(url, timeout=TIMEOUT)
        assert response.status_code == 200, (url, response.text)
        baseline[url] = response.content

    start = threading.Barrier(THREADS)
    results: list[tuple[str, int, bytes]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        try:
            with requests.Session() as own:  # a Session per thread
                start.wait(timeout=TIMEOUT)
                for i in range(PER_THREAD):
                    url = urls[(number * 3 + i) % len(urls)]
                    response = own.get(url, timeout=TIMEOUT)
                    with lock:
                        results.append((url, response.status_code, response.content))
        except BaseException as e:  # reported below, in the test's thread
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert len(results) == THREADS * PER_THREAD
    failed = [(url, status) for url, status, _ in results if status != 200]
    assert not failed, failed
    differing = sorted({url for url, _, body in results if body != baseline[url]})
    assert not differing, differing


# --- writes, by the clients (issue 16, item 6) -------------------------------------------------
#
# Writes go to servers of their own, so the read-only expectations above (every fixture at
# version 1) keep holding on ``live_server``: ``writable_server`` is gunicorn over a copy of
# the loaded store, ``fresh_server`` gunicorn over an empty one. Searches that only read (the
# chained and ``_has`` ones) run against ``live_server``. Expected values come from the
# fixtures or from what the test itself wrote, never from the server.

AUTHORIZATION = f"Bearer {TOKEN}"


def _medication_body() -> Resource:
    """A Medication we emit (the fixture imatinib, codes from mappings/terminology), without
    its id, so that a create gets one from the server."""
    body = copy.deepcopy(FIXTURE["Medication"]["imatinib"])
    del body["id"]
    return body


@pytest.fixture(scope="module")
def writable_server(
    loaded_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """gunicorn over a private copy of the loaded store; its FHIR base URL."""
    database = tmp_path_factory.mktemp("writable") / "store.sqlite3"
    shutil.copyfile(loaded_database, database)
    with gunicorn(database, workers=1) as port:
        yield f"http://127.0.0.1:{port}/fhir"


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn over an empty store; its FHIR base URL."""
    database = tmp_path_factory.mktemp("fresh") / "store.sqlite3"
    with gunicorn(database, workers=1) as port:
        yield f"http://127.0.0.1:{port}/fhir"


@pytest.fixture(scope="module")
def writer(writable_server: str) -> SyncFHIRClient:
    return SyncFHIRClient(
        writable_server, authorization=AUTHORIZATION, requests_config={"timeout": TIMEOUT}
    )


def _get(url: str, /, **params: str) -> requests.Response:
    return requests.get(
        url, params=params, headers={"Accept": "application/fhir+json"}, timeout=TIMEOUT
    )


def _write(method: str, url: str, body: Resource | None = None, **headers: str) -> Any:
    return requests.request(
        method,
        url,
        data=None if body is None else json.dumps(body),
        headers={
            "Authorization": AUTHORIZATION,
            "Accept": "application/fhir+json",
            "Content-Type": "application/fhir+json",
            **headers,
        },
        timeout=TIMEOUT,
    )


def _errors(outcome: Resource) -> list[Resource]:
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def _history_methods(base: str, resource_type: str, resource_id: str) -> list[tuple[str, str]]:
    """(versionId or "", request.method) of each history entry, oldest first."""
    response = _get(f"{base}/{resource_type}/{resource_id}/_history")
    assert response.status_code == 200, response.text
    entries = response.json().get("entry", [])
    found = [
        (e.get("resource", {}).get("meta", {}).get("versionId", ""), e["request"]["method"])
        for e in entries
    ]
    return list(reversed(found))  # history is newest first (R4 3.1.0.4.2)


def test_fhirpy_save_creates_then_updates(writer: SyncFHIRClient, writable_server: str) -> None:
    medication = writer.resource("Medication", **_medication_body())
    medication.save()  # no id: POST Medication
    assert medication.id and medication.id != "imatinib"
    assert medication["meta"]["versionId"] == "1"
    stored = _get(f"{writable_server}/Medication/{medication.id}")
    assert stored.status_code == 200, stored.text
    assert without_meta(stored.json()) == {**_medication_body(), "id": medication.id}

    medication["status"] = "inactive"
    medication.save()  # with an id: PUT Medication/<id>
    assert medication["meta"]["versionId"] == "2"
    read = writer.reference("Medication", medication.id).to_resource()
    assert read["status"] == "inactive"
    assert read["meta"]["versionId"] == "2"
    assert _get(f"{writable_server}/Medication/{medication.id}/_history/1").json()["status"] == (
        "active"
    )
    # History says which method made each version.
    assert _history_methods(writable_server, "Medication", medication.id) == [
        ("1", "POST"),
        ("2", "PUT"),
    ]


def test_fhirpy_save_with_a_new_id_creates_on_update(
    writer: SyncFHIRClient, writable_server: str
) -> None:
    medication = writer.resource("Medication", id="client-made-on-update", **_medication_body())
    medication.save()  # PUT Medication/client-made-on-update
    assert medication.id == "client-made-on-update"
    assert medication["meta"]["versionId"] == "1"
    stored = _get(f"{writable_server}/Medication/client-made-on-update")
    assert stored.status_code == 200, stored.text
    assert stored.headers["ETag"] == 'W/"1"'


def test_fhirpy_delete_then_read_is_gone(writer: SyncFHIRClient, writable_server: str) -> None:
    medication = writer.resource("Medication", **_medication_body())
    medication.save()
    medication.delete()
    # fhirpy answers 404 and 410 alike with ResourceNotFound.
    with pytest.raises(ResourceNotFound):
        writer.reference("Medication", medication.id).to_resource()
    gone = _get(f"{writable_server}/Medication/{medication.id}")
    assert gone.status_code == 410, gone.text
    assert [i["code"] for i in _errors(gone.json())]
    # The deleted resource's versions stay readable, and the delete is a version of its own.
    kept = _get(f"{writable_server}/Medication/{medication.id}/_history/1")
    assert kept.status_code == 200, kept.text
    assert without_meta(kept.json()) == {**_medication_body(), "id": medication.id}
    assert [m for _, m in _history_methods(writable_server, "Medication", medication.id)] == [
        "POST",
        "DELETE",
    ]
    found = writer.resources("Medication").search(_id=medication.id).fetch()
    assert found == []


def test_a_stale_if_match_is_a_412_operation_outcome(
    writer: SyncFHIRClient, writable_server: str
) -> None:
    medication = writer.resource("Medication", **_medication_body())
    medication.save()
    medication["status"] = "inactive"
    medication.save()
    assert medication["meta"]["versionId"] == "2"
    url = f"{writable_server}/Medication/{medication.id}"

    # fhirpy sends the headers it is configured with; it names a 412 MultipleResourcesFound
    # (its reading of a failed conditional write) and keeps the body as the message.
    stale = SyncFHIRClient(
        writable_server,
        authorization=AUTHORIZATION,
        extra_headers={"If-Match": 'W/"1"'},
        requests_config={"timeout": TIMEOUT},
    )
    lost_update = stale.resource("Medication", **{**medication.serialize(), "status": "active"})
    with pytest.raises(MultipleResourcesFound) as raised:
        lost_update.save()
    assert _errors(json.loads(str(raised.value)))

    response = _write("PUT", url, {**without_meta(medication.serialize()), "status": "active"},
                      **{"If-Match": 'W/"1"'})  # fmt: skip
    assert response.status_code == 412, response.text
    assert response.headers["Content-Type"] == JSON_MEDIA_TYPE
    assert _errors(response.json())
    after = _get(url)
    assert after.headers["ETag"] == 'W/"2"'
    assert after.json()["status"] == "inactive"  # nothing was written

    # The current version's ETag is accepted: the 412 above was about the version.
    current = _write("PUT", url, {**without_meta(medication.serialize()), "status": "active"},
                     **{"If-Match": 'W/"2"'})  # fmt: skip
    assert current.status_code == 200, current.text
    assert _get(url).headers["ETag"] == 'W/"3"'


def test_fhirpy_conditional_update_and_delete_by_code(
    writer: SyncFHIRClient, writable_server: str
) -> None:
    code = f"{RXNORM}|103"  # mercaptopurine: one Medication in the fixtures has it
    assert _medications_coded(RXNORM, "103") == {"mercaptopurine"}
    matching = writer.resources("Medication").search(code=code)
    body = {**FIXTURE["Medication"]["mercaptopurine"], "status": "inactive"}
    updated, created = matching.update(writer.resource("Medication", **body))  # PUT ?code=
    assert created is False
    assert updated.id == "mercaptopurine"
    assert updated["meta"]["versionId"] == "2"
    assert _get(f"{writable_server}/Medication/mercaptopurine").json()["status"] == "inactive"

    # An ActivityDefinition refers to it: the delete is refused (409) and changes nothing.
    with pytest.raises(FhirpyOutcome) as refused:
        matching.delete()  # DELETE Medication?code=…
    assert [i["code"] for i in _errors(refused.value.resource)] == ["conflict"]
    assert "ActivityDefinition/mercaptopurine-daily" in str(refused.value)
    assert _get(f"{writable_server}/Medication/mercaptopurine").headers["ETag"] == 'W/"2"'

    # One nothing refers to goes.
    copy_ = writer.resource("Medication", **_medication_body())
    copy_.save()
    only_it = writer.resources("Medication").search(code=f"{RXNORM}|282388", _id=copy_.id)
    _, status = only_it.delete()
    assert status in {200, 204}
    assert _get(f"{writable_server}/Medication/{copy_.id}").status_code == 410
    assert only_it.fetch() == []


def test_fhirpy_conditional_update_matching_several_is_412(
    writer: SyncFHIRClient, writable_server: str
) -> None:
    for _ in range(2):  # at least two Medications carry imatinib's code now
        writer.resource("Medication", **_medication_body()).save()
    code = f"{RXNORM}|282388"
    before = _snapshot(writable_server)
    matching = writer.resources("Medication").search(code=code)
    assert len(matching.limit(200).fetch_all()) >= 2
    # Here fhirpy's name for a 412 is the right one.
    with pytest.raises(MultipleResourcesFound) as raised:
        matching.update(writer.resource("Medication", **_medication_body()))
    assert _errors(json.loads(str(raised.value)))
    assert _snapshot(writable_server) == before


def _medications_by_product_title(title: str) -> set[str]:
    """Medication ids that an ActivityDefinition whose title starts with ``title`` (R4 string
    matching: case- and accent-insensitive prefix) names as its productReference."""
    return {
        activity["productReference"]["reference"].removeprefix("Medication/")
        for activity in FIXTURE["ActivityDefinition"].values()
        if "productReference" in activity
        and activity["title"].casefold().startswith(title.casefold())
    }


def _plans_by_activity_title(title: str) -> set[str]:
    titles = {
        activity["url"]: activity["title"] for activity in FIXTURE["ActivityDefinition"].values()
    }
    return {
        plan_id
        for plan_id, plan in FIXTURE["PlanDefinition"].items()
        for action in _actions(plan)
        if "definitionCanonical" in action
        and titles[action["definitionCanonical"].partition("|")[0]]
        .casefold()
        .startswith(title.casefold())
    }


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("vincristine", {"vincristine"}),
        ("methotrexate", {"methotrexate"}),
        ("D", {"dasatinib", "daunorubicin", "dexamethasone", "doxorubicin"}),
        ("nothing-has-this-title", set()),
    ],
)
def test_fhirpy_has_finds_medications_by_their_activity_definitions(
    fhirpy_client: SyncFHIRClient, title: str, expected: set[str]
) -> None:
    assert _medications_by_product_title(title) == expected  # a guard on the fixtures
    search = fhirpy_client.resources("Medication").has("ActivityDefinition", "product", title=title)
    assert dict(search.params) == {"_has:ActivityDefinition:product:title": [title]}
    assert {r.id for r in search.limit(200).fetch_all()} == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("daunorubicin", {"all-induction"}),
        ("mercaptopurine", {"all-maintenance"}),
        ("vincristine", {"all-induction", "all-maintenance"}),
        ("nothing-has-this-title", set()),
    ],
)
def test_fhirpy_chained_search_on_definition(
    fhirpy_client: SyncFHIRClient, title: str, expected: set[str]
) -> None:
    assert _plans_by_activity_title(title) == expected  # a guard on the fixtures
    plans = fhirpy_client.resources("PlanDefinition")
    # fhirpy's chain syntax, with the target type: definition:ActivityDefinition.title=…
    typed = plans.search(definition__ActivityDefinition__title=title)
    assert dict(typed.params) == {"definition:ActivityDefinition.title": [title]}
    assert {r.id for r in typed.fetch_all()} == expected
    # Without the type: every ActivityDefinition and PlanDefinition the canonicals name.
    untyped = plans.search(**{"definition.title": title})
    assert {r.id for r in untyped.fetch_all()} == expected


def _package(fhirpy_client: SyncFHIRClient, plan_id: str) -> Resource:
    """Our own ``$package`` of a plan, from the read-only live server, through fhirpy."""
    bundle = fhirpy_client.reference("PlanDefinition", plan_id).execute("$package")
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    return json.loads(json.dumps(bundle))  # plain dicts, not fhirpy's AttrDict


def _snapshot(base: str) -> dict[str, Any]:
    """Every current (type, id) -> versionId, and each type's history size."""
    versions: dict[tuple[str, str], str] = {}
    history: dict[str, int] = {}
    for resource_type in TYPES:
        page = _get(f"{base}/{resource_type}", _count="200").json()
        assert page["total"] <= 200
        for entry in page.get("entry", []):
            resource = entry["resource"]
            versions[(resource_type, resource["id"])] = resource["meta"]["versionId"]
        history[resource_type] = _get(f"{base}/{resource_type}/_history", _count="0").json()[
            "total"
        ]
    return {"versions": versions, "history": history}


def _stored_for(base: str, entry: Resource) -> Resource:
    """What the server holds for one transaction entry: read by the PUT's url, or found by
    the POST's ifNoneExist query (exactly one match)."""
    request = entry["request"]
    if request["method"] == "PUT":
        response = _get(f"{base}/{request['url']}")
        assert response.status_code == 200, (request, response.text)
        found: Resource = response.json()
        return found
    assert request["method"] == "POST" and "ifNoneExist" in request, request
    pairs = parse_qs(request["ifNoneExist"], keep_blank_values=True)
    page = _get(f"{base}/{request['url']}", **{k: v[0] for k, v in pairs.items()}).json()
    matches = _matches(page)
    assert len(matches) == 1, (request, page)
    return matches[0]


def _assert_loaded(base: str, bundle: Resource) -> None:
    """Every entry of ``bundle`` is stored as sent, its urn:uuid references rewritten to the
    ids the server gave the entries they name."""
    stored = {entry["fullUrl"]: _stored_for(base, entry) for entry in bundle["entry"]}
    local = {
        full_url: f"{resource['resourceType']}/{resource['id']}"
        for full_url, resource in stored.items()
    }
    for entry in bundle["entry"]:
        sent = copy.deepcopy(entry["resource"])
        got = stored[entry["fullUrl"]]
        reference = sent.get("productReference", {}).get("reference", "")
        if reference.startswith("urn:uuid:"):
            sent["productReference"]["reference"] = local[reference]
        if entry["request"]["method"] == "POST":  # the server names what is POSTed
            sent.pop("id", None)
            got = {k: v for k, v in got.items() if k != "id"}
        assert without_meta(got) == sent, entry["fullUrl"]


def test_our_package_loads_as_a_transaction_on_a_fresh_server_and_again_changes_nothing(
    fhirpy_client: SyncFHIRClient, fresh_server: str
) -> None:
    fresh = SyncFHIRClient(
        fresh_server, authorization=AUTHORIZATION, requests_config={"timeout": TIMEOUT}
    )
    assert _snapshot(fresh_server)["versions"] == {}
    induction = _package(fhirpy_client, "all-induction")

    first = fresh.execute(fresh_server, method="post", data=induction)  # POST [base]
    assert first["resourceType"] == "Bundle"
    assert first["type"] == "transaction-response"
    assert len(first["entry"]) == len(induction["entry"])
    assert [e["response"]["status"].split()[0] for e in first["entry"]] == ["201"] * len(
        induction["entry"]
    )
    _assert_loaded(fresh_server, induction)
    loaded = _snapshot(fresh_server)
    assert set(loaded["versions"].values()) == {"1"}
    assert len(loaded["versions"]) == len(induction["entry"])

    again = fresh.execute(fresh_server, method="post", data=induction)
    assert again["type"] == "transaction-response"
    # A matched conditional create is 200 with nothing written; so is a PUT of the same
    # content: no version anywhere moved, no history entry was added.
    assert [e["response"]["status"].split()[0] for e in again["entry"]] == ["200"] * len(
        induction["entry"]
    )
    assert _snapshot(fresh_server) == loaded

    # The other plan shares activities and medications: those match and stay as they are,
    # and the two packages together are exactly the fixtures.
    maintenance = _package(fhirpy_client, "all-maintenance")
    both = fresh.execute(fresh_server, method="post", data=maintenance)
    assert both["type"] == "transaction-response"
    _assert_loaded(fresh_server, maintenance)
    _assert_loaded(fresh_server, induction)
    final = _snapshot(fresh_server)
    counts = {t: sum(1 for (rt, _) in final["versions"] if rt == t) for t in TYPES}
    assert counts == {t: len(FIXTURE[t]) for t in TYPES}
    assert {k: v for k, v in final["versions"].items() if k in loaded["versions"]} == (
        loaded["versions"]
    )


def test_a_batch_writes_the_good_entries_and_reports_the_bad_one(
    writer: SyncFHIRClient, writable_server: str
) -> None:
    good = _medication_body()
    bad = {**_medication_body(), "status": "not-a-status"}  # outside the required binding
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Medication"}},
            {"resource": bad, "request": {"method": "POST", "url": "Medication"}},
            {
                "resource": {**good, "id": "batch-made"},
                "request": {"method": "PUT", "url": "Medication/batch-made"},
            },
        ],
    }
    before = _get(f"{writable_server}/Medication", _count="0").json()["total"]

    reply = writer.execute(writable_server, method="post", data=batch)
    assert reply["resourceType"] == "Bundle"
    assert reply["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in reply["entry"]]
    assert statuses[0] == "201"
    assert statuses[1] in {"400", "422"}, reply["entry"][1]
    assert statuses[2] == "201"
    assert _errors(reply["entry"][1]["response"]["outcome"])

    created = reply["entry"][0]["response"]["location"]  # Medication/<id>/_history/1
    resource_type, resource_id = created.split("/")[-4:-2]
    assert resource_type == "Medication"
    stored = _get(f"{writable_server}/Medication/{resource_id}")
    assert without_meta(stored.json()) == {**good, "id": resource_id}
    assert _get(f"{writable_server}/Medication/batch-made").status_code == 200
    assert _get(f"{writable_server}/Medication", _count="0").json()["total"] == before + 2
    statuses_in_store = {
        r["status"] for r in _matches(_get(f"{writable_server}/Medication", _count="200").json())
    }
    assert "not-a-status" not in statuses_in_store


# --- writes with fhirclient (SMART) ---------------------------------------------------------


@pytest.fixture(scope="module")
def smart_writer(writable_server: str) -> smart_client.FHIRClient:
    # fhirclient's own auth is SMART OAuth2; a server with a static Bearer token is reached
    # by setting the header on the requests.Session every request goes through.
    writer = smart_client.FHIRClient(settings={"app_id": "ped-tests", "api_base": writable_server})
    writer.server.session.headers["Authorization"] = AUTHORIZATION
    writer.server.session.headers["Prefer"] = "return=representation"
    return writer


def test_fhirclient_creates_and_updates_a_medication(
    smart_writer: smart_client.FHIRClient, writable_server: str
) -> None:
    medication = Medication(_medication_body())
    created = medication.create(smart_writer.server)
    assert created is not None, "create answered no representation despite Prefer"
    made = Medication(created)  # a strict parse of the reply
    assert made.id and made.meta.versionId == "1"
    assert without_meta(made.as_json()) == {**_medication_body(), "id": made.id}

    made.status = "inactive"
    updated = made.update(smart_writer.server)
    assert updated is not None
    assert Medication(updated).meta.versionId == "2"
    read = Medication.read(made.id, smart_writer.server)
    assert read.status == "inactive"
    assert read.meta.versionId == "2"
    assert _get(f"{writable_server}/Medication/{made.id}").headers["ETag"] == 'W/"2"'


def test_fhirclient_writes_need_the_token(writable_server: str) -> None:
    anonymous = smart_client.FHIRClient(
        settings={"app_id": "ped-tests", "api_base": writable_server}
    )
    before = _get(f"{writable_server}/Medication", _count="0").json()["total"]
    with pytest.raises(FHIRUnauthorizedException):
        Medication(_medication_body()).create(anonymous.server)
    assert _get(f"{writable_server}/Medication", _count="0").json()["total"] == before
