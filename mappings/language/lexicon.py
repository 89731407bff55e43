"""What a phrase of a page names: drugs, drug classes, regimens, procedures, routes, diseases.

The lexicon merges three sources, in this order of trust:

1. the project's terminology tables (``mappings.terminology``): verified codes, table names,
   synonyms and brands;
2. the regimen lexicon (``data/regimens.yaml``): named combinations such as CHOP or 7 and 3;
3. the drug dictionary packaged with drug-named-entity-recognition: generic names, synonyms
   and brands of about 20,000 substances, for drugs our tables do not (yet) code. It gives
   identity and names only, never a code.

A word is a drug only because a lexicon names it, never because of where it stands.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Literal

import yaml
from rapidfuzz import fuzz, process

from mappings.terminology import Drug, Terminology
from mappings.terminology import load as load_terminology

MentionKind = Literal["drug", "drug-class", "regimen", "procedure", "route", "body-site", "disease"]

# Identity of a drug the tables do not know: the dictionary's canonical name, lower case.
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\u2019+-]*[A-Za-z0-9]|[A-Za-z]")


_BRACKET = re.compile(r"\s*\(([^()]{1,120})\)")


def _looks_like_brand(words: str) -> bool:
    """Brands are capitalised names without digits ("Nipent", "Gleevec"); "VP-16" and
    "deoxycoformycin" are other names."""
    return (
        bool(re.fullmatch(r"[A-Z][A-Za-z-]+(?: [A-Z][A-Za-z-]+)?", words)) and not words.isupper()
    )


@dataclass(frozen=True)
class DrugConcept:
    """One drug, whatever it is called on the page: identity comes from what it is."""

    key: str  # the table key, or a slug of the dictionary's canonical name
    name: str  # the generic name the output uses (table name, or the dictionary's)
    known: Drug | None  # the table entry, when the tables code it
    formulation: str | None = None  # "liposomal": a product of its own, never the parent's code
    parent: str | None = None  # for a formulation, the key of the drug it is a form of


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    kind: MentionKind
    key: str
    text: str
    drug: DrugConcept | None = None
    spelled: str | None = None  # a name the tables do not list, read as this drug
    brands: tuple[str, ...] = ()  # brand names the page gives in brackets after it
    other_names: tuple[str, ...] = ()  # other names there ("VP-16", "deoxycoformycin", "TKI")
    outer_end: int = -1  # end of the mention with its bracket of names; -1: ``end``

    @property
    def stop(self) -> int:
        return self.end if self.outer_end < 0 else self.outer_end


@dataclass(frozen=True)
class Regimen:
    key: str
    names: tuple[str, ...]
    drugs: tuple[str, ...]


def _any_of(
    names: Iterable[str], *, before: str = r"(?<![\w-])", after: str = r"(?![\w-])", flags: int = 0
) -> re.Pattern[str]:
    """One pattern for many names, longest first, as whole words (group 1 is the name)."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(f"{before}({alternatives}){after}", flags)


def _data(name: str) -> Any:
    return yaml.safe_load(
        resources.files(__package__).joinpath("data").joinpath(name).read_text("utf-8")
    )


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())) or "x"


class _Dictionary:
    """The packaged drug dictionary, behind the one call it is used through."""

    def __init__(self) -> None:
        from drug_named_entity_recognition import find_drugs

        self._find = find_drugs

    def find(self, tokens: list[str]) -> list[tuple[dict[str, Any], int, int]]:
        found: list[tuple[dict[str, Any], int, int]] = self._find(tokens, is_ignore_case=True)
        return found


@functools.cache
def _dictionary() -> _Dictionary:
    return _Dictionary()


class Lexicon:
    """Finds what phrases of a text name. Build one with ``load()``; it is immutable."""

    def __init__(self, terms: Terminology) -> None:
        self.terms = terms
        words = _data("words.yaml")
        self._not_drugs = frozenset(w.casefold() for w in words["not_drugs"])
        self._before = tuple(sorted(words["formulations"]["before"], key=len, reverse=True))
        self._after = tuple(sorted(words["formulations"]["after"], key=len, reverse=True))
        self.regimens = tuple(
            Regimen(r["key"], tuple(r["names"]), tuple(r["drugs"])) for r in _data("regimens.yaml")
        )
        names = sorted(
            ((name, r) for r in self.regimens for name in r.names),
            key=lambda pair: len(pair[0]),
            reverse=True,
        )
        self._regimen_by_name = dict(names)
        # "CHOP" but not the CHOP of "R-CHOP"; "7+3" whole.
        self._regimen_pattern = _any_of(
            (n for n, _ in names), before=r"(?<![\w+-])", after=r"(?![\w+]|-\w)"
        )
        self._extra: dict[str, str] = {
            name: entry["name"] for entry in words["extra_drugs"] for name in entry["names"]
        }
        self._extra_pattern = _any_of(self._extra, flags=re.IGNORECASE)
        self._fuzzy_choices = sorted(
            {n for d in terms.drugs for n in (d.name, *d.synonyms) if len(n) >= 6}
        )
        self._concepts: dict[str, DrugConcept] = {}
        self._page_names: dict[str, DrugConcept] = {}
        self._page_pattern: re.Pattern[str] | None = None
        self._found: dict[str, tuple[Mention, ...]] | None = None  # a page's view keeps some

    def with_page_names(self, names: dict[str, DrugConcept]) -> Lexicon:
        """This lexicon, also knowing the names a page gave a drug in brackets ("tretinoin
        (all-trans retinoic acid, ATRA)": later "ATRA" alone is tretinoin on that page)."""
        view = copy.copy(self)
        view._page_names = dict(names)
        view._page_pattern = _any_of(names) if names else None
        # What this view already found stands wherever none of the page's names occurs.
        pattern = view._page_pattern
        view._found = {
            text: found
            for text, found in (self._found or {}).items()
            if pattern is None or not pattern.search(text)
        }
        return view

    # -- drugs -------------------------------------------------------------------------

    def table_concept(self, drug: Drug) -> DrugConcept:
        return self._concept(DrugConcept(drug.key, drug.name, drug))

    def _concept(self, concept: DrugConcept) -> DrugConcept:
        return self._concepts.setdefault(concept.key, concept)

    def _dictionary_concept(self, data: dict[str, Any]) -> DrugConcept | None:
        """A dictionary entry is a drug when it is one: DrugBank or MedlinePlus knows it (its
        MeSH-only entries are classes such as "Anti-Bacterial Agents")."""
        if not (data.get("drugbank_id") or data.get("medline_plus_id")):
            return None
        name = str(data.get("name") or "").strip()
        if not name:
            return None
        known = self.terms.drug(name)  # by name or synonym, case aside
        if known is not None:
            return self.table_concept(known)
        generic = name.lower()
        return self._concept(DrugConcept(_slug(generic), generic, None))

    def formulation(self, base: DrugConcept, words: str) -> DrugConcept:
        """ "liposomal doxorubicin": its own product. A table entry of that name is used when
        the tables code the formulation itself; never the parent's entry."""
        name = " ".join(words.lower().split())
        known = self.terms.drug(name)
        if known is not None and known.key != base.key:
            return self.table_concept(known)
        return self._concept(
            DrugConcept(_slug(name), name, None, formulation=name, parent=base.key)
        )

    # -- finding -----------------------------------------------------------------------

    def find(self, text: str) -> list[Mention]:
        """Ordered, non-overlapping mentions; a longer mention wins over those it overlaps,
        and at equal length the tables win over the regimen lexicon over the dictionary.
        A page asks about the same sentence several times, so answers are kept per text."""
        if self._found is None:  # the shared lexicon keeps nothing between pages
            return self._find(text)
        found = self._found.get(text)
        if found is None:
            found = self._found[text] = tuple(self._find(text))
        return list(found)

    def _find(self, text: str) -> list[Mention]:
        candidates: list[tuple[int, Mention]] = []
        for m in self.terms.find(text):
            drug = None
            if m.kind == "drug":
                known = self.terms.drug_by_key(m.key)
                drug = self.table_concept(known) if known else None
            candidates.append((0, Mention(m.start, m.end, m.kind, m.key, m.text, drug)))
        for rm in self._regimen_pattern.finditer(text):
            regimen = self._regimen_by_name[rm.group(1)]
            candidates.append(
                (1, Mention(rm.start(1), rm.end(1), "regimen", regimen.key, rm.group(1)))
            )
        candidates.extend((2, m) for m in self._dictionary_mentions(text))
        if self._page_pattern is not None:
            for pm in self._page_pattern.finditer(text):
                concept = self._page_names[pm.group(1)]
                candidates.append(
                    (1, Mention(pm.start(1), pm.end(1), "drug", concept.key, pm.group(1), concept))
                )
        for em in self._extra_pattern.finditer(text):
            words = em.group(1)
            name = self._extra.get(words) or self._extra.get(words.lower()) or words.lower()
            known = self.terms.drug(name)
            concept = (
                self.table_concept(known)
                if known
                else self._concept(DrugConcept(_slug(name), name, None))
            )
            candidates.append(
                (1, Mention(em.start(1), em.end(1), "drug", concept.key, words, concept))
            )
        chosen: list[Mention] = []
        for _, cand in sorted(candidates, key=lambda c: (c[1].start - c[1].end, c[0], c[1].start)):
            if all(cand.end <= c.start or cand.start >= c.end for c in chosen):
                chosen.append(cand)
        ordered = [self._formulated(text, m) for m in sorted(chosen, key=lambda c: c.start)]
        return self._fold_brackets(text, ordered)

    def _fold_brackets(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """ "pentostatin (deoxycoformycin, Nipent)": the bracket's names belong to the drug
        before it; a brand naming a fixed combination ("daunorubicin and cytarabine liposome
        (Vyxeos)") makes the whole phrase one mention of that product."""
        out: list[Mention] = []
        i = 0
        while i < len(mentions):
            m = mentions[i]
            bracket = _BRACKET.match(text, m.end)
            if bracket is None or m.kind not in ("drug", "drug-class"):
                out.append(m)
                i += 1
                continue
            inner_start, inner_end = bracket.start(1), bracket.end(1)
            inside = [x for x in mentions[i + 1 :] if x.start >= inner_start and x.end <= inner_end]
            parts = [
                (p.start() + inner_start, p.group().strip())
                for p in re.finditer(r"[^,;]+", text[inner_start:inner_end])
            ]
            brands: list[str] = []
            others: list[str] = []
            combined: Mention | None = None
            for start, words in parts:
                words = re.sub(r"^(?:or|and|also called|called)\s+", "", words).strip()
                hit = next((x for x in inside if x.start >= start - 1 and x.text in words), None)
                if m.kind == "drug-class":
                    if hit is not None and hit.key == m.key:
                        others.append(words)
                    continue
                if m.drug is None:
                    continue
                if (
                    hit is not None
                    and hit.drug is not None
                    and hit.drug.key
                    not in (
                        m.drug.key,
                        m.drug.parent,
                    )
                ):
                    if m.drug.name.split()[0] in hit.drug.name or (
                        m.drug.parent and m.drug.parent in hit.drug.key
                    ):
                        combined = hit
                    continue
                # A brand is a brand whether or not a lexicon knows it; a name of another
                # shape is the drug's other name only when a lexicon says it is one.
                if _looks_like_brand(words):
                    brands.append(words)
                elif hit is not None or self.names_for(m.drug, words):
                    others.append(words)
            if combined is not None and combined.drug is not None:
                start = m.start
                if (
                    out
                    and out[-1].kind == "drug"
                    and re.fullmatch(r"\s+and\s+", text[out[-1].end : m.start])
                ):
                    start = out.pop().start
                out.append(
                    replace(
                        combined,
                        start=start,
                        end=m.end,
                        text=text[start : m.end],
                        brands=(combined.text,),
                        outer_end=bracket.end(),
                    )
                )
            elif brands or others:
                out.append(
                    replace(
                        m, brands=tuple(brands), other_names=tuple(others), outer_end=bracket.end()
                    )
                )
            else:
                out.append(m)
            consumed = {id(x) for x in inside}
            i += 1
            while i < len(mentions) and id(mentions[i]) in consumed:
                i += 1
        return out

    def _dictionary_mentions(self, text: str) -> Iterable[Mention]:
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        tokens = [text[s:e] for s, e in spans]
        by_span: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for data, first, last in _dictionary().find(tokens):
            by_span.setdefault((spans[first][0], spans[last - 1][1]), []).append(data)
        for (start, end), entries in by_span.items():
            words = text[start:end]
            if not self._acceptable(words):
                continue
            # One word may name several entries ("paclitaxel" and a formulation of it): the
            # entry of that very name first.
            entries.sort(key=lambda d: str(d.get("name", "")).lower() != words.lower())
            concept = next(
                (c for c in map(self._dictionary_concept, entries) if c is not None), None
            )
            if concept is not None:
                spelled = None
                if concept.known is not None and not self.names_for(
                    concept, words, tables_only=True
                ):
                    spelled = words
                yield Mention(start, end, "drug", concept.key, words, concept, spelled=spelled)
        yield from self._misspelt(text, spans)

    def _acceptable(self, words: str) -> bool:
        """Short capitalised abbreviations and ordinary words are not drug names by
        themselves ("ALL", "SC", "blood"); after a drug, in brackets, they may be its
        other names (``names_for``)."""
        folded = words.casefold()
        if folded in self._not_drugs or len(words) < 4:
            return False
        return not (words.isupper() and len(words) <= 5)

    def _misspelt(self, text: str, spans: list[tuple[int, int]]) -> Iterable[Mention]:
        """A lower-case word of 7+ letters within one or two edits of a table drug name
        ("vincristin") is read as that drug, with the page's spelling kept for the warning."""
        for start, end in spans:
            word = text[start:end]
            if len(word) < 7 or not word.islower() or self.terms.drug(word):
                continue
            best = process.extractOne(word, self._fuzzy_choices, scorer=fuzz.ratio, score_cutoff=88)
            if best is None or best[0] == word:
                continue
            known = self.terms.drug(best[0])
            if known is not None:
                yield Mention(
                    start, end, "drug", known.key, word, self.table_concept(known), spelled=word
                )

    def _formulated(self, text: str, m: Mention) -> Mention:
        if m.kind != "drug" or m.drug is None:
            return m
        before = text[: m.start].lower()
        for word in self._before:
            if before.endswith(word + " ") or (word.endswith("-") and before.endswith(word)):
                start = m.start - len(word) - (0 if word.endswith("-") else 1)
                words = text[start : m.end]
                return Mention(start, m.end, "drug", m.key, words, self.formulation(m.drug, words))
        after = text[m.end :].lower()
        for word in self._after:
            if after.startswith(" " + word) and not after[len(word) + 1 :][:1].isalpha():
                end = m.end + 1 + len(word)
                words = text[m.start : end]
                return Mention(m.start, end, "drug", m.key, words, self.formulation(m.drug, words))
        return m

    def names_for(self, concept: DrugConcept, words: str, *, tables_only: bool = False) -> bool:
        """Do ``words`` (a bracketed name after a drug) name the same drug?"""
        folded = words.casefold()
        if concept.known is not None:
            names = {concept.known.name, *concept.known.synonyms}
            names |= {b.name for b in concept.known.brands}
            if folded in {n.casefold() for n in names}:
                return True
        if tables_only:
            return False
        spans = [(m.start(), m.end()) for m in _WORD.finditer(words)]
        for data, _, _ in _dictionary().find([words[s:e] for s, e in spans] or [words]):
            other = self._dictionary_concept(data)
            if other is not None and other.key in {concept.key, concept.parent}:
                return True
        return False


@functools.cache
def load() -> Lexicon:
    return Lexicon(load_terminology())
