"""A sentence's main clause and the clause that conditions it, by the rules in
``data/clauses.yaml``: "If X, Y." and "Y if X." (X conditions Y); "If this doesn't work, Y."
(Y is a next line of treatment). Parentheses are opaque."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class Clauses:
    main: tuple[int, int] | None  # offsets in the sentence; None: the sentence is all condition
    condition: tuple[int, int] | None
    sequence: bool  # the condition makes the main clause a next line of treatment


@dataclass(frozen=True)
class _Rules:
    sequence_openers: re.Pattern[str]
    condition_openers: re.Pattern[str]
    inline: re.Pattern[str]
    main_clause_words: frozenset[str]
    offers: re.Pattern[str]


@functools.cache
def _rules() -> _Rules:
    data = yaml.safe_load(
        resources.files(__package__).joinpath("data").joinpath("clauses.yaml").read_text("utf-8")
    )

    def longest_first(words: list[str]) -> tuple[str, ...]:
        return tuple(sorted(words, key=len, reverse=True))

    def either(words: list[str]) -> str:
        return "|".join(re.escape(w) for w in longest_first(words))

    return _Rules(
        re.compile(rf"(?:{either(data['sequence_openers'])})\b"),
        re.compile(rf"(?:{either(data['condition_openers'])})\b"),
        re.compile(rf"(?<=\S)[ ,]+({either(data['inline'])})\b"),
        frozenset(data["main_clause_words"]),
        re.compile(rf"\b(?:{either(data['offers'])})\b", re.IGNORECASE),
    )


def mask_parentheses(text: str) -> str:
    """``text`` with everything inside parentheses replaced by NUL, same length."""
    depth, out = 0, []
    for ch in text:
        depth += ch == "("
        out.append(ch if depth == 0 else "\0")
        depth -= ch == ")" and depth > 0
    return "".join(out)


def _end(sentence: str) -> int:
    return len(sentence.rstrip().rstrip(".!?:;").rstrip())


def split(sentence: str) -> Clauses:
    rules = _rules()
    lowered = mask_parentheses(sentence).lower()
    for openers, sequence in ((rules.sequence_openers, True), (rules.condition_openers, False)):
        opener = openers.match(lowered)
        if opener is None:
            continue
        boundary = _main_clause_start(lowered, opener.end(), rules.main_clause_words)
        if boundary is None:
            return Clauses(None, (0, _end(sentence)), sequence)
        comma, start = boundary
        return Clauses((start, _end(sentence)), (0, comma), sequence)
    m = rules.inline.search(lowered)
    if m and m.start(1) > 0:
        main_end = len(sentence[: m.start()].rstrip(" ,"))
        return Clauses((0, main_end), (m.start(1), _end(sentence)), False)
    return Clauses((0, _end(sentence)), None, False)


def _main_clause_start(lowered: str, after: int, words: frozenset[str]) -> tuple[int, int] | None:
    """The first top-level comma after the opener that is followed by a main clause (a
    segment holding one of ``words``); a list ("imatinib, dasatinib or nilotinib") is not."""
    commas = [m.start() for m in re.finditer(",", lowered) if m.start() >= after]
    for n, comma in enumerate(commas):
        stop = commas[n + 1] if n + 1 < len(commas) else len(lowered)
        segment = lowered[comma + 1 : stop]
        if set(re.findall(r"[a-z']+", segment)) & words:
            start = comma + 1 + (len(segment) - len(segment.lstrip()))
            return comma, start
    return None


def offers(clause: str) -> bool:
    """Does the clause offer what it names ("may be offered", "is used", "include")?"""
    return _rules().offers.search(clause) is not None
