"""Read a parsed page for its clinical content: the middle format.

Only what the page says goes in, in its own words; each interpretation (a selection
behaviour, a schedule, a drug) comes from a cue in ``cues`` or a terminology table, and
the verbatim words it came from travel with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from mappings import source
from mappings.terminology import Match, Terminology
from mappings.terminology import load as load_terminology

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


def extract(page: source.Page, terms: Terminology | None = None) -> PhaseContent:
    terms = terms or load_terminology()
    intro = tuple(_texts(page.intro))
    sentences = [s for paragraph in intro for s in _sentences(paragraph)]
    title = cues.TITLE.match(page.title)
    disease_text = title["disease"] if title else None
    return PhaseContent(
        title=page.title,
        last_review=page.last_review,
        disease=_disease(disease_text, intro, terms) if disease_text else None,
        phase=title["phase"] if title else None,
        aliases=tuple(m["alias"] for s in sentences if (m := cues.ALIAS.match(s))),
        intro=intro,
        goal=_goal(sentences),
        duration=_span(" ".join(intro), terms),
        urgency=_urgency(sentences),
        usage=tuple(s for s in sentences if any(c.search(s) for c in cues.USAGE_CUES)),
        jurisdiction=_jurisdiction(page),
        sections=tuple(_section(s, terms) for s in page.sections),
        reviewers=tuple(b.text for b in page.reviewers),
        citations=tuple(_citation(b.text) for b in page.citations),
        disclaimer=tuple(p.text for p in page.disclaimer),
        copyright=_copyright(page.footer.copyright),
        phone=page.footer.phone,
        site=page.footer.site,
    )


def _texts(blocks: Iterable[source.Block]) -> Iterable[str]:
    for block in blocks:
        if isinstance(block, source.BulletList):
            yield from (b.text for b in block.items)
        else:
            yield block.text


def _sentences(paragraph: str) -> list[str]:
    return [s for s in cues.SENTENCE_END.split(paragraph.strip()) if s]


# -- page header ---------------------------------------------------------------------


def _disease(text: str, intro: Sequence[str], terms: Terminology) -> Disease:
    abbreviation = None
    for paragraph in intro:
        m = re.search(re.escape(text) + r" \((?P<abbr>[A-Z][A-Za-z0-9+-]{1,9})\)", paragraph)
        if m:
            abbreviation = m["abbr"]
            break
    concept = terms.disease(text)
    return Disease(text=text, abbreviation=abbreviation, key=concept.key if concept else None)


def _goal(sentences: Iterable[str]) -> Goal | None:
    for sentence in sentences:
        for pattern in cues.GOAL:
            if m := pattern.match(sentence):
                return Goal(sentence=sentence, statement=m["statement"])
    return None


def _number(word: str) -> int:
    return int(word) if word.isdigit() else cues.NUMBER_WORDS[word.lower()]


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
    m = re.match(r"^©\s*(?P<year>\d{4})?\s*(?P<holder>.*)$", text)
    year = m["year"] if m and m["year"] else None
    holder = m["holder"].strip() if m and m["holder"].strip() else None
    return Copyright(text=text, year=year, holder=holder)


# -- sections ------------------------------------------------------------------------


def _kind(words: str) -> tuple[str, str] | None:
    """The section kind a heading names, with the heading's own words for it."""
    lowered = words.lower()
    for phrase, kind in cues.SECTION_KINDS:
        if phrase in lowered:
            return phrase, kind
    return None


def _section(section: source.Section, terms: Terminology) -> Section:
    blocks = section.blocks
    paragraphs = [b.text for b in blocks if isinstance(b, source.Paragraph)]
    title = section.heading
    if title is not None:
        found = _kind(title)
    else:
        # The heading was lost; the first sentence still opens with the topic's name.
        found = None
        first = paragraphs[0] if paragraphs else ""
        for phrase, kind in cues.SECTION_KINDS:
            if first.lower().startswith(phrase + " "):
                found, title = (phrase, kind), first[: len(phrase)]
                break
    kind = found[1] if found else "general"
    procedure = terms.procedure(title) if title else None

    groups: list[OptionGroup] = []
    prose: list[str] = []
    steps: list[Step] = []
    lead: source.Paragraph | None = None
    for block in blocks:
        if isinstance(block, source.BulletList):
            if lead is not None:
                *before, last = _sentences(lead.text) or [lead.text]
                if before:
                    prose.append(" ".join(before))
                lead = source.Paragraph(last, lead.line)
            groups.append(_group(lead, block, kind, terms))
            lead = None
            continue
        if lead is not None:
            prose.append(lead.text)
        lead = block if isinstance(block, source.Paragraph) else None
    if lead is not None:
        prose.append(lead.text)

    kept: list[str] = []
    for paragraph in prose:
        rest = []
        for sentence in _sentences(paragraph):
            step = _step(sentence, section.line, kind, terms, bool(steps))
            if step is None:
                rest.append(sentence)
            else:
                steps.append(step)
        if rest:
            kept.append(" ".join(rest))

    required, wording = _required(paragraphs)
    return Section(
        heading=section.heading,
        title=title,
        kind=kind,
        line=section.line,
        prose=tuple(kept),
        required=required,
        required_wording=wording,
        condition=_condition(paragraphs),
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


def _condition(paragraphs: Iterable[str]) -> Condition | None:
    for paragraph in paragraphs:
        for sentence in _sentences(paragraph):
            if sentence.startswith("If "):
                continue  # a next line of treatment, not an applicability condition
            if m := cues.CONDITION.search(sentence):
                return Condition(text=m["text"], sentence=sentence)
    return None


def _step(sentence: str, line: int, kind: str, terms: Terminology, has_first: bool) -> Step | None:
    """A prose sentence naming a drug becomes a step; "If this doesn't work, …" after
    another step makes it the next line of treatment."""
    matches = [m for m in terms.find(sentence) if m.kind in ("drug", "drug-class")]
    drugs = _distinct_drugs(matches)
    unknown = [] if drugs or kind not in cues.DRUG_SECTIONS else _unknown_in_prose(sentence)
    if not drugs and not unknown:
        return _procedure_step(sentence, line, terms)
    choices = [
        Choice(text=_mention(ref), kind="drug", drug=ref)
        for ref in (_drug_ref(m, sentence) for m in drugs)
    ] + unknown
    # A drug class named after the drugs ("… or another TKI") is an option too.
    last_drug_end = max(m.end for m in drugs) if drugs else 0
    for m in matches:
        if m.kind == "drug-class" and m.start > last_drug_end:
            words = _with_determiner(sentence, m)
            ref = ClassRef(words, m.key)
            choices.append(Choice(text=words, kind="drug-class", drug_class=ref))
    after = cues.AFTER_FAILURE.match(sentence)
    option = Option(
        text=sentence,
        line=line,
        choices=tuple(choices),
        selection="exactly-one" if len(choices) > 1 else None,
        wording="or" if len(choices) > 1 else None,
    )
    return Step(option=option, after=after["after"] if after and has_first else None)


_DETERMINER = re.compile(r"(?:another|a similar|other|an?)\s+$", re.IGNORECASE)


def _with_determiner(sentence: str, m: Match) -> str:
    """ "another TKI", not "TKI": the determiner says it is an alternative."""
    before = _DETERMINER.search(sentence[: m.start])
    return sentence[before.start() if before else m.start : m.end]


def _procedure_step(sentence: str, line: int, terms: Terminology) -> Step | None:
    """ "You may be offered radiation to the brain, …": a procedure offered in prose."""
    if not cues.OFFERED.search(sentence):
        return None
    found = terms.find(sentence)
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


def _mention(ref: DrugRef) -> str:
    """The words naming a drug in a sentence: "imatinib (Gleevec)"."""
    return f"{ref.name} ({ref.brand})" if ref.brand else ref.name


def _distinct_drugs(found: Iterable[Match]) -> list[Match]:
    """Drug mentions, once per drug: "mercaptopurine (Purinethol)" names one drug."""
    seen: dict[str, Match] = {}
    for m in found:
        if m.kind == "drug":
            seen.setdefault(m.key, m)
    return list(seen.values())


def _unknown_in_prose(sentence: str) -> list[Choice]:
    return [
        Choice(text=m.group(0), kind="drug", drug=DrugRef(m["name"], m["brand"], None))
        for m in cues.UNKNOWN_DRUG_IN_PROSE.finditer(sentence)
        if m["name"] not in cues.NOT_A_DRUG_NAME
    ]


# -- lists ---------------------------------------------------------------------------


def _group(
    lead: source.Paragraph | None, bullets: source.BulletList, kind: str, terms: Terminology
) -> OptionGroup:
    lead_text = lead.text if lead else ""
    cue = next((c for c in cues.GROUP_CUES if c.pattern.search(lead_text)), cues.DEFAULT_GROUP)
    wording = m.group(0) if (m := cue.pattern.search(lead_text)) else None
    drug_list = kind in cues.DRUG_SECTIONS or "drug" in lead_text.lower()
    return OptionGroup(
        lead=lead_text or bullets.items[0].text,
        line=lead.line if lead else bullets.line,
        selection=cue.selection,
        wording=wording,
        required=cue.required,
        precheck=cue.precheck,
        exhaustive=cue.exhaustive,
        schedule=_schedule(lead_text, terms),
        options=tuple(
            _option(b, "exactly-one" if cue.selection == "all" else "any", drug_list, terms)
            for b in bullets.items
        ),
    )


def _mask_parentheses(text: str) -> str:
    """``text`` with everything inside parentheses masked, so splits ignore it."""
    depth, masked = 0, []
    for ch in text:
        depth += ch == "("
        masked.append(ch if depth == 0 else "\0")
        depth -= ch == ")" and depth > 0
    return "".join(masked)


def _parts(text: str, conjunction: str) -> list[str]:
    """ "A, B <conjunction> C" -> its parts; parentheses are opaque."""
    masked = _mask_parentheses(text)
    parts, start = [], 0
    for m in re.finditer(rf",\s+| {conjunction} ", masked):
        parts.append(text[start : m.start()].strip())
        start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _and_parts(text: str) -> list[str]:
    """ "A, B and C" -> its parts (used where the parts name drugs)."""
    return _parts(text, "and")


def _split(text: str) -> list[str]:
    """Split "A, B or C" into its alternatives. A list that is not closed by "or" ("red
    blood cells, platelets and …") is one thing, not alternatives."""
    return _parts(text, "or") if " or " in _mask_parentheses(text) else [text]


def _option(bullet: source.Bullet, among: Selection, drug_list: bool, terms: Terminology) -> Option:
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

    # "intrathecal chemotherapy with A, B or C": the carrier's route applies to each.
    if (m := cues.CARRIER.match(rest)) and any(x.kind == "route" for x in terms.find(m["carrier"])):
        route_words, rest = m["carrier"], m["list"]

    drug_class = None
    exhaustive = True
    such_as = cues.SUCH_AS.match(rest)
    if such_as and len(_split(such_as["head"])) == 1 and "," not in such_as["head"]:
        head = such_as["head"]
        found = [x for x in terms.find(head) if x.kind == "drug-class"]
        drug_class = ClassRef(head, found[0].key if found else None)
        exhaustive, rest = False, such_as["list"]

    fragments = _split(rest)
    choices: list[Choice] = []
    for fragment in fragments:
        choices.extend(_choices(fragment, drug_list, terms, route_words, schedule))
    many = len(choices) > 1
    and_list = many and len(fragments) == 1
    return Option(
        text=text,
        line=bullet.line,
        choices=tuple(choices),
        selection=("all" if and_list else among) if many else None,
        wording=("and" if and_list else ("such as" if drug_class else "or")) if many else None,
        drug_class=drug_class,
        exhaustive=exhaustive,
        purpose=purpose,
        as_needed=as_needed,
    )


def _route(text: str, terms: Terminology) -> tuple[str | None, str | None]:
    routes = [m for m in terms.find(text) if m.kind == "route"]
    if not routes:
        return None, None
    same = [m for m in routes if m.key == routes[0].key]
    start, end = same[0].start, same[-1].end
    if text[end:].startswith(" (") and ")" in text[end:]:
        end = text.index(")", end) + 1  # "intravenously (through an IV)"
    elif text[start:end].count("(") > text[start:end].count(")") and text[end:].startswith(")"):
        end += 1
    return routes[0].key, text[start:end]


def _drug_ref(match: Match, text: str) -> DrugRef:
    """The drug a match names, with the brand in parentheses after it, if any."""
    brand = cues.BRAND.match(text[match.end :])
    return DrugRef(name=match.text, brand=brand["brand"] if brand else None, drug=match.key)


def _choices(
    fragment: str,
    drug_list: bool,
    terms: Terminology,
    route_words: str | None,
    schedule: Schedule | None,
) -> list[Choice]:
    found = terms.find(fragment)
    # Route words outside the fragment (a carrier, a ", given …" clause) apply to it;
    # otherwise the fragment's own.
    route, route_text = _route(route_words, terms) if route_words else (None, None)
    if route is None:
        route, route_text = _route(fragment, terms)
    dose = m["dose"] + "-dose" if (m := cues.DOSE.search(fragment)) else None
    # What the fragment says about how, shared by whatever it turns out to offer.
    base = Choice(
        text=fragment,
        kind="activity",
        route=route,
        route_text=route_text,
        schedule=schedule,
        dose=dose,
    )
    drugs = _distinct_drugs(found)
    classes = [m for m in found if m.kind == "drug-class"]
    procedures = [m for m in found if m.kind == "procedure"]

    such_as = cues.SUCH_AS.match(fragment)
    if classes and such_as:  # "a steroid such as prednisone"
        examples = tuple(
            DrugRef(m.text, None, m.key) for m in drugs if m.start >= such_as.start("list")
        )
        ref = ClassRef(such_as["head"], classes[0].key)
        return [replace(base, kind="drug-class", drug_class=ref, examples=examples)]
    if drugs and len(parts := _and_parts(fragment)) > 1:
        # "cytarabine and idarubicin (Idamycin)": each named drug, known to the tables or not.
        return [
            c for part in parts for c in _choices(part, drug_list, terms, route_words, schedule)
        ]
    if drugs:
        return [replace(base, kind="drug", drug=_drug_ref(m, fragment)) for m in drugs]
    if classes:
        return [replace(base, kind="drug-class", drug_class=ClassRef(fragment, classes[0].key))]
    if procedures:
        if len({m.key for m in procedures}) > 1:  # "red blood cells, platelets and plasma"
            return [Choice(text=m.text, kind="procedure", procedure=m.key) for m in procedures]
        sites = tuple(dict.fromkeys(m.key for m in found if m.kind == "body-site"))
        return [replace(base, kind="procedure", procedure=procedures[0].key, body_sites=sites)]
    unknown = cues.UNKNOWN_DRUG.match(fragment)
    if drug_list and unknown and not set(unknown["name"].split()) & cues.NOT_A_DRUG_NAME:
        return [replace(base, kind="drug", drug=DrugRef(unknown["name"], unknown["brand"], None))]
    return [base]
