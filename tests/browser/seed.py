"""What the reading view must show, derived from sources independent of the renderer.

Two sources, on purpose not the renderer's own model:

- the seed page text (``fixtures/pages/<stem>.txt``): its title, its section headings, the
  first sentence of each section and every sentence of the page;
- the project's terminology table (``mappings/terminology/drugs.yaml``): which drug names the
  page mentions.

The stored FHIR (``fixtures/fhir/<stem>.json``) is used only for what the text cannot say: the
PlanDefinition id and ``language``, the disease the index groups by, the Medication id a drug
links to, and the title of a section whose heading the text export lost (see
``SourceSection.heading``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import FIXTURES, ROOT

BULLET = "•"
REVIEW_LINE = "Last medical review:"
# Headings of the page's chrome, not of treatment content. The view may name them its own
# way ("Expert review" and "References" instead of "Expert review and references"), so
# they are not required as sentences; the reviewers, citations and disclaimer under them
# are.
CHROME_HEADINGS = ("Expert review and references", "Medical disclaimer")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_CONTACT_SEPARATOR = re.compile(r"\s*\|\s*")
_TERMINAL = (".", ":", "!", "?", ",", ";")


def normalize(text: str) -> str:
    """Collapse every run of whitespace (no-break spaces included) to one space."""
    return " ".join(text.split())


@dataclass(frozen=True)
class SourceSection:
    """One treatment section of the seed page.

    ``heading`` is None when the text export lost the heading: the maintenance page's first
    section is preceded by two blank lines and starts straight with "Chemotherapy is the
    primary maintenance treatment…". The text cannot name that section, so the test takes
    the title the stored PlanDefinition gives the matching action ("Chemotherapy") and checks
    that the section's first sentence sits under it; it never invents a heading.
    """

    heading: str | None
    first_sentence: str


@dataclass(frozen=True)
class SourcePage:
    stem: str
    title: str
    sections: tuple[SourceSection, ...]
    sentences: tuple[str, ...]
    drugs: tuple[str, ...]


@dataclass(frozen=True)
class Phase:
    """A PlanDefinition of the fixtures, with what the tests need of it."""

    id: str
    stem: str
    title: str
    language: str
    disease: str
    section_titles: tuple[str, ...]
    medications: dict[str, str]  # drug name (code.text without the brand) -> Medication id


@dataclass(frozen=True)
class Drug:
    id: str
    name: str
    language: str


def _sentences(line: str) -> list[str]:
    """A source line as the sentences the page must show, in order."""
    line = line.strip()
    if line.startswith(BULLET):
        line = line[len(BULLET) :].strip()
    if not line or line == REVIEW_LINE or line in CHROME_HEADINGS:
        return []
    # The footer line is "phone | site | © year publisher": each part stands alone.
    parts = [p for p in _CONTACT_SEPARATOR.split(line) if p]
    return [s for part in parts for s in _SENTENCE_END.split(part) if s]


def _is_heading(block: list[str], following: list[str] | None) -> bool:
    """A standalone line followed by prose: short, unpunctuated, not a bullet or contact line."""
    if len(block) != 1 or following is None:
        return False
    line = block[0].strip()
    return (
        not line.startswith(BULLET)
        and not line.endswith(_TERMINAL)
        and "|" not in line
        and len(line.split()) <= 12
        and not following[0].strip().startswith(BULLET)
    )


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the number of blank lines before it."""
    blocks: list[tuple[int, list[str]]] = []
    blanks = 0
    current: list[str] = []
    for line in lines:
        if line.strip():
            if not current:
                blocks.append((blanks, current))
            current.append(line)
            blanks = 0
        else:
            current = []
            blanks += 1
    return blocks


@cache
def source_page(stem: str) -> SourcePage:
    text = (FIXTURES / "pages" / f"{stem}.txt").read_text("utf-8")
    lines = text.splitlines()
    title = lines[0].strip()
    blocks = _blocks(lines[1:])
    sections: list[SourceSection] = []
    in_body = False
    for index, (blank_lines, block) in enumerate(blocks):
        line = block[0].strip()
        if line == REVIEW_LINE:
            in_body = True
            continue
        if line in CHROME_HEADINGS:
            break
        if not in_body:
            continue
        following = blocks[index + 1][1] if index + 1 < len(blocks) else None
        if _is_heading(block, following):
            assert following is not None
            sections.append(SourceSection(line, _sentences(following[0])[0]))
        elif blank_lines >= 2 and not line.startswith(BULLET):
            sections.append(SourceSection(None, _sentences(line)[0]))
    sentences = [normalize(s) for line in lines for s in _sentences(line)]
    return SourcePage(
        stem=stem,
        title=title,
        sections=tuple(sections),
        sentences=tuple(sentences),
        drugs=tuple(name for name in drug_names() if mentions(text, name)),
    )


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names the drug as a word (not inside "Ach-Methotrexate")."""
    pattern = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


@cache
def drug_names() -> tuple[str, ...]:
    rows: list[dict[str, Any]] = yaml.safe_load(
        (ROOT / "mappings" / "terminology" / "drugs.yaml").read_text("utf-8")
    )
    return tuple(str(row["name"]) for row in rows)


def _bundle(path: Path) -> list[dict[str, Any]]:
    bundle: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return [entry["resource"] for entry in bundle["entry"]]


def _drug_name(medication: dict[str, Any]) -> str:
    """The ingredient name of a Medication: ``code.text`` without the "(Brand)" suffix."""
    return str(medication["code"]["text"]).split(" (")[0]


@cache
def phases() -> dict[str, Phase]:
    """Every PlanDefinition in fixtures/fhir, by id."""
    found: dict[str, Phase] = {}
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        resources = _bundle(path)
        medications = {
            _drug_name(r): r["id"] for r in resources if r["resourceType"] == "Medication"
        }
        for plan in (r for r in resources if r["resourceType"] == "PlanDefinition"):
            (root,) = plan["action"]
            found[plan["id"]] = Phase(
                id=plan["id"],
                stem=path.stem,
                title=plan["title"],
                language=plan["language"],
                disease=plan["useContext"][0]["valueCodeableConcept"]["text"],
                section_titles=tuple(a["title"] for a in root.get("action", [])),
                medications=medications,
            )
    return found


@cache
def drugs() -> dict[str, Drug]:
    """Every Medication in fixtures/fhir, by id: the pages the phase pages link to."""
    found: dict[str, Drug] = {}
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        for r in _bundle(path):
            if r["resourceType"] == "Medication":
                found[r["id"]] = Drug(r["id"], _drug_name(r), r["language"])
    return found
