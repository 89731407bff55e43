"""What the store holds for a request: the Medications and phases it finds, through
``service.catalog`` so the feed and the reading view agree on what belongs to what.

- A condition code (ICD-10-CM, SNOMED CT) finds the phases whose focus carries it, or, in
  ICD-10-CM, carries one of its ancestors (``codes.icd10cm_ancestors``).
- An ingredient code (RxNorm) finds each Medication coded with it, and every phase that
  gives one of them: phase ``action.definitionCanonical`` -> ActivityDefinition
  ``productReference`` -> Medication.

Only content in the requested language is kept (``language.serves``). A drug's phases are
judged on their own language, not the Medication's: a phase written in French that gives a
Medication recorded in English still answers a French request for that drug, and the
Medication entry does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from service import catalog
from service.catalog import Entry
from service.store import Store

from . import language
from .request import InfobuttonRequest


@dataclass(frozen=True)
class Use:
    """A Medication the request found, with the phases (in the request's language) that
    give it."""

    medication: Entry
    phases: tuple[Entry, ...]


@dataclass(frozen=True)
class Found:
    """Each resource once, in the store's order; the feed decides the reading order."""

    medications: tuple[Use, ...] = ()
    phases: tuple[Entry, ...] = ()


def _unique(entries: Iterable[Entry]) -> list[Entry]:
    seen: dict[str, Entry] = {}
    for entry in entries:
        seen.setdefault(entry.reference, entry)
    return list(seen.values())


def _in(lang: str, entries: Iterable[Entry]) -> list[Entry]:
    return [e for e in entries if language.serves(e.resource.get("language"), lang)]


def find(store: Store, request: InfobuttonRequest) -> Found:
    system = request.system
    if system is None:
        return Found()
    codes = request.searched_codes()
    if system.kind == "condition":
        about = catalog.phases_about(store, system.uri, codes)
        return Found(phases=tuple(_in(request.language, _unique(about))))
    uses: list[Use] = []
    phases: list[Entry] = []
    for code in codes:
        for medication in catalog.medications_coded(store, system.uri, code):
            giving = _in(
                request.language, (phase for phase, _ in catalog.uses_of(store, medication))
            )
            phases += giving
            if language.serves(medication.resource.get("language"), request.language):
                uses.append(Use(medication, tuple(_unique(giving))))
    return Found(
        medications=tuple({u.medication.reference: u for u in uses}.values()),
        phases=tuple(_unique(phases)),
    )
