"""A page of the same family that the mapping has never seen: AML induction.

It mixes headings the cues know (Chemotherapy, Targeted therapy, Supportive therapy) with
headings they do not (Immunotherapy, Stem cell transplant), and drugs the terminology tables
know (cytarabine, daunorubicin, idarubicin, gemtuzumab ozogamicin) with a drug they do not
(quizartinib, which only the packaged drug dictionary knows). Apart from the family's fixed
phrases, its wording is new.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mappings import fhir
from mappings.pipeline import MappedPage, map_page
from mappings.terminology import RXNORM
from mappings.terminology import load as load_terminology
from service import create_app
from tests.support.r4_validator import R4Result, validate_r4
from tests.test_cli import describe, run_map

AML_INDUCTION = """\
Induction treatments for acute myeloid leukemia

Last medical review: March 2024

The goal of induction treatment for acute myeloid leukemia (AML) is to destroy the leukemia \
cells in the blood and bone marrow so that the disease goes into remission. Induction usually \
lasts about 4 weeks, and most of it happens in hospital.

Your care team chooses drugs based on the type of AML, your age and your general health. Ask \
them what each drug is for and how it will be given.

Chemotherapy

For AML, chemotherapy is the primary way to bring about remission. Several drugs are usually \
combined so that they attack the leukemia cells in different ways.

The most common chemotherapy combination for AML induction includes:

  • cytarabine, often given daily
  • idarubicin (Idamycin) or daunorubicin

Find out more about chemotherapy for AML.

Targeted therapy

Targeted therapy is added to chemotherapy if the leukemia cells have a change in the FLT3 gene. \
These drugs block signals that help the leukemia cells grow.

Targeted therapy for AML may include:

  • quizartinib (Vanflyta)

Immunotherapy

Immunotherapy helps your immune system find and destroy leukemia cells.

Immunotherapy drugs added to induction can be one or more of the following:

  • gemtuzumab ozogamicin (Mylotarg)
  • a monoclonal antibody drug offered in a research study

Stem cell transplant

Some people go on to have a stem cell transplant once the leukemia is in remission. Your team \
will talk with you about whether a transplant is right for you.

Planning for a transplant may include:

  • tissue typing of you and your brothers and sisters
  • a search for an unrelated donor

Supportive therapy

Supportive care helps you cope with the side effects of induction.

Care to prevent and manage complications may include:

  • antibiotics to prevent infections
  • transfusions of red blood cells as needed

Find out more about supportive therapy for AML.

Expert review and references

  • Jane Doe, MD, FRCPC
  • Example Leukemia Study Group. Induction therapy for adults with acute myeloid leukemia. \
2023: https://www.example.org/aml-induction.
  • Roe R, Poe P. Drug treatment of AML in adults. Journal of Example Haematology. \
2022;14:101-110.

Medical disclaimer

This page gives general information only. It is not medical advice, and it cannot take the \
place of a talk with your own doctor.

Always ask your healthcare team about your own situation before you make a decision about \
treatment.

1-888-939-3333 | cancer.ca | © 2024 Canadian Cancer Society
"""

HEADINGS = (
    "Chemotherapy",
    "Targeted therapy",
    "Immunotherapy",
    "Stem cell transplant",
    "Supportive therapy",
)
UNKNOWN_HEADINGS = ("Immunotherapy", "Stem cell transplant")
# name as the page writes it -> (its brand on the page, the Medication's code.text: the
# generic name, the same on every page; the brand stays in the page's PlanDefinition)
UNKNOWN_DRUGS = {"quizartinib": ("Vanflyta", "quizartinib")}

Resource = dict[str, Any]


def treatment_bullets(page: str) -> list[str]:
    """Bullet texts of the intro and treatment sections (reviewers and citations excluded),
    read independently of mappings.source."""
    body = page.split("\nExpert review and references\n")[0]
    return [line.strip().removeprefix("•").strip() for line in body.splitlines() if "•" in line]


def actions(action_list: list[Resource]) -> list[Resource]:
    """Every action of a tree, depth first."""
    found = []
    for action in action_list:
        found.append(action)
        found.extend(actions(action.get("action", [])))
    return found


def of_type(resources: tuple[Resource, ...], resource_type: str) -> list[Resource]:
    return [r for r in resources if r["resourceType"] == resource_type]


def plan_definition(mapped: MappedPage) -> Resource:
    (pd,) = of_type(mapped.result.resources, "PlanDefinition")
    return pd


def medication(mapped: MappedPage, text: str) -> Resource:
    matches = [
        m for m in of_type(mapped.result.resources, "Medication") if m["code"]["text"] == text
    ]
    assert len(matches) == 1, f"expected one Medication with code.text {text!r}, got {matches}"
    return matches[0]


@pytest.fixture(scope="module")
def mapped() -> MappedPage:
    return map_page(AML_INDUCTION.encode("utf-8"))


@pytest.fixture(scope="module")
def r4_results(mapped: MappedPage) -> list[R4Result]:
    """One node run for all resources and the Bundle."""
    return validate_r4([*mapped.result.resources, mapped.bundle])


def test_the_unknown_drugs_are_really_unknown_to_the_tables() -> None:
    terms = load_terminology()
    for name, (brand, _) in UNKNOWN_DRUGS.items():
        assert terms.drug(name) is None, f"{name} is in drugs.yaml: pick another drug"
        assert terms.drug_by_brand(brand) is None, f"{brand} is in drugs.yaml: pick another"
        assert not terms.find(f"{name} ({brand})"), f"the tables know words of {name}"
    assert terms.drug("cytarabine") is not None


def test_page_maps_to_a_plan_activities_and_medications(mapped: MappedPage) -> None:
    types = {r["resourceType"] for r in mapped.result.resources}
    assert types == {"PlanDefinition", "ActivityDefinition", "Medication"}
    assert mapped.bundle["type"] == "collection"
    assert len(mapped.bundle["entry"]) == len(mapped.result.resources)


def test_every_resource_passes_the_fhir_models(mapped: MappedPage) -> None:
    for resource in [*mapped.result.resources, mapped.bundle]:
        fhir.validate(resource)  # raises InvalidResource with the problems


def test_every_resource_passes_the_independent_r4_validator(r4_results: list[R4Result]) -> None:
    bad = [r for r in r4_results if not r.valid or r.issues]
    assert not bad, "R4 validator errors:\n" + "\n".join(r.describe() for r in bad)


@pytest.mark.parametrize("name", UNKNOWN_DRUGS)
def test_unknown_drug_is_a_text_only_medication_and_a_warning(
    mapped: MappedPage, name: str
) -> None:
    brand, text = UNKNOWN_DRUGS[name]
    code = medication(mapped, text)["code"]
    pd = json.dumps(plan_definition(mapped))
    assert f"{name} ({brand})" in pd, "the page's brand stays in its PlanDefinition"

    assert "coding" not in code, f"{name} is not in the tables, yet has codings {code}"
    warnings = [w for w in mapped.result.warnings if f"drug {name!r}" in w]
    assert warnings, f"no warning names {name!r}: {mapped.result.warnings}"


def test_known_drug_has_an_rxnorm_coding(mapped: MappedPage) -> None:
    code = medication(mapped, "cytarabine")["code"]

    systems = [c["system"] for c in code.get("coding", [])]
    assert RXNORM in systems, f"cytarabine has no RxNorm coding: {code}"
    assert not [w for w in mapped.result.warnings if "'cytarabine'" in w]


def test_section_headings_are_the_root_action_children_in_page_order(mapped: MappedPage) -> None:
    (root,) = plan_definition(mapped)["action"]
    titles = [child.get("title") for child in root.get("action", [])]

    assert titles == list(HEADINGS)
    positions = [titles.index(h) for h in UNKNOWN_HEADINGS]
    assert positions == sorted(positions)


@pytest.mark.parametrize("bullet", treatment_bullets(AML_INDUCTION))
def test_every_bullet_is_some_actions_text_equivalent(mapped: MappedPage, bullet: str) -> None:
    texts = {a.get("textEquivalent") for a in actions(plan_definition(mapped)["action"])}

    assert bullet in texts, f"{bullet!r} is not verbatim in any action.textEquivalent"


def test_bullets_were_found() -> None:
    assert len(treatment_bullets(AML_INDUCTION)) == 9


def test_cli_maps_the_page_and_reports_warnings_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapped: MappedPage
) -> None:
    for name in ("FLASK_CANONICAL_BASE", "FLASK_ARTIFACT_VERSION"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "aml-induction.txt"
    path.write_text(AML_INDUCTION, encoding="utf-8")
    app: Flask = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    )

    result = run_map(app, str(path))

    assert result.exit_code == 0, describe(result)
    assert json.loads(result.stdout) == mapped.bundle, "warnings must not reach stdout"
    lines = result.stderr.splitlines()
    assert lines == [f"{path}: warning: {w}" for w in mapped.result.warnings], describe(result)
    for name in UNKNOWN_DRUGS:
        assert f"drug {name!r}" in result.stderr, describe(result)


# -- an unknown drug named in one breath with a known term -------------------------------


@pytest.mark.parametrize(
    ("bullet", "name"),
    [
        ("cytarabine and glasdegib (Daurismo)", "glasdegib"),
        ("quizartinib (Vanflyta), given with chemotherapy", "quizartinib"),
    ],
)
def test_unknown_drug_beside_a_known_term_is_not_dropped(bullet: str, name: str) -> None:
    chemotherapy = "  • cytarabine, often given daily\n  • idarubicin (Idamycin) or daunorubicin\n"
    page = AML_INDUCTION.replace(chemotherapy, f"  • {bullet}\n  • daunorubicin\n")
    page = page.replace("  • quizartinib (Vanflyta)\n", "  • a drug that blocks FLT3\n")
    assert page.count(name) == 1, "the variant names the drug in that one bullet only"

    result = map_page(page.encode("utf-8")).result

    medications = [r["code"]["text"] for r in result.resources if r["resourceType"] == "Medication"]
    assert any(text.startswith(name) for text in medications), medications
    assert [w for w in result.warnings if f"drug {name!r}" in w], result.warnings
