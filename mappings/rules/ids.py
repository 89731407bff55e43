"""Deterministic ids and names derived from content: re-mapping the same page gives the
same ids, so references stay stable and golden files need no stripping."""

from __future__ import annotations

import re
import unicodedata

_MAX_ID = 64  # FHIR id: [A-Za-z0-9\-\.]{1,64}


def slug(*parts: str | None) -> str:
    text = " ".join(p for p in parts if p)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    value = "-".join(words)[:_MAX_ID].strip("-")
    return value or "x"


def pascal(text: str) -> str:
    """A computable name (pld-0: ``[A-Z]([A-Za-z0-9_]){0,254}``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", ascii_text)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or not name[0].isalpha():
        name = "X" + name
    return name[:255]


class IdAllocator:
    """Unique ids inside one resource (action ids): a clash gets a numeric suffix."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, *parts: str | None) -> str:
        base = slug(*parts)
        candidate, n = base, 2
        while candidate in self._seen:
            suffix = f"-{n}"
            candidate = base[: _MAX_ID - len(suffix)] + suffix
            n += 1
        self._seen.add(candidate)
        return candidate
