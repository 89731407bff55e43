"""The few words the reading view adds around the content: how an option group reads, how
long a phase lasts, how one action follows another.

Every phrase here renders a FHIR code or number; none states a clinical fact of its own.
The content's words (titles, ``textEquivalent``, descriptions) are always shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.rules.vocabulary import TIMING_EXACT

# PlanDefinition.action.selectionBehavior (R4 action-selection-behavior), as a lead-in to
# the options of a group that has no title of its own.
_CHOICE = {
    "any": "Any of these may be used:",
    "all": "This includes all of these:",
    "all-or-none": "All of these are used together, or none of them:",
    "exactly-one": "Your team will choose one of these:",
    "at-most-one": "Your team may choose one of these:",
    "one-or-more": "One or more of the following:",
}

# PlanDefinition.action.relatedAction.relationship (R4 action-relationship-type).
_RELATIONSHIP = {
    "before-start": "before the start of",
    "before": "before",
    "before-end": "before the end of",
    "concurrent-with-start": "at the start of",
    "concurrent": "at the same time as",
    "concurrent-with-end": "at the end of",
    "after-start": "after the start of",
    "after": "after",
    "after-end": "after",
}

# PlanDefinition.action.condition.kind (R4 action-condition-kind).
CONDITION_LABEL = {
    "applicability": "When this applies",
    "start": "When to start",
    "stop": "When to stop",
}

# UCUM units of time: (singular, plural).
_UNITS = {
    "s": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "d": ("day", "days"),
    "wk": ("week", "weeks"),
    "mo": ("month", "months"),
    "a": ("year", "years"),
}


def choice_phrase(selection: object, exhaustive: bool = True) -> str | None:
    """How the options of an untitled group read: "Your team will choose one of these:";
    a group whose options are only examples says so."""
    phrase = _CHOICE.get(str(selection))
    if phrase is None:
        return None
    if not exhaustive:
        phrase = phrase.removesuffix(":") + " (examples):"
    return phrase


def relationship(code: str | None) -> str | None:
    return _RELATIONSHIP.get(code or "")


def condition_text(kind: str, description: str) -> str:
    """An applicability condition reads as "if …"; other kinds keep their own words."""
    if kind == "applicability" and not description.lower().startswith(("if ", "when ")):
        return f"if {description}"
    return description


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _unit(quantity: Mapping[str, Any], value: Any) -> str:
    names = _UNITS.get(str(quantity.get("code"))) if quantity.get("system") else None
    if names is None:
        return str(quantity.get("unit") or quantity.get("code") or "")
    return names[0] if value == 1 else names[1]


def _quantity(quantity: Mapping[str, Any]) -> str | None:
    value = quantity.get("value")
    if value is None:
        return None
    return f"{_number(value)} {_unit(quantity, value)}".strip()


def duration(timing: Mapping[str, Any] | None) -> str | None:
    """``Timing.repeat.bounds[x]`` as words: "about 1 month", "about 2 to 3 years"."""
    repeat = (timing or {}).get("repeat") or {}
    approximate = any(
        e.get("url") == TIMING_EXACT and e.get("valueBoolean") is False
        for e in repeat.get("extension", [])
    )
    words: str | None = None
    if "boundsDuration" in repeat:
        words = _quantity(repeat["boundsDuration"])
    elif "boundsRange" in repeat:
        low, high = repeat["boundsRange"].get("low", {}), repeat["boundsRange"].get("high", {})
        if "value" in low and "value" in high:
            if low.get("code") == high.get("code"):
                words = f"{_number(low['value'])} to {_quantity(high)}"
            else:
                words = f"{_quantity(low)} to {_quantity(high)}"
        elif "value" in high:
            words = f"up to {_quantity(high)}"
        elif "value" in low:
            words = f"at least {_quantity(low)}"
    if words and approximate:
        return f"about {words}"
    return words
