"""System-level search, ``GET /fhir?_type=…`` and ``POST /fhir/_search`` (issue 16, item 5):
one searchset over the served types, paged across them. Once on SQLite and once on
PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.search.params import RESOURCE_TYPES

from .test_contract import BASE, assert_outcome, body, fixture_resources, links, search

ALL = set(fixture_resources())


@pytest.fixture(scope="module")
def app(app_on_each_backend: Flask) -> Flask:
    return app_on_each_backend


def keys(bundle: dict[str, object]) -> list[tuple[str, str]]:
    entries = bundle.get("entry", [])
    assert isinstance(entries, list)
    return [
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in entries
        if e["search"]["mode"] == "match"
    ]


def every_page(client: FlaskClient, url: str) -> list[tuple[str, str]]:
    """Every match, following next links from ``url``."""
    found: list[tuple[str, str]] = []
    next_url: str | None = url
    while next_url:
        bundle = search(client, next_url)
        found += keys(bundle)
        next_url = links(bundle).get("next")
    return found


def test_system_search_without_type_covers_every_type(client: FlaskClient) -> None:
    bundle = search(client, "/fhir?_count=200")
    assert bundle["total"] == len(ALL)
    assert set(keys(bundle)) == ALL
    assert {t for t, _ in keys(bundle)} == {"PlanDefinition", "ActivityDefinition", "Medication"}


def test_system_search_with_type(client: FlaskClient) -> None:
    wanted = {k for k in ALL if k[0] in ("PlanDefinition", "Medication")}
    bundle = search(client, "/fhir?_type=PlanDefinition,Medication&_count=200")
    assert set(keys(bundle)) == wanted
    assert bundle["total"] == len(wanted)
    entry = bundle["entry"][0]
    assert (
        entry["fullUrl"] == f"{BASE}/{entry['resource']['resourceType']}/{entry['resource']['id']}"
    )


def test_paging_across_types_visits_every_match_once(client: FlaskClient) -> None:
    url = "/fhir?_type=PlanDefinition,Medication,ActivityDefinition&_count=7"
    found = every_page(client, url)
    assert len(found) == len(set(found)) == len(ALL)
    assert set(found) == ALL
    first = search(client, url)
    next_link = urlsplit(links(first)["next"])
    assert f"{next_link.scheme}://{next_link.netloc}{next_link.path}" == BASE
    assert dict(parse_qsl(next_link.query)) == {
        "_type": "PlanDefinition,Medication,ActivityDefinition",
        "_count": "7",
        "_offset": "7",
    }


def test_common_parameters_across_types(client: FlaskClient) -> None:
    bundle = search(client, "/fhir?_id=vincristine,all-induction")
    assert set(keys(bundle)) == {
        ("ActivityDefinition", "vincristine"),
        ("Medication", "vincristine"),
        ("PlanDefinition", "all-induction"),
    }
    assert search(client, "/fhir?_lastUpdated=gt2000-01-01&_summary=count")["total"] == len(ALL)
    assert search(client, "/fhir?_lastUpdated=lt2000-01-01")["total"] == 0


def test_sort_summary_and_elements_across_types(client: FlaskClient) -> None:
    bundle = search(client, "/fhir?_type=Medication,PlanDefinition&_sort=-_id&_count=200")
    ids = [i for _, i in keys(bundle)]
    assert ids == sorted(ids, reverse=True)
    bundle = search(client, "/fhir?_type=Medication,PlanDefinition&_elements=id&_count=1")
    [entry] = bundle["entry"]
    assert set(entry["resource"]) <= {"resourceType", "id", "meta", "status"}
    assert search(client, "/fhir?_total=none&_count=1").get("total") is None


def test_a_parameter_every_listed_type_has_is_allowed(client: FlaskClient) -> None:
    url = "/fhir?_type=PlanDefinition,ActivityDefinition&title=vincristine&_count=200"
    assert set(keys(search(client, url))) == {
        k for k, r in fixture_resources().items()
        if k[0] != "Medication" and r.get("title", "").lower().startswith("vincristine")
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "named"),
    [("title=x", "'title' is not defined for Medication"),
     ("_type=PlanDefinition,Medication&title=x", "'title' is not defined for Medication"),
     ("_sort=title", "cannot sort Medication by 'title'"),
     ("_type=PlanDefinition,ActivityDefinition&definition.title=x", "definition.title"),
     ("_has:ActivityDefinition:product:title=x", "_has"),
     ("_include=ActivityDefinition:product", "_include"),
     ("_type=Patient", "'Patient' is not a type served here"),
     ("_type=PlanDefinition&_type=Medication", "_type is given more than once"),
     ("_count=x", "_count")],
)  # fmt: skip
def test_what_a_system_search_cannot_do_is_400(client: FlaskClient, query: str, named: str) -> None:
    outcome = assert_outcome(client.get(f"/fhir?{query}"), 400)
    assert named in outcome["issue"][0]["diagnostics"]


def test_one_type_takes_every_parameter_of_that_type(client: FlaskClient) -> None:
    url = "/fhir?_type=PlanDefinition&definition.title=mercaptopurine"
    assert keys(search(client, url)) == [("PlanDefinition", "all-maintenance")]
    assert links(search(client, url))["self"].startswith(f"{BASE}?_type=PlanDefinition&")
    included = search(
        client, "/fhir?_type=ActivityDefinition&_id=imatinib&_include=ActivityDefinition:product"
    )
    assert [e["search"]["mode"] for e in included["entry"]] == ["match", "include"]


def test_unknown_parameter_is_ignored_with_a_warning_unless_strict(client: FlaskClient) -> None:
    bundle = search(client, "/fhir?foo=1&_count=0")
    assert bundle["total"] == len(ALL)
    assert client.get("/fhir?foo=1", headers={"Prefer": "handling=strict"}).status_code == 400


def test_post_search_at_the_base_equals_get(client: FlaskClient) -> None:
    posted = client.post("/fhir/_search", data={"_type": "Medication", "_id": "imatinib"})
    assert posted.status_code == 200
    assert keys(body(posted)) == [("Medication", "imatinib")]
    assert keys(body(posted)) == keys(search(client, "/fhir?_type=Medication&_id=imatinib"))


def test_capability_statement_lists_system_search(client: FlaskClient) -> None:
    statement = body(client.get("/fhir/metadata"))
    [rest] = statement["rest"]
    assert {"code": "search-system"} in rest["interaction"]
    for resource in rest["resource"]:
        assert "search-system" not in {i["code"] for i in resource["interaction"]}
        if resource["type"] in RESOURCE_TYPES:  # not our read-only conformance types
            assert "_has" in resource["documentation"]
