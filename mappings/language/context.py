"""The scope of modifiers, by the ConText algorithm (medspaCy on spaCy's blank English
tokenizer; no model is loaded). The rules are data: ``data/modifiers.yaml``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources

import spacy
import yaml
from medspacy.context import ConText, ConTextRule
from spacy.language import Language
from spacy.tokens import Doc, Span

Category = str  # "context_of", "negation", "example", "frequency", "possibility"

_DIRECTIONS = {"forward": "FORWARD", "backward": "BACKWARD", "bidirectional": "BIDIRECTIONAL"}


def _rules() -> list[ConTextRule]:
    data = yaml.safe_load(
        resources.files(__package__).joinpath("data").joinpath("modifiers.yaml").read_text("utf-8")
    )
    rules = [
        ConTextRule(literal, category.upper(), direction=_DIRECTIONS[direction])
        for category, by_direction in data.items()
        if category != "terminate"
        for direction, literals in by_direction.items()
        for literal in literals
    ]
    rules += [ConTextRule(w, "TERMINATE", direction="TERMINATE") for w in data["terminate"]]
    # A semicolon ends a scope too. As a token pattern it also gives ConText's token matcher a
    # pattern (spaCy warns about a matcher without any).
    rules.append(ConTextRule(";", "TERMINATE", direction="TERMINATE", pattern=[{"TEXT": ";"}]))
    return rules


class Modifiers:
    """``read(clause, spans)``: the modifier categories whose scope covers each span, with the
    words that triggered them."""

    def __init__(self) -> None:
        self._nlp: Language = spacy.blank("en")
        self._context = ConText(self._nlp, rules=None)
        self._context.add(_rules())

    def read(self, clause: str, spans: Sequence[tuple[int, int]]) -> list[dict[Category, str]]:
        if not spans:
            return []
        doc: Doc = self._nlp.make_doc(clause)
        for i, token in enumerate(doc):
            token.is_sent_start = i == 0
        ents: list[Span] = []
        index: list[int] = []
        taken: set[int] = set()
        for n, (start, end) in enumerate(spans):
            span = doc.char_span(start, end, label="TARGET", alignment_mode="expand")
            if span is None or taken & set(range(span.start, span.end)):
                continue
            taken |= set(range(span.start, span.end))
            ents.append(span)
            index.append(n)
        doc.ents = ents
        self._context(doc)
        found: list[dict[Category, str]] = [{} for _ in spans]
        for n, ent in zip(index, doc.ents, strict=True):
            for modifier in ent._.modifiers:
                start, end = modifier.modifier_span
                found[n].setdefault(modifier.category.lower(), doc[start:end].text)
        return found


@functools.cache
def modifiers() -> Modifiers:
    return Modifiers()
