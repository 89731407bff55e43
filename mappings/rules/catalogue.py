"""The distinct activities and drugs a phase page offers.

One ActivityDefinition per distinct activity (drug or class + dose + route + schedule +
as-needed), never one per mention; one Medication per drug ingredient. The identity of an
activity is computed from what it *is*, so the same activity on two pages gets the same id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mappings.content.model import Choice, DrugRef, Option, PhaseContent, Schedule
from mappings.terminology import Drug, Terminology

from .ids import slug


@dataclass(frozen=True)
class DrugEntry:
    """A Medication to be: identity and name from what the drug is (a table entry, or the drug
    dictionary's generic name), never from one page's wording, so that two pages naming it
    differently ("rituximab (Rituxan)", "rituximab") give the same resource. The brands a page
    gives stay in that page's PlanDefinition, in its own words."""

    id: str
    name: str
    known: Drug | None


@dataclass(frozen=True)
class Activity:
    id: str
    choice: Choice
    drug: DrugEntry | None
    schedule: Schedule | None  # the choice's own, or the one its list gives ("monthly")
    as_needed: bool


@dataclass(frozen=True)
class Catalogue:
    activities: dict[tuple[int, ...], Activity]  # by the choice's place in the content
    drugs: tuple[DrugEntry, ...]
    unknown_drugs: tuple[tuple[DrugRef, int], ...]  # (mention, page line) for warnings

    def activity(self, path: tuple[int, ...]) -> Activity:
        return self.activities[path]

    def distinct_activities(self) -> list[Activity]:
        by_id = {a.id: a for a in self.activities.values()}
        return [by_id[k] for k in sorted(by_id)]


def choice_paths(content: PhaseContent) -> Iterator[tuple[tuple[int, ...], Option, Choice]]:
    """Every choice with a stable address: (section, 0=group/1=step, index, option, choice).

    The same walk is used by the PlanDefinition rule, so addresses agree by construction.
    """
    for s, section in enumerate(content.sections):
        for g, group in enumerate(section.groups):
            for o, option in enumerate(group.options):
                for c, choice in enumerate(option.choices):
                    yield (s, 0, g, o, c), option, choice
        for t, step in enumerate(section.steps):
            for c, choice in enumerate(step.option.choices):
                yield (s, 1, t, 0, c), step.option, choice


def _schedule_for(content: PhaseContent, path: tuple[int, ...], choice: Choice) -> Schedule | None:
    if choice.schedule is not None:
        return choice.schedule
    s, kind, g, _, _ = path
    return content.sections[s].groups[g].schedule if kind == 0 else None


def _drug_entry(ref: DrugRef, terms: Terminology) -> DrugEntry:
    known = terms.drug_by_key(ref.drug) if ref.drug else None
    if known is not None:
        return DrugEntry(known.key, known.name, known)
    name = ref.formulation or ref.generic or ref.name
    return DrugEntry(ref.concept or slug(name), name, None)


def _activity_id(
    choice: Choice, drug: DrugEntry | None, schedule: Schedule | None, as_needed: bool
) -> str:
    if drug is not None:
        what = drug.id
    elif choice.drug_class is not None:
        what = choice.drug_class.drug_class or choice.drug_class.text
    else:
        what = choice.procedure or choice.text
    return slug(
        what,
        choice.dose,
        choice.route,
        schedule.unit
        and {"d": "daily", "wk": "weekly", "mo": "monthly", "a": "yearly"}.get(
            schedule.unit, schedule.unit
        )
        if schedule
        else None,
        "as-needed" if as_needed else None,
        "-".join(choice.body_sites) or None,
    )


def build_catalogue(content: PhaseContent, terms: Terminology) -> Catalogue:
    activities: dict[tuple[int, ...], Activity] = {}
    drugs: dict[str, DrugEntry] = {}
    unknown: list[tuple[DrugRef, int]] = []
    for path, option, choice in choice_paths(content):
        drug = _drug_entry(choice.drug, terms) if choice.drug else None
        if drug is not None:
            drugs.setdefault(drug.id, drug)
            if drug.known is None and choice.drug is not None:
                unknown.append((choice.drug, option.line))
        schedule = _schedule_for(content, path, choice)
        activities[path] = Activity(
            id=_activity_id(choice, drug, schedule, option.as_needed),
            choice=choice,
            drug=drug,
            schedule=schedule,
            as_needed=option.as_needed,
        )
    return Catalogue(
        activities=activities,
        drugs=tuple(drugs[k] for k in sorted(drugs)),
        unknown_drugs=tuple(unknown),
    )
