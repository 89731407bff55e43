"""What the two seed pages must become (issue: mapping pipeline, section 5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mappings.rules import vocabulary

from .conftest import golden_bundle, resources

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"


def _bundle(stem: str) -> dict[str, Any]:
    return golden_bundle(stem)


def _pd(stem: str) -> dict[str, Any]:
    return next(r for r in resources(_bundle(stem)) if r["resourceType"] == "PlanDefinition")


def _by_id(stem: str, resource_type: str, id_: str) -> dict[str, Any]:
    return next(
        r for r in resources(_bundle(stem)) if r["resourceType"] == resource_type and r["id"] == id_
    )


def _actions(action: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield action
    for child in action.get("action", []):
        yield from _actions(child)


def _action(stem: str, **match: Any) -> dict[str, Any]:
    found = [
        a
        for a in _actions(_pd(stem)["action"][0])
        if all(a.get(k) == v or (k == "startswith" and a.get("title", "").startswith(v))
               for k, v in match.items())
    ]  # fmt: skip
    assert len(found) == 1, (match, [a.get("id") for a in found])
    return found[0]


def _ad_of(stem: str, action: dict[str, Any]) -> dict[str, Any]:
    url, _, version = action["definitionCanonical"].partition("|")
    ad = next(r for r in resources(_bundle(stem)) if r.get("url") == url)
    assert ad["version"] == version
    return ad


def test_header_of_both_phases() -> None:
    for stem, title in [
        ("all-induction", "Induction treatments for acute lymphoblastic leukemia"),
        ("all-maintenance", "Maintenance treatments for acute lymphoblastic leukemia"),
    ]:
        pd = _pd(stem)
        assert pd["title"] == title
        assert pd["status"] == "active"
        assert pd["type"]["coding"][0]["code"] == "clinical-protocol"
        assert pd["publisher"] == "Canadian Cancer Society"
        assert pd["copyright"] == "© 2024 Canadian Cancer Society"
        focus = pd["useContext"][0]
        assert focus["code"]["code"] == "focus"
        assert {"system": SNOMED, "code": "91857003", "display": "Acute lymphoid leukemia"} in (
            focus["valueCodeableConcept"]["coding"]
        )
        assert pd["reviewer"] == [{"name": "Kareem Jamani, MD, LMCC, FRCPC"}]
        disclaimer = [e for e in pd["extension"] if e["url"].endswith("/content-disclaimer")]
        assert disclaimer[0]["valueMarkdown"].startswith("The information that the Canadian")
        assert pd["jurisdiction"] == [{"text": "Canada"}]  # no verified ISO 3166 code: text
        assert "lastReviewDate" not in pd  # blank on the page: never defaulted
        assert "date" not in pd  # no publication date on the page: never invented


def test_a_citation_per_reference_with_its_url_when_given() -> None:
    citations = [a for a in _pd("all-induction")["relatedArtifact"] if a["type"] == "citation"]
    assert len(citations) == 18
    assert [c["label"] for c in citations] == [str(i) for i in range(1, 19)]
    procytox = next(c for c in citations if "Procytox" in c["citation"])
    assert procytox["url"] == "https://pdf.hres.ca/dpd_pm/00017604.PDF"
    maintenance = [a for a in _pd("all-maintenance")["relatedArtifact"]]
    assert len(maintenance) == 8 and not any("url" in c for c in maintenance)


def test_goal_duration_and_urgency() -> None:
    induction = _pd("all-induction")
    assert induction["goal"][0]["description"]["text"].startswith("rapidly clear the blood")
    root = induction["action"][0]
    assert root["goalId"] == [induction["goal"][0]["id"]]
    assert root["priority"] == "urgent"
    repeat = root["timingTiming"]["repeat"]
    assert repeat["boundsDuration"] == {
        "value": 1, "unit": "month", "system": vocabulary.UCUM, "code": "mo"
    }  # fmt: skip
    assert repeat["extension"] == [{"url": vocabulary.TIMING_EXACT, "valueBoolean": False}]

    maintenance = _pd("all-maintenance")
    assert maintenance["goal"][0]["description"]["text"] == "maintain remission"
    bounds = maintenance["action"][0]["timingTiming"]["repeat"]["boundsRange"]
    assert (bounds["low"]["value"], bounds["high"]["value"], bounds["low"]["code"]) == (2, 3, "a")
    assert "priority" not in maintenance["action"][0]
    assert "may not need maintenance treatment" in maintenance["usage"]


def test_one_action_per_section_in_page_order() -> None:
    titles = [a.get("title") for a in _pd("all-induction")["action"][0]["action"]]
    assert titles == [
        "Chemotherapy",
        "Targeted therapy",
        "Central nervous system prophylaxis or treatment",
        "Radiation therapy",
        "Supportive therapy",
        "Clinical trials",
    ]
    # The maintenance page lost its "Chemotherapy" heading; its first sentence names it.
    titles = [a.get("title") for a in _pd("all-maintenance")["action"][0]["action"]]
    assert titles[0] == "Chemotherapy" and len(titles) == 5
    chemo = _pd("all-maintenance")["action"][0]["action"][0]
    assert chemo["description"].startswith("Chemotherapy is the primary maintenance treatment")
    assert chemo["documentation"] == [
        {"type": "documentation", "display": "Find out more about chemotherapy for ALL."}
    ]


def test_option_groups_have_the_selection_their_words_state() -> None:
    combo = _action("all-induction", startswith="The most common chemotherapy drug combination")
    assert (combo["selectionBehavior"], combo["precheckBehavior"]) == ("all", "yes")
    anthracycline = _action("all-induction", textEquivalent=(
        "daunorubicin (Cerubidine), doxorubicin or a similar anthracycline drug"))  # fmt: skip
    assert anthracycline["selectionBehavior"] == "exactly-one"
    assert [c["textEquivalent"] for c in anthracycline["action"]] == [
        "daunorubicin (Cerubidine)", "doxorubicin", "a similar anthracycline drug"
    ]  # fmt: skip
    steroids = _action(
        "all-induction", textEquivalent="steroids such as prednisone or dexamethasone"
    )
    assert steroids["selectionBehavior"] == "exactly-one"
    (exhaustive,) = steroids["extension"]  # "such as": the two drugs are examples
    assert exhaustive["url"].endswith("/StructureDefinition/action-options-exhaustive")
    assert exhaustive["valueBoolean"] is False
    assert steroids["code"][0]["coding"][0]["code"] == "H02AB"
    others = _action("all-induction", startswith="You may be offered other drugs")
    assert (others["selectionBehavior"], others["requiredBehavior"]) == ("any", "could")
    cns = _action("all-induction", startswith="CNS prophylaxis or treatment may include")
    assert cns["selectionBehavior"] == "one-or-more"
    monthly = _action("all-maintenance", startswith="Other drugs that may be added")
    assert monthly["timingTiming"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "mo"}


def test_philadelphia_condition_and_tki_sequence() -> None:
    for stem in ("all-induction", "all-maintenance"):
        targeted = _action(stem, title="Targeted therapy")
        (condition,) = targeted["condition"]
        assert condition["kind"] == "applicability"
        assert condition["expression"]["description"] == (
            "the leukemia cells have the Philadelphia chromosome"
        )
        first, second = targeted["action"]
        assert _ad_of(stem, first)["productReference"]["reference"] == "Medication/imatinib"
        assert second["relatedAction"] == [{"actionId": first["id"], "relationship": "after-end"}]
        assert second["condition"][0]["kind"] == "start"
        assert second["condition"][0]["expression"]["description"] == "If this doesn't work"
        options = [c["textEquivalent"] for c in second["action"]]
        assert options == ["dasatinib (Sprycel)", "another TKI"]


def test_schedules_routes_and_brands() -> None:
    weekly = _ad_of("all-maintenance", _action("all-maintenance", textEquivalent=(
        "methotrexate, often given weekly")))  # fmt: skip
    dosage = weekly["dosage"][0]
    # The shared activity says how often in the tables' words; the page's "often" (not exact)
    # is on the action that offers it, with the page's own words in its textEquivalent.
    assert dosage["text"] == "weekly"
    assert dosage["timing"]["repeat"]["periodUnit"] == "wk"
    assert "extension" not in dosage["timing"]["repeat"]
    offer = _action("all-maintenance", textEquivalent="methotrexate, often given weekly")
    assert offer["timingTiming"]["repeat"]["extension"][0]["valueBoolean"] is False
    daily = _ad_of("all-maintenance", _action("all-maintenance", textEquivalent=(
        "mercaptopurine (Purinethol), often given daily")))  # fmt: skip
    assert daily["dosage"][0]["timing"]["repeat"]["periodUnit"] == "d"
    # The brand is the page's word: it stays in the page's PlanDefinition; the Medication and
    # the ActivityDefinition are named by what the drug is, the same on every page.
    assert daily["productReference"]["display"] == "mercaptopurine"
    medication = _by_id("all-maintenance", "Medication", "mercaptopurine")
    assert medication["code"]["text"] == "mercaptopurine"
    assert {"system": RXNORM, "code": "103", "display": "mercaptopurine"} in (
        medication["code"]["coding"]
    )

    intrathecal = _ad_of("all-induction", _action("all-induction", textEquivalent="methotrexate"))
    route = intrathecal["dosage"][0]["route"]
    assert route["coding"][0]["code"] == "72607000"
    iv = _ad_of("all-induction", _action("all-induction", textEquivalent=(
        "high-dose methotrexate given intravenously (through an IV)")))  # fmt: skip
    assert iv["dosage"][0]["route"]["coding"][0]["code"] == "47625008"
    assert "doseAndRate" not in iv["dosage"][0]  # the page gives no amount
    assert iv["productReference"]["reference"] == "Medication/methotrexate"


def test_every_drug_of_the_seed_pages_is_a_medication() -> None:
    expected = {
        "all-induction": {
            "vincristine", "daunorubicin", "doxorubicin", "prednisone", "dexamethasone",
            "cyclophosphamide", "pegaspargase", "crisantaspase-recombinant", "methotrexate",
            "cytarabine", "imatinib", "dasatinib",
        },
        "all-maintenance": {
            "methotrexate", "mercaptopurine", "vincristine", "prednisone", "dexamethasone",
            "imatinib", "dasatinib", "cytarabine",
        },
    }  # fmt: skip
    for stem, drugs in expected.items():
        found = {r["id"] for r in resources(_bundle(stem)) if r["resourceType"] == "Medication"}
        assert found == drugs
