"""``service.validation.profiles``: a resource against a StructureDefinition's differential.

The StructureDefinitions here are written for the tests, one constraint each, so that each
test shows one rule caught with its severity, code and FHIRPath location; the last tests run
our own published profiles (``mappings.rules.definitions``) over every resource we map.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mappings.rules.config import MappingConfig
from mappings.rules.definitions import profile_url, structure_definitions
from service.validation import profiles, validate
from tests.corpus.oracle import ALL
from tests.corpus.oracle import mapped as corpus_mapped

from .conftest import KnownReferences, content, first

Json = dict[str, Any]
URL = "http://example.org/StructureDefinition/test"
EXT = "http://example.org/StructureDefinition/flag"


def sd(resource_type: str, *elements: Json, url: str = URL, **extra: Any) -> Json:
    return {
        "resourceType": "StructureDefinition",
        "url": url,
        "type": resource_type,
        "kind": "resource",
        "derivation": "constraint",
        "baseDefinition": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "differential": {"element": [{"id": resource_type, "path": resource_type}, *elements]},
        **extra,
    }


def el(path: str, **props: Any) -> Json:
    element: Json = {"id": path, "path": path}
    for key, value in props.items():
        element["max" if key == "max_" else key] = value
    return element


def found(resource: Json, profile: Json, **kw: Any) -> list[tuple[str, str, str]]:
    return [(i.severity, i.code, i.location) for i in profiles.check(resource, profile, **kw)]


def plan() -> Json:
    """A mapped plan whose root action has sections, at least one of them with children."""
    return first("PlanDefinition")


# --- cardinality ------------------------------------------------------------------------------


def test_a_missing_required_element_is_reported_where_it_belongs() -> None:
    resource = plan()
    del resource["title"]
    assert found(resource, sd("PlanDefinition", el("PlanDefinition.title", min=1))) == [
        ("error", "required", "PlanDefinition.title")
    ]


def test_min_applies_to_each_occurrence_of_a_repeating_parent() -> None:
    resource = plan()
    sections = resource["action"][0]["action"]
    assert len(sections) > 1
    sections[1].pop("id")
    profile = sd("PlanDefinition", el("PlanDefinition.action.action.id", min=1))
    assert found(resource, profile) == [
        ("error", "required", "PlanDefinition.action[0].action[1].id")
    ]


def test_nested_actions_follow_the_content_reference_to_any_depth() -> None:
    resource = plan()
    leaf = {"id": "d", "title": "x"}
    resource["action"] = [
        {
            "id": "a",
            "action": [
                {"id": "b", "action": [{"id": "c", "action": [leaf, {**leaf, "prefix": "1"}]}]}
            ],
        }
    ]
    profile = sd("PlanDefinition", el("PlanDefinition.action.action.action.action.prefix", min=1))
    where = "PlanDefinition.action[0].action[0].action[0].action[0].prefix"
    assert found(resource, profile) == [("error", "required", where)]


def test_max_zero_and_max_one() -> None:
    resource = plan()
    resource["action"].append(copy.deepcopy(resource["action"][0]))
    resource["action"][1]["id"] = "second"
    resource["topic"] = [{"text": "a"}]
    profile = sd(
        "PlanDefinition",
        el("PlanDefinition.action", max_="1"),
        el("PlanDefinition.topic", max_="0"),
    )
    assert found(resource, profile) == [
        ("error", "structure", "PlanDefinition.action[1]"),
        ("error", "structure", "PlanDefinition.topic[0]"),
    ]


def test_a_primitive_with_only_its_extension_is_present() -> None:
    resource = plan()
    resource["_publisher"] = {"extension": [{"url": "http://x", "valueString": "y"}]}
    resource.pop("publisher", None)
    assert found(resource, sd("PlanDefinition", el("PlanDefinition.publisher", min=1))) == []


def test_a_choice_counts_any_of_its_types() -> None:
    activity = first("ActivityDefinition")
    activity.pop("productReference", None)
    activity.pop("productCodeableConcept", None)
    profile = sd("ActivityDefinition", el("ActivityDefinition.product[x]", min=1))
    assert found(activity, profile) == [("error", "required", "ActivityDefinition.product")]
    activity["productCodeableConcept"] = {"text": "a drug"}
    assert found(activity, profile) == []


# --- fixed and pattern ------------------------------------------------------------------------


def test_fixed_values_are_compared_exactly() -> None:
    resource = plan()
    resource["experimental"] = False
    profile = sd(
        "PlanDefinition",
        el("PlanDefinition.status", fixedCode="retired"),
        el("PlanDefinition.experimental", fixedBoolean=False),
    )
    assert found(resource, profile) == [("error", "value", "PlanDefinition.status")]
    resource["experimental"] = 0  # not the JSON boolean
    assert ("error", "value", "PlanDefinition.experimental") in found(resource, profile)


def test_a_pattern_needs_its_values_and_allows_more() -> None:
    resource = plan()
    pattern = {"coding": [{"system": "http://s", "code": "c"}]}
    profile = sd("PlanDefinition", el("PlanDefinition.type", patternCodeableConcept=pattern))
    resource["type"] = {
        "coding": [
            {"system": "http://o", "code": "o"},
            {"system": "http://s", "code": "c", "display": "C"},
        ],
        "text": "t",
    }
    assert found(resource, profile) == []
    resource["type"] = {"coding": [{"system": "http://s", "code": "d"}]}
    assert found(resource, profile) == [("error", "value", "PlanDefinition.type")]


# --- bindings and types -----------------------------------------------------------------------


def test_a_required_binding_the_base_does_not_have() -> None:
    resource = plan()
    resource["type"] = {"coding": [{"system": "http://example.org/types", "code": "x"}]}
    binding = {"valueSet": "http://hl7.org/fhir/ValueSet/plan-definition-type|4.0.1"}
    required = sd(
        "PlanDefinition", el("PlanDefinition.type", binding={**binding, "strength": "required"})
    )
    extensible = sd(
        "PlanDefinition", el("PlanDefinition.type", binding={**binding, "strength": "extensible"})
    )
    assert found(resource, required) == [("error", "code-invalid", "PlanDefinition.type")]
    assert found(resource, extensible) == [("warning", "code-invalid", "PlanDefinition.type")]
    resource["type"]["coding"][0] = {
        "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
        "code": "order-set",
    }
    assert found(resource, required) == []


def test_a_binding_to_a_value_set_we_cannot_expand_is_not_checked_and_says_so() -> None:
    resource = plan()
    profile = sd(
        "PlanDefinition",
        el(
            "PlanDefinition.type",
            binding={"strength": "required", "valueSet": "http://example.org/ValueSet/unknown"},
        ),
    )
    issues = profiles.check(resource, profile)
    assert [(i.severity, i.code) for i in issues] == [("information", "not-supported")]
    assert "not checked" in issues[0].message


def test_a_choice_narrowed_to_one_type_and_a_reference_to_one_target() -> None:
    activity = first("ActivityDefinition")
    activity.pop("productReference", None)
    activity["productCodeableConcept"] = {"text": "x"}
    narrowed = sd(
        "ActivityDefinition", el("ActivityDefinition.product[x]", type=[{"code": "Reference"}])
    )
    assert found(activity, narrowed) == [
        ("error", "structure", "ActivityDefinition.productCodeableConcept")
    ]
    del activity["productCodeableConcept"]
    activity["productReference"] = {"reference": "Substance/x"}
    target = [
        {
            "code": "Reference",
            "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Medication"],
        }
    ]
    targeted = sd("ActivityDefinition", el("ActivityDefinition.product[x]", type=target))
    assert found(activity, targeted) == [
        ("error", "structure", "ActivityDefinition.productReference.reference")
    ]


# --- constraints ------------------------------------------------------------------------------


def test_a_profile_invariant_is_evaluated_at_its_element() -> None:
    resource = plan()
    resource["action"][0]["action"][0].pop("id")
    constraint = {
        "key": "t-1",
        "severity": "error",
        "human": "ids",
        "expression": "repeat(action).all(id.exists())",
    }
    profile = sd("PlanDefinition", {**el("PlanDefinition"), "constraint": [constraint]})
    issues = profiles.check(resource, profile)
    assert [(i.severity, i.code, i.location) for i in issues] == [
        ("error", "invariant", "PlanDefinition")
    ]
    assert "t-1" in issues[0].message and URL in issues[0].message


# --- extension slices -------------------------------------------------------------------------


EXTENSION_SD = {
    "resourceType": "StructureDefinition",
    "url": EXT,
    "type": "Extension",
    "derivation": "constraint",
    "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
    "differential": {
        "element": [
            el("Extension", max_="1"),
            el("Extension.extension", max_="0"),
            el("Extension.url", fixedUri=EXT),
            el("Extension.value[x]", min=1, type=[{"code": "boolean"}]),
        ]
    },
}


def sliced(path: str, *, min_: int = 0, rules: str = "open") -> Json:
    slicing = {"discriminator": [{"type": "value", "path": "url"}], "rules": rules}
    return sd(
        "PlanDefinition",
        el(path, slicing=slicing),
        {
            "id": f"{path}:flag",
            "path": path,
            "sliceName": "flag",
            "min": min_,
            "max": "1",
            "type": [{"code": "Extension", "profile": [EXT]}],
        },
    )


def resolve(url: str) -> Json | None:
    return EXTENSION_SD if url == EXT else None


def test_a_required_extension_slice_is_missing() -> None:
    resource = plan()
    resource.pop("extension", None)
    profile = sliced("PlanDefinition.extension", min_=1)
    assert found(resource, profile, resolve=resolve) == [
        ("error", "required", "PlanDefinition.extension")
    ]


def test_a_slice_used_twice_and_a_closed_slicing() -> None:
    resource = plan()
    section = resource["action"][0]["action"][0]
    flag = {"url": EXT, "valueBoolean": True}
    section["extension"] = [flag, flag, {"url": "http://other", "valueString": "x"}]
    where = "PlanDefinition.action[0].action[0].extension"
    assert found(resource, sliced("PlanDefinition.action.action.extension"), resolve=resolve) == [
        ("error", "structure", f"{where}[1]")
    ]
    closed = sliced("PlanDefinition.action.action.extension", rules="closed")
    assert ("error", "structure", f"{where}[2]") in found(resource, closed, resolve=resolve)


def test_an_extension_is_checked_against_its_own_definition() -> None:
    resource = plan()
    resource["extension"] = [{"url": EXT, "valueString": "yes"}]
    assert found(resource, sliced("PlanDefinition.extension"), resolve=resolve) == [
        ("error", "structure", "PlanDefinition.extension[0].valueString")
    ]
    resource["extension"] = [{"url": EXT}]
    assert found(resource, sliced("PlanDefinition.extension"), resolve=resolve) == [
        ("error", "required", "PlanDefinition.extension[0].value")
    ]
    resource["extension"] = [
        {"url": EXT, "valueBoolean": True, "extension": [{"url": "x", "valueBoolean": True}]}
    ]
    assert found(resource, sliced("PlanDefinition.extension"), resolve=resolve) == [
        ("error", "structure", "PlanDefinition.extension[0].extension[0]")
    ]


def test_an_extension_whose_definition_is_unknown_is_information() -> None:
    resource = plan()
    resource["extension"] = [{"url": EXT, "valueString": "yes"}]
    issues = profiles.check(resource, sliced("PlanDefinition.extension"))
    assert [(i.severity, i.code) for i in issues] == [("information", "not-supported")]


# --- the profile itself -----------------------------------------------------------------------


def test_a_profile_of_another_type_is_an_error() -> None:
    assert found(plan(), sd("Medication")) == [("error", "invalid", "PlanDefinition")]


def test_what_the_engine_does_not_understand_is_said_not_skipped() -> None:
    profile = sd(
        "PlanDefinition",
        el("PlanDefinition.colour", min=1),
        {"id": "PlanDefinition.extension:a.value[x]", "path": "PlanDefinition.extension.value[x]"},
    )
    issues = profiles.check(plan(), profile)
    assert [(i.severity, i.code) for i in issues] == [("information", "not-supported")] * 2
    assert all("not checked" in i.message for i in issues)


def test_a_derived_profile_checks_its_base_profile_too() -> None:
    base = sd("PlanDefinition", el("PlanDefinition.title", fixedString="never"), url="http://b")
    derived = sd("PlanDefinition", baseDefinition="http://b")
    assert found(plan(), derived, resolve={"http://b": base}.get) == [
        ("error", "value", "PlanDefinition.title")
    ]
    issues = profiles.check(plan(), derived)
    assert [(i.severity, i.code) for i in issues] == [("information", "not-supported")]


def test_malformed_input_never_raises() -> None:
    profile = sd("PlanDefinition", el("PlanDefinition.action.action.id", min=1))
    resource = plan()
    resource["action"] = "not a list"
    resource["title"] = {"a": 1}
    assert isinstance(profiles.check(resource, profile), list)
    assert profiles.check({"resourceType": 3}, profile) == []
    assert (
        profiles.check(
            plan(),
            {"resourceType": "StructureDefinition", "type": "PlanDefinition", "differential": "x"},
        )
        == []
    )


def test_core_type_urls() -> None:
    assert profiles.core_type("http://hl7.org/fhir/StructureDefinition/Medication") == "Medication"
    assert (
        profiles.core_type("http://hl7.org/fhir/StructureDefinition/Medication|4.0.1")
        == "Medication"
    )
    assert (
        profiles.core_type("http://hl7.org/fhir/StructureDefinition/PlanDefinition.action") is None
    )
    assert profiles.core_type("http://example.org/StructureDefinition/Medication") is None


# --- our own profiles -------------------------------------------------------------------------

CONFIG = MappingConfig()
OURS = {d["url"]: d for d in structure_definitions(CONFIG)}


def _errors(resource: Json, known: KnownReferences) -> list[tuple[str, str, str, str]]:
    profile = OURS[profile_url(CONFIG, resource["resourceType"])]
    issues = validate(resource, references=known, profiles=[profile], resolve=OURS.get)
    return [
        (i.severity, i.code, i.location, i.message)
        for i in issues
        if i.severity in ("fatal", "error")
    ]


def _corpus() -> list[Json]:
    return [e["resource"] for p in ALL for e in corpus_mapped(p).page.bundle["entry"]]


def test_every_resource_we_map_conforms_to_our_profile(known: KnownReferences) -> None:
    resources = content() + _corpus()
    assert {r["resourceType"] for r in resources} == {
        "PlanDefinition",
        "ActivityDefinition",
        "Medication",
    }
    corpus_known = KnownReferences(set(known.literals), set(known.canonicals))
    for r in _corpus():
        corpus_known.literals.add((r["resourceType"], r["id"]))
        if "url" in r:
            corpus_known.canonicals |= {(r["url"], r.get("version")), (r["url"], None)}
    failing = {
        f"{r['resourceType']}/{r['id']}": e for r in resources if (e := _errors(r, corpus_known))
    }
    assert not failing, failing


def _break_plan(r: Json) -> str:
    r["action"][0]["groupingBehavior"] = "logical-group"  # fixed visual-group
    return "PlanDefinition.action[0].groupingBehavior"


def _break_activity(r: Json) -> str:
    r["intent"] = "order"  # fixed proposal
    return "ActivityDefinition.intent"


def _break_medication(r: Json) -> str:
    r["extension"] = [e for e in r["extension"] if not e["url"].endswith("artifact-url")]
    return "Medication.extension"  # the required artifactUrl slice


@pytest.mark.parametrize(
    ("resource_type", "breaks", "code"),
    [
        ("PlanDefinition", _break_plan, "value"),
        ("ActivityDefinition", _break_activity, "value"),
        ("Medication", _break_medication, "required"),
    ],
)
def test_a_broken_resource_fails_against_our_profile(
    known: KnownReferences, resource_type: str, breaks: Any, code: str
) -> None:
    resource = first(resource_type)
    assert _errors(resource, known) == []
    where = breaks(resource)
    errors = _errors(resource, known)
    assert [(s, c, loc) for s, c, loc, _ in errors] == [("error", code, where)], errors
    assert profile_url(CONFIG, resource_type) in errors[0][3]
