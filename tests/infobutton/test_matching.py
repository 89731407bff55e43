"""What ``/infobutton`` finds for a code, in both formats, against expectations worked out
from the fixture bundles (``expected``), never from the service's own lookups.

The issue's acceptance cases are pinned by name as well (C91.0 and 91857003 give both ALL
phases, 6851 gives methotrexate and the phases that give it), so that the fixtures drifting
away from them would fail here rather than pass vacuously.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from . import expected
from .support import (
    DISPLAY,
    ICD9CM,
    ICD10CM,
    LANGUAGE,
    LOINC,
    RECIPIENT,
    RXNORM,
    SNOMED,
    Shown,
    criteria,
    fetch,
)

FORMATS = ["atom", "json"]
BOTH_PHASES = {"all-induction", "all-maintenance"}


def phase_ids(feed: Shown) -> list[str]:
    return [p.removeprefix("PlanDefinition/") for p in feed.resource_paths() if "Plan" in p]


def medication_ids(feed: Shown) -> list[str]:
    return [p.removeprefix("Medication/") for p in feed.resource_paths() if "Medication" in p]


def test_the_fixtures_still_hold_the_acceptance_cases() -> None:
    assert expected.phases_about(expected.ICD10CM_URI, "C91.0") == BOTH_PHASES
    assert expected.phases_about(expected.SNOMED_URI, "91857003") == BOTH_PHASES
    assert expected.medications_coded("6851") == {"methotrexate"}
    assert expected.phases_giving({"methotrexate"})  # some phase gives methotrexate


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("oid", "code", "system"),
    [(ICD10CM, "C91.0", expected.ICD10CM_URI), (SNOMED, "91857003", expected.SNOMED_URI)],
)
def test_a_condition_finds_the_phases_about_it(
    client: FlaskClient, fmt: str, oid: str, code: str, system: str
) -> None:
    feed = fetch(client, criteria(oid, code), fmt)
    assert set(phase_ids(feed)) == expected.phases_about(system, code) == BOTH_PHASES
    assert medication_ids(feed) == []
    assert len(feed.entries) == len(BOTH_PHASES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_rxnorm_ingredient_finds_its_medication_and_the_phases_giving_it(
    client: FlaskClient, fmt: str
) -> None:
    feed = fetch(client, criteria(RXNORM, "6851"), fmt)
    medications = expected.medications_coded("6851")
    assert medication_ids(feed) == sorted(medications) == ["methotrexate"]
    assert set(phase_ids(feed)) == expected.phases_giving(medications)
    assert feed.titles[0] == expected.MEDICATIONS["methotrexate"]["code"]["text"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "rxcui",
    sorted(
        {
            c["code"]
            for m in expected.MEDICATIONS.values()
            for c in m.get("code", {}).get("coding", [])
            if c["system"] == expected.RXNORM_URI
        }
    ),
)
def test_every_coded_drug_finds_its_phases(client: FlaskClient, fmt: str, rxcui: str) -> None:
    feed = fetch(client, criteria(RXNORM, rxcui), fmt)
    medications = expected.medications_coded(rxcui)
    assert set(medication_ids(feed)) == medications
    assert set(phase_ids(feed)) == expected.phases_giving(medications)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("code", ["C91.00", "C91.01", "C91.0A", "c91.0", "c91.00", "C91.0"])
def test_an_icd10cm_code_finds_content_coded_with_an_ancestor(
    client: FlaskClient, fmt: str, code: str
) -> None:
    feed = fetch(client, criteria(ICD10CM, code), fmt)
    assert set(phase_ids(feed)) == expected.phases_about(expected.ICD10CM_URI, code)
    assert set(phase_ids(feed)) == BOTH_PHASES


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("code", ["C91", "C92.0", "C91.1", "C91.10", "C90.0"])
def test_broader_or_sibling_icd10cm_codes_find_nothing(
    client: FlaskClient, fmt: str, code: str
) -> None:
    feed = fetch(client, criteria(ICD10CM, code), fmt)
    assert expected.phases_about(expected.ICD10CM_URI, code) == set()
    assert feed.entries == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("oid", "code"),
    [
        (ICD10CM, "Z99.89"),
        (SNOMED, "254637007"),  # a real SNOMED CT code (NSCLC) the fixtures do not carry
        (RXNORM, "1000000"),
        (RXNORM, "105585"),  # methotrexate 2.5 MG Oral Tablet (an SCD): no relationships held
    ],
)
def test_unknown_codes_give_an_empty_feed(
    client: FlaskClient, fmt: str, oid: str, code: str
) -> None:
    feed = fetch(client, criteria(oid, code), fmt)
    assert feed.entries == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("oid", "code"), [(ICD9CM, "204.00"), (LOINC, "1234-5"), ("1.2.3", "x")])
def test_a_well_formed_oid_of_another_system_gives_an_empty_feed(
    client: FlaskClient, fmt: str, oid: str, code: str
) -> None:
    feed = fetch(client, criteria(oid, code), fmt)
    assert feed.entries == []
    assert ("mainSearchCriteria.v.cs", oid) in feed.categories
    assert oid in feed.subtitle


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("tag", "found"),
    [("en", True), ("EN", True), ("en-US", True), ("en-ca", True), ("es", False), ("fr-CA", False)],
)
def test_language_matches_on_the_primary_subtag(
    client: FlaskClient, fmt: str, tag: str, found: bool
) -> None:
    for oid, code in [(ICD10CM, "C91.0"), (RXNORM, "6851")]:
        feed = fetch(client, criteria(oid, code, (LANGUAGE, tag)), fmt)
        assert bool(feed.entries) is found, (oid, tag)
        assert feed.lang.lower() == tag.lower()
        assert (LANGUAGE, tag) in feed.categories


def test_every_fixture_resource_is_in_english() -> None:
    """The language test means something only if the content says it is English."""
    assert {r.get("language") for r in expected.RESOURCES.values()} == {"en"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_parameters_are_ignored_and_not_echoed(client: FlaskClient, fmt: str) -> None:
    plain = fetch(client, criteria(ICD10CM, "C91.0"), fmt)
    noisy = fetch(
        client,
        criteria(
            ICD10CM,
            "C91.0",
            ("taskContext.c.c", "PROBLISTREV"),
            ("patientPerson.administrativeGenderCode.c", "F"),
            ("age.v.v", "45"),
            ("age.v.u", "a"),
            ("age.v.u", "a"),  # repeating an unknown parameter is not an error
            ("performer", "PROV"),
            ("mainSearchCriteria.v.c1", "C92.0"),
        ),
        fmt,
    )
    assert noisy.entries == plain.entries
    assert noisy.id == plain.id
    assert noisy.categories == plain.categories
    assert {s for s, _ in noisy.categories} == {
        "mainSearchCriteria.v.c",
        "mainSearchCriteria.v.cs",
        "informationRecipient.languageCode.c",
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_are_medications_first_then_phases_by_title_without_duplicates(
    client: FlaskClient, fmt: str
) -> None:
    feed = fetch(client, criteria(RXNORM, "6851"), fmt)
    kinds = [path.split("/")[0] for path in feed.resource_paths()]
    assert kinds == sorted(kinds, key=lambda k: k != "Medication")
    phase_titles = [t for t, k in zip(feed.titles, kinds, strict=True) if k == "PlanDefinition"]
    assert phase_titles == sorted(phase_titles, key=str.casefold)
    assert len(set(feed.ids)) == len(feed.ids)
    assert len(set(feed.resource_paths())) == len(feed.entries)


@pytest.mark.parametrize("fmt", FORMATS)
def test_criteria_are_echoed_as_categories_and_subtitle(client: FlaskClient, fmt: str) -> None:
    feed = fetch(
        client,
        criteria(ICD10CM, "c91.00", (DISPLAY, "Acute lymphoblastic leukemia"), (RECIPIENT, "PAT")),
        fmt,
    )
    assert feed.subtitle == "Results for ICD-10-CM C91.00 (Acute lymphoblastic leukemia)"
    assert feed.categories == [
        ("mainSearchCriteria.v.c", "c91.00"),
        ("mainSearchCriteria.v.cs", ICD10CM),
        ("mainSearchCriteria.v.dn", "Acute lymphoblastic leukemia"),
        ("informationRecipient.languageCode.c", "en"),
        ("informationRecipient", "PAT"),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_display_name_is_never_used_for_matching(client: FlaskClient, fmt: str) -> None:
    plain = fetch(client, criteria(ICD10CM, "C91.0"), fmt)
    misleading = fetch(client, criteria(ICD10CM, "C91.0", (DISPLAY, "Breast cancer")), fmt)
    unmatched = fetch(
        client, criteria(ICD10CM, "C50.9", (DISPLAY, "Acute lymphoblastic leukemia")), fmt
    )
    assert misleading.entries == plain.entries
    assert unmatched.entries == []


@pytest.mark.parametrize("recipient", ["PAT", "PROV"])
def test_both_recipients_get_the_same_content(client: FlaskClient, recipient: str) -> None:
    plain = fetch(client, criteria(ICD10CM, "C91.0"), "json")
    feed = fetch(client, criteria(ICD10CM, "C91.0", (RECIPIENT, recipient)), "json")
    assert feed.entries == plain.entries
