"""Chained parameters, ``_has`` and absolute references on our own base (issue 16, item 5).

Each of these used to be refused or, before that, ignored (which answered every resource as
if it had matched). Expectations are worked out from fixtures/fhir by following the
references in Python, so they check the SQL, not restate it. Every test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .conftest import make_app
from .test_contract import BASE, assert_outcome, fixture_resources, search_ids
from .test_contract_search import definitions, norm

AD_BASE = "https://fhir.example.org/ped/ActivityDefinition"


@pytest.fixture(scope="module")
def app(app_on_each_backend: Flask) -> Flask:
    return app_on_each_backend


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {i: r for (t, i), r in fixture_resources().items() if t == resource_type}


def canonical_of(resource: dict[str, Any]) -> set[str]:
    """The ways a canonical can name ``resource``: its url, and url|version."""
    return {resource["url"], f"{resource['url']}|{resource['version']}"}


def plans_using(predicate: Any) -> set[str]:
    """PlanDefinitions with an action whose definition is an ActivityDefinition meeting
    ``predicate``."""
    chosen = set().union(*(canonical_of(r) for r in of_type("ActivityDefinition").values()
                           if predicate(r)))  # fmt: skip
    return {i for i, plan in of_type("PlanDefinition").items() if definitions(plan) & chosen}


def product_of(activity: dict[str, Any]) -> str | None:
    reference: str | None = activity.get("productReference", {}).get("reference")
    return reference


def titled(prefix: str) -> Any:
    return lambda r: norm(r.get("title", "")).startswith(prefix)


def has_code(code: str) -> Any:
    return lambda r: any(c.get("code") == code for c in r.get("code", {}).get("coding", []))


def activities_giving(predicate: Any) -> set[str]:
    medications = {f"Medication/{i}" for i, r in of_type("Medication").items() if predicate(r)}
    return {i for i, r in of_type("ActivityDefinition").items() if product_of(r) in medications}


# --- chaining -------------------------------------------------------------------------------


def test_chained_canonical_reference(client: FlaskClient) -> None:
    expected = plans_using(titled("mercaptopurine"))
    assert expected == {"all-maintenance"}
    assert search_ids(client, "/fhir/PlanDefinition?definition.title=mercaptopurine") == expected


def test_chained_canonical_matches_only_plans_that_use_it(client: FlaskClient) -> None:
    expected = plans_using(titled("cyclophosphamide"))
    assert expected == {"all-induction"}
    assert search_ids(client, "/fhir/PlanDefinition?definition.title=cyclophosphamide") == expected
    assert search_ids(client, "/fhir/PlanDefinition?definition.title=zzz") == set()


def test_chained_with_a_type(client: FlaskClient) -> None:
    url = "/fhir/PlanDefinition?definition:ActivityDefinition.title=vincristine"
    assert (
        search_ids(client, url)
        == plans_using(titled("vincristine"))
        == {
            "all-induction",
            "all-maintenance",
        }
    )
    # No PlanDefinition is used as a definition, so the PlanDefinition branch finds none.
    assert search_ids(client, "/fhir/PlanDefinition?definition:PlanDefinition.title=i") == set()


def test_chained_literal_reference(client: FlaskClient) -> None:
    expected = activities_giving(has_code("6851"))
    assert len(expected) > 1
    assert search_ids(client, "/fhir/ActivityDefinition?product.code=6851") == expected
    url = "/fhir/ActivityDefinition?product:Medication.code=http://www.nlm.nih.gov/research/umls/rxnorm|6851"
    assert search_ids(client, url) == expected


def test_chain_ends_with_a_modifier_and_ands_with_other_parameters(client: FlaskClient) -> None:
    exact = "/fhir/PlanDefinition?definition.title:exact=crisantaspase recombinant"
    assert search_ids(client, exact) == plans_using(titled("crisantaspase")) == {"all-induction"}
    assert search_ids(client, "/fhir/PlanDefinition?definition.title:exact=crisantaspase") == set()
    both = "/fhir/PlanDefinition?definition.title=vincristine&title=induction"
    assert search_ids(client, both) == {"all-induction"}


def test_two_level_chain(client: FlaskClient) -> None:
    url = "/fhir/PlanDefinition?definition:ActivityDefinition.product.code=6851"
    expected = plans_using(lambda r: product_of(r) == "Medication/methotrexate")
    assert search_ids(client, url) == expected == {"all-induction", "all-maintenance"}
    # The type can be left out: only ActivityDefinition has a product parameter.
    assert search_ids(client, "/fhir/PlanDefinition?definition.product.code=6851") == expected
    assert search_ids(client, "/fhir/PlanDefinition?definition.product.code=nope") == set()


@pytest.mark.parametrize(
    ("query", "named"),
    [("definition.titl=x", "'titl'"),  # unknown chained parameter
     ("title.name=x", "title is a string parameter"),  # chain on a non-reference
     ("definition:missing.title=x", ":missing"),  # modifier on a chain link
     ("definition:Medication.title=x", ":Medication"),  # not a target of definition
     ("definition.title:sounds=x", ":sounds"),  # modifier the chained parameter lacks
     ("definition.product.ingredient.ingredient.code=x", "more than 3"),
     ("definition.product.code=a|b|c", "more than one '|'")],
)  # fmt: skip
def test_unsupported_chains_are_400_even_when_lenient(
    client: FlaskClient, query: str, named: str
) -> None:
    outcome = assert_outcome(client.get(f"/fhir/PlanDefinition?{query}"), 400)
    assert named in outcome["issue"][0]["diagnostics"]


def test_chain_on_a_reference_to_types_not_served_is_400(client: FlaskClient) -> None:
    outcome = assert_outcome(client.get("/fhir/Medication?manufacturer.name=x"), 400)
    assert "manufacturer" in outcome["issue"][0]["diagnostics"]


def test_a_chain_whose_parameter_differs_in_type_between_targets_is_ambiguous(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No two of our targets give one name two types, so the registry is extended for the
    # test: "kind" a token on ActivityDefinition, a string on PlanDefinition.
    from service.search import params

    token = params._param("ActivityDefinition", "kind", "token", "kind", "Kind")
    string = params._param("PlanDefinition", "kind", "string", "kind", "Kind")
    monkeypatch.setitem(params.PARAMETERS["ActivityDefinition"], "kind", token)
    monkeypatch.setitem(params.PARAMETERS["PlanDefinition"], "kind", string)
    outcome = assert_outcome(client.get("/fhir/PlanDefinition?definition.kind=x"), 400)
    text = outcome["issue"][0]["diagnostics"]
    assert "ambiguous" in text
    assert "definition:ActivityDefinition.kind" in text
    typed = "/fhir/PlanDefinition?definition:ActivityDefinition.kind=x"
    assert client.get(typed).status_code == 200


# --- _has -----------------------------------------------------------------------------------


def test_has(client: FlaskClient) -> None:
    url = "/fhir/Medication?_has:ActivityDefinition:product:title=vincristine"
    expected = {product_of(r) for r in of_type("ActivityDefinition").values()
                if titled("vincristine")(r)}  # fmt: skip
    assert expected == {"Medication/vincristine"}
    assert search_ids(client, url) == {"vincristine"}
    assert search_ids(client, "/fhir/Medication?_has:ActivityDefinition:product:title=zzz") == set()


def test_has_over_a_canonical(client: FlaskClient) -> None:
    url = "/fhir/ActivityDefinition?_has:PlanDefinition:definition:title=maintenance&_count=200"
    maintenance = of_type("PlanDefinition")["all-maintenance"]
    expected = {i for i, r in of_type("ActivityDefinition").items()
                if canonical_of(r) & definitions(maintenance)}  # fmt: skip
    assert 1 < len(expected) < len(of_type("ActivityDefinition"))
    assert search_ids(client, url) == expected


def test_nested_has(client: FlaskClient) -> None:
    url = ("/fhir/Medication?_has:ActivityDefinition:product:_has:PlanDefinition:definition:"
           "title=maintenance")  # fmt: skip
    maintenance = definitions(of_type("PlanDefinition")["all-maintenance"])
    expected = {product_of(r).split("/")[1] for r in of_type("ActivityDefinition").values()
                if product_of(r) and canonical_of(r) & maintenance}  # fmt: skip
    assert 1 < len(expected) < len(of_type("Medication"))
    assert search_ids(client, url) == expected


def test_has_with_a_chain_inside(client: FlaskClient) -> None:
    url = (
        "/fhir/ActivityDefinition?_has:PlanDefinition:definition:definition.title=mercaptopurine"
        "&_count=200"
    )
    # Plans using mercaptopurine (maintenance), and every activity those plans use.
    maintenance = definitions(of_type("PlanDefinition")["all-maintenance"])
    expected = {
        i for i, r in of_type("ActivityDefinition").items() if canonical_of(r) & maintenance
    }
    assert search_ids(client, url) == expected


@pytest.mark.parametrize(
    ("query", "named"),
    [("_has=x", "_has:Type:reference-parameter:search-parameter"),
     ("_has:ActivityDefinition:product=x", "_has:Type:reference-parameter:search-parameter"),
     ("_has:Patient:medication:name=x", "'Patient'"),
     ("_has:ActivityDefinition:title:title=x", "'title' is not a reference parameter"),
     ("_has:PlanDefinition:definition:title=x", "never points to Medication"),
     ("_has:ActivityDefinition:product:nope=x", "'nope' is not a search parameter"),
     ("_has:ActivityDefinition:product:title:sounds=x", ":sounds"),
     ("_has:ActivityDefinition:product:_has:PlanDefinition:definition:_has:PlanDefinition:"
      "definition:_has:PlanDefinition:definition:title=x", "more than 3")],
)  # fmt: skip
def test_unsupported_has_is_400_even_when_lenient(
    client: FlaskClient, query: str, named: str
) -> None:
    outcome = assert_outcome(client.get(f"/fhir/Medication?{query}"), 400)
    assert named in outcome["issue"][0]["diagnostics"]


# --- absolute references ----------------------------------------------------------------------


def test_absolute_reference_on_our_own_base_matches(client: FlaskClient) -> None:
    expected = activities_giving(lambda r: r["id"] == "methotrexate")
    relative = search_ids(client, "/fhir/ActivityDefinition?product=Medication/methotrexate")
    assert relative == expected
    absolute = f"/fhir/ActivityDefinition?product={BASE}/Medication/methotrexate"
    assert search_ids(client, absolute) == expected


def test_absolute_reference_on_the_public_base_matches(loaded_database: Path) -> None:
    client = make_app(loaded_database, PUBLIC_BASE_URL="https://content.example.org").test_client()
    expected = activities_giving(lambda r: r["id"] == "methotrexate")
    public = "https://content.example.org/fhir/Medication/methotrexate"
    assert search_ids(client, f"/fhir/ActivityDefinition?product={public}") == expected
    # Behind a public base, the address the request reached is not this server's base.
    reached = f"{BASE}/Medication/methotrexate"
    assert search_ids(client, f"/fhir/ActivityDefinition?product={reached}") == set()


@pytest.mark.parametrize(
    "reference",
    ["http://elsewhere.example/fhir/Medication/methotrexate",
     f"{BASE}x/Medication/methotrexate",
     f"{BASE}/Medication/methotrexate/_history/1",
     f"{BASE}/Patient/methotrexate"],
)  # fmt: skip
def test_absolute_reference_on_another_base_matches_nothing(
    client: FlaskClient, reference: str
) -> None:
    assert search_ids(client, f"/fhir/ActivityDefinition?product={reference}") == set()


def test_absolute_reference_in_a_chain(client: FlaskClient) -> None:
    url = f"/fhir/PlanDefinition?definition.product={BASE}/Medication/mercaptopurine"
    assert search_ids(client, url) == {"all-maintenance"}


def test_canonical_url_matching_is_unchanged(client: FlaskClient) -> None:
    url = f"/fhir/PlanDefinition?definition={AD_BASE}/mercaptopurine-daily"
    assert search_ids(client, url) == {"all-maintenance"}


# --- with a real client ---------------------------------------------------------------------


def test_fhirpy_has_and_chained_searches_filter(live_server: str) -> None:
    # fhirpy's .has() used to get all the Medications, as if each had matched.
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(live_server, requests_config={"timeout": 30})
    found = client.resources("Medication").has("ActivityDefinition", "product", title="vincristine")
    assert [m.id for m in found.fetch_all()] == ["vincristine"]
    chained = client.resources("PlanDefinition").search(
        definition__ActivityDefinition__title="mercaptopurine"
    )
    assert [p.id for p in chained.fetch_all()] == ["all-maintenance"]
    assert client.resources("PlanDefinition").search(definition__title="zzz").fetch_all() == []


def test_chains_count_against_the_parameter_limit_once_per_type_followed(
    client: FlaskClient,
) -> None:
    # definition.definition.title ends on ActivityDefinition and PlanDefinition (only a
    # PlanDefinition has definition): 2 sub-selects each, so 16 of them make 32.
    chains = "&".join(["definition.definition.title=x"] * 16)
    assert client.get(f"/fhir/PlanDefinition?{chains}").status_code == 200
    outcome = assert_outcome(client.get(f"/fhir/PlanDefinition?{chains}&title=x"), 400)
    assert "a chain counts once for each type it follows" in outcome["issue"][0]["diagnostics"]
