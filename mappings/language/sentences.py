"""Sentence boundaries, by pysbd's rules (abbreviations such as "Dr." and "e.g." do not end a
sentence, nor do decimals or initials)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pysbd


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset in the paragraph
    end: int


@functools.cache
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentences(paragraph: str) -> tuple[Sentence, ...]:
    """The sentences of one paragraph, stripped, with their offsets; nothing is dropped:
    the sentences cover every non-space character of the paragraph, in order."""
    out: list[Sentence] = []
    for span in _segmenter().segment(paragraph):
        text = span.sent
        lead = len(text) - len(text.lstrip())
        stripped = text.strip()
        if stripped:
            start = span.start + lead
            out.append(Sentence(stripped, start, start + len(stripped)))
    return tuple(out)
