"""The corpus and its hand-written expectations (``expected/*.yaml``), and the matching of
mapped output against them.

Names are matched the way a reviewer would: case and punctuation aside, one name inside the
other ("trastuzumab emtansine" / "ado-trastuzumab emtansine"), or the packaged drug
dictionary resolving both to one substance ("interferon alfa" / "interferon-alpha"). The
dictionary is called directly here, not through the reader under test.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from drug_named_entity_recognition import find_drugs

from mappings.content.extract import Reading, read
from mappings.pipeline import MappedPage, map_phase
from mappings.source import read_page

CORPUS = Path(__file__).resolve().parent
TUNED = sorted((CORPUS / "pages").glob("*.txt"))
UNSEEN = sorted((CORPUS / "unseen" / "pages").glob("*.txt"))
ALL = TUNED + UNSEEN


def page_id(path: Path) -> str:
    return ("unseen/" if path.parent.parent.name == "unseen" else "") + path.stem


@dataclass(frozen=True)
class Mapped:
    path: Path
    text: str
    reading: Reading
    page: MappedPage
    expected: dict[str, Any]

    def resources(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.page.result.resources if r["resourceType"] == kind]

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.page.result.warnings


@functools.cache
def mapped(path: Path) -> Mapped:
    data = path.read_bytes()
    reading = read(read_page(data))
    expected = yaml.safe_load((path.parent.parent / "expected" / f"{path.stem}.yaml").read_text())
    return Mapped(path, data.decode("utf-8"), reading, map_phase(reading.content), expected)


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@functools.cache
def substances(name: str) -> frozenset[str]:
    tokens = re.findall(r"[A-Za-z0-9][A-Za-z0-9'+-]*", name)
    return frozenset(
        str(m[0].get("name", "")).lower() for m in find_drugs(tokens, is_ignore_case=True)
    )


def same_drug(a: str, b: str) -> bool:
    na, nb = norm(a), norm(b)
    if not na or not nb:
        return False
    if na == nb or (min(len(na), len(nb)) >= 6 and (na in nb or nb in na)):
        return True
    sa, sb = substances(a), substances(b)
    return bool(sa and sb and sa == sb)


def expected_names(drug: dict[str, Any]) -> list[str]:
    names = [drug["name"], *(drug.get("brands") or []), *(drug.get("other_names") or [])]
    if drug.get("misspelt"):
        names.append(drug["misspelt"])
    return [str(n) for n in names]


def expected_drug(expected: dict[str, Any], medication_name: str) -> dict[str, Any] | None:
    """The expected drug a Medication is: an exact name first ("liposomal doxorubicin" is its
    own entry, not "doxorubicin"), then the looser matches of ``same_drug``."""
    drugs = expected.get("drugs") or []
    for drug in drugs:
        if any(norm(medication_name) == norm(n) for n in expected_names(drug)):
            return drug
    for drug in drugs:
        if any(same_drug(medication_name, n) for n in expected_names(drug)):
            return drug
    return None


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v)


def drug_groups(groups: Iterable[Iterable[str]], expected: dict[str, Any]) -> list[set[str]]:
    """Groups of expected names reduced to the drug names among them (regimens left out)."""
    drugs = {d["name"] for d in expected.get("drugs") or []}
    out = []
    for group in groups or []:
        names = {g for g in group if g in drugs}
        if len(names) >= 2:
            out.append(names)
    return out
