"""Required bindings: a coded value outside its value set makes the resource invalid.

fhir.resources does not check them. Value sets that cannot be enumerated (BCP-13 mime types,
ISO 4217 currencies) are listed in the definitions as unexpanded and are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from service.validation.definitions import Definitions
from service.validation.issues import Issue
from service.validation.structure import Node


def _pair(coding: Any) -> tuple[str, str] | None:
    """(system, code) when both are strings; malformed codings are the structure walk's."""
    if isinstance(coding, dict):
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str):
            return system, code
    return None


def _pairs(codings: Any) -> Iterator[tuple[str, str]]:
    for coding in codings if isinstance(codings, list) else []:
        pair = _pair(coding)
        if pair is not None:
            yield pair


def membership(kind: str, value: Any, value_set: str, defs: Definitions) -> tuple[bool, str] | None:
    """Whether a ``code``, ``Coding`` or ``CodeableConcept`` value is in ``value_set``, and
    how to show it; None when there is nothing to check (another type, a malformed coding)."""
    allowed = defs.value_sets.get(value_set, frozenset())
    if kind == "code":
        return value in defs.codes.get(value_set, frozenset()), repr(value)
    if kind == "Coding":
        pair = _pair(value)
        if pair is None:
            return None
        return pair in allowed, f"{pair[0]}|{pair[1]}"
    if kind == "CodeableConcept" and isinstance(value, dict):
        pairs = list(_pairs(value.get("coding")))
        shown = ", ".join(f"{s}|{c}" for s, c in pairs) or "no coding"
        return any(pair in allowed for pair in pairs), shown
    return None


def check(nodes: Iterable[Node], defs: Definitions) -> Iterator[Issue]:
    for node in nodes:
        value_set = node.element.value_set if node.element else None
        if value_set is None or value_set in defs.unexpanded:
            continue
        member = membership(node.type, node.value, value_set, defs)
        if member is None or member[0]:
            continue
        codes = sorted(defs.codes.get(value_set, frozenset()))
        hint = f" Allowed: {', '.join(codes)}." if len(codes) <= 12 else ""
        yield Issue(
            "error",
            "code-invalid",
            node.location,
            f"{node.element.path if node.element else node.type} {member[1]} is not in the "
            f"required value set {value_set}.{hint}",
        )
