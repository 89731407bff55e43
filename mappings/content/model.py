"""The reviewable middle format: what a phase page says, in clinical terms.

Every object keeps the verbatim source words (``text``) next to what was read out of them,
so a reviewer can check each interpretation against the page, and so the FHIR rules
never need the page itself. All objects are immutable.

Terminology keys (``drug``, ``drug_class``, ``procedure``, ``route``, ``body_sites``) point
into ``mappings.terminology``; ``None`` means the tables do not know the concept and the
output carries text only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Selection = Literal["all", "any", "one-or-more", "exactly-one", "at-most-one"]
Required = Literal["must-unless-documented", "could"]
Precheck = Literal["yes", "no"]
ChoiceKind = Literal["drug", "drug-class", "procedure", "activity"]
Priority = Literal["routine", "urgent", "asap", "stat"]


@dataclass(frozen=True)
class Span:
    """An amount of time read from words: "about a month", "2 to 3 years"."""

    text: str
    low: int
    high: int
    unit: str  # UCUM: d, wk, mo, a
    approximate: bool


@dataclass(frozen=True)
class Schedule:
    """How often: "often given weekly", "monthly"."""

    text: str
    frequency: int
    period: int
    unit: str  # UCUM
    approximate: bool


@dataclass(frozen=True)
class DrugRef:
    """A drug as the page names it. Identity comes from what it is: ``drug`` (a terminology
    key) or, for a drug the tables do not code, ``concept`` and ``generic`` from the drug
    dictionary; the page's own words (name, brands, other names) travel beside it."""

    name: str  # as the page writes it
    drug: str | None  # terminology key; None = not in the tables
    brands: tuple[str, ...] = ()  # as the page gives them ("Nipent")
    other_names: tuple[str, ...] = ()  # "VP-16", "deoxycoformycin"
    concept: str | None = None  # identity of a drug the tables do not code
    generic: str | None = None  # its generic name (the drug dictionary's)
    formulation: str | None = None  # "liposomal doxorubicin": a product of its own


@dataclass(frozen=True)
class ClassRef:
    text: str  # "a similar anthracycline drug", "another TKI", "steroids"
    drug_class: str | None


@dataclass(frozen=True)
class Condition:
    text: str  # "if the leukemia cells have the Philadelphia chromosome"
    sentence: str


@dataclass(frozen=True)
class Choice:
    """One thing a patient may receive: a drug, a class of drugs, a procedure or another
    activity named only in words."""

    text: str
    kind: ChoiceKind
    drug: DrugRef | None = None
    drug_class: ClassRef | None = None
    procedure: str | None = None
    examples: tuple[DrugRef, ...] = ()  # "a steroid such as prednisone"
    dose: str | None = None  # "high-dose": words only, never an amount
    route: str | None = None
    route_text: str | None = None
    schedule: Schedule | None = None
    body_sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class Option:
    """A bullet (or a drug sentence in prose) and the choices it offers."""

    text: str
    line: int
    choices: tuple[Choice, ...]
    selection: Selection | None = None  # among the choices, when more than one
    wording: str | None = None  # the words the selection was read from ("or", "such as")
    drug_class: ClassRef | None = None  # "steroids such as …": the class the choices belong to
    exhaustive: bool = True
    purpose: str | None = None  # "to prevent or fight infections"
    as_needed: bool = False
    regimen: str | None = None  # "R-CHOP": the named combination the choices make up
    frequency: str | None = None  # "most common", "often": how often, never how strongly
    condition: Condition | None = None  # the sentence's own condition, for this option only


@dataclass(frozen=True)
class OptionGroup:
    """A list introduced by a lead sentence: "… may include one or more of the following:"."""

    lead: str
    line: int
    selection: Selection
    wording: str | None  # the lead's words that decided ``selection``
    required: Required | None
    precheck: Precheck | None
    exhaustive: bool
    schedule: Schedule | None
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Step:
    """A drug sentence in prose. ``after`` holds the words that make it a next line of
    treatment ("If this doesn't work"); None for the first step."""

    option: Option
    after: str | None


@dataclass(frozen=True)
class Section:
    heading: str | None  # as on the page; None where the page lost its heading
    title: str | None  # heading, or the topic the section's first sentence opens with
    kind: (
        str  # chemotherapy, targeted-therapy, cns, radiation, supportive, clinical-trials, general
    )
    line: int
    prose: tuple[str, ...]  # paragraphs that are neither list leads nor drug sentences
    required: Required | None
    required_wording: str | None
    condition: Condition | None
    groups: tuple[OptionGroup, ...]
    steps: tuple[Step, ...]
    more_info: tuple[str, ...]
    procedure: str | None  # terminology key for the section's therapy, when known
    parent: int | None = None  # index of the section this one is a sub-heading of


@dataclass(frozen=True)
class Goal:
    sentence: str
    statement: str  # "rapidly clear the blood and bone marrow …"


@dataclass(frozen=True)
class Urgency:
    sentence: str
    wording: str  # "right away"
    priority: Priority


@dataclass(frozen=True)
class Disease:
    text: str
    abbreviation: str | None
    key: str | None


@dataclass(frozen=True)
class Citation:
    text: str
    url: str | None


@dataclass(frozen=True)
class Copyright:
    text: str  # "© 2024 Canadian Cancer Society"
    year: str | None
    holder: str | None


@dataclass(frozen=True)
class PhaseContent:
    title: str
    last_review: str | None
    disease: Disease | None
    phase: str | None  # "Induction"
    aliases: tuple[str, ...]  # "remission induction therapy"
    intro: tuple[str, ...]  # intro paragraphs, verbatim
    goal: Goal | None
    duration: Span | None
    urgency: Urgency | None
    usage: tuple[str, ...]  # caveats for whoever applies the plan, verbatim sentences
    jurisdiction: str | None  # the country the page names ("… in Canada"), as written
    sections: tuple[Section, ...]
    reviewers: tuple[str, ...]
    citations: tuple[Citation, ...]
    disclaimer: tuple[str, ...]
    copyright: Copyright | None
    phone: str | None
    site: str | None
    topic: str | None = None  # what the title says the page is about ("Chemotherapy")
    warnings: tuple[str, ...] = ()  # "line N: …": what could not be read, and why
