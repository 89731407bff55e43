"""The server's own conformance resources (service.conformance), apart from the API.

Contract: every resource is R4 (the independent validator accepts it), has the canonical
``{base}/{Type}/{id}``, resolves by canonical (with or without ``|version``), and is listed
in the ImplementationGuide; search parameters R4 defines are named by their real R4 ids,
the others get a SearchParameter of ours; each of our operations has an
OperationDefinition made from the same description as its route.
"""

from __future__ import annotations

from typing import Any

import pytest

from mappings.fhir import is_valid_id
from service.conformance import CONFORMANCE_TYPES, definitions, resolve
from service.conformance.operations import IMPORT
from service.conformance.search_parameters import (
    R4_SEARCH_PARAMETER,
    SERVED_PARAMETERS,
    definition_url,
    own_parameters,
)
from service.search.params import PARAMETERS
from tests.support.r4_validator import validate_r4

BASE = "https://fhir.example.org/ped"
VERSION = "1.2.0"


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return definitions(BASE, VERSION)


def test_every_conformance_resource_passes_the_independent_r4_validator(
    resources: list[dict[str, Any]],
) -> None:
    results = validate_r4(resources)
    invalid = [r.describe() for r in results if not r.valid]
    assert not invalid, "\n".join(invalid)


def test_each_canonical_is_base_type_id_versioned_and_unique(
    resources: list[dict[str, Any]],
) -> None:
    assert {r["resourceType"] for r in resources} <= set(CONFORMANCE_TYPES)
    for resource in resources:
        assert is_valid_id(resource["id"])
        assert resource["url"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
        assert resource["version"] == VERSION
    urls = [r["url"] for r in resources]
    assert len(urls) == len(set(urls))


def test_resolve_by_canonical_with_or_without_version(resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        assert resolve(resource["url"], BASE, VERSION) == resource
        assert resolve(f"{resource['url']}|{VERSION}", BASE, VERSION) == resource
        assert resolve(f"{resource['url']}|9.9.9", BASE, VERSION) is None
    assert resolve(f"{BASE}/StructureDefinition/nothing-of-ours", BASE, VERSION) is None
    assert resolve("http://hl7.org/fhir/SearchParameter/Resource-id", BASE, VERSION) is None
    # Another base is another server's canonical.
    assert resolve(f"{BASE}/OperationDefinition/import", "https://other.example/x", VERSION) is None


def test_resolved_and_listed_resources_are_copies() -> None:
    first = definitions(BASE, VERSION)
    first[0]["status"] = "retired"
    found = resolve(first[0]["url"], BASE, VERSION)
    assert found is not None
    found["name"] = "Changed"
    again = definitions(BASE, VERSION)
    assert again[0]["status"] == "active"
    assert again[0]["name"] != "Changed"


def test_the_guide_lists_every_other_resource_once(resources: list[dict[str, Any]]) -> None:
    guides = [r for r in resources if r["resourceType"] == "ImplementationGuide"]
    assert len(guides) == 1
    guide = guides[0]
    assert guide["packageId"] == "ped.education.content"
    assert guide["fhirVersion"] == ["4.0.1"]
    assert [d["packageId"] for d in guide["dependsOn"]] == [
        "hl7.fhir.r4.core",
        "hl7.fhir.uv.extensions.r4",
    ]
    listed = [e["reference"]["reference"] for e in guide["definition"]["resource"]]
    others = [f"{r['resourceType']}/{r['id']}" for r in resources if r is not guide]
    assert listed == others


def test_the_guide_takes_the_package_name() -> None:
    guide = definitions(BASE, VERSION, package_name="org.example.content")[-1]
    assert guide["id"] == guide["packageId"] == "org.example.content"
    assert guide["url"] == f"{BASE}/ImplementationGuide/org.example.content"


# The R4 (4.0.1) SearchParameter ids of the parameters we support, written out from the
# R4 search parameter registry (searchparameter-registry.html), not derived by a rule.
R4_IDS = {
    ("PlanDefinition", "url"): "PlanDefinition-url",
    ("PlanDefinition", "definition"): "PlanDefinition-definition",
    ("PlanDefinition", "type"): "PlanDefinition-type",
    ("PlanDefinition", "context-type-value"): "PlanDefinition-context-type-value",
    ("PlanDefinition", "composed-of"): "PlanDefinition-composed-of",
    ("ActivityDefinition", "depends-on"): "ActivityDefinition-depends-on",
    ("ActivityDefinition", "title"): "ActivityDefinition-title",
    ("Medication", "_id"): "Resource-id",
    ("Medication", "_lastUpdated"): "Resource-lastUpdated",
    ("Medication", "_profile"): "Resource-profile",
    ("Medication", "_tag"): "Resource-tag",
    ("Medication", "_security"): "Resource-security",
    ("Medication", "_source"): "Resource-source",
    ("Medication", "code"): "clinical-code",
    ("Medication", "status"): "Medication-status",
    ("Medication", "form"): "Medication-form",
    ("Medication", "identifier"): "Medication-identifier",
    ("Medication", "ingredient"): "Medication-ingredient",
    ("Medication", "ingredient-code"): "Medication-ingredient-code",
    ("Medication", "manufacturer"): "Medication-manufacturer",
    ("Medication", "lot-number"): "Medication-lot-number",
    ("Medication", "expiration-date"): "Medication-expiration-date",
    ("StructureDefinition", "url"): "conformance-url",
    ("StructureDefinition", "name"): "conformance-name",
    ("StructureDefinition", "version"): "conformance-version",
    ("StructureDefinition", "status"): "conformance-status",
    ("StructureDefinition", "type"): "StructureDefinition-type",
    ("StructureDefinition", "base"): "StructureDefinition-base",
    ("SearchParameter", "code"): "SearchParameter-code",
    ("SearchParameter", "base"): "SearchParameter-base",
    ("SearchParameter", "type"): "SearchParameter-type",
    ("OperationDefinition", "code"): "OperationDefinition-code",
    ("OperationDefinition", "base"): "OperationDefinition-base",
    ("ImplementationGuide", "url"): "conformance-url",
    ("ImplementationGuide", "_id"): "Resource-id",
}


@pytest.mark.parametrize(("resource_type", "code"), sorted(R4_IDS))
def test_core_parameters_are_named_by_their_r4_ids(resource_type: str, code: str) -> None:
    expected = R4_SEARCH_PARAMETER + R4_IDS[resource_type, code]
    assert definition_url(resource_type, code, BASE) == expected


def test_every_parameter_is_ours_or_r4s_and_the_registry_agrees() -> None:
    for resource_type, params in PARAMETERS.items():
        for param in params.values():
            url = definition_url(resource_type, param.name, BASE)
            if param.definition is not None:  # the registry's own claim, where it makes one
                assert url == param.definition, (resource_type, param.name)
            assert url.startswith((R4_SEARCH_PARAMETER, f"{BASE}/SearchParameter/"))
    for resource_type, served in SERVED_PARAMETERS.items():
        for served_param in served:
            assert served_param.definition(resource_type).startswith(R4_SEARCH_PARAMETER)


def test_our_own_parameters_have_a_search_parameter_each(
    resources: list[dict[str, Any]],
) -> None:
    own = own_parameters()
    assert ("ActivityDefinition", "product") in {(t, p.name) for t, p in own}
    for resource_type, param in own:
        url = definition_url(resource_type, param.name, BASE)
        found = resolve(url, BASE, VERSION)
        assert found is not None, url
        assert found["resourceType"] == "SearchParameter"
        assert (found["code"], found["base"], found["type"]) == (
            param.name,
            [resource_type],
            param.type,
        )
        assert found["expression"] == param.expression
        assert found.get("target", []) == list(param.targets)
    searched = [r for r in resources if r["resourceType"] == "SearchParameter"]
    assert len(searched) == len(own)


def test_the_import_operation_definition_comes_from_its_description() -> None:
    found = resolve(f"{BASE}/{IMPORT.path}", BASE, VERSION)
    assert found is not None
    assert (found["code"], found["system"], found["type"], found["instance"]) == (
        "import",
        True,
        False,
        False,
    )
    assert found["affectsState"] is True
    for media_type in IMPORT.media_types:
        assert media_type in found["description"]
    assert {(p["name"], p["use"]) for p in found["parameter"]} == {
        ("content", "in"),
        ("return", "out"),
    }
