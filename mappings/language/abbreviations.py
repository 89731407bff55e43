"""Abbreviations a text defines for a name: "acute lymphoblastic leukemia (ALL)"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence


def defined_abbreviation(
    names: Sequence[str], texts: Iterable[str], *, ignore_case: bool = False
) -> str | None:
    """The first abbreviation a text gives in brackets right after one of ``names``; texts
    are tried in order, and within a text the names in order."""
    flags = re.IGNORECASE if ignore_case else 0
    patterns = [
        re.compile(re.escape(name) + r" \((?P<abbr>[A-Z][A-Za-z0-9+-]{1,9})\)", flags)
        for name in names
    ]
    for text in texts:
        for pattern in patterns:
            if m := pattern.search(text):
                return m["abbr"]
    return None
