"""One planted error of each kind, caught with the right severity, code and location."""

from __future__ import annotations

from typing import Any

import pytest

from service.validation import Issue, validate

from .conftest import KnownReferences, first


def problems(resource: Any, known: KnownReferences, **kw: Any) -> list[tuple[str, str, str]]:
    issues = validate(resource, references=known, **kw)
    return [(i.severity, i.code, i.location) for i in issues if i.severity != "information"]


def plan_with_nested_action() -> tuple[dict[str, Any], str]:
    plan = first("PlanDefinition")
    for i, action in enumerate(plan["action"]):
        for j, child in enumerate(action.get("action", [])):
            if "selectionBehavior" in child or "action" in child:
                return plan, f"PlanDefinition.action[{i}].action[{j}]"
    raise AssertionError("no nested action in the fixtures")


def test_unknown_element(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["colour"] = "blue"
    assert problems(medication, known) == [("error", "structure", "Medication.colour")]


def test_r5_only_element_is_named(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["doseForm"] = {"text": "tablet"}
    issues = validate(medication, references=known)
    assert issues[0] == Issue(
        "error",
        "structure",
        "Medication.doseForm",
        issues[0].message,
    )
    assert "R5" in issues[0].message


def test_r4b_only_subject_canonical(known: KnownReferences) -> None:
    activity = first("ActivityDefinition")
    activity["subjectCanonical"] = "http://example.org/Group/x"
    issues = validate(activity, references=known)
    assert (issues[0].code, issues[0].location) == (
        "structure",
        "ActivityDefinition.subjectCanonical",
    )
    assert "R4B" in issues[0].message


def test_r5_related_action_target_id(known: KnownReferences) -> None:
    plan = first("PlanDefinition")

    def find(actions: list[dict[str, Any]], where: str) -> tuple[dict[str, Any], str] | None:
        for i, action in enumerate(actions):
            here = f"{where}.action[{i}]"
            if action.get("relatedAction"):
                return action["relatedAction"][0], f"{here}.relatedAction[0]"
            found = find(action.get("action", []), here)
            if found:
                return found
        return None

    found = find(plan["action"], "PlanDefinition")
    assert found, "the fixtures have a relatedAction"
    related, where = found
    related["targetId"] = "x"
    assert problems(plan, known) == [("error", "structure", f"{where}.targetId")]


def test_missing_required(known: KnownReferences) -> None:
    plan = first("PlanDefinition")
    del plan["status"]
    assert problems(plan, known) == [("error", "required", "PlanDefinition.status")]


def test_array_where_single_value(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["status"] = ["active"]
    assert problems(medication, known) == [("error", "structure", "Medication.status")]


def test_single_value_where_array(known: KnownReferences) -> None:
    activity = first("ActivityDefinition")
    activity["topic"] = {"text": "x"}
    assert problems(activity, known) == [("error", "structure", "ActivityDefinition.topic")]


@pytest.mark.parametrize(
    ("element", "value", "code"),
    [
        ("date", "2024-13-01", "value"),
        ("date", 2024, "structure"),
        ("experimental", "true", "structure"),
        ("id", "not an id!", "value"),
        ("url", "has space", "value"),
        ("name", "", "value"),
    ],
)
def test_bad_primitive(known: KnownReferences, element: str, value: Any, code: str) -> None:
    plan = first("PlanDefinition")
    plan[element] = value
    assert ("error", code, f"PlanDefinition.{element}") in problems(plan, known)


def test_two_choice_types(known: KnownReferences) -> None:
    activity = first("ActivityDefinition")
    activity["timingDateTime"] = "2024-01-01"
    activity["timingAge"] = {"value": 3, "system": "http://unitsofmeasure.org", "code": "a"}
    assert ("error", "structure", "ActivityDefinition.timingAge") in problems(activity, known)


def test_empty_object_and_array(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["form"] = {}
    medication["identifier"] = []
    found = problems(medication, known)
    assert ("error", "structure", "Medication.form") in found
    assert ("error", "structure", "Medication.identifier") in found


def test_primitive_companion(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["_status"] = {"extension": [{"url": "http://example.org/x", "valueCode": "a"}]}
    assert problems(medication, known) == []
    medication["_status"] = {"colour": 1}
    assert problems(medication, known) == [("error", "structure", "Medication.status.colour")]


def test_contained_validated_recursively(known: KnownReferences) -> None:
    plan = first("PlanDefinition")
    plan["contained"] = [{"resourceType": "Medication", "id": "m", "status": "gone"}]
    plan["action"][0]["definitionCanonical"] = "#m"
    where = "PlanDefinition.contained[0].status"
    assert ("error", "code-invalid", where) in problems(plan, known)


def test_selection_behavior_binding(known: KnownReferences) -> None:
    plan, action = plan_with_nested_action()
    target = plan
    for part in action.removeprefix("PlanDefinition.").split("."):
        name, index = part.rstrip("]").split("[")
        target = target[name][int(index)]
    target["selectionBehavior"] = "some"
    found = problems(plan, known)
    assert found == [("error", "code-invalid", f"{action}.selectionBehavior")]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("status",), "final"),
        (("text", "status"), "made-up"),
    ],
)
def test_required_binding_codes(known: KnownReferences, path: tuple[str, ...], value: str) -> None:
    plan = first("PlanDefinition")
    target = plan
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    assert problems(plan, known) == [("error", "code-invalid", "PlanDefinition." + ".".join(path))]


def test_quantity_comparator_binding(known: KnownReferences) -> None:
    activity = first("ActivityDefinition")
    activity["quantity"] = {"value": 1, "comparator": "about"}
    found = problems(activity, known)
    assert ("error", "code-invalid", "ActivityDefinition.quantity.comparator") in found
    assert ("error", "invariant", "ActivityDefinition.quantity") in found  # sqty-1


def test_pdf_0_is_a_warning(known: KnownReferences) -> None:
    plan = first("PlanDefinition")
    plan["name"] = "lower case name"
    issues = validate(plan, references=known)
    assert [(i.severity, i.code, i.location) for i in issues] == [("warning", "invariant", "")]
    assert issues[0].message.startswith("pdf-0")


@pytest.mark.parametrize(
    ("element", "value", "key"),
    [
        ("effectivePeriod", {"start": "2024-02-01", "end": "2024-01-01"}, "per-1"),
        ("relatedArtifact", [{"type": "documentation", "document": {"data": "AAAA"}}], "att-1"),
        ("contact", [{"telecom": [{"value": "555"}]}], "cpt-2"),
        ("extension", [{"url": "http://example.org/x"}], "ext-1"),
        ("useContext", [{"code": {"code": "x"}, "valueQuantity": {"code": "mg"}}], "qty-3"),
    ],
)
def test_datatype_invariant(known: KnownReferences, element: str, value: Any, key: str) -> None:
    plan = first("PlanDefinition")
    plan[element] = value
    issues = [i for i in validate(plan, references=known) if i.code == "invariant"]
    assert [i.message.split(":")[0] for i in issues] == [key]
    assert issues[0].severity == "error"


def test_timing_invariant(known: KnownReferences) -> None:
    activity = first("ActivityDefinition")
    activity.pop("timingTiming", None)
    activity["timingTiming"] = {"repeat": {"period": 1}}
    issues = [i for i in validate(activity, references=known) if i.code == "invariant"]
    assert [(i.location, i.message[:5]) for i in issues] == [
        ("ActivityDefinition.timingTiming.repeat", "tim-2")
    ]


def test_narrative_rules(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>'
    issues = validate(medication, references=known)
    assert [(i.code, i.location, i.message[:5]) for i in issues] == [
        ("invariant", "Medication.text.div", "txt-1")
    ]
    medication["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml"> </div>'
    issues = validate(medication, references=known)
    assert [i.message[:5] for i in issues] == ["txt-2"]


def test_contained_reference_must_resolve(known: KnownReferences) -> None:
    activity = first("ActivityDefinition")
    activity["location"] = {"reference": "#nowhere"}
    issues = validate(activity, references=known)
    assert [(i.code, i.location, i.message[:5]) for i in issues] == [
        ("invariant", "ActivityDefinition.location", "ref-1")
    ]


def test_unresolved_literal_reference(known: KnownReferences) -> None:
    activity = first("ActivityDefinition")
    activity["location"] = {"reference": "Location/nowhere"}
    assert problems(activity, known) == [
        ("error", "not-found", "ActivityDefinition.location.reference")
    ]


def test_unresolved_canonical(known: KnownReferences) -> None:
    plan, _ = plan_with_nested_action()
    plan["library"] = ["https://fhir.example.org/ped/PlanDefinition/missing|1.0.0"]
    assert problems(plan, known) == [("error", "not-found", "PlanDefinition.library[0]")]


def test_foreign_canonical_is_a_warning(known: KnownReferences) -> None:
    plan = first("PlanDefinition")
    plan["library"] = ["http://example.org/Library/cql"]
    assert problems(plan, known) == [("warning", "not-supported", "PlanDefinition.library[0]")]


def test_unknown_but_well_formed_rxnorm_code_is_information(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["code"]["coding"] = [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "999999999"}
    ]
    assert problems(medication, known) == []
    found = [(i.severity, i.code, i.location) for i in validate(medication, references=known)]
    assert ("information", "informational", "Medication.code.coding[0]") in found


def test_malformed_rxnorm_code(known: KnownReferences) -> None:
    medication = first("Medication")
    medication["code"]["coding"] = [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "RX1234"}
    ]
    assert problems(medication, known) == [("error", "code-invalid", "Medication.code.coding[0]")]


def test_wrong_resource_type(known: KnownReferences) -> None:
    assert problems(first("Medication"), known, expected_type="PlanDefinition") == [
        ("fatal", "invalid", "")
    ]


@pytest.mark.parametrize("body", [[], "x", 3, None, {"resourceType": 7}, {}])
def test_non_resource_input(known: KnownReferences, body: Any) -> None:
    issues = validate(body, references=known)
    assert len(issues) == 1 and issues[0].severity == "fatal" and issues[0].location == ""


def test_errors_come_first_in_document_order(known: KnownReferences) -> None:
    plan = first("PlanDefinition")
    plan["name"] = "bad name"
    plan["zzz"] = 1
    plan["status"] = "nope"
    found = problems(plan, known)
    assert found == [
        ("error", "code-invalid", "PlanDefinition.status"),
        ("error", "structure", "PlanDefinition.zzz"),
        ("warning", "invariant", ""),
    ]
