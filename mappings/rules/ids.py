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
    """Unique ids inside one resource (action ids): a clash gets a numeric suffix.

    The first free one of ``base``, ``base-2``, ``base-3``, … (truncated so the suffix fits
    in 64 characters), in linear time: for every stem and suffix width it remembers the
    lowest suffix not yet known to be taken, so no taken id is ever probed twice (probing
    from 2 each time made n identical bullets cost n² look-ups).
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        # (stem, width of "-n") -> every stem-k of that width with k below it is taken.
        self._next: dict[tuple[str, int], int] = {}

    def __call__(self, *parts: str | None) -> str:
        base = slug(*parts)
        if base not in self._seen:
            self._seen.add(base)
            return base
        n = 2
        while True:
            width = len(str(n)) + 1
            key = (base[: _MAX_ID - width], width)
            n = max(n, self._next.get(key, n))
            if len(str(n)) + 1 != width:
                continue  # every suffix of this width is taken: on to the next width
            candidate = f"{key[0]}-{n}"
            n += 1
            self._next[key] = n
            if candidate not in self._seen:
                self._seen.add(candidate)
                return candidate
