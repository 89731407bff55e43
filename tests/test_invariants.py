"""Invariants over every fixture bundle: ids, references, validity, and traceability.

Traceability is our guard against invented clinical content: every text the output carries
must come from the page it was mapped from or from a terminology table; every number from
the page's words; every code from a table (or FHIR's own structural vocabulary).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from mappings import fhir
from mappings.content import cues
from mappings.rules import vocabulary
from mappings.source import BulletList, Paragraph, read_page
from mappings.terminology import load as load_terminology

from .conftest import FIXTURES, PAGE_IDS, golden_bundle, resources
from .support.r4_validator import validate_r4

# Keys whose values are identifiers, canonical references or codes fixed by the FHIR
# specification (bindings checked by the validators), not clinical text.
STRUCTURAL_KEYS = frozenset(
    {
        "resourceType", "id", "url", "fullUrl", "reference", "definitionCanonical", "version",
        "status", "kind", "intent", "type", "selectionBehavior", "groupingBehavior",
        "requiredBehavior", "precheckBehavior", "priority", "relationship", "actionId",
        "goalId", "language", "path", "periodUnit", "valueUri", "label",
    }
)  # fmt: skip
STRUCTURAL_SYSTEMS = frozenset(
    {vocabulary.PLAN_DEFINITION_TYPE, vocabulary.USAGE_CONTEXT_TYPE, vocabulary.UCUM}
)
# Values fixed by the spec for a given key: ContactPoint kinds, and the FHIRPath constant that
# turns the page's "as needed" into asNeededBoolean on the request.
STRUCTURAL_VALUES = frozenset({("system", "phone"), ("system", "url"), ("expression", "true")})
PIECES = re.compile(r"\n\n|; |, (?=[a-z])|(?<=[.:])\s+(?=[A-Z])")


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, dict[str, Any] | None]]:
    """(path, leaf value, the dict holding it)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, dict | list):
                yield from walk(child, f"{path}.{key}")
            else:
                yield f"{path}.{key}", child, value
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from walk(child, f"{path}[{i}]")


def page_text(stem: str) -> str:
    text = (FIXTURES / "pages" / f"{stem}.txt").read_text("utf-8")
    return " ".join(text.split()).casefold()


def all_bundles() -> list[dict[str, Any]]:
    return [golden_bundle(stem) for stem in PAGE_IDS]


def test_ids_are_unique_and_full_urls_match(stem: str) -> None:
    bundle = golden_bundle(stem)
    keys = [(r["resourceType"], r["id"]) for r in resources(bundle)]
    assert len(keys) == len(set(keys)), "duplicate (type, id)"
    for entry in bundle["entry"]:
        r = entry["resource"]
        assert entry["fullUrl"].endswith(f"/{r['resourceType']}/{r['id']}")
        if "url" in r:
            assert r["url"] == entry["fullUrl"]


def test_every_reference_and_canonical_resolves_inside_the_bundle(stem: str) -> None:
    bundle = golden_bundle(stem)
    present = {f"{r['resourceType']}/{r['id']}" for r in resources(bundle)}
    canonicals = {f"{r['url']}|{r['version']}" for r in resources(bundle) if "url" in r}
    seen = 0
    for resource in resources(bundle):
        action_ids = {v for p, v, _ in walk(resource.get("action", [])) if p.endswith(".id")}
        goal_ids = {g["id"] for g in resource.get("goal", [])}
        for path, value, _ in walk(resource):
            if path.endswith(".reference"):
                assert value in present, f"{resource['id']}{path} -> {value}"
            elif path.endswith(".definitionCanonical"):
                assert value in canonicals, f"{resource['id']}{path} -> {value}"
            elif path.endswith(".actionId"):
                assert value in action_ids, f"{resource['id']}{path} -> {value}"
            elif ".goalId" in path:
                assert value in goal_ids, f"{resource['id']}{path} -> {value}"
            else:
                continue
            seen += 1
    assert seen > 0


def test_every_resource_validates_with_fhir_resources(stem: str) -> None:
    bundle = golden_bundle(stem)
    fhir.validate(bundle)
    for resource in resources(bundle):
        fhir.validate(resource)


def test_every_resource_passes_the_independent_r4_validator() -> None:
    bundles = all_bundles()
    batch = [r for b in bundles for r in resources(b)] + bundles
    results = validate_r4(batch)
    failures = [r.describe() for r in results if not r.valid]
    assert not failures, "\n".join(failures)
    assert len(results) == len(batch)


def test_an_r4b_only_element_is_refused() -> None:
    pd = next(resources(golden_bundle(PAGE_IDS[0])))
    with pytest.raises(fhir.InvalidResource, match="subjectCanonical"):
        fhir.validate({**pd, "subjectCanonical": "http://example.org/x"})


def test_same_id_means_same_resource_across_pages() -> None:
    """Shared activities and drugs must not differ between pages, or a store would flip
    between versions of one resource."""
    seen: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for stem in PAGE_IDS:
        for r in resources(golden_bundle(stem)):
            key = (r["resourceType"], r["id"])
            if key in seen:
                assert seen[key][1] == r, f"{key} differs between {seen[key][0]} and {stem}"
            else:
                seen[key] = (stem, r)


def _traceable(text: str, page: str, tables: frozenset[str]) -> bool:
    folded = " ".join(text.split()).casefold()
    if folded in page or text in tables:
        return True
    pieces = [p.strip().rstrip(":") for p in PIECES.split(text) if p.strip()]
    return len(pieces) > 1 and all(_traceable(p, page, tables) for p in pieces)


def test_every_clinical_literal_comes_from_the_page_or_a_table(stem: str) -> None:
    page = page_text(stem)
    tables = load_terminology().literals() | set(vocabulary.UNIT_NAMES.values())
    untraced = []
    checked = 0
    for resource in resources(golden_bundle(stem)):
        for path, value, holder in walk(resource):
            key = path.rsplit(".", 1)[-1]
            if key in STRUCTURAL_KEYS or key == "div" or not isinstance(value, str):
                continue
            if holder and holder.get("system") in STRUCTURAL_SYSTEMS:
                continue
            if (key, value) in STRUCTURAL_VALUES:
                continue
            if holder and holder.get("url") == vocabulary.ARTIFACT_VERSION:
                continue  # the configured business version
            if key == "name" and path == ".name":
                continue  # the computable name: the title in PascalCase, checked below
            checked += 1
            if not _traceable(value, page, tables):
                untraced.append(f"{resource['resourceType']}/{resource['id']}{path}: {value!r}")
        if "name" in resource and "title" in resource and resource["resourceType"] != "Medication":
            assert re.fullmatch(r"[A-Z][A-Za-z0-9_]{0,254}", resource["name"])
    assert not untraced, "\n".join(untraced)
    assert checked > 50


def test_every_number_comes_from_the_page_words(stem: str) -> None:
    page = page_text(stem)
    for resource in resources(golden_bundle(stem)):
        for path, value, holder in walk(resource):
            if not path.endswith(".value") or isinstance(value, bool) or holder is None:
                continue
            words = [w for w, n in cues.NUMBER_WORDS.items() if n == value]
            assert str(value) in page or any(re.search(rf"\b{w}\b", page) for w in words), (
                f"{resource['id']}{path} = {value}"
            )


def test_every_bullet_and_sentence_of_the_page_is_in_the_output(stem: str) -> None:
    page = read_page((FIXTURES / "pages" / f"{stem}.txt").read_bytes())
    bundle = golden_bundle(stem)
    strings = [v for r in resources(bundle) for p, v, _ in walk(r) if isinstance(v, str)]
    texts = [" ".join(s.split()) for s in strings if not s.startswith("<div")]
    blob = "\n".join(texts)
    pd = next(resources(bundle))
    equivalents = {v for p, v, _ in walk(pd) if p.endswith(".textEquivalent")}

    blocks = [*page.intro, *(b for s in page.sections for b in s.blocks)]
    for block in blocks:
        if isinstance(block, BulletList):
            for bullet in block.items:
                assert bullet.text in equivalents, f"bullet line {bullet.line}: {bullet.text}"
        else:
            for sentence in cues.SENTENCE_END.split(block.text):
                assert " ".join(sentence.split()) in blob, f"line {block.line}: {sentence}"
    for bullet in (*page.reviewers, *page.citations):
        assert bullet.text in texts, bullet.text
    for paragraph in page.disclaimer:
        assert isinstance(paragraph, Paragraph)
        assert paragraph.text in blob
    for heading in (s.heading for s in page.sections if s.heading):
        assert heading in texts
    assert page.title in texts


def test_every_drug_of_the_page_is_a_medication(stem: str) -> None:
    terms = load_terminology()
    page = read_page((FIXTURES / "pages" / f"{stem}.txt").read_bytes())
    section_text = " ".join(
        b.text if not isinstance(b, BulletList) else " ".join(i.text for i in b.items)
        for s in page.sections
        for b in s.blocks
    )
    named = {m.key for m in terms.find(section_text) if m.kind == "drug"}
    medications = {
        r["id"] for r in resources(golden_bundle(stem)) if r["resourceType"] == "Medication"
    }
    assert named, "the page names no drug?"
    assert named <= medications, named - medications


def _table_codes() -> set[tuple[str, str]]:
    terms = load_terminology()
    codings = [c for d in terms.drugs for c in d.codings]
    codings += [b.coding for d in terms.drugs for b in d.brands if b.coding]
    codings += [c.coding for c in terms.drug_classes if c.coding]
    for table in (terms.diseases, terms.procedures, terms.body_sites, terms.routes):
        codings += [c for concept in table for c in concept.codings]
    return {(c.system, c.code) for c in codings}


def test_every_code_is_from_a_terminology_table_or_fhir_structure(stem: str) -> None:
    known = _table_codes()
    coded = 0
    for resource in resources(golden_bundle(stem)):
        for path, value, holder in walk(resource):
            if not path.endswith(".code") or holder is None or "system" not in holder:
                continue
            coded += 1
            if holder["system"] in STRUCTURAL_SYSTEMS:
                continue
            assert (holder["system"], value) in known, f"{resource['id']}{path}: {value}"
    assert coded > 10
