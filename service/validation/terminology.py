"""Codes from the systems our terminology tables cover: malformed is an error, unknown is not.

A client can send any RxNorm or SNOMED CT code. This server holds only the verified rows of
the project's worksheet, so it cannot say that a code outside them is wrong: a well-formed
code it does not hold is *information* ("not checked"). What it can say for certain is
that a code breaks its system's syntax, and that is an *error*:

- SNOMED CT (R4 "Using SNOMED CT with FHIR"; SNOMED CT identifier rules): a concept id is
  6-18 digits with no leading zero, a concept partition (``00`` core, ``10`` extension: a
  description or relationship id is not a valid FHIR code) and a Verhoeff check digit.
  A postcoordinated expression (compositional grammar) is valid but not checked here;
- RxNorm: an RXCUI is digits with no leading zero;
- ATC: a level-1, -3, -4, -5 or -7 code of the WHO's anatomical groups;
- ICD-10-CM: a letter, two characters, optionally a dot and up to four more;
- NCI Thesaurus: ``C`` and digits.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator

from mappings import terminology
from service.validation.issues import Issue
from service.validation.structure import Node

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
# Characters of SNOMED CT compositional grammar that a concept id never has.
_EXPRESSION = re.compile(r"[:=+{}|<>()]")
_ATC_LEVELS = {
    1: r"[A-Z]",
    3: r"[A-Z][0-9]{2}",
    4: r"[A-Z][0-9]{2}[A-Z]",
    5: r"[A-Z][0-9]{2}[A-Z]{2}",
    7: r"[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}",
}
_ATC_GROUPS = "ABCDGHJLMNPRSV"
_INFORMATION = "information"


def verhoeff_ok(digits: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(digit)]]
    return check == 0


def _snomed(code: str) -> str | None:
    if _EXPRESSION.search(code):
        return _INFORMATION
    if not re.fullmatch(r"[0-9]+", code):
        return "is neither a SNOMED CT concept id (digits) nor an expression"
    if not 6 <= len(code) <= 18 or code.startswith("0"):
        return "is not a SNOMED CT identifier (6 to 18 digits, no leading zero)"
    partition = code[-3:-1]
    if partition not in ("00", "10"):
        what = {"01": "description", "11": "description", "02": "relationship"}
        kind = what.get(partition, "non-concept")
        return (
            f"has partition {partition}: a SNOMED CT {kind} identifier, not a concept id "
            "(only concept ids and expressions are valid codes in FHIR)"
        )
    if not verhoeff_ok(code):
        return "fails the SNOMED CT Verhoeff check digit (a mistyped concept id)"
    return None


def _rxnorm(code: str) -> str | None:
    if re.fullmatch(r"[1-9][0-9]*", code):
        return None
    return "is not an RxNorm RXCUI (digits, no leading zero)"


def _atc(code: str) -> str | None:
    level = _ATC_LEVELS.get(len(code))
    if level is not None and code[0] in _ATC_GROUPS and re.fullmatch(level, code):
        return None
    return "is not an ATC code (an anatomical group letter, then a level 1, 3, 4, 5 or 7 code)"


def _icd10cm(code: str) -> str | None:
    if re.fullmatch(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", code):
        return None
    return "is not an ICD-10-CM code (a letter, two characters, optionally '.' and up to four)"


def _ncit(code: str) -> str | None:
    return None if re.fullmatch(r"C[0-9]+", code) else "is not an NCI Thesaurus code (C, digits)"


_SYNTAX: dict[str, Callable[[str], str | None]] = {
    terminology.SNOMED: _snomed,
    terminology.RXNORM: _rxnorm,
    terminology.ATC: _atc,
    terminology.ICD10CM: _icd10cm,
    terminology.NCIT: _ncit,
}


def malformed(system: str, code: str) -> str | None:
    """Why ``code`` breaks ``system``'s syntax; ``"information"`` for a well-formed form
    this server does not check (a SNOMED CT expression); None when well-formed."""
    rule = _SYNTAX.get(system)
    return rule(code) if rule is not None else None


@functools.cache
def known_codes() -> frozenset[tuple[str, str]]:
    tables = terminology.load()
    codings: list[terminology.Coding] = []
    for drug in tables.drugs:
        codings.extend(drug.codings)
        codings.extend(brand.coding for brand in drug.brands if brand.coding)
    codings.extend(c.coding for c in tables.drug_classes if c.coding)
    for concepts in (tables.diseases, tables.procedures, tables.body_sites, tables.routes):
        for concept in concepts:
            codings.extend(concept.codings)
    return frozenset((c.system, c.code) for c in codings)


def check(nodes: Iterable[Node]) -> Iterator[Issue]:
    known = known_codes()
    for node in nodes:
        if node.type != "Coding":
            continue
        system, code = node.value.get("system"), node.value.get("code")
        if not (isinstance(system, str) and isinstance(code, str)):
            continue  # the structure walk reports malformed codings
        if system not in terminology.SYSTEMS or (system, code) in known:
            continue
        problem = malformed(system, code)
        if problem is None:
            yield Issue(
                "information",
                "informational",
                node.location,
                f"Code {code!r} of {system} is well-formed but not in this server's "
                "terminology tables; not checked.",
            )
        elif problem == _INFORMATION:
            yield Issue(
                "information",
                "informational",
                node.location,
                f"{code!r} is a SNOMED CT expression; this server does not check expressions.",
            )
        else:
            yield Issue(
                "error", "code-invalid", node.location, f"Code {code!r} {problem} ({system})."
            )
