"""ActivityDefinition: one per distinct activity, shared by every action that offers it.

Drugs are MedicationRequest activities pointing at their Medication; a drug class ("a
similar anthracycline drug") is a product given as a coded class; procedures are
ServiceRequest activities. Schedules, routes and dose words go in ``dosage``; no amount is
ever given, because the pages give none. An activity named only in words ("antibiotics")
carries its words and no kind: the page does not say what kind of request it is.
"""

from __future__ import annotations

from typing import Any

from mappings.terminology import Coding, Terminology

from .catalogue import Activity
from .config import MappingConfig
from .definitions import meta
from .ids import pascal
from .medication import drug_display
from .narrative import Html
from .vocabulary import FHIRPATH, TIMING_EXACT, UCUM, UNIT_NAMES


def codeable(codings: tuple[Coding, ...], text: str) -> dict[str, Any]:
    value: dict[str, Any] = {"text": text}
    if codings:
        value = {
            "coding": [{"system": c.system, "code": c.code, "display": c.display} for c in codings],
            **value,
        }
    return value


def timing(frequency: int, period: int, unit: str, approximate: bool) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": frequency, "period": period, "periodUnit": unit}
    if approximate:
        repeat = {"extension": [{"url": TIMING_EXACT, "valueBoolean": False}], **repeat}
    return {"repeat": repeat}


# Schedule words by UCUM unit: the activity says how often in the tables' words, the same on
# every page; the page's own words ("often given weekly") stay in its PlanDefinition.
SCHEDULE_WORDS = {"d": "daily", "wk": "weekly", "mo": "monthly", "a": "yearly"}


def _what(activity: Activity, terms: Terminology) -> str:
    """What the activity gives, named by what it is: the drug's generic name, a coded class's
    or procedure's table name, else the page's words (whose slug is then the id)."""
    choice = activity.choice
    if activity.drug is not None:
        return drug_display(activity.drug)
    if choice.drug_class is not None:
        known = terms.drug_class_by_key(choice.drug_class.drug_class or "")
        return known.name if known else choice.drug_class.text
    if choice.procedure is not None:
        procedure = terms.procedure_by_key(choice.procedure)
        return procedure.name if procedure else choice.text
    return choice.text


def _how(activity: Activity, terms: Terminology) -> list[str]:
    choice, schedule = activity.choice, activity.schedule
    route = terms.route_by_key(choice.route) if choice.route else None
    words = [
        choice.dose,
        route.name if route else None,
        SCHEDULE_WORDS.get(schedule.unit, schedule.unit) if schedule else None,
    ]
    return [w for w in words if w]


def activity_title(activity: Activity, terms: Terminology) -> str:
    """ "methotrexate, high-dose, intravenous": identity words only (tables and the id's parts),
    so one activity reads the same from every page that offers it."""
    head = _what(activity, terms)
    words = [head, *(w for w in _how(activity, terms) if w not in head)]
    if activity.as_needed:
        words.append("as needed")
    return ", ".join(words)


def _dosage(activity: Activity, terms: Terminology) -> dict[str, Any] | None:
    choice, schedule = activity.choice, activity.schedule
    words = _how(activity, terms)
    if not words:
        return None
    dosage: dict[str, Any] = {"text": ", ".join(words)}
    if schedule is not None:
        # Whether the page says "often" is page wording: the action that offers the activity
        # carries it (``timing-exact``), the shared activity carries the schedule only.
        dosage["timing"] = timing(schedule.frequency, schedule.period, schedule.unit, False)
    route = terms.route_by_key(choice.route) if choice.route else None
    if route is not None:
        dosage["route"] = codeable(route.codings, route.name)
    return dosage


def build_activity_definition(
    activity: Activity, config: MappingConfig, terms: Terminology
) -> dict[str, Any]:
    choice = activity.choice
    title = activity_title(activity, terms)
    ad: dict[str, Any] = {
        "resourceType": "ActivityDefinition",
        "id": activity.id,
        "meta": meta(config, "ActivityDefinition"),
        "language": config.language,
        "url": config.url("ActivityDefinition", activity.id),
        "version": config.version,
        "name": pascal(activity.id),
        "title": title,
        "status": config.status,
        "experimental": False,
    }
    if activity.drug is not None:
        ad["kind"] = "MedicationRequest"
        ad["intent"] = "proposal"
        ad["productReference"] = {
            "reference": f"Medication/{activity.drug.id}",
            "display": drug_display(activity.drug),
        }
    elif choice.drug_class is not None:
        ad["kind"] = "MedicationRequest"
        ad["intent"] = "proposal"
        known = terms.drug_class_by_key(choice.drug_class.drug_class or "")
        codings = (known.coding,) if known and known.coding else ()
        ad["productCodeableConcept"] = codeable(codings, _what(activity, terms))
    elif choice.procedure is not None:
        procedure = terms.procedure_by_key(choice.procedure)
        ad["kind"] = "ServiceRequest"
        ad["intent"] = "proposal"
        ad["code"] = codeable(procedure.codings if procedure else (), _what(activity, terms))
    else:
        ad["code"] = {"text": choice.text}

    sites = [terms.body_site_by_key(k) for k in choice.body_sites]
    if sites:
        ad["bodySite"] = [codeable(s.codings, s.name) for s in sites if s is not None]
    dosage = _dosage(activity, terms)
    if dosage is not None:
        ad["dosage"] = [dosage]
    if activity.as_needed:
        # R4 ActivityDefinition has no asNeeded; the request it creates does.
        ad["dynamicValue"] = [
            {"path": "asNeededBoolean", "expression": {"language": FHIRPATH, "expression": "true"}}
        ]

    h = Html()
    h.add(None, "h2", title)
    if "productReference" in ad:
        h.field(None, "Drug", ad["productReference"]["display"])
    if "productCodeableConcept" in ad:
        h.field(None, "Drug class", ad["productCodeableConcept"]["text"])
    if "code" in ad:
        h.field(None, "Activity", ad["code"]["text"])
    if dosage is not None:
        h.field(None, "How it is given", dosage["text"])
    if "bodySite" in ad:
        h.field(None, "Where", ", ".join(s["text"] for s in ad["bodySite"]))
    if activity.as_needed:
        h.field(None, "When", "as needed")
    return {**ad, "text": h.narrative()} | {}


def duration_quantity(value: int, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": UNIT_NAMES.get(unit, unit), "system": UCUM, "code": unit}
