"""Read a parsed page for its clinical content: the middle format.

Only what the page says goes in, in its own words. Each interpretation (a selection
behaviour, a schedule, a drug, a condition) comes from a cue in ``cues``, a rule of
``mappings.language`` or a lexicon, and the verbatim words it came from travel with it.
Where no rule justifies a structure, the statement stays text and a warning says why; every
drug the lexicons find is a Medication or a warning (``Reading.accounts``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from itertools import pairwise

from mappings import source
from mappings.language import clauses as clause_rules
from mappings.language import headings
from mappings.language.abbreviations import defined_abbreviation
from mappings.language.context import modifiers
from mappings.language.lexicon import DrugConcept, Lexicon, Mention
from mappings.language.lexicon import load as load_lexicon
from mappings.language.sentences import sentences as split_sentences
from mappings.numbers import strict_int
from mappings.terminology import Terminology

from . import cues
from .model import (
    Choice,
    Citation,
    ClassRef,
    Condition,
    Copyright,
    Disease,
    DrugRef,
    Goal,
    Option,
    OptionGroup,
    PhaseContent,
    Required,
    Schedule,
    Section,
    Selection,
    Span,
    Step,
    Urgency,
)

_URL = re.compile(r"https?://\S+")
_OFFERABLE = ("drug", "drug-class", "regimen", "procedure")


# -- the record of a reading -----------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """How one sentence or bullet of the page was read."""

    line: int
    text: str
    where: str  # "intro", the section title, "references", …
    became: str  # "option group (any)", "step", "condition of the section", "text", …
    reason: str | None = None  # why it stayed text, when it did


@dataclass(frozen=True)
class Account:
    """One drug mention and what became of it."""

    line: int
    words: str
    drug: str  # identity key
    outcome: str  # "medication" or "warning"
    reason: str | None = None


@dataclass
class Reading:
    """Everything extraction learned about a page: the content, and the record a reviewer
    reads (``mappings.content.report``)."""

    content: PhaseContent
    statements: list[Statement] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)


class _Record:
    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self.warnings: list[str] = []
        self.accounts: list[Account] = []
        self._seen_warnings: set[str] = set()
        # Regimens the page spells out ("FCR - fludarabine, cyclophosphamide and rituximab"),
        # by regimen key: the line and the choices of its drugs, in the page's words. A later
        # "FCR is offered to …" offers these drugs, on the page's own authority.
        self.spelled_out: dict[str, tuple[int, tuple[Choice, ...]]] = {}

    def said(
        self, line: int, text: str, where: str, became: str, reason: str | None = None
    ) -> None:
        self.statements.append(Statement(line, text, where, became, reason))

    def annotate(self, line: int, text: str, became: str) -> None:
        """Say more of a statement already recorded (a sentence that is text and also the
        section's condition)."""
        for n in range(len(self.statements) - 1, -1, -1):
            s = self.statements[n]
            if s.line == line and s.text == text:
                self.statements[n] = replace(s, became=f"{became}; {s.became}", reason=None)
                return
        self.said(line, text, "section", became)

    def warn(self, line: int, message: str) -> None:
        text = f"line {line}: {message}"
        if text not in self._seen_warnings:
            self._seen_warnings.add(text)
            self.warnings.append(text)

    def mention(self, line: int, m: Mention, outcome: str, reason: str | None = None) -> None:
        self.accounts.append(Account(line, m.text, m.key, outcome, reason))


# -- entry points ----------------------------------------------------------------------


def extract(page: source.Page, terms: Terminology | None = None) -> PhaseContent:
    return read(page, terms).content


def read(page: source.Page, terms: Terminology | None = None) -> Reading:
    token = _PAGE_SENTENCES.set({})
    try:
        return _read(page, terms)
    finally:
        _PAGE_SENTENCES.reset(token)


def _read(page: source.Page, terms: Terminology | None) -> Reading:
    lex = load_lexicon() if terms is None else Lexicon(terms)
    terms = lex.terms
    record = _Record()
    intro = tuple(_texts(page.intro))
    sentences = [s for paragraph in intro for s in _sentences(paragraph)]
    topic, disease_text = _title(page, record)
    disease = _disease(disease_text, intro, terms) if disease_text else None
    if disease is not None and disease.key is None:
        record.warn(
            page.title_line, f"disease {disease.text!r} is not in the terminology tables; text only"
        )
    # A view of the lexicon for this page: it keeps its answers for the page's texts, and
    # knows the other names the page gives its drugs.
    lex = lex.with_page_names({})
    if names := _page_names(page, lex):
        lex = lex.with_page_names(names)
    _spell_out_regimens(page, lex, record)
    for block in page.intro:
        for line, text in _block_texts(block):
            _text_mentions(
                text, line, "intro", lex, record, "the introduction describes, it offers nothing"
            )
    sections = _sections(page, lex, record)
    content = PhaseContent(
        title=page.title,
        last_review=page.last_review,
        disease=disease,
        phase=topic,
        aliases=tuple(m["alias"] for s in sentences if (m := cues.ALIAS.match(s))),
        intro=intro,
        goal=_goal(sentences),
        duration=_span(" ".join(intro), terms),
        urgency=_urgency(sentences),
        usage=tuple(s for s in sentences if any(c.search(s) for c in cues.USAGE_CUES)),
        jurisdiction=_jurisdiction(page),
        sections=sections,
        reviewers=tuple(b.text for b in page.reviewers),
        citations=tuple(_citation(b.text) for b in page.citations),
        disclaimer=tuple(p.text for p in page.disclaimer),
        copyright=_copyright(page.footer.copyright),
        phone=page.footer.phone,
        site=page.footer.site,
        topic=topic,
    )
    _record_header(page, content, record)
    _settle_accounts(content, record)
    content = replace(content, warnings=tuple(record.warnings))
    return Reading(content, _in_page_order(page, record.statements), record.accounts)


def _in_page_order(page: source.Page, statements: list[Statement]) -> list[Statement]:
    """By line, and within a paragraph by where the sentence stands in it."""
    paragraphs: dict[int, str] = {}
    for block in [*page.intro, *(b for s in page.sections for b in s.blocks)]:
        for line, text in _block_texts(block):
            paragraphs.setdefault(line, text)

    def key(s: Statement) -> tuple[int, int]:
        return s.line, max(paragraphs.get(s.line, "").find(s.text), 0)

    return sorted(statements, key=key)


def _page_names(page: source.Page, lex: Lexicon) -> dict[str, DrugConcept]:
    """The other names the page itself gives drugs in brackets ("ATRA", "VP-16"): the page
    may use them alone later."""
    names: dict[str, DrugConcept] = {}
    for block in [*page.intro, *(b for s in page.sections for b in s.blocks)]:
        for _, text in _block_texts(block):
            for m in lex.find(text):
                if m.kind == "drug" and m.drug is not None:
                    for name in (*m.other_names, *m.brands):
                        names.setdefault(name, m.drug)
    return names


def _spell_out_regimens(page: source.Page, lex: Lexicon, record: _Record) -> None:
    """A first pass over the sections: the regimens the page itself spells out, in a bullet
    ("CHOP - cyclophosphamide, …"), in bullets nested under it, or in a sentence ("BEACOPP
    includes bleomycin, …")."""
    for section in page.sections:
        for block in section.blocks:
            if isinstance(block, source.BulletList):
                for bullet in _bullets(block.items):
                    texts = [bullet.text, *(c.text for c in bullet.children)]
                    _spelled(" ; ".join(texts), bullet.line, lex, record, bullet=True)
            else:
                for sentence in _sentences(block.text):
                    _spelled(sentence, block.line, lex, record, bullet=False)


def _spelled(text: str, line: int, lex: Lexicon, record: _Record, bullet: bool) -> None:
    found = [m for m in lex.find(text) if m.kind in ("drug", "regimen")]
    if len(found) < 3 or found[0].kind != "regimen":
        return
    regimen, rest = found[0], found[1:]
    if any(m.kind != "drug" for m in rest):
        return
    if not bullet and _regimen_expansion(text, found) is None:
        return
    choices = tuple(
        Choice(text=text[m.start : m.stop], kind="drug", drug=drug_ref(m)) for m in _distinct(rest)
    )
    record.spelled_out.setdefault(regimen.key, (line, choices))


def _record_header(page: source.Page, content: PhaseContent, record: _Record) -> None:
    """What became of the parts of the page that are not treatment sections."""
    record.said(page.title_line, page.title, "title", "title, name and id")
    if page.review_line is not None:
        record.said(
            page.review_line,
            f"Last medical review: {page.last_review or ''}".strip(),
            "header",
            "read; no date is emitted (the page gives none)" if not page.last_review else "read",
        )
    for crumb in (page.disease_line, page.breadcrumb):
        if crumb is not None:
            record.said(crumb.line, crumb.text, "header", "older layout: read for the disease")
    for block in page.intro:
        for line, paragraph in _block_texts(block):
            for sentence in _sentences(paragraph):
                record.said(line, sentence, "intro", _intro_role(sentence, content))
    for b in page.reviewers:
        record.said(b.line, b.text, "references", "reviewer")
    for b in page.citations:
        record.said(b.line, b.text, "references", "citation (relatedArtifact)")
    for p in page.disclaimer:
        record.said(p.line, p.text, "disclaimer", "disclaimer extension")
    record.said(page.footer.line, "footer", "footer", "publisher, contact, copyright")


def _intro_role(sentence: str, content: PhaseContent) -> str:
    roles = ["description"]
    if content.goal and content.goal.sentence == sentence:
        roles.append("goal and purpose")
    if content.duration and content.duration.text in sentence:
        roles.append(f"duration ({content.duration.text})")
    if content.urgency and content.urgency.sentence == sentence:
        roles.append(f"priority {content.urgency.priority}")
    if sentence in content.usage:
        roles.append("usage")
    if any(alias in sentence for alias in content.aliases):
        roles.append("subtitle (also called)")
    return ", ".join(roles)


def _texts(blocks: Iterable[source.Block]) -> Iterable[str]:
    for block in blocks:
        for _, text in _block_texts(block):
            yield text


def _block_texts(block: source.Block) -> Iterable[tuple[int, str]]:
    if isinstance(block, source.BulletList):
        for bullet in _bullets(block.items):
            yield bullet.line, bullet.text
    else:
        yield block.line, block.text


def _bullets(items: Iterable[source.Bullet]) -> Iterable[source.Bullet]:
    for item in items:
        yield item
        yield from _bullets(item.children)


# Sentences of the paragraphs of the page being read: every pass over the page asks again.
_PAGE_SENTENCES: ContextVar[dict[str, list[str]] | None] = ContextVar("sentences", default=None)


def _sentences(paragraph: str) -> list[str]:
    memo = _PAGE_SENTENCES.get()
    if memo is not None and paragraph in memo:
        return memo[paragraph]
    found = [s.text for s in split_sentences(paragraph.strip())]
    if memo is not None:
        memo[paragraph] = found
    return found


# -- page header -----------------------------------------------------------------------


def _title(page: source.Page, record: _Record) -> tuple[str | None, str | None]:
    """(topic, disease) as the title names them, in any of the family's title shapes."""
    for pattern in cues.TITLES:
        if m := pattern.match(page.title):
            topic = m.groupdict().get("topic")
            disease = m.groupdict().get("disease")
            if disease is None and page.disease_line is not None:
                disease = page.disease_line.text
            return (topic[:1].upper() + topic[1:] if topic else None), disease
    if page.disease_line is not None:
        return None, page.disease_line.text
    record.warn(
        page.title_line, f"the title {page.title!r} names no disease in a shape the reader knows"
    )
    return None, None


def _disease(text: str, intro: Sequence[str], terms: Terminology) -> Disease:
    abbreviation = defined_abbreviation((text,), intro)
    concept = terms.disease(text)
    if concept is None:
        # "relapsed acute lymphoblastic leukemia", "metastatic breast cancer": the longest
        # disease the tables know inside the words.
        found = [m for m in terms.find(text) if m.kind == "disease"]
        if found:
            concept = terms.disease_by_key(max(found, key=lambda m: m.end - m.start).key)
    if abbreviation is None and concept is not None:
        abbreviation = defined_abbreviation((text, concept.name), intro, ignore_case=True)
    return Disease(text=text, abbreviation=abbreviation, key=concept.key if concept else None)


def _goal(sentences: Iterable[str]) -> Goal | None:
    for sentence in sentences:
        for pattern in cues.GOAL:
            if m := pattern.match(sentence):
                return Goal(sentence=sentence, statement=m["statement"])
    return None


def _number(word: str) -> int:
    if word.isascii() and word.isdigit():
        return strict_int(word)
    return cues.NUMBER_WORDS[word.lower()]


def _span(text: str, terms: Terminology) -> Span | None:
    m = cues.SPAN.search(text)
    if not m:
        return None
    unit = terms.unit(m["unit"].lower())
    if unit is None:
        return None
    low = _number(m["low"])
    return Span(
        text=m["text"],
        low=low,
        high=_number(m["high"]) if m["high"] else low,
        unit=unit.code,
        approximate=bool(m["approx1"] or m["approx2"]),
    )


def _schedule(text: str, terms: Terminology) -> Schedule | None:
    m = cues.SCHEDULE.search(text)
    unit = terms.unit(m["word"].lower()) if m else None
    if m is None or unit is None:
        return None
    return Schedule(
        text=m["text"], frequency=1, period=1, unit=unit.code, approximate=bool(m["approx"])
    )


def _urgency(sentences: Iterable[str]) -> Urgency | None:
    for sentence in sentences:
        for pattern, priority in cues.URGENCY_CUES:
            if m := pattern.search(sentence):
                return Urgency(sentence=sentence, wording=m.group(0), priority=priority)
    return None


def _jurisdiction(page: source.Page) -> str | None:
    text = " ".join([*_texts(page.intro), *(t for s in page.sections for t in _texts(s.blocks))])
    for name in cues.JURISDICTIONS:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return name
    return None


def _citation(text: str) -> Citation:
    m = _URL.search(text)
    return Citation(text=text, url=m.group(0).rstrip(".,;") if m else None)


def _copyright(text: str | None) -> Copyright | None:
    if not text:
        return None
    m = re.match(r"^©\s*(?P<year>[0-9]{4})?\s*(?P<holder>.*)$", text)
    year = m["year"] if m and m["year"] else None
    holder = m["holder"].strip() if m and m["holder"].strip() else None
    return Copyright(text=text, year=year, holder=holder)


# -- mentions that stay text -----------------------------------------------------------


def _text_mentions(
    text: str, line: int, where: str, lex: Lexicon, record: _Record, reason: str
) -> None:
    """Drug mentions of a statement that stays text: each one is accounted for."""
    for m in lex.find(text):
        if m.kind in ("drug", "regimen"):
            record.mention(line, m, "text", reason)


def _settle_accounts(content: PhaseContent, record: _Record) -> None:
    """A drug named as text is fine when the page offers it elsewhere (it has a Medication);
    otherwise the reviewer is told, once per drug and line."""
    offered = {
        key
        for section in content.sections
        for option in _options(section)
        for choice in option.choices
        for key in _choice_keys(choice)
    }
    settled: list[Account] = []
    for account in record.accounts:
        if account.outcome == "medication" or account.drug in offered:
            settled.append(replace(account, outcome="medication"))
            continue
        settled.append(replace(account, outcome="warning"))
        record.warn(
            account.line,
            f"{account.words!r} is named but not offered on the page ({account.reason}); "
            "no Medication",
        )
    record.accounts = settled


def _options(section: Section) -> Iterable[Option]:
    for group in section.groups:
        yield from group.options
    for step in section.steps:
        yield step.option


def _choice_keys(choice: Choice) -> Iterable[str]:
    """The drugs a choice makes Medications of (a class's examples make none)."""
    if choice.drug is not None:
        yield from filter(None, (choice.drug.drug, choice.drug.concept))


# -- sections --------------------------------------------------------------------------


def _sections(page: source.Page, lex: Lexicon, record: _Record) -> tuple[Section, ...]:
    out: list[Section] = []
    parent: int | None = None
    parent_kind: str | None = None
    for section in page.sections:
        read = _section(section, lex, record)
        if section.heading is not None and not section.blocks:
            # A heading followed at once by another heading: the sub-headings after it are
            # its children, until a heading of another top-level kind.
            out.append(read)
            parent, parent_kind = len(out) - 1, read.kind
            continue
        if parent is not None:
            top = read.kind in cues.TOP_LEVEL_KINDS and read.kind != parent_kind
            if section.heading is None or top or read.kind in {"clinical-trials"}:
                parent = parent_kind = None
            else:
                read = replace(read, parent=parent)
        out.append(read)
    return tuple(out)


def _section(section: source.Section, lex: Lexicon, record: _Record) -> Section:
    terms = lex.terms
    blocks = section.blocks
    paragraphs = [b.text for b in blocks if isinstance(b, source.Paragraph)]
    title = section.heading
    found: tuple[str, str] | None = None
    if title is not None:
        matched = headings.kind(title, cues.SECTION_KINDS)
        if matched is not None:
            found = (matched.phrase, matched.kind)
            if matched.fuzzy:
                record.warn(
                    section.line,
                    f"heading {title!r} read as {matched.phrase!r} (spelling differs; "
                    "check the page)",
                )
    else:
        # The heading was lost; the first sentence still opens with the topic's name.
        first = paragraphs[0] if paragraphs else ""
        for phrase, kind in cues.SECTION_KINDS:
            if first.lower().startswith(phrase + " "):
                found, title = (phrase, kind), first[: len(phrase)]
                break
    kind = found[1] if found else "general"
    where = title or "section"
    if section.heading is not None:
        record.said(section.line, section.heading, where, f"section heading ({kind})")
    procedure = terms.procedure(title) if title else None

    groups: list[OptionGroup] = []
    prose: list[tuple[int, str]] = []
    steps: list[Step] = []
    lead: source.Paragraph | None = None
    for block in blocks:
        if isinstance(block, source.BulletList):
            if lead is not None:
                *before, last = _sentences(lead.text) or [lead.text]
                if before:
                    prose.append((lead.line, " ".join(before)))
                lead = source.Paragraph(last, lead.line)
            group = _group(lead, block, kind, lex, record, where)
            if group is None:
                if lead is not None:
                    prose.append((lead.line, lead.text))
                prose.extend((b.line, "- " + b.text) for b in _bullets(block.items))
            else:
                groups.append(group)
            lead = None
            continue
        if lead is not None:
            prose.append((lead.line, lead.text))
        lead = block if isinstance(block, source.Paragraph) else None
        if isinstance(block, source.MoreInfo):
            record.said(block.line, block.text, where, "documentation (find out more)")
    if lead is not None:
        prose.append((lead.line, lead.text))

    condition: Condition | None = None
    kept: list[str] = []
    for line, paragraph in prose:
        if paragraph.startswith("- "):
            kept.append(paragraph)
            continue
        rest = []
        for sentence in _sentences(paragraph):
            step = _step(sentence, line, kind, lex, record, where, has_first=bool(steps))
            if step is not None:
                steps.append(step)
                continue
            rest.append(sentence)
            if condition is None and (found_condition := _section_condition(sentence, title, lex)):
                condition = found_condition
                record.annotate(line, sentence, f"condition of the section ({condition.text})")
        if rest:
            kept.append(" ".join(rest))

    required, wording = _required(paragraphs)
    if wording is not None:
        said = (
            (line, sentence)
            for line, paragraph in prose
            for sentence in _sentences(paragraph)
            if wording.lower() in sentence.lower()
        )
        if (where_said := next(said, None)) is not None:
            record.annotate(*where_said, f"section {required} ({wording})")
    return Section(
        heading=section.heading,
        title=title,
        kind=kind,
        line=section.line,
        prose=tuple(kept),
        required=required,
        required_wording=wording,
        condition=condition,
        groups=tuple(groups),
        steps=tuple(steps),
        more_info=tuple(b.text for b in blocks if isinstance(b, source.MoreInfo)),
        procedure=procedure.key if procedure else None,
    )


def _required(paragraphs: Iterable[str]) -> tuple[Required | None, str | None]:
    for paragraph in paragraphs:
        for pattern, required in cues.REQUIRED_CUES:
            if m := pattern.search(paragraph):
                return required, m.group(0)
    return None, None


def _section_condition(sentence: str, title: str | None, lex: Lexicon) -> Condition | None:
    """ "Targeted therapy is a standard treatment if the leukemia cells have …": a condition
    on the whole section only when the sentence's main clause is about the section's own
    treatment and names no drug."""
    split = clause_rules.split(sentence)
    if split.condition is None or split.main is None or split.sequence or title is None:
        return None
    main = sentence[split.main[0] : split.main[1]]
    # "It", "They" or a drug's name would be about a drug, not the section's treatment.
    if not main.lower().startswith((title.lower(), "this treatment", "this therapy")):
        return None
    if any(m.kind in ("drug", "regimen") for m in lex.find(sentence)):
        return None
    words = sentence[split.condition[0] : split.condition[1]]
    if not words.lower().startswith("if "):
        return None
    # A closing aside names what the condition is called ("(called Ph-positive ALL …)"); the
    # condition is what comes before it, and the sentence keeps both.
    words = re.sub(r"\s*\([^()]*\)$", "", words)
    return Condition(text=words, sentence=sentence)


# -- prose sentences -------------------------------------------------------------------


@dataclass(frozen=True)
class _Roles:
    offered: list[Mention]
    context: list[Mention]
    negated: list[Mention]
    examples: list[Mention]
    frequency: str | None
    triggers: dict[Mention, str]  # a context mention -> the words that make it context


def _roles(text: str, mentions: list[Mention]) -> _Roles:
    """What the words around each mention do to it (ConText, within one clause)."""
    found = modifiers().read(text, [(m.start, m.end) for m in mentions])
    offered, context, negated, examples = [], [], [], []
    frequency = None
    triggers: dict[Mention, str] = {}
    for m, categories in zip(mentions, found or [{} for _ in mentions], strict=True):
        frequency = frequency or categories.get("frequency")
        if "context_of" in categories:
            context.append(m)
            triggers[m] = categories["context_of"]
        elif "negation" in categories:
            negated.append(m)
        elif "example" in categories and m.kind == "drug":
            examples.append(m)
        else:
            offered.append(m)
    return _Roles(offered, context, negated, examples, frequency, triggers)


_EXPANDS = re.compile(
    r"^\s*(?:\(|[,:\u2013\u2014-]\s*)?(?:which\s+)?(?:includes?|is|are|consists? of|is made up of|"
    r"uses|contains?|combines?|stands? for|means)?\b",
    re.IGNORECASE,
)


def _regimen_expansion(text: str, offered: list[Mention]) -> tuple[Mention, list[Mention]] | None:
    """ "BEACOPP includes bleomycin, etoposide … and prednisone": a regimen and the drugs the
    sentence spells it out with, all given together."""
    if len(offered) < 3 or offered[0].kind != "regimen":
        return None
    regimen, rest = offered[0], offered[1:]
    if any(m.kind != "drug" for m in rest):
        return None
    between = text[regimen.stop : rest[0].start]
    if not _EXPANDS.fullmatch(between.rstrip()) and not _EXPANDS.fullmatch(between):
        return None
    if _relation(text, rest) not in ("and", "single"):
        return None
    return regimen, rest


def _step(
    sentence: str,
    line: int,
    kind: str,
    lex: Lexicon,
    record: _Record,
    where: str,
    has_first: bool,
) -> Step | None:
    """A prose sentence that offers a drug or a regimen becomes a step. Its own condition
    ("if someone cannot cope with …") applies to it alone; a sequence opener ("If this
    doesn't work") makes it the next line after the step before."""
    mentions = lex.find(sentence)
    if not any(m.kind in ("drug", "regimen") for m in mentions):
        step = _procedure_step(sentence, line, lex)
        if step is not None:
            record.said(line, sentence, where, "step (procedure)")
        else:
            record.said(line, sentence, where, "text")
        return step
    split = clause_rules.split(sentence)
    condition_words = sentence[split.condition[0] : split.condition[1]] if split.condition else None
    for m in mentions:
        if (
            split.condition
            and split.condition[0] <= m.start < split.condition[1]
            and m.kind == "drug"
        ):
            record.mention(line, m, "text", "named in the condition, as the situation")
    if split.main is None:
        record.said(line, sentence, where, "text", "the sentence is a condition with no treatment")
        return None
    main_start, main_end = split.main
    main = sentence[main_start:main_end]
    in_main = [
        replace(
            m,
            start=m.start - main_start,
            end=m.end - main_start,
            outer_end=m.outer_end - main_start if m.outer_end >= 0 else -1,
        )
        for m in mentions
        if main_start <= m.start and m.end <= main_end and m.kind in _OFFERABLE
    ]
    roles = _roles(main, in_main)
    for m in roles.context:
        if m.kind == "drug":
            record.mention(line, m, "text", f"named as context ({roles.triggers[m]})")
    for m in roles.negated:
        if m.kind == "drug":
            record.mention(line, m, "text", "the sentence says it is not given")
    offered = [m for m in roles.offered if m.kind in ("drug", "drug-class", "regimen")]
    # "an anthracycline such as daunorubicin or idarubicin": the drugs in an example scope
    # are examples of the class before them, not options beside it.
    examples: dict[int, list[Mention]] = {}
    for m in roles.examples:
        owner = max(
            (c for c in offered if c.kind == "drug-class" and c.stop <= m.start),
            key=lambda c: c.start,
            default=None,
        )
        if owner is None:
            offered.append(m)
        else:
            examples.setdefault(id(owner), []).append(m)
            record.mention(line, m, "text", "named as an example of a drug class")
    offered.sort(key=lambda m: m.start)
    if (expansion := _regimen_expansion(main, offered)) is not None:
        regimen, parts = expansion
        combined = tuple(_mention_choice(m, main, lex, record, line) for m in _distinct(parts))
        for m in parts:
            record.mention(line, m, "medication")
        return _regimen_step(
            sentence,
            line,
            where,
            regimen,
            combined,
            roles,
            split,
            has_first,
            record,
            "step: regimen",
        )
    single = [m for m in offered if m.kind in ("drug", "regimen", "drug-class")]
    if (
        len(single) == 1
        and single[0].kind == "regimen"
        and single[0].key in record.spelled_out
        and clause_rules.offers(main)
    ):
        # "FCR is mostly offered to younger people if …": the drugs the page spelled FCR out
        # with, given together; the condition is this sentence's.
        regimen = single[0]
        spelled_line, spelled = record.spelled_out[regimen.key]
        became = f"step: regimen spelled out on line {spelled_line}"
        return _regimen_step(
            sentence, line, where, regimen, spelled, roles, split, has_first, record, became
        )
    drugs = [m for m in offered if m.kind in ("drug", "regimen")]
    if not drugs:
        record.said(line, sentence, where, "text", "no drug is offered in the main clause")
        return None
    if not clause_rules.offers(main):
        for m in drugs:
            if m.kind == "drug":
                record.mention(line, m, "text", "the sentence describes it but does not offer it")
        record.said(line, sentence, where, "text", "the sentence does not offer what it names")
        return None
    # A class named before the first drug is what the drug is ("a TKI called imatinib").
    first_drug = min(m.start for m in drugs)
    named = [m for m in offered if m.kind != "drug-class" or m.start > first_drug]
    relation = _relation(main, named)
    if relation is None:
        for m in drugs:
            if m.kind == "drug":
                record.mention(line, m, "text", "its relation to the other drugs is unclear")
        record.said(
            line, sentence, where, "text", "the drugs are neither alternatives nor a combination"
        )
        record.warn(
            line, "a sentence names several drugs without 'or' or 'and' between them; kept as text"
        )
        return None
    choices = [_mention_choice(m, main, lex, record, line) for m in _distinct(named)]
    for n, m in enumerate(_distinct(named)):
        if examples.get(id(m)):
            refs = tuple(drug_ref(x) for x in examples[id(m)] if x.kind == "drug")
            choices[n] = replace(choices[n], examples=refs)
    many = len(choices) > 1
    selection: Selection | None = None
    wording = None
    if many:
        if relation == "or":
            selection, wording = "exactly-one", "or"
        elif relation == "and" and not cues.COMBINATION.search(main):
            # "A and B are used": an enumeration, each may be given; only a combining word
            # ("together", "combined with") or a regimen says they are given together.
            selection, wording = "any", "and"
        else:
            selection, wording = "all", relation
    for m in _distinct(named):
        if m.kind == "drug":
            record.mention(line, m, "medication")
    condition = None
    after = None
    if split.condition is not None and condition_words:
        if split.sequence and has_first:
            after = condition_words
        else:
            condition = Condition(text=condition_words, sentence=sentence)
    option = Option(
        text=sentence,
        line=line,
        choices=tuple(choices),
        selection=selection,
        wording=wording,
        frequency=roles.frequency,
        condition=condition,
    )
    record.said(line, sentence, where, _became("step", option, after))
    return Step(option=option, after=after)


def _regimen_step(
    sentence: str,
    line: int,
    where: str,
    regimen: Mention,
    choices: tuple[Choice, ...],
    roles: _Roles,
    split: clause_rules.Clauses,
    has_first: bool,
    record: _Record,
    became: str,
) -> Step:
    """A regimen's drugs, all given together; the sentence's condition or sequence is its."""
    words = sentence[split.condition[0] : split.condition[1]] if split.condition else None
    option = Option(
        text=sentence,
        line=line,
        choices=choices,
        selection="all",
        wording=regimen.text,
        regimen=regimen.text,
        frequency=roles.frequency,
        condition=Condition(words, sentence) if words and not split.sequence else None,
    )
    record.said(line, sentence, where, _became(became, option, None))
    return Step(option=option, after=words if split.sequence and has_first else None)


def _became(what: str, option: Option, after: str | None) -> str:
    parts = [what]
    if option.selection:
        parts.append(f"{option.selection} of {len(option.choices)} ({option.wording})")
    if after:
        parts.append(f"after the step before ({after})")
    if option.condition:
        parts.append(f"when: {option.condition.text}")
    if option.frequency:
        parts.append(f"frequency: {option.frequency}")
    return ", ".join(parts)


_CONNECTOR = re.compile(
    r"^\s*(?:,\s*)?(?P<word>or|and|plus|with|combined with|together with|along with|followed by)?"
    r"\s*(?:the\s+drugs?\s+|a\s+|an\s+)?$",
    re.IGNORECASE,
)


# ", given as an injection under the skin for 7 days, together with": an aside about the
# first drug, then the word that joins the second.
_ASIDE = re.compile(
    r"^\s*,[^;]*?(?:,\s*|\s+)(?P<word>together with|combined with|along with|plus|with)\s*$",
    re.IGNORECASE,
)


def _relation(text: str, offered: list[Mention]) -> str | None:
    """How the offered mentions of a clause relate: "or" (alternatives), "and" or another
    combining word (given together), or None when the words between them say neither."""
    distinct = _distinct(offered)
    if len(distinct) < 2:
        return "single"
    words: set[str] = set()
    masked = clause_rules.mask_parentheses(text)
    for a, b in pairwise(distinct):
        between = masked[a.stop : b.start].replace("\0", "")
        m = _CONNECTOR.match(between) or _ASIDE.match(between)
        if m is None:
            # "another TKI" and "a similar drug" read as alternatives of what came before.
            if b.kind == "drug-class" and re.search(r"\bor\b", between):
                words.add("or")
                continue
            return None
        if m["word"]:
            words.add(m["word"].lower())
    if not words or len(words) > 1:
        return None
    return words.pop()


def _distinct(mentions: Iterable[Mention]) -> list[Mention]:
    seen: dict[tuple[str, str], Mention] = {}
    for m in mentions:
        seen.setdefault((m.kind, m.drug.key if m.drug else m.key), m)
    return list(seen.values())


def _mention_choice(m: Mention, text: str, lex: Lexicon, record: _Record, line: int) -> Choice:
    words = text[m.start : m.stop]
    if m.kind == "drug":
        _warn_spelling(record, line, m)
        return Choice(text=words, kind="drug", drug=drug_ref(m))
    if m.kind == "drug-class":
        words = _with_determiner(text, m)
        return Choice(text=words, kind="drug-class", drug_class=ClassRef(words, m.key))
    if m.kind == "regimen":
        if m.key not in record.spelled_out:
            _warn_regimen(record, line, m.text)
        return Choice(text=words, kind="activity")
    return Choice(text=words, kind="procedure", procedure=m.key)


def _warn_regimen(record: _Record, line: int, words: str) -> None:
    record.warn(
        line, f"regimen {words!r} is named without its drugs; kept as one activity, text only"
    )


def _warn_spelling(record: _Record, line: int, m: Mention) -> None:
    if m.spelled and m.drug is not None:
        record.warn(
            line,
            f"{m.spelled!r} read as the drug {m.drug.name!r} (a spelling the tables do not list)",
        )


def drug_ref(m: Mention) -> DrugRef:
    concept = m.drug
    if concept is None:
        raise ValueError(f"{m.text!r} is not a drug mention")
    known = concept.known
    return DrugRef(
        name=m.text,
        drug=known.key if known is not None else None,
        brands=m.brands,
        other_names=m.other_names,
        concept=None if known is not None else concept.key,
        generic=None if known is not None else concept.name,
        formulation=concept.formulation,
    )


_DETERMINER = re.compile(r"(?:another|a similar|other|an?)\s+$", re.IGNORECASE)


def _with_determiner(sentence: str, m: Mention) -> str:
    """ "another TKI", not "TKI": the determiner says it is an alternative."""
    before = _DETERMINER.search(sentence[: m.start])
    return sentence[before.start() if before else m.start : m.stop]


def _procedure_step(sentence: str, line: int, lex: Lexicon) -> Step | None:
    """ "You may be offered radiation to the brain, …": a procedure offered in prose, in the
    sentence's main clause (not in "If you are not able to have intense chemotherapy")."""
    split = clause_rules.split(sentence)
    if split.main is None or not cues.OFFERED.search(sentence[split.main[0] : split.main[1]]):
        return None
    start = split.main[0]
    found = [
        replace(m, start=m.start + start, end=m.end + start)
        for m in lex.terms.find(sentence[start : split.main[1]])
    ]
    procedures = [m for m in found if m.kind == "procedure"]
    if not procedures:
        return None
    first = procedures[0]
    sites = [m for m in found if m.kind == "body-site" and m.start > first.end]
    end = sites[-1].end if sites else first.end
    choice = Choice(
        text=sentence[first.start : end],
        kind="procedure",
        procedure=first.key,
        body_sites=tuple(dict.fromkeys(m.key for m in sites)),
    )
    return Step(option=Option(text=sentence, line=line, choices=(choice,)), after=None)


# -- lists -----------------------------------------------------------------------------


def _group(
    lead: source.Paragraph | None,
    bullets: source.BulletList,
    kind: str,
    lex: Lexicon,
    record: _Record,
    where: str,
) -> OptionGroup | None:
    """A list of treatments becomes an option group; any other list (side effects, tests,
    questions) stays text."""
    lead_text = lead.text if lead else ""
    items = list(_bullets(bullets.items))
    mentions = {b.line: lex.find(b.text) for b in items}
    treats = any(m.kind in _OFFERABLE for found in mentions.values() for m in found)
    not_treatments = kind in cues.NOT_TREATMENT_SECTIONS or cues.NOT_TREATMENTS.search(lead_text)
    if not_treatments or not (treats or kind in cues.TREATMENT_SECTIONS):
        reason = "the list is not a list of treatments"
        if lead is not None:
            record.said(lead.line, lead.text, where, "text (list lead)", reason)
        for b in items:
            record.said(b.line, b.text, where, "text (list item)", reason)
            _text_mentions(b.text, b.line, where, lex, record, reason)
        return None
    cue = next((c for c in cues.GROUP_CUES if c.pattern.search(lead_text)), cues.DEFAULT_GROUP)
    wording = m.group(0) if (m := cue.pattern.search(lead_text)) else None
    if lead is not None:
        record.said(
            lead.line,
            lead.text,
            where,
            f"option group lead: {cue.selection}" + (f" ({wording})" if wording else ""),
        )
    among: Selection = "exactly-one" if cue.selection == "all" else "any"
    options = []
    for bullet in bullets.items:
        options.extend(_bullet_options(bullet, among, lex, record, where))
    return OptionGroup(
        lead=lead_text or bullets.items[0].text,
        line=lead.line if lead else bullets.line,
        selection=cue.selection,
        wording=wording,
        required=cue.required,
        precheck=cue.precheck,
        exhaustive=cue.exhaustive,
        schedule=_schedule(lead_text, lex.terms),
        options=tuple(options),
    )


def _bullet_options(
    bullet: source.Bullet, among: Selection, lex: Lexicon, record: _Record, where: str
) -> list[Option]:
    """A bullet and the bullets nested under it. A regimen or a combination whose drugs are
    the nested bullets is one option of all of them; other nested bullets are options of
    their own, after their parent."""
    option = _option(bullet, among, lex, record, where)
    if not bullet.children:
        return [option]
    if option.regimen is not None and len(option.choices) > 1:
        # "part A, called hyper-CVAD" with its drugs nested under it: they spell it out, and
        # each nested bullet's words become its drug's choice.
        choices = list(option.choices)
        rest: list[source.Bullet] = []
        for child in bullet.children:
            keys = {m.key for m in lex.find(child.text) if m.kind == "drug"}
            n = next((i for i, c in enumerate(choices) if _choice_drug(c) in keys), None)
            if n is None or child.children:
                rest.append(child)
                continue
            choices[n] = replace(choices[n], text=child.text)
            record.said(child.line, child.text, where, f"a drug of {option.regimen}, above")
        option = replace(option, choices=tuple(choices))
        others = [o for child in rest for o in _bullet_options(child, among, lex, record, where)]
        return [option, *others]
    children = [
        o for child in bullet.children for o in _bullet_options(child, among, lex, record, where)
    ]
    combination = cues.COMBINATION.search(bullet.text)
    regimen = next((m for m in lex.find(bullet.text) if m.kind == "regimen"), None)
    singles = all(len(o.choices) == 1 for o in children)
    if (combination or regimen) and singles:
        words = regimen.text if regimen else combination.group(0)  # type: ignore[union-attr]
        nested = tuple(replace(o.choices[0], text=o.text) for o in children)
        merged = replace(
            option,
            choices=nested,
            selection="all",
            wording=words,
            regimen=regimen.text if regimen else None,
        )
        record.said(
            bullet.line, bullet.text, where, f"option: all of {len(nested)} nested items ({words})"
        )
        return [merged]
    record.warn(
        bullet.line,
        "nested bullets without a regimen or combination word; each is an option of its own",
    )
    return [option, *children]


def _choice_drug(choice: Choice) -> str | None:
    ref = choice.drug
    return None if ref is None else ref.drug or ref.concept


def _split(text: str) -> list[str]:
    """Split "A, B or C" into its alternatives. A list that is not closed by "or" ("red
    blood cells, platelets and …") is one thing, not alternatives."""
    return _parts(text, "or") if " or " in clause_rules.mask_parentheses(text) else [text]


def _parts(text: str, conjunction: str) -> list[str]:
    """ "A, B <conjunction> C" -> its parts; parentheses are opaque."""
    masked = clause_rules.mask_parentheses(text)
    parts, start = [], 0
    for m in re.finditer(rf",\s+| {conjunction} ", masked):
        parts.append(text[start : m.start()].strip())
        start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _option(
    bullet: source.Bullet, among: Selection, lex: Lexicon, record: _Record, where: str
) -> Option:
    terms = lex.terms
    text = bullet.text
    rest = text
    as_needed = bool(cues.AS_NEEDED.search(rest))
    rest = cues.AS_NEEDED.sub("", rest)
    purpose = None
    if m := cues.PURPOSE.search(rest):
        purpose, rest = m["purpose"], rest[: m.start()]
    schedule, route_words = None, None
    if m := cues.ADMINISTRATION.search(rest):
        schedule, route_words, rest = _schedule(m["text"], terms), m["text"], rest[: m.start()]

    # "epoetin alfa (Eprex), if the level of erythropoietin is low": the bullet's own
    # condition, for this option; what it names is the situation, not an option.
    condition = None
    split = clause_rules.split(rest)
    if split.condition is not None and split.main is not None and split.condition[0] > 0:
        words = rest[split.condition[0] : split.condition[1]]
        condition = Condition(text=words, sentence=text)
        for x in lex.find(words):
            if x.kind == "drug":
                record.mention(bullet.line, x, "text", "named in the bullet's condition")
        rest = rest[: split.main[1]]

    # "intrathecal chemotherapy with A, B or C": the carrier's route applies to each.
    if (m := cues.CARRIER.match(rest)) and any(x.kind == "route" for x in terms.find(m["carrier"])):
        route_words, rest = m["carrier"], m["list"]

    mentions = lex.find(rest)
    roles = _roles(rest, [x for x in mentions if x.kind in _OFFERABLE])
    for x in roles.context + roles.negated:
        if x.kind == "drug":
            record.mention(bullet.line, x, "text", "named as context in the bullet")
    regimen = next((x for x in roles.offered if x.kind == "regimen"), None)
    regimen_drugs = [
        x
        for x in (roles.offered + roles.context)
        if x.kind in ("drug", "regimen") and regimen and x.start > regimen.start
    ]
    inner = [x for x in regimen_drugs if x.kind == "regimen"]
    if (
        regimen is not None
        and not any(x.key not in record.spelled_out for x in inner)
        and (regimen_drugs or regimen.key in record.spelled_out)
    ):
        # "CHOP (cyclophosphamide, doxorubicin, vincristine and prednisone)", "R-CHOP -
        # rituximab added to CHOP", or a regimen the page spells out elsewhere: all of them.
        parts = tuple(
            _mention_choice(x, rest, lex, record, bullet.line)
            for x in _distinct(regimen_drugs)
            if x.kind == "drug"
        )
        for x in inner:
            parts += record.spelled_out[x.key][1]
        if not regimen_drugs:
            parts = record.spelled_out[regimen.key][1]
        regimen_drugs = [x for x in regimen_drugs if x.kind == "drug"]
        for x in regimen_drugs:
            record.mention(bullet.line, x, "medication")
        record.said(
            bullet.line, text, where, f"option: regimen {regimen.text}, all of {len(parts)}"
        )
        return Option(
            text=text,
            line=bullet.line,
            choices=parts,
            selection="all" if len(parts) > 1 else None,
            wording=regimen.text if len(parts) > 1 else None,
            regimen=regimen.text,
            purpose=purpose,
            as_needed=as_needed,
            frequency=roles.frequency,
            condition=condition,
        )

    drug_class = None
    exhaustive = True
    such_as = cues.SUCH_AS.match(rest)
    head = such_as["head"].rstrip(" ,") if such_as else ""
    if such_as and len(_split(head)) == 1 and "," not in head:
        found = [x for x in terms.find(head) if x.kind == "drug-class"]
        drug_class = ClassRef(head, found[0].key if found else None)
        exhaustive, rest = False, such_as["list"]

    fragments = _split(rest)
    choices: list[Choice] = []
    for fragment in fragments:
        choices.extend(_choices(fragment, lex, record, bullet.line, route_words, schedule))
    many = len(choices) > 1
    and_list = many and len(fragments) == 1
    option = Option(
        text=text,
        line=bullet.line,
        choices=tuple(choices),
        selection=("all" if and_list else among) if many else None,
        wording=(_conjunction(rest) if and_list else ("such as" if drug_class else "or"))
        if many
        else None,
        drug_class=drug_class,
        exhaustive=exhaustive,
        purpose=purpose,
        as_needed=as_needed,
        frequency=roles.frequency,
        condition=condition,
    )
    if and_list and not re.search(
        r"\band\b|\bwith\b|\bplus\b", clause_rules.mask_parentheses(rest)
    ):
        # "A, B" with neither "or" nor "and": keep one option of the bullet's words.
        record.warn(
            bullet.line,
            "a bullet lists several treatments without 'or' or 'and'; kept as one activity",
        )
        option = replace(
            option, choices=(Choice(text=rest, kind="activity"),), selection=None, wording=None
        )
        for x in mentions:
            if x.kind == "drug":
                record.mention(bullet.line, x, "text", "in a list without 'or' or 'and'")
    record.said(bullet.line, text, where, _became("option", option, None))
    return option


def _conjunction(text: str) -> str:
    """The word that joins a bullet's treatments: "and", "plus", "with", "together"."""
    masked = clause_rules.mask_parentheses(text).lower()
    for word in ("and", "plus", "with", "together", "followed by"):
        if re.search(rf"\b{word}\b", masked):
            return word
    return ","


def _route(text: str, terms: Terminology) -> tuple[str | None, str | None]:
    routes = [m for m in terms.find(text) if m.kind == "route"]
    if not routes or len({m.key for m in routes}) > 1:
        # No route, or several ("by mouth or into a vein"): none is claimed.
        return None, None
    same = [m for m in routes if m.key == routes[0].key]
    start, end = same[0].start, same[-1].end
    if text[end:].startswith(" (") and ")" in text[end:]:
        end = text.index(")", end) + 1  # "intravenously (through an IV)"
    elif text[start:end].count("(") > text[start:end].count(")") and text[end:].startswith(")"):
        end += 1
    return routes[0].key, text[start:end]


def _choices(
    fragment: str,
    lex: Lexicon,
    record: _Record,
    line: int,
    route_words: str | None,
    schedule: Schedule | None,
) -> list[Choice]:
    terms = lex.terms
    found = lex.find(fragment)
    # Route words outside the fragment (a carrier, a ", given …" clause) apply to it;
    # otherwise the fragment's own.
    route, route_text = _route(route_words, terms) if route_words else (None, None)
    if route is None:
        route, route_text = _route(fragment, terms)
    dose = dm["dose"] + "-dose" if (dm := cues.DOSE.search(fragment)) else None
    base = Choice(
        text=fragment,
        kind="activity",
        route=route,
        route_text=route_text,
        schedule=schedule,
        dose=dose,
    )
    drugs = _distinct(m for m in found if m.kind == "drug")
    classes = [m for m in found if m.kind == "drug-class"]
    procedures = [m for m in found if m.kind == "procedure"]
    regimens = [m for m in found if m.kind == "regimen"]

    such_as = cues.SUCH_AS.match(fragment)
    if classes and such_as:  # "a steroid such as prednisone"
        examples = tuple(drug_ref(m) for m in drugs if m.start >= such_as.start("list"))
        for m in drugs:
            record.mention(line, m, "text", "named as an example of a drug class")
        ref = ClassRef(such_as["head"], classes[0].key)
        return [replace(base, kind="drug-class", drug_class=ref, examples=examples)]
    if len(drugs) + len(regimens) > 1 and len(parts := _parts(fragment, "and")) > 1:
        # "cytarabine and idarubicin (Idamycin)": each named drug.
        return [
            c for part in parts for c in _choices(part, lex, record, line, route_words, schedule)
        ]
    if drugs:
        out = []
        for m in drugs:
            record.mention(line, m, "medication")
            _warn_spelling(record, line, m)
            out.append(replace(base, kind="drug", drug=drug_ref(m)))
        return out
    if regimens:
        for m in regimens:
            if m.key not in record.spelled_out:
                _warn_regimen(record, line, m.text)
                record.mention(line, m, "text", "a regimen named without its drugs")
        return [base]
    if classes:
        return [replace(base, kind="drug-class", drug_class=ClassRef(fragment, classes[0].key))]
    if procedures:
        if len({m.key for m in procedures}) > 1:  # "red blood cells, platelets and plasma"
            return [Choice(text=m.text, kind="procedure", procedure=m.key) for m in procedures]
        sites = tuple(dict.fromkeys(m.key for m in found if m.kind == "body-site"))
        return [replace(base, kind="procedure", procedure=procedures[0].key, body_sites=sites)]
    return [base]
