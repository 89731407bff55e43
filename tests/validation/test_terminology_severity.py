"""Codes of the systems our tables cover: malformed is an error, well-formed but unknown is
information ("not checked"), in our tables is silent (issue 16, item 4)."""

from __future__ import annotations

from typing import Any

import pytest

from mappings.terminology import ATC, ICD10CM, NCIT, RXNORM, SNOMED
from service.validation import validate
from service.validation.terminology import known_codes, malformed, verhoeff_ok

from .conftest import KnownReferences, first

# 73211009 |Diabetes mellitus| and 387207008 |Ibuprofen| are real SNOMED CT concept ids
# that are not in our tables; 999999999 is an RXCUI-shaped number we do not hold.
WELL_FORMED_UNKNOWN = [
    (SNOMED, "73211009"),
    (SNOMED, "387207008"),
    (RXNORM, "999999999"),
    (ATC, "N02BE"),
    (ICD10CM, "Z99.89"),
    (NCIT, "C99999"),
]
MALFORMED = [
    (SNOMED, "73211008", "Verhoeff"),  # last digit mistyped
    (SNOMED, "73211019", "partition"),  # a description-partition id
    (SNOMED, "012345", "leading zero"),
    (SNOMED, "12345", "6 to 18"),
    (SNOMED, "diabetes", "neither"),
    (RXNORM, "RX1234", "RXCUI"),
    (RXNORM, "0123", "RXCUI"),
    (ATC, "n02be", "ATC"),
    (ATC, "Z01", "ATC"),
    (ICD10CM, "E11-9", "ICD-10-CM"),
    (NCIT, "12345", "NCI"),
]


def _coded(system: str, code: str) -> dict[str, Any]:
    medication = first("Medication")
    medication["code"]["coding"] = [{"system": system, "code": code}]
    return medication


def _found(resource: dict[str, Any], known: KnownReferences) -> list[tuple[str, str, str, str]]:
    return [
        (i.severity, i.code, i.location, i.message)
        for i in validate(resource, references=known)
        if i.location.startswith("Medication.code")
    ]


@pytest.mark.parametrize(("system", "code"), WELL_FORMED_UNKNOWN)
def test_a_well_formed_code_not_in_our_tables_is_information(
    known: KnownReferences, system: str, code: str
) -> None:
    assert (system, code) not in known_codes()
    assert malformed(system, code) is None
    found = _found(_coded(system, code), known)
    assert [(s, c, loc) for s, c, loc, _ in found] == [
        ("information", "informational", "Medication.code.coding[0]")
    ], found
    assert "not checked" in found[0][3]


@pytest.mark.parametrize(("system", "code", "why"), MALFORMED)
def test_a_malformed_code_is_an_error(
    known: KnownReferences, system: str, code: str, why: str
) -> None:
    found = _found(_coded(system, code), known)
    assert [(s, c, loc) for s, c, loc, _ in found] == [
        ("error", "code-invalid", "Medication.code.coding[0]")
    ], found
    assert why in found[0][3]


def test_a_snomed_expression_is_information_not_an_error(known: KnownReferences) -> None:
    found = _found(_coded(SNOMED, "128601007:246075003=84101006"), known)
    assert [(s, c) for s, c, _, _ in found] == [("information", "informational")]
    assert "expression" in found[0][3]


def test_every_code_in_our_tables_is_well_formed_and_silent(known: KnownReferences) -> None:
    assert known_codes()
    assert [c for c in sorted(known_codes()) if malformed(*c) is not None] == []
    for system, code in sorted(known_codes())[:20]:
        assert _found(_coded(system, code), known) == []


def test_verhoeff_rejects_every_single_digit_error() -> None:
    assert verhoeff_ok("73211009")
    for wrong in "012345678":
        assert not verhoeff_ok("7321100" + wrong)
