"""What a request should find, worked out from the fixture bundles (fixtures/fhir), which
are what the test store was loaded from. Nothing here uses the service's code: the joins
are walked over the raw resources, and ICD-10-CM ancestry is stated as a prefix rule
rather than computed by truncation as the service does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.conftest import PAGE_IDS, golden_bundle, resources

ICD10CM_URI = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED_URI = "http://snomed.info/sct"
RXNORM_URI = "http://www.nlm.nih.gov/research/umls/rxnorm"

Resource = dict[str, Any]


def _all() -> dict[str, Resource]:
    found: dict[str, Resource] = {}
    for stem in PAGE_IDS:
        for resource in resources(golden_bundle(stem)):
            found[f"{resource['resourceType']}/{resource['id']}"] = resource
    return found


RESOURCES = _all()


def of_type(resource_type: str) -> dict[str, Resource]:
    return {r["id"]: r for r in RESOURCES.values() if r["resourceType"] == resource_type}


PHASES = of_type("PlanDefinition")
ACTIVITIES = of_type("ActivityDefinition")
MEDICATIONS = of_type("Medication")


def focus_codings(phase: Resource) -> Iterator[tuple[str, str]]:
    for context in phase.get("useContext", []):
        if context["code"]["code"] != "focus":
            continue
        for coding in context.get("valueCodeableConcept", {}).get("coding", []):
            yield coding["system"], coding["code"]


def icd10cm_covers(stored: str, asked: str) -> bool:
    """Whether content coded ``stored`` answers a request for ``asked`` (both upper case):
    the same code, or a category of it, which in ICD-10-CM is a prefix that ends at the
    dot or continues after it."""
    if not asked.startswith(stored):
        return False
    return len(asked) == len(stored) or "." in stored or asked[len(stored)] == "."


def phases_about(system: str, code: str) -> set[str]:
    found = set()
    for phase_id, phase in PHASES.items():
        for coded_system, coded in focus_codings(phase):
            if coded_system != system:
                continue
            if coded == code or (system == ICD10CM_URI and icd10cm_covers(coded, code.upper())):
                found.add(phase_id)
    return found


def medications_coded(rxcui: str) -> set[str]:
    return {
        medication_id
        for medication_id, medication in MEDICATIONS.items()
        for coding in medication.get("code", {}).get("coding", [])
        if coding["system"] == RXNORM_URI and coding["code"] == rxcui
    }


def _actions(actions: list[Resource]) -> Iterator[Resource]:
    for action in actions:
        yield action
        yield from _actions(action.get("action", []))


def phases_giving(medication_ids: set[str]) -> set[str]:
    """Phases with an action (at any depth) whose definition is an ActivityDefinition whose
    product is one of the Medications."""
    wanted = {f"Medication/{m}" for m in medication_ids}
    canonicals = set()
    for activity in ACTIVITIES.values():
        if activity.get("productReference", {}).get("reference") in wanted:
            canonicals |= {activity["url"], f"{activity['url']}|{activity['version']}"}
    return {
        phase_id
        for phase_id, phase in PHASES.items()
        if any(a.get("definitionCanonical") in canonicals for a in _actions(phase["action"]))
    }


def plain(markdown: str) -> str:
    """Text a reader sees of inline Markdown the fixtures use (no markup in them)."""
    return " ".join(markdown.split())
