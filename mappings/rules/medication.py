"""Medication: one generic Medication per drug ingredient.

R4 Medication is not a canonical resource; the CRMI MedicationDefinition extensions give
it a url and version so packages can carry it. Brand names have no Medication element, so
they stay in the PlanDefinition's words of the page that gives them; ``code.text`` is the
generic name, the same on every page. A drug the tables do not know still becomes a
Medication, with text only (its generic name from the drug dictionary).
"""

from __future__ import annotations

from typing import Any

from .catalogue import DrugEntry
from .config import MappingConfig
from .definitions import meta
from .narrative import Html
from .vocabulary import ARTIFACT_URL, ARTIFACT_VERSION


def drug_display(drug: DrugEntry) -> str:
    return drug.name


def build_medication(drug: DrugEntry, config: MappingConfig) -> dict[str, Any]:
    codings = [
        {"system": c.system, "code": c.code, "display": c.display}
        for c in (drug.known.codings if drug.known else ())
    ]
    code: dict[str, Any] = {"text": drug_display(drug)}
    if codings:
        code = {"coding": codings, **code}

    h = Html()
    h.add(None, "h2", drug_display(drug))
    h.items(None, [f"{c['display']} ({c['system']} {c['code']})" for c in codings])

    return {
        "resourceType": "Medication",
        "id": drug.id,
        "meta": meta(config, "Medication"),
        "language": config.language,
        "text": h.narrative(),
        "extension": [
            {"url": ARTIFACT_URL, "valueUri": config.url("Medication", drug.id)},
            {"url": ARTIFACT_VERSION, "valueString": config.version},
        ],
        "code": code,
        "status": "active",
    }
