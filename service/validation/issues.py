"""The one issue shape every check returns, and the order clients see them in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SEVERITY_RANK = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


@dataclass(frozen=True)
class Issue:
    severity: str  # "fatal" | "error" | "warning" | "information"
    code: str  # OperationOutcome issue-type code
    location: str  # FHIRPath to the element ("" for the whole resource)
    message: str


def ordered(issues: Iterable[Issue], positions: Mapping[str, int]) -> list[Issue]:
    """Errors first, then document order, so the first issue is the one to fix first.

    A location the walk never visited (a missing element) sorts with its nearest visited
    ancestor; checks run in separate passes, so their own order cannot be relied on.
    """

    def position(location: str) -> int:
        probe = location
        while probe:
            if probe in positions:
                return positions[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return -1

    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (SEVERITY_RANK.get(i.severity, 9), position(i.location)))
