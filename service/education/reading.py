"""The reading model: a phase or a drug as a patient reads it, built from stored FHIR only.

A PlanDefinition's top action is the phase (goal, duration, priority); its children are the
page's sections; inside a section, a titled group is a lead-in sentence with a list, and an
untitled group is an option whose own options follow with a phrase saying how they are
chosen. A leaf names its ActivityDefinition, and through it the Medication, so a drug links
to its own page and shows the schedule and brand words the page gave it.

The page's words come from the resources as written: ``title``, ``textEquivalent``,
``description``, ``documentation.display``, citations, reviewer names, the disclaimer and
the copyright. Nothing is taken from the source page. Only elements the spec types
``markdown`` (PlanDefinition ``description``, ``copyright``, the disclaimer) are rendered as
Markdown; every ``string`` (titles, ``textEquivalent``, an action's ``description``) is
plain text, so ``[x](…)`` or ``*x*`` in one reads as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from mappings.language.abbreviations import defined_abbreviation
from mappings.rules.config import MappingConfig
from mappings.rules.vocabulary import (
    COPYRIGHT_LABEL,
    disclaimer_extension,
    options_exhaustive_extension,
)
from service.catalog import Entry, PhaseContents
from service.formats.markdown import to_html, to_inline_html, to_text

from . import wording


def markdown(text: str | None, heading: int) -> Markup | None:
    """A ``markdown`` element as HTML blocks."""
    if not text:
        return None
    return Markup(to_html(text, heading))  # noqa: S704 (markdown-it escapes; raw HTML is off)


def paragraphs(text: str | None) -> Markup | None:
    """A ``string`` element as plain text: escaped, a paragraph per blank-line break."""
    if not text:
        return None
    parts = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return Markup("\n").join(Markup("<p>{}</p>").format(p) for p in parts if p)


def _fhir_path(resource_type: str, resource_id: str) -> str:
    # JSON explicitly: a browser's Accept prefers XML, which it would download, not show.
    return f"/fhir/{resource_type}/{resource_id}?_format=json"


def education_path(resource_type: str, resource_id: str) -> str:
    return f"/education/{resource_type}/{resource_id}"


@dataclass(frozen=True)
class Span:
    """A run of an item's text; ``href`` set where it names a drug with its own page."""

    text: str
    href: str | None = None


@dataclass(frozen=True)
class Note:
    label: str
    text: str


@dataclass(frozen=True)
class Item:
    spans: tuple[Span, ...]
    details: tuple[str, ...] = ()
    """Schedule, route and brand words of the activity that the item's text leaves out."""
    notes: tuple[Note, ...] = ()
    choice: str | None = None
    options: tuple[Item, ...] = ()
    more: tuple[Markup, ...] = ()


@dataclass(frozen=True)
class Block:
    """A lead-in sentence (a group's title) and its list, or a list on its own."""

    lead: str | None
    items: tuple[Item, ...]
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    body: Markup | None
    notes: tuple[Note, ...]
    blocks: tuple[Block, ...]
    more: tuple[Markup, ...]


@dataclass(frozen=True)
class Citation:
    """A reference; its URL is a link where the citation text writes it, else after it."""

    label: str | None
    spans: tuple[Span, ...]


def citation(artifact: Mapping[str, Any]) -> Citation:
    # RelatedArtifact.citation is markdown: its text, whose address the view links itself.
    text, url = to_text(str(artifact["citation"])), artifact.get("url")
    if not isinstance(url, str):
        return Citation(artifact.get("label"), (Span(text),))
    before, found, after = text.partition(url)
    if not found:
        return Citation(artifact.get("label"), (Span(text + " "), Span(url, url)))
    spans = (Span(before), Span(url, url), Span(after))
    return Citation(artifact.get("label"), tuple(s for s in spans if s.text))


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Source:
    """Who stands behind the content: publisher, contact points, copyright."""

    publisher: str | None
    contacts: tuple[str, ...]
    copyright: str | None


@dataclass(frozen=True)
class PhasePage:
    id: str
    lang: str
    title: str
    subtitle: str | None
    disease: str | None
    facts: tuple[Fact, ...]
    intro: Markup | None
    sections: tuple[Section, ...]
    reviewers: tuple[str, ...]
    last_reviewed: str | None
    citations: tuple[Citation, ...]
    disclaimer: Markup | None
    source: Source
    fhir_path: str
    version: str | None
    last_updated: str


@dataclass(frozen=True)
class Use:
    """Where a drug appears: a phase, and the activities of it that give the drug."""

    phase_title: str
    phase_href: str
    activities: tuple[str, ...]


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str | None


@dataclass(frozen=True)
class MedicationPage:
    id: str
    lang: str
    title: str
    codes: tuple[Code, ...]
    uses: tuple[Use, ...]
    fhir_path: str
    last_updated: str


@dataclass(frozen=True)
class IndexGroup:
    disease: str
    phases: tuple[tuple[str, str | None, str], ...]
    """(title, subtitle, href) of each phase."""


@dataclass(frozen=True)
class IndexPage:
    lang: str
    groups: tuple[IndexGroup, ...]
    drugs: tuple[tuple[str, str], ...]


SYSTEM_NAMES = {
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.whocc.no/atc": "ATC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl": "NCI Thesaurus",
}


def language(resource: Mapping[str, Any]) -> str:
    """``Resource.language``; "und" (undetermined, BCP 47) when the resource has none."""
    value = resource.get("language")
    return value if isinstance(value, str) and value else "und"


def disease(plan: Mapping[str, Any]) -> str | None:
    """The condition a phase is about: its ``useContext`` focus, as text."""
    for context in plan.get("useContext", []):
        if context.get("code", {}).get("code") == "focus":
            concept = context.get("valueCodeableConcept", {})
            text = concept.get("text") or next(
                (c.get("display") for c in concept.get("coding", []) if c.get("display")), None
            )
            if isinstance(text, str):
                return text
    return None


def _extension(resource: Mapping[str, Any], url: str) -> Any:
    for extension in resource.get("extension", []):
        if extension.get("url") == url:
            return next((v for k, v in extension.items() if k.startswith("value")), None)
    return None


MAX_ITEM_DEPTH = 8
"""Levels of nested options the reading view shows (real phases use far fewer); actions nested
deeper are listed at the last level, none left out."""

_MORE_ABOUT = re.compile(r"^(?:find out|learn) more about (?P<what>.+?)\.?$", re.IGNORECASE)


def _abbreviation(plan: Mapping[str, Any], name: str) -> str | None:
    """ "acute lymphoblastic leukemia (ALL)" in the phase's own words (its description, or
    the first section description that defines it)."""
    texts = [plan.get("description", "")]
    texts += [a.get("description", "") for a in _all_actions(plan.get("action", []))]
    return defined_abbreviation((name,), (t for t in texts if isinstance(t, str)), ignore_case=True)


def phase_about(text: str, phases: Iterable[Entry]) -> Entry | None:
    """The loaded phase a "Find out more about X" sentence names, when exactly one does:
    its title is X ("treatment of relapsed multiple myeloma"), or X is "<topic> for
    <disease>" and the phase is "<topic> for <its disease>", the disease by name or by the
    abbreviation its own page defines ("targeted therapy for CLL"). Never a guess: two
    candidates, or none, give no link."""
    m = _MORE_ABOUT.match(" ".join(text.split()))
    if m is None:
        return None
    what = m["what"].casefold()
    topic, _, named = what.partition(" for ")
    found = []
    for entry in phases:
        title = (entry.title or "").casefold()
        if title == what:
            found.append(entry)
            continue
        subject, _, about = title.partition(" for ")
        if not named or subject != topic or not about:
            continue
        focus = disease(entry.resource) or about
        short = _abbreviation(entry.resource, focus)
        if named in {about, focus.casefold()} or (short and named == short.casefold()):
            found.append(entry)
    return found[0] if len(found) == 1 else None


def _documentation(action: Mapping[str, Any], phases: Sequence[Entry] = ()) -> tuple[Markup, ...]:
    """ "Find out more" pointers: a link where the content gives a URL, or to the loaded
    phase page the sentence names; never an invented external link."""
    found = []
    for artifact in action.get("documentation", []):
        text = artifact.get("display") or artifact.get("label")
        if not text and isinstance(artifact.get("citation"), str):
            text = to_text(artifact["citation"])  # markdown
        url = artifact.get("url") or artifact.get("document", {}).get("url")
        if text and not url and (target := phase_about(text, phases)) is not None:
            url = education_path("PlanDefinition", target.id)
        if text and url:
            found.append(Markup('<a href="{}">{}</a>').format(url, text))
        elif text:
            found.append(Markup("{}").format(text))
    return tuple(found)


def _conditions(action: Mapping[str, Any]) -> list[Note]:
    notes = []
    for condition in action.get("condition", []):
        expression = condition.get("expression", {})
        text = expression.get("description") or expression.get("expression")
        kind = str(condition.get("kind"))
        if text and kind in wording.CONDITION_LABEL:
            notes.append(Note(wording.CONDITION_LABEL[kind], wording.condition_text(kind, text)))
    return notes


class _PhaseReader:
    def __init__(
        self,
        plan: Mapping[str, Any],
        contents: PhaseContents,
        config: MappingConfig,
        phases: Sequence[Entry] = (),
    ):
        self.plan = plan
        self.phases = tuple(p for p in phases if p.resource.get("id") != plan.get("id"))
        self.contents = contents
        # Our own extension, published under the deployment's canonical base.
        self.exhaustive_url = options_exhaustive_extension(config)
        self.by_id = {a["id"]: a for a in _all_actions(plan.get("action", [])) if "id" in a}

    # --- drugs --------------------------------------------------------------------------

    def _medication(self, action: Mapping[str, Any]) -> tuple[Entry | None, Entry | None]:
        activity = self.contents.activity(action.get("definitionCanonical"))
        return activity, self.contents.medication_of(activity)

    def label(self, action: Mapping[str, Any]) -> str:
        """How another action is named when one refers to it: its activity's title."""
        activity, _ = self._medication(action)
        if activity is not None and activity.resource.get("title"):
            return str(activity.resource["title"])
        return str(action.get("title") or action.get("textEquivalent") or action.get("id"))

    def spans(self, text: str, medication: Entry | None) -> tuple[Span, ...]:
        if medication is None:
            return (Span(text),)
        href = education_path("Medication", medication.id)
        name = str(medication.resource.get("code", {}).get("text") or medication.id)
        generic = name.split(" (")[0]
        lowered = text.lower()
        for candidate in (name, generic):
            at = lowered.find(candidate.lower())
            if at >= 0:
                end = at + len(candidate)
                parts = (Span(text[:at]), Span(text[at:end], href), Span(text[end:]))
                return tuple(p for p in parts if p.text)
        return (Span(text), Span(name, href))

    @staticmethod
    def details(text: str, activity: Entry | None, medication: Entry | None) -> tuple[str, ...]:
        if activity is None:
            return ()
        lowered, found = text.lower(), []
        title = str(activity.resource.get("title") or "")
        if title.lower().startswith(lowered + ", "):
            found.append(title[len(text) + 2 :])
        said = set(_words(text))
        for dosage in activity.resource.get("dosage", []):
            words = dosage.get("text")
            if isinstance(words, str) and not set(_words(words)) <= said:
                found.append(words)
        if medication is not None:
            name = str(medication.resource.get("code", {}).get("text") or "")
            brand = name.partition(" (")[2].removesuffix(")")
            if brand and brand.lower() not in lowered:
                found.append(brand)
        unique: list[str] = []
        for words in found:
            if not any(words.lower() in u.lower() for u in unique):
                unique.append(words)
        return tuple(unique)

    # --- structure ----------------------------------------------------------------------

    def exhaustive(self, action: Mapping[str, Any]) -> bool:
        """False where the options are examples ("such as"): ``action-options-exhaustive``."""
        return _extension(action, self.exhaustive_url) is not False

    def notes(self, action: Mapping[str, Any]) -> tuple[Note, ...]:
        notes = _conditions(action)
        for related in action.get("relatedAction", []):
            words = wording.relationship(related.get("relationship"))
            target = self.by_id.get(related.get("actionId"))
            if words and target is not None:
                notes.append(Note("Order", f"{words} {self.label(target)}"))
        return tuple(notes)

    def item(self, action: Mapping[str, Any], depth: int = 1) -> Item:
        text = str(action.get("textEquivalent") or action.get("title") or "")
        activity, medication = self._medication(action)
        children = action.get("action", [])
        if depth >= MAX_ITEM_DEPTH:
            # Deeper actions are listed, in reading order, as this item's last level: the
            # page shows all of them, and the template's nesting stays bounded.
            children = [{**a, "action": []} for a in _all_actions(children)]
        return Item(
            spans=self.spans(text, medication),
            details=self.details(text, activity, medication),
            notes=self.notes(action),
            choice=wording.choice_phrase(action.get("selectionBehavior"), self.exhaustive(action))
            if children
            else None,
            options=tuple(self.item(child, depth + 1) for child in children),
            more=_documentation(action, self.phases),
        )

    def blocks(self, actions: Iterable[Mapping[str, Any]]) -> tuple[Block, ...]:
        blocks: list[Block] = []
        loose: list[Item] = []
        for action in actions:
            if action.get("title") and action.get("action"):
                if loose:
                    blocks.append(Block(None, tuple(loose)))
                    loose = []
                items = tuple(self.item(child) for child in action["action"])
                blocks.append(Block(str(action["title"]), items, self.notes(action)))
            else:
                loose.append(self.item(action))
        if loose:
            blocks.append(Block(None, tuple(loose)))
        return tuple(blocks)

    def section(self, action: Mapping[str, Any]) -> Section:
        return Section(
            anchor=str(action.get("id") or ""),
            title=str(action.get("title") or action.get("textEquivalent") or ""),
            body=paragraphs(action.get("description")),  # a string (R4 action.description)
            notes=tuple(_conditions(action)),
            blocks=self.blocks(action.get("action", [])),
            more=_documentation(action, self.phases),
        )


def _words(text: str) -> list[str]:
    return re.findall(r"[\w+-]+", text.lower())


def _all_actions(actions: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every action at any depth, in reading order (a stack, not recursion)."""
    stack = list(reversed(list(actions)))
    while stack:
        action = stack.pop()
        yield action
        stack.extend(reversed(action.get("action", [])))


def _is_section(action: Mapping[str, Any]) -> bool:
    return action.get("groupingBehavior") == "visual-group"


def _phase_and_sections(
    plan: Mapping[str, Any],
) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]]]:
    """A single top action grouping the sections is the phase itself; otherwise the top
    actions are the sections."""
    top = plan.get("action", [])
    if len(top) == 1 and top[0].get("action") and all(_is_section(a) for a in top[0]["action"]):
        return top[0], list(top[0]["action"])
    return None, list(top)


def _facts(plan: Mapping[str, Any], phase: Mapping[str, Any] | None) -> tuple[Fact, ...]:
    facts = [
        Fact("Goal", text)
        for goal in plan.get("goal", [])
        if (text := goal.get("description", {}).get("text"))
    ]
    if phase is not None:
        if length := wording.duration(phase.get("timingTiming")):
            facts.append(Fact("How long", length))
        if priority := phase.get("priority"):
            facts.append(Fact("Priority", str(priority)))
    return tuple(facts)


def _source(resource: Mapping[str, Any]) -> Source:
    contacts = tuple(
        str(telecom["value"])
        for contact in resource.get("contact", [])
        for telecom in contact.get("telecom", [])
        if telecom.get("value")
    )
    label = _extension(resource, COPYRIGHT_LABEL)  # a string
    copyright_ = resource.get("copyright")  # markdown
    if not label and isinstance(copyright_, str) and copyright_.strip():
        label = Markup(to_inline_html(copyright_))  # noqa: S704 (markdown-it escapes)
    return Source(resource.get("publisher"), contacts, label or None)


def phase_page(
    entry: Entry, contents: PhaseContents, config: MappingConfig, phases: Sequence[Entry] = ()
) -> PhasePage:
    """The page of a phase; ``config`` names the canonical base our extensions live under;
    ``phases`` are the loaded phases its "Find out more" sentences may link to."""
    plan = entry.resource
    reader = _PhaseReader(plan, contents, config, phases)
    phase, sections = _phase_and_sections(plan)
    built = tuple(reader.section(s) for s in sections)
    return PhasePage(
        id=entry.id,
        lang=language(plan),
        title=entry.title,
        subtitle=plan.get("subtitle"),
        disease=disease(plan),
        facts=_facts(plan, phase),
        intro=markdown(plan.get("description"), heading=2),
        sections=built,
        reviewers=tuple(r["name"] for r in plan.get("reviewer", []) if r.get("name")),
        last_reviewed=plan.get("lastReviewDate"),
        citations=tuple(
            citation(a)
            for a in plan.get("relatedArtifact", [])
            if a.get("type") == "citation" and a.get("citation")
        ),
        disclaimer=markdown(_extension(plan, disclaimer_extension(config)), heading=3),
        source=_source(plan),
        fhir_path=_fhir_path("PlanDefinition", entry.id),
        version=plan.get("version"),
        last_updated=entry.last_updated,
    )


def medication_page(entry: Entry, uses: Iterable[tuple[Entry, Iterable[Entry]]]) -> MedicationPage:
    """A drug's page: its names and codes, and each phase that uses it, with the
    activities (schedule, route, dose words) it appears in."""
    medication = entry.resource
    concept = medication.get("code", {})
    return MedicationPage(
        id=entry.id,
        lang=language(medication),
        title=entry.title,
        codes=tuple(
            Code(
                SYSTEM_NAMES.get(c.get("system", ""), c.get("system", "")),
                c["code"],
                c.get("display"),
            )
            for c in concept.get("coding", [])
            if c.get("code")
        ),
        uses=tuple(
            Use(
                phase.title,
                education_path("PlanDefinition", phase.id),
                tuple(a.title for a in activities),
            )
            for phase, activities in uses
        ),
        fhir_path=_fhir_path("Medication", entry.id),
        last_updated=entry.last_updated,
    )


def index_page(phases: Iterable[Entry], medications: Iterable[Entry], lang: str) -> IndexPage:
    groups: dict[str, list[tuple[str, str | None, str]]] = {}
    for phase in phases:
        plan = phase.resource
        key = disease(plan) or "Other"
        title = phase.title
        groups.setdefault(key, []).append(
            (title, plan.get("subtitle"), education_path("PlanDefinition", phase.id))
        )
    drugs = sorted((m.title, education_path("Medication", m.id)) for m in medications)
    return IndexPage(
        lang=lang,
        groups=tuple(
            IndexGroup(name[:1].upper() + name[1:], tuple(sorted(items)))
            for name, items in sorted(groups.items(), key=lambda kv: kv[0].lower())
        ),
        drugs=tuple(drugs),
    )
