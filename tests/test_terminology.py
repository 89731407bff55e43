"""The terminology tables: page drugs resolve, every code is well-formed, bad tables fail loudly."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from mappings.terminology import (
    ATC,
    ICD10CM,
    NCIT,
    RXNORM,
    SNOMED,
    UCUM,
    Coding,
    Concept,
    Drug,
    DrugClass,
    Terminology,
    TerminologyError,
    _load_from,
    load,
)
from service.validation.terminology import verhoeff_ok

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"
TABLE_FILES = (
    "drugs.yaml",
    "drug_classes.yaml",
    "diseases.yaml",
    "procedures.yaml",
    "body_sites.yaml",
    "routes.yaml",
    "units.yaml",
)


@pytest.fixture(scope="module")
def terms() -> Terminology:
    return load()


def entries(t: Terminology) -> Iterator[Drug | DrugClass | Concept]:
    yield from t.drugs
    yield from t.drug_classes
    yield from t.diseases
    yield from t.procedures
    yield from t.body_sites
    yield from t.routes


def codings(t: Terminology) -> Iterator[Coding]:
    for drug in t.drugs:
        yield from drug.codings
        yield from (brand.coding for brand in drug.brands if brand.coding)
    yield from (cls.coding for cls in t.drug_classes if cls.coding)
    for concept in (*t.diseases, *t.procedures, *t.body_sites, *t.routes):
        yield from concept.codings


# --- the page drugs resolve -------------------------------------------------------------------

PAGE_DRUGS = [
    ("methotrexate", "methotrexate"),
    ("mercaptopurine", "mercaptopurine"),
    ("Purinethol", "mercaptopurine"),
    ("vincristine", "vincristine"),
    ("prednisone", "prednisone"),
    ("dexamethasone", "dexamethasone"),
    ("daunorubicin", "daunorubicin"),
    ("Cerubidine", "daunorubicin"),
    ("doxorubicin", "doxorubicin"),
    ("cyclophosphamide", "cyclophosphamide"),
    ("Procytox", "cyclophosphamide"),
    ("pegaspargase", "pegaspargase"),
    ("Oncaspar", "pegaspargase"),
    ("crisantaspase recombinant", "crisantaspase-recombinant"),
    ("Rylaze", "crisantaspase-recombinant"),
    ("cytarabine", "cytarabine"),
    ("imatinib", "imatinib"),
    ("Gleevec", "imatinib"),
    ("dasatinib", "dasatinib"),
    ("Sprycel", "dasatinib"),
]


@pytest.mark.parametrize(("term", "key"), PAGE_DRUGS)
def test_every_drug_named_on_the_pages_resolves(terms: Terminology, term: str, key: str) -> None:
    pages = " ".join(page.read_text(encoding="utf-8") for page in PAGES.glob("*.txt"))
    assert term in pages
    drug = terms.drug(term)
    assert drug is not None and drug.key == key


def test_lookups_ignore_case_and_spacing(terms: Terminology) -> None:
    assert terms.drug("  Crisantaspase   RECOMBINANT ") == terms.drug("crisantaspase recombinant")
    assert terms.drug("purinethol") == terms.drug("mercaptopurine")
    synonym = terms.drug("asparaginase erwinia chrysanthemi (recombinant)-rywn")
    assert synonym is not None and synonym.key == "crisantaspase-recombinant"


def test_methotrexate_is_coded_as_an_antineoplastic(terms: Terminology) -> None:
    drug = terms.drug("methotrexate")
    assert drug is not None
    assert drug.codings[0] == Coding(RXNORM, "6851", "methotrexate")
    assert Coding(ATC, "L01BA01", "methotrexate") in drug.codings
    assert all(c.code != "L04AX03" for c in drug.codings)


@pytest.mark.parametrize("key", ["daunorubicin", "pegaspargase", "crisantaspase-recombinant"])
def test_unverified_rxnorm_rows_give_no_rxnorm_code(terms: Terminology, key: str) -> None:
    drug = terms.drug(key.replace("-", " "))
    assert drug is not None and drug.codings
    assert all(c.system != RXNORM for c in drug.codings)


def test_only_verified_brands_are_coded(terms: Terminology) -> None:
    coded = {b.name: b.coding.code for d in terms.drugs for b in d.brands if b.coding}
    assert coded == {"Gleevec": "282386", "Sprycel": "643170", "Neupogen": "227304"}
    by_brand = terms.drug_by_brand("Gleevec")
    assert by_brand is not None and by_brand.key == "imatinib"
    assert terms.drug_by_brand("imatinib") is None


def test_unknown_terms_give_none(terms: Terminology) -> None:
    assert terms.drug("ondansetron") is None  # not in terminology.tsv (idarubicin now is)
    assert terms.drug_class("growth factors") is None
    assert terms.procedure("bone marrow transplant") is None
    assert terms.unit("fortnight") is None


def test_classes_diseases_procedures_routes_units(terms: Terminology) -> None:
    steroid = terms.drug_class("Steroids")
    assert steroid is not None and steroid.coding == Coding(ATC, "H02AB", "Glucocorticoids")
    tki = terms.drug_class("another TKI".removeprefix("another "))
    assert tki is not None and tki.key == "bcr-abl-tki"
    all_ = terms.disease("ALL")
    assert all_ is not None and all_ == terms.disease("Acute lymphoid leukemia")
    assert Coding(SNOMED, "91857003", "Acute lymphoid leukemia") in all_.codings
    assert {c.code for c in all_.codings if c.system == ICD10CM} == {"C91.0"}
    assert terms.disease("all") is None  # the word, not the disease
    tls = terms.disease("tumour lysis syndrome")
    assert tls is not None and tls.codings == ()
    tap = terms.procedure("spinal tap")
    assert tap is not None and tap.key == "lumbar-puncture"
    intrathecal = terms.procedure("intrathecal chemotherapy")
    assert intrathecal is not None and intrathecal.codings == ()
    route = terms.route("through an IV")
    assert route is not None and route.codings[0].code == "47625008"
    brain = terms.body_site("brain")
    assert brain is not None and brain.codings[0].code == "12738006"
    weekly = terms.unit("Weekly")
    assert weekly is not None and (weekly.code, weekly.display) == ("wk", "week")
    units = [terms.unit(word) for word in ("daily", "monthly", "years", "%")]
    assert [unit.code if unit else None for unit in units] == ["d", "mo", "a", "%"]


def test_drug_classes_point_at_known_classes_that_contain_the_drug(terms: Terminology) -> None:
    classes = {cls.key: cls for cls in terms.drug_classes}
    for drug in terms.drugs:
        if drug.drug_class is None:
            continue
        class_coding = classes[drug.drug_class].coding
        assert class_coding is not None
        atc = [c.code for c in drug.codings if c.system == ATC]
        assert atc and atc[0].startswith(class_coding.code), drug.key


# --- every code is well-formed ----------------------------------------------------------------


def snomed_concept_id_ok(sctid: str) -> bool:
    """Digits, 6-18 long, a concept partition (00 core, 10 extension) and a Verhoeff check digit."""
    return (
        bool(re.fullmatch(r"[1-9][0-9]{5,17}", sctid))
        and sctid[-3:-1] in {"00", "10"}
        and (verhoeff_ok(sctid))
    )


ATC_LEVELS = {
    1: r"[A-Z]",
    3: r"[A-Z][0-9]{2}",
    4: r"[A-Z][0-9]{2}[A-Z]",
    5: r"[A-Z][0-9]{2}[A-Z]{2}",
    7: r"[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}",
}


def code_ok(coding: Coding) -> bool:
    code = coding.code
    if coding.system == RXNORM:
        return code.isdigit() and not code.startswith("0")
    if coding.system == ATC:
        level = ATC_LEVELS.get(len(code))
        return level is not None and code[0] in "ABCDGHJLMNPRSV" and bool(re.fullmatch(level, code))
    if coding.system == ICD10CM:
        return bool(re.fullmatch(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", code))
    if coding.system == SNOMED:
        return snomed_concept_id_ok(code)
    if coding.system == NCIT:
        return bool(re.fullmatch(r"C[0-9]+", code))
    return False


def test_verhoeff_catches_a_mistyped_snomed_code(terms: Terminology) -> None:
    snomed = [c.code for c in codings(terms) if c.system == SNOMED]
    assert snomed
    for code in snomed:
        for wrong in "0123456789":
            if wrong != code[-1]:
                assert not verhoeff_ok(code[:-1] + wrong)
        swapped = code[:-3] + code[-2] + code[-3] + code[-1]
        assert swapped == code or not verhoeff_ok(swapped)


def test_every_coding_is_well_formed(terms: Terminology) -> None:
    bad = [c for c in codings(terms) if not code_ok(c) or not c.display.strip()]
    assert bad == []


def test_a_code_has_one_meaning_per_system(terms: Terminology) -> None:
    seen: dict[tuple[str, str], str] = {}
    for coding in codings(terms):
        assert seen.setdefault((coding.system, coding.code), coding.display) == coding.display


def test_every_entry_cites_the_worksheet_and_has_a_unique_slug(terms: Terminology) -> None:
    for table in (terms.drugs, terms.drug_classes, terms.diseases, terms.procedures):
        keys = [entry.key for entry in table]
        assert len(keys) == len(set(keys))
    for entry in entries(terms):
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", entry.key)
        assert "terminology.tsv" in entry.provenance
        if "unverified" in entry.provenance and "verified-" not in entry.provenance:
            assert not getattr(entry, "codings", ()) and getattr(entry, "coding", None) is None


def test_no_phrase_names_two_entries_of_one_kind(terms: Terminology) -> None:
    tables: dict[str, list[tuple[str, tuple[str, ...]]]] = {
        "drug": [(d.key, (d.name, *d.synonyms, *(b.name for b in d.brands))) for d in terms.drugs],
        "drug-class": [(c.key, (c.name, *c.phrases)) for c in terms.drug_classes],
        "disease": [(c.key, (c.name, *c.phrases)) for c in terms.diseases],
        "procedure": [(c.key, (c.name, *c.phrases)) for c in terms.procedures],
        "body-site": [(c.key, (c.name, *c.phrases)) for c in terms.body_sites],
        "route": [(c.key, (c.name, *c.phrases)) for c in terms.routes],
        "unit": [(u.code, u.words) for u in terms.units],
    }
    for kind, rows in tables.items():
        owner: dict[str, str] = {}
        for key, phrases in rows:
            for phrase in phrases:
                folded = phrase if phrase.isupper() else phrase.casefold()
                assert owner.setdefault(folded, key) == key, (kind, phrase)


def test_the_project_keeps_its_own_copy_of_the_tables() -> None:
    package = resources.files("mappings.terminology")
    assert all(package.joinpath(name).is_file() for name in TABLE_FILES)
    assert "/work/shared" not in package.joinpath("__init__.py").read_text(encoding="utf-8")


def test_literals_cover_codes_systems_and_words_but_not_provenance(terms: Terminology) -> None:
    literals = terms.literals()
    for expected in ("6851", RXNORM, UCUM, "Purinethol", "through an IV", "wk", "Glucocorticoids"):
        assert expected in literals
    assert not any(entry.provenance in literals for entry in entries(terms))


def test_load_is_parsed_once() -> None:
    assert load() is load()


# --- find() -----------------------------------------------------------------------------------


def found(terms: Terminology, text: str) -> list[tuple[str, str, str]]:
    return [(m.kind, m.key, m.text) for m in terms.find(text)]


def test_find_reads_the_intrathecal_bullet_in_order(terms: Terminology) -> None:
    text = "intrathecal chemotherapy with methotrexate, cytarabine or a steroid such as prednisone"
    assert found(terms, text) == [
        ("route", "intrathecal", "intrathecal"),
        ("procedure", "chemotherapy", "chemotherapy"),
        ("drug", "methotrexate", "methotrexate"),
        ("drug", "cytarabine", "cytarabine"),
        ("drug-class", "glucocorticoid", "steroid"),
        ("drug", "prednisone", "prednisone"),
    ]


def test_find_prefers_the_longest_phrase(terms: Terminology) -> None:
    hits = found(terms, "high-dose methotrexate given intravenously (through an IV)")
    assert hits[0] == ("drug", "methotrexate", "methotrexate")
    assert {(kind, key) for kind, key, _ in hits[1:]} == {("route", "intravenous")}
    assert ("route", "intravenous", "IV") not in hits
    assert found(terms, "a similar anthracycline drug") == [
        ("drug-class", "anthracycline", "anthracycline drug")
    ]
    assert found(terms, "Ph+ ALL and T-cell ALL, but not all of them") == [
        ("disease", "philadelphia-positive-acute-lymphoblastic-leukemia", "Ph+ ALL"),
        ("disease", "t-cell-acute-lymphoblastic-leukemia", "T-cell ALL"),
    ]


def test_find_respects_word_boundaries_and_brands(terms: Terminology) -> None:
    assert found(terms, "steroidal intravenousness") == []
    assert found(terms, "imatinib (Gleevec)") == [
        ("drug", "imatinib", "imatinib"),
        ("drug", "imatinib", "Gleevec"),
    ]


@pytest.mark.parametrize("page", sorted(PAGES.glob("*.txt")), ids=lambda p: p.stem)
def test_find_on_whole_pages_gives_ordered_non_overlapping_spans(
    terms: Terminology, page: Path
) -> None:
    text = page.read_text(encoding="utf-8")
    matches = terms.find(text)
    assert matches
    for before, after in itertools.pairwise(matches):
        assert before.end <= after.start
    for match in matches:
        assert text[match.start : match.end] == match.text


# --- malformed tables -------------------------------------------------------------------------


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    package = resources.files("mappings.terminology")
    for name in TABLE_FILES:
        (tmp_path / name).write_text(package.joinpath(name).read_text(encoding="utf-8"))
    return tmp_path


def test_a_copy_of_the_tables_loads(tables: Path) -> None:
    assert len(_load_from(tables).drugs) == len(load().drugs)


BREAKAGES = [
    ("drugs.yaml", '"6851"', "6851"),  # a code that YAML reads as a number
    ("routes.yaml", '"http://snomed.info/sct"', '"http://snomed.info/sctx"'),
    ("units.yaml", "words: [day, days, daily]", "words: []"),
    ("diseases.yaml", "key: meningeal-leukemia", "key: Meningeal Leukemia"),
    ("procedures.yaml", "key: leukapheresis", "key: chemotherapy"),
    ("procedures.yaml", "phrases: [leukapheresis]", "phrases: [spinal tap]"),
    ("drug_classes.yaml", "phrases: [steroid, steroids]", "phrases: [steroid, prednisone]"),
    ("drugs.yaml", "class: glucocorticoid", "class: corticosteroid"),
    ("body_sites.yaml", "provenance: >-", "source: >-"),
    ("body_sites.yaml", "- key: brain", "- key: brain\n  colour: grey"),
    ("drug_classes.yaml", "- key: anthracycline", "- key: [anthracycline"),
]


@pytest.mark.parametrize(("file", "old", "new"), BREAKAGES)
def test_a_malformed_table_names_its_file(tables: Path, file: str, old: str, new: str) -> None:
    path = tables / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(TerminologyError, match=re.escape(file)) as caught:
        _load_from(tables)
    assert caught.value.file == file


def test_a_missing_table_names_its_file(tables: Path) -> None:
    (tables / "routes.yaml").unlink()
    with pytest.raises(TerminologyError, match=r"routes\.yaml") as caught:
        _load_from(tables)
    assert caught.value.file == "routes.yaml"
