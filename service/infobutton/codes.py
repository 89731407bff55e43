"""The code systems an Infobutton request can name, by OID, and what a code in each matches.

Infobutton (HL7 URL-based implementation guide) names a code system by its OID, FHIR by a
URI; the table below is the one place the two meet. For each supported system it holds the
shape a code must have (a code of the wrong shape is a client error, not a miss) and how a
request code widens into the stored codes it should find:

- **ICD-10-CM** is a hierarchy written into the code itself: every character after the dot
  refines the category before it, so ``C91.00`` belongs to ``C91.0``, which belongs to
  ``C91``. A request therefore finds content coded with the code or any of its ancestors,
  got by truncation. It never widens downwards: content about ``C91.0`` does not answer a
  request for the broader ``C91``, whose patient may have another kind of leukaemia.
- **SNOMED CT** codes carry no hierarchy in their digits; subsumption needs a terminology
  server, which this service does not use. A request finds exact matches only.
- **RxNorm** is matched exactly on the ingredient codes (RxCUI) the Medications carry. The
  store holds no RxNorm relationships, so a clinical or branded drug code (SCD, SBD) finds
  nothing rather than an ingredient this module would have to invent a link to.

A well-formed OID of another system is not an error: it is a question this service has no
content for, and the answer is an empty feed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
"""An ISO object identifier in dotted form (the ``oid`` datatype's shape, without ``urn:oid:``)."""

ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED_SYSTEM = "http://snomed.info/sct"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# Letters and digits are matched as ASCII only: Unicode case folding would let a dotless i
# (U+0131) or a Kelvin sign (U+212A) pass for an ICD-10-CM letter.
_ICD10CM = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?", re.ASCII | re.IGNORECASE)
_SNOMED = re.compile(r"[0-9]{6,18}", re.ASCII)
_RXCUI = re.compile(r"[0-9]{1,12}", re.ASCII)


def icd10cm_ancestors(code: str) -> tuple[str, ...]:
    """The code and each ancestor, narrowest first, by dropping one character after the dot
    at a time (``C91.00`` -> ``C91.00``, ``C91.0``, ``C91``). ``code`` is normalized."""
    found = [code]
    while "." in code:
        code = code[:-1].removesuffix(".")
        found.append(code)
    return tuple(found)


def _exactly(code: str) -> tuple[str, ...]:
    return (code,)


@dataclass(frozen=True)
class CodeSystem:
    oid: str
    uri: str
    name: str
    """How the system is named to people (in the feed's subtitle and in errors)."""
    shape: re.Pattern[str]
    expected: str
    """What a code looks like, for the message when one does not."""
    kind: Literal["condition", "ingredient"]
    """What the codes are codes of: a ``condition`` is matched against a phase's focus
    (``useContext``), an ``ingredient`` against ``Medication.code``."""
    widen: Callable[[str], tuple[str, ...]] = _exactly
    """The stored codes a (normalized) request code finds."""
    uppercase: bool = False

    def accepts(self, code: str) -> bool:
        return self.shape.fullmatch(code) is not None

    def normalize(self, code: str) -> str:
        return code.upper() if self.uppercase else code


SYSTEMS: dict[str, CodeSystem] = {
    s.oid: s
    for s in (
        CodeSystem(
            oid="2.16.840.1.113883.6.90",
            uri=ICD10CM_SYSTEM,
            name="ICD-10-CM",
            shape=_ICD10CM,
            expected="a letter, a digit and a letter or digit, then optionally a dot and "
            "up to four letters or digits, like C91.00",
            kind="condition",
            widen=icd10cm_ancestors,
            uppercase=True,
        ),
        CodeSystem(
            oid="2.16.840.1.113883.6.96",
            uri=SNOMED_SYSTEM,
            name="SNOMED CT",
            shape=_SNOMED,
            expected="a SNOMED CT concept id: 6 to 18 digits, like 91857003",
            kind="condition",
        ),
        CodeSystem(
            oid="2.16.840.1.113883.6.88",
            uri=RXNORM_SYSTEM,
            name="RxNorm",
            shape=_RXCUI,
            expected="an RxNorm concept id (RxCUI): 1 to 12 digits, like 6851",
            kind="ingredient",
        ),
    )
}


def is_oid(value: str) -> bool:
    return OID.fullmatch(value) is not None
