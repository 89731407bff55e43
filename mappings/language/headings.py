"""Tolerant heading matching: a heading names a section kind when it contains the kind's
phrase, or a phrase within a small edit distance ("Chemotheraphy"), which is then reported,
never silently made a new kind (rapidfuzz's normalised Indel similarity)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

# Similarity (0-100) a heading's words need to be read as a kind's phrase despite a typo.
THRESHOLD = 88


@dataclass(frozen=True)
class Matched:
    phrase: str
    kind: str
    fuzzy: bool  # the heading spells the phrase differently


def kind(heading: str, kinds: Sequence[tuple[str, str]]) -> Matched | None:
    lowered = " ".join(heading.lower().split())
    for phrase, name in kinds:
        if phrase in lowered:
            return Matched(phrase, name, False)
    words = lowered.replace("?", " ").split()
    best: tuple[float, str, str] | None = None
    for phrase, name in kinds:
        n = len(phrase.split())
        for i in range(len(words) - n + 1):
            score = fuzz.ratio(" ".join(words[i : i + n]), phrase)
            if score >= THRESHOLD and (best is None or score > best[0]):
                best = (score, phrase, name)
    return Matched(best[1], best[2], True) if best else None
