"""The R4 validator harness catches what it claims to: a green validation elsewhere means something.

Planted errors are validated in one batch (as the suite does with real output) and each must be
reported at the right location. The last tests pin down what FHIR.js does NOT catch: if a
dependency bump makes one of them fail, update the list of limits in validators/validate-r4.js.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import r4_validator
from tests.support.r4_validator import SCRIPT, R4Result, find_node, validate_r4

Resource = dict[str, Any]


def plan_definition(**overrides: Any) -> Resource:
    """A minimal valid R4 PlanDefinition; keyword arguments replace or add top-level elements."""
    resource: Resource = {
        "resourceType": "PlanDefinition",
        "id": "pd-minimal",
        "status": "active",
        "title": "Managing fatigue during chemotherapy",
        "action": [{"title": "Rest", "selectionBehavior": "any"}],
    }
    resource.update(overrides)
    return resource


def with_bad_selection_behavior() -> Resource:
    resource = plan_definition(id="pd-bad-binding")
    resource["action"][0]["selectionBehavior"] = "bogus"
    return resource


def without_status() -> Resource:
    resource = plan_definition(id="pd-no-status")
    del resource["status"]
    return resource


PLANTED: dict[str, Resource] = {
    "valid": plan_definition(),
    "bad_required_binding": with_bad_selection_behavior(),
    "r4b_only_element": plan_definition(id="pd-r4b", subjectCanonical="http://example.org/x"),
    "medication_bad_status": {"resourceType": "Medication", "id": "med-1", "status": "zzz"},
    "string_for_array": plan_definition(id="pd-type", action="Rest"),
    "missing_required": without_status(),
    "bundle_entry_error": {
        "resourceType": "Bundle",
        "id": "bundle-1",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:0a3d0f7c-1b1e-4c5e-9d58-000000000001",
                "resource": plan_definition(),
            },
            {
                "fullUrl": "urn:uuid:0a3d0f7c-1b1e-4c5e-9d58-000000000002",
                "resource": {"resourceType": "Medication", "id": "med-2", "status": "zzz"},
            },
        ],
    },
    "contained_error": plan_definition(
        id="pd-contained", contained=[{"resourceType": "Medication", "id": "m", "status": "zzz"}]
    ),
    "preferred_binding_miss": plan_definition(id="pd-lang", language="xx-nowhere"),
}


@pytest.fixture(scope="module")
def planted() -> dict[str, R4Result]:
    results = validate_r4(list(PLANTED.values()))
    return dict(zip(PLANTED, results, strict=True))


def error_locations(result: R4Result) -> list[str]:
    return [issue.location for issue in result.issues]


def test_minimal_plan_definition_is_valid(planted: dict[str, R4Result]) -> None:
    result = planted["valid"]
    assert result.valid, result.describe()
    assert result.issues == ()
    assert (result.resource_type, result.id) == ("PlanDefinition", "pd-minimal")


@pytest.mark.parametrize(
    ("case", "location", "message_part"),
    [
        (
            "bad_required_binding",
            "PlanDefinition.action[0].selectionBehavior",
            'Code "bogus" not found in value set',
        ),
        ("r4b_only_element", "PlanDefinition.subjectCanonical", "Unexpected property"),
        ("medication_bad_status", "Medication.status", 'Code "zzz" not found in value set'),
        ("string_for_array", "PlanDefinition.action", "Property is not an array"),
        ("missing_required", "PlanDefinition.status", "Missing property"),
        ("bundle_entry_error", "Bundle.entry[1].resource.status", 'Code "zzz"'),
        ("contained_error", "PlanDefinition.contained[0].status", 'Code "zzz"'),
    ],
)
def test_planted_error_is_reported_at_its_location(
    planted: dict[str, R4Result], case: str, location: str, message_part: str
) -> None:
    result = planted[case]
    assert not result.valid
    assert error_locations(result) == [location], result.describe()
    assert result.issues[0].severity == "error"
    assert message_part in result.issues[0].message


def test_non_required_binding_miss_is_a_warning_not_an_error(
    planted: dict[str, R4Result],
) -> None:
    result = planted["preferred_binding_miss"]
    assert result.valid, result.describe()
    assert [(w.severity, w.location) for w in result.warnings] == [
        ("warning", "PlanDefinition.language")
    ]


def test_batch_yields_one_result_per_resource_in_order() -> None:
    batch: list[Resource] = []
    for n in range(7):
        resource = plan_definition(id=f"pd-{n}")
        if n % 3 == 1:
            resource["status"] = f"bad-{n}"
        batch.append(resource)
    batch.append({"resourceType": "Medication", "id": "med-last"})

    results = validate_r4(batch)

    assert [(r.resource_type, r.id) for r in results] == [
        (r["resourceType"], r["id"]) for r in batch
    ]
    assert [r.valid for r in results] == [n % 3 != 1 for n in range(7)] + [True]
    assert validate_r4([]) == []


def test_validation_does_not_mutate_or_need_copies() -> None:
    resource = with_bad_selection_behavior()
    before = copy.deepcopy(resource)
    validate_r4([resource])
    assert resource == before


def test_unusable_items_and_validator_crashes_are_fatal_not_batch_failures() -> None:
    # FHIR.js throws on `"experimental": null`; that must not lose the rest of the batch.
    crashing = plan_definition(id="pd-null", experimental=None)
    results = validate_r4([crashing, {"no": "resourceType"}, plan_definition()])

    assert [r.valid for r in results] == [False, False, True]
    assert results[0].issues[0].severity == "fatal"
    assert "validator crashed" in results[0].issues[0].message
    assert results[1].issues[0].severity == "fatal"
    assert results[1].resource_type is None


def run_script(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_node(), str(SCRIPT)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("stdin", ["this is not JSON", "", '{"resourceType": "Patient"}'])
def test_bad_input_exits_2_with_one_line_on_stderr(stdin: str) -> None:
    proc = run_script(stdin)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("validate-r4: ")
    assert proc.stderr.count("\n") == 1


def test_exit_code_reflects_validity() -> None:
    assert run_script("[]").returncode == 0
    assert run_script('[{"resourceType": "Medication", "status": "zzz"}]').returncode == 1


def test_missing_node_modules_raises_with_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(r4_validator, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(RuntimeError, match=r"npm ci --prefix validators"):
        validate_r4([plan_definition()])


def test_missing_node_raises_with_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"`node` was not found"):
        validate_r4([plan_definition()])


# What FHIR.js 4.12.0 does NOT catch. Each of these is invalid R4 but passes, so other checks
# (fhir.resources, our own tests) must cover them.
KNOWN_GAPS: dict[str, Resource] = {
    "narrative_xhtml_not_checked": plan_definition(
        text={"status": "generated", "div": "<p>no xhtml div<script>alert(1)</script>"}
    ),
    "invariant_ele1_empty_element": plan_definition(effectivePeriod={}),
    "invariant_ext1_two_values": plan_definition(
        extension=[{"url": "http://example.org/x", "valueString": "a", "valueBoolean": True}]
    ),
    "choice_exclusivity": plan_definition(
        subjectCodeableConcept={"text": "x"}, subjectReference={"reference": "Group/1"}
    ),
    "string_primitive_type": plan_definition(title=42),
    "array_for_single_string": plan_definition(title=["a", "b"]),
    "empty_array": plan_definition(identifier=[]),
    "null_array_item": plan_definition(action=[None]),
    "unanchored_date_pattern": plan_definition(date="2024-13-45T99:99"),
    "unanchored_id_pattern": plan_definition(id="not a valid id!"),
    "instant_format": plan_definition(meta={"lastUpdated": "yesterday"}),
    "reference_target_type": plan_definition(subjectReference={"reference": "Patient/1"}),
}


def test_known_gaps_are_still_not_reported() -> None:
    results = validate_r4(list(KNOWN_GAPS.values()))
    now_caught = [
        name for name, result in zip(KNOWN_GAPS, results, strict=True) if not result.valid
    ]
    assert now_caught == [], (
        "FHIR.js now catches these; update the limits listed in validators/validate-r4.js"
    )
