"""Chained parameters, ``_has`` and absolute references on our own base (issue 16, item 5):
each either narrows the search as R4 says or is a 400 naming it, never ignored (ignored,
they answered every resource as if it matched)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .test_contract import assert_outcome, fixture_ids, fixture_resources, search_ids


@pytest.fixture(scope="module")
def app(app_on_each_backend: Flask) -> Flask:
    """The sub-selects are SQL: every test here runs on SQLite and on PostgreSQL."""
    return app_on_each_backend


def _plans_using(activity_id: str) -> set[str]:
    url = f"https://fhir.example.org/ped/ActivityDefinition/{activity_id}"
    found = set()
    for (t, i), r in fixture_resources().items():
        if t == "PlanDefinition" and url in str(r):
            found.add(i)
    return found


def _giving(medication_id: str) -> set[str]:
    """ActivityDefinitions whose product is ``Medication/<medication_id>``."""
    return {
        i
        for (t, i), r in fixture_resources().items()
        if t == "ActivityDefinition"
        and r.get("productReference", {}).get("reference") == f"Medication/{medication_id}"
    }


def test_typed_chain_on_a_canonical_reference(client: FlaskClient) -> None:
    expected = _plans_using("vincristine")
    assert expected  # the fixtures use vincristine somewhere
    found = search_ids(
        client, "/fhir/PlanDefinition?definition:ActivityDefinition.title=vincristine"
    )
    assert found == expected
    assert found != fixture_ids("PlanDefinition") or len(expected) == len(found)
    none = search_ids(client, "/fhir/PlanDefinition?definition:ActivityDefinition.title=zzz-none")
    assert none == set()


def test_chain_needs_a_type_where_several_are_possible(client: FlaskClient) -> None:
    outcome = assert_outcome(client.get("/fhir/PlanDefinition?definition.title=vincristine"), 400)
    text = outcome["issue"][0]["diagnostics"]
    assert "definition.title" in text and "ActivityDefinition" in text


def test_chain_on_a_type_reference(client: FlaskClient) -> None:
    found = search_ids(client, "/fhir/ActivityDefinition?product.code=zzz-none")
    assert found == set()
    found = search_ids(client, "/fhir/ActivityDefinition?product._id=methotrexate")
    assert found == _giving("methotrexate")
    typed = search_ids(client, "/fhir/ActivityDefinition?product:Medication._id=cytarabine")
    assert typed == _giving("cytarabine")


def test_chain_with_a_code(client: FlaskClient) -> None:
    med = fixture_resources()[("Medication", "methotrexate")]
    coding = med["code"]["coding"][0]
    found = search_ids(
        client, f"/fhir/ActivityDefinition?product.code={coding['system']}|{coding['code']}"
    )
    assert found == _giving("methotrexate")


def test_has_over_a_type_reference(client: FlaskClient) -> None:
    found = search_ids(client, "/fhir/Medication?_has:ActivityDefinition:product:title=vincristine")
    assert found == {"vincristine"}
    found = search_ids(
        client, "/fhir/Medication?_has:ActivityDefinition:product:title=methotrexate"
    )
    assert found == {"methotrexate"}


def test_has_over_a_canonical_reference(client: FlaskClient) -> None:
    plans = fixture_ids("PlanDefinition")
    used = {i for (t, i) in fixture_resources() if t == "ActivityDefinition" and _plans_using(i)}
    title = fixture_resources()[("PlanDefinition", "all-induction")]["title"]
    assert plans
    found = search_ids(
        client,
        f"/fhir/ActivityDefinition?_has:PlanDefinition:definition:title={title}&_count=200",
    )
    assert found == {i for i in used if "all-induction" in _plans_using(i)}
    assert found


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (
            "/fhir/PlanDefinition?definition:ActivityDefinition.product.code=x",
            "more than one level",
        ),
        ("/fhir/PlanDefinition?definition:ActivityDefinition.nonsense=x", "nonsense"),
        ("/fhir/PlanDefinition?definition:missing.title=x", ":missing"),
        ("/fhir/PlanDefinition?definition:Medication.code=x", "not Medication"),
        ("/fhir/PlanDefinition?title.name=x", "title"),
        (
            "/fhir/Medication?_has:ActivityDefinition:product:_has:PlanDefinition:definition:title=x",
            "nested _has",
        ),
        ("/fhir/Medication?_has:Observation:subject:code=x", "Observation"),
        ("/fhir/Medication?_has:ActivityDefinition:nonsense:title=x", "nonsense"),
        ("/fhir/Medication?_has:ActivityDefinition:product:nonsense=x", "nonsense"),
        ("/fhir/Medication?_has:PlanDefinition:definition:title=x", "never to Medication"),
        ("/fhir/Medication?_has:ActivityDefinition=x", "_has"),
    ],
)
def test_unsupported_chains_are_400_even_in_lenient_mode(
    client: FlaskClient, url: str, named: str
) -> None:
    outcome = assert_outcome(client.get(url), 400)  # no Prefer: handling=strict
    assert named in outcome["issue"][0]["diagnostics"]


def test_a_dotted_unknown_parameter_is_an_unknown_parameter(client: FlaskClient) -> None:
    # not a chain (nonsense is no parameter): ignored when lenient, a 400 when strict
    assert client.get("/fhir/PlanDefinition?nonsense.title=x").status_code == 200
    strict = {"Prefer": "handling=strict"}
    outcome = assert_outcome(
        client.get("/fhir/PlanDefinition?nonsense.title=x", headers=strict), 400
    )
    assert "nonsense" in outcome["issue"][0]["diagnostics"]


def test_absolute_reference_on_our_own_base_matches(client: FlaskClient) -> None:
    relative = search_ids(client, "/fhir/ActivityDefinition?product=Medication/cytarabine")
    assert relative == _giving("cytarabine")
    absolute = search_ids(
        client, "/fhir/ActivityDefinition?product=http://localhost/fhir/Medication/cytarabine"
    )
    assert absolute == relative
    foreign = search_ids(
        client,
        "/fhir/ActivityDefinition?product=https://elsewhere.example/fhir/Medication/cytarabine",
    )
    assert foreign == set()
