"""``$validate`` as R4's Resource-validate: ``mode``, ``profile`` (query or Parameters), the
instance level, and server-local findings at the right severity (issue 16, item 4).

Before this, an unknown profile answered "no problems found", ``mode`` was ignored, there was
no instance level, and a well-formed RxNorm code outside our tables was an error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mappings.rules.config import MappingConfig
from mappings.rules.definitions import PROFILED, profile_url
from service.search.params import RESOURCE_TYPES

JSON = "application/fhir+json"
PROFILES = {t: profile_url(MappingConfig(), t) for t in PROFILED}
CORE = "http://hl7.org/fhir/StructureDefinition/"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
Json = dict[str, Any]


@pytest.fixture(scope="module")
def stored(app: Flask) -> dict[str, list[Json]]:
    """Every stored resource of each type, read over HTTP."""
    client = app.test_client()
    found: dict[str, list[Json]] = {}
    for resource_type in RESOURCE_TYPES:
        bundle = client.get(f"/fhir/{resource_type}?_count=200").get_json()
        found[resource_type] = [e["resource"] for e in bundle.get("entry", [])]
        assert found[resource_type], resource_type
    return found


def post(client: FlaskClient, path: str, body: Any = None, **query: str) -> TestResponse:
    data = json.dumps(body).encode() if body is not None else b""
    return client.post(
        path, query_string=query, data=data, content_type=JSON if body is not None else None
    )


def issues(response: TestResponse) -> list[Json]:
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    found: list[Json] = outcome["issue"]
    return found


def problems(response: TestResponse) -> list[tuple[str, str, str]]:
    return [
        (i["severity"], i["code"], (i.get("expression") or [""])[0])
        for i in issues(response)
        if i["severity"] in ("fatal", "error", "warning")
    ]


def parameters(resource: Json | None = None, **values: str) -> Json:
    items: list[Json] = [{"name": "resource", "resource": resource}] if resource else []
    kinds = {"mode": "valueCode", "profile": "valueCanonical"}
    items += [{"name": name, kinds[name]: value} for name, value in values.items()]
    return {"resourceType": "Parameters", "parameter": items}


def first(stored: dict[str, list[Json]], resource_type: str) -> Json:
    return json.loads(json.dumps(stored[resource_type][0]))


# --- profile ----------------------------------------------------------------------------------


def test_an_unknown_profile_is_an_error_not_no_problems(client: FlaskClient, stored: Any) -> None:
    unknown = "https://fhir.example.org/ped/StructureDefinition/nope"
    response = post(
        client, "/fhir/Medication/$validate", first(stored, "Medication"), profile=unknown
    )
    assert response.status_code == 400
    (issue,) = issues(response)
    assert (issue["severity"], issue["code"]) == ("error", "not-found")
    assert unknown in issue["diagnostics"]


def test_a_profile_that_is_not_a_structure_definition_is_an_error(
    client: FlaskClient, stored: Any
) -> None:
    operation = "https://fhir.example.org/ped/OperationDefinition/import"
    response = post(
        client, "/fhir/Medication/$validate", first(stored, "Medication"), profile=operation
    )
    assert response.status_code == 400


@pytest.mark.parametrize("resource_type", PROFILED)
def test_every_stored_resource_validates_against_our_profile(
    client: FlaskClient, stored: dict[str, list[Json]], resource_type: str
) -> None:
    failing = {}
    for resource in stored[resource_type]:
        for response in (
            post(
                client,
                f"/fhir/{resource_type}/$validate",
                resource,
                profile=PROFILES[resource_type],
            ),
            post(
                client,
                f"/fhir/{resource_type}/$validate",
                parameters(resource, profile=PROFILES[resource_type]),
            ),
        ):
            assert response.status_code == 200, response.get_data(as_text=True)
            errors = [i for i in problems(response) if i[0] in ("fatal", "error")]
            if errors:
                failing[resource["id"]] = errors
    assert not failing, failing


BROKEN = [
    # (type, how it is broken, expected (severity, code), location)
    ("PlanDefinition", lambda r: r["action"][0].update(groupingBehavior="logical-group"),
     ("error", "value"), "PlanDefinition.action[0].groupingBehavior"),
    ("ActivityDefinition", lambda r: r.update(intent="order"), ("error", "value"),
     "ActivityDefinition.intent"),
    ("Medication", lambda r: r.update(status="inactive"), ("error", "value"), "Medication.status"),
]  # fmt: skip


@pytest.mark.parametrize(("resource_type", "breaks", "expected", "where"), BROKEN)
def test_a_broken_resource_fails_against_our_profile_with_the_issue_where_it_is(
    client: FlaskClient, stored: Any, resource_type: str, breaks: Any, expected: Any, where: str
) -> None:
    resource = first(stored, resource_type)
    resource.pop("meta", None)  # only the profile asked for
    breaks(resource)
    plain = post(client, f"/fhir/{resource_type}/$validate", resource)
    assert problems(plain) == []  # valid R4: only the profile says otherwise
    response = post(
        client, f"/fhir/{resource_type}/$validate", resource, profile=PROFILES[resource_type]
    )
    assert response.status_code == 200
    (issue,) = [i for i in issues(response) if i["severity"] == "error"]
    assert (issue["severity"], issue["code"]) == expected
    assert issue["expression"] == [where]
    assert PROFILES[resource_type] in issue["diagnostics"]


def test_a_claimed_profile_is_checked_only_when_asked_for(client: FlaskClient, stored: Any) -> None:
    """As $import (which refuses exactly what $validate without a profile rejects)."""
    medication = first(stored, "Medication")
    assert medication["meta"]["profile"] == [PROFILES["Medication"]]
    medication["status"] = "inactive"
    assert problems(post(client, "/fhir/Medication/$validate", medication)) == []
    asked = post(client, "/fhir/Medication/$validate", medication, profile=PROFILES["Medication"])
    assert problems(asked) == [("error", "value", "Medication.status")]


def test_a_core_profile_is_the_base_validation(client: FlaskClient, stored: Any) -> None:
    medication = first(stored, "Medication")
    response = post(client, "/fhir/Medication/$validate", medication, profile=f"{CORE}Medication")
    assert response.status_code == 200
    assert problems(response) == []
    other = post(client, "/fhir/Medication/$validate", medication, profile=f"{CORE}PlanDefinition")
    assert [p[:2] for p in problems(other)] == [("error", "invalid")]


def test_our_canonicals_resolve_during_validation(client: FlaskClient, stored: Any) -> None:
    """meta.profile and our extension urls are served: not a 'could not be checked'."""
    plan = first(stored, "PlanDefinition")
    assert plan["meta"]["profile"]
    assert problems(post(client, "/fhir/PlanDefinition/$validate", plan)) == []


# --- mode -------------------------------------------------------------------------------------


def test_an_unknown_mode_is_a_400(client: FlaskClient, stored: Any) -> None:
    medication = first(stored, "Medication")
    for response in (
        post(client, "/fhir/Medication/$validate", medication, mode="replace"),
        post(client, "/fhir/Medication/$validate", parameters(medication, mode="replace")),
    ):
        assert response.status_code == 400
        assert "replace" in issues(response)[0]["diagnostics"]


def test_update_needs_an_id_create_does_not(client: FlaskClient, stored: Any) -> None:
    medication = first(stored, "Medication")
    del medication["id"]
    update = post(client, "/fhir/Medication/$validate", medication, mode="update")
    assert problems(update) == [("error", "required", "Medication.id")]
    create = post(client, "/fhir/Medication/$validate", medication, mode="create")
    assert problems(create) == []
    in_parameters = post(
        client, "/fhir/Medication/$validate", parameters(medication, mode="update")
    )
    assert problems(in_parameters) == [("error", "required", "Medication.id")]


def test_the_query_and_parameters_must_agree(client: FlaskClient, stored: Any) -> None:
    body = parameters(first(stored, "Medication"), mode="create")
    assert post(client, "/fhir/Medication/$validate", body, mode="create").status_code == 200
    assert post(client, "/fhir/Medication/$validate", body, mode="update").status_code == 400
    twice = client.post(
        "/fhir/Medication/$validate?mode=create&mode=update",
        data=json.dumps(first(stored, "Medication")),
        content_type=JSON,
    )
    assert twice.status_code == 400


# --- instance level ---------------------------------------------------------------------------


def test_instance_level_without_a_body_validates_the_stored_resource(
    client: FlaskClient, stored: Any
) -> None:
    for resource_type in PROFILED:
        rid = stored[resource_type][0]["id"]
        response = post(client, f"/fhir/{resource_type}/{rid}/$validate")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert problems(response) == []
        with_profile = post(
            client, f"/fhir/{resource_type}/{rid}/$validate", profile=PROFILES[resource_type]
        )
        assert problems(with_profile) == []


def test_instance_level_of_an_unknown_id_is_a_404(client: FlaskClient) -> None:
    assert post(client, "/fhir/Medication/nope/$validate").status_code == 404
    assert post(client, "/fhir/Patient/x/$validate").status_code == 404


def test_instance_level_with_a_body_validates_an_update_of_that_id(
    client: FlaskClient, stored: Any
) -> None:
    medication = first(stored, "Medication")
    rid = medication["id"]
    assert problems(post(client, f"/fhir/Medication/{rid}/$validate", medication)) == []
    other = post(client, "/fhir/Medication/someone-else/$validate", medication)
    assert problems(other) == [("error", "invalid", "Medication.id")]
    del medication["id"]
    missing = post(client, f"/fhir/Medication/{rid}/$validate", medication)
    assert problems(missing) == [("error", "required", "Medication.id")]
    create = post(client, f"/fhir/Medication/{rid}/$validate", medication, mode="create")
    assert create.status_code == 400


def test_delete_of_a_referenced_resource_names_who_references_it(
    client: FlaskClient, stored: dict[str, list[Json]]
) -> None:
    activities = stored["ActivityDefinition"]
    used = next(a["productReference"]["reference"] for a in activities if "productReference" in a)
    users = sorted(
        f"ActivityDefinition/{a['id']}"
        for a in activities
        if a.get("productReference", {}).get("reference") == used
    )
    response = post(client, f"/fhir/{used}/$validate", mode="delete")
    assert response.status_code == 200
    (issue,) = issues(response)
    assert (issue["severity"], issue["code"]) == ("error", "conflict")
    for user in users:
        assert user in issue["diagnostics"]


def test_delete_of_an_activity_a_plan_uses_is_refused(
    client: FlaskClient, stored: dict[str, list[Json]]
) -> None:
    activity = stored["ActivityDefinition"][0]
    response = post(client, f"/fhir/ActivityDefinition/{activity['id']}/$validate", mode="delete")
    (issue,) = issues(response)
    assert issue["code"] == "conflict"
    assert "PlanDefinition/" in issue["diagnostics"]


def test_delete_of_an_unreferenced_or_missing_resource(
    client: FlaskClient, stored: dict[str, list[Json]]
) -> None:
    plan = stored["PlanDefinition"][0]["id"]
    free = post(client, f"/fhir/PlanDefinition/{plan}/$validate", mode="delete")
    assert [(i["severity"], i["code"]) for i in issues(free)] == [("information", "informational")]
    missing = post(client, "/fhir/PlanDefinition/nope/$validate", mode="delete")
    assert [(i["severity"], i["code"]) for i in issues(missing)] == [("error", "not-found")]
    by_body = post(
        client, "/fhir/PlanDefinition/$validate", stored["PlanDefinition"][0], mode="delete"
    )
    assert issues(by_body) == issues(free)
    no_id = post(
        client, "/fhir/PlanDefinition/$validate", {"resourceType": "PlanDefinition"}, mode="delete"
    )
    assert no_id.status_code == 400


def test_a_medication_no_activity_uses_can_be_deleted(writable_app: Flask) -> None:
    client = writable_app.test_client()
    lonely = {"resourceType": "Medication", "id": "lonely", "code": {"text": "lonely"}}
    writable_app.extensions["ped.store"].put([lonely])
    response = post(client, "/fhir/Medication/lonely/$validate", mode="delete")
    assert [i["code"] for i in issues(response)] == ["informational"]


# --- severities -------------------------------------------------------------------------------


def test_a_well_formed_code_we_do_not_hold_is_information_a_malformed_one_an_error(
    client: FlaskClient, stored: Any
) -> None:
    medication = first(stored, "Medication")
    medication["code"]["coding"] = [{"system": RXNORM, "code": "999999999"}]
    unknown = post(client, "/fhir/Medication/$validate", medication)
    assert problems(unknown) == []
    assert any(
        i["severity"] == "information" and "not checked" in i["diagnostics"]
        for i in issues(unknown)
    )
    medication["code"]["coding"] = [{"system": RXNORM, "code": "RX-1"}]
    malformed = post(client, "/fhir/Medication/$validate", medication)
    assert problems(malformed) == [("error", "code-invalid", "Medication.code.coding[0]")]


def test_the_capability_statement_lists_validate_for_each_type(client: FlaskClient) -> None:
    statement = client.get("/fhir/metadata").get_json()
    for resource in statement["rest"][0]["resource"]:
        if resource["type"] in PROFILED:
            names = [o["name"] for o in resource.get("operation", [])]
            assert names.count("validate") == 1, resource["type"]
