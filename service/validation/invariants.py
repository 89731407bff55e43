"""The R4 invariants, evaluated with fhirpathpy on the nodes the structure walk typed.

The expressions are data (``r4_invariants.json``, verbatim from the R4 4.0.1 definitions,
with their source). Each is compiled once. fhirpathpy lacks ``hasValue()``, which R4 uses in
ele-1, per-1, age-1 and cnt-3, so we supply it (a single primitive with a value). Any
invariant fhirpathpy cannot evaluate is named in ``NOT_EVALUATED`` with the reason, never
skipped silently; an unexpected evaluation failure is reported as information, not error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from service.validation.issues import Issue
from service.validation.structure import Node

# key -> why fhirpathpy does not evaluate it, and what we do instead.
NOT_EVALUATED: dict[str, str] = {
    "txt-1": "htmlChecks() is not FHIRPath fhirpathpy implements; checked by narrative.py",
    "txt-2": "htmlChecks() is not FHIRPath fhirpathpy implements; checked by narrative.py",
    "dom-3": (
        "fhirpathpy's as() requires a single item, and R4 applies it to descendants(); not checked"
    ),
    "rng-2": "fhirpathpy 2.2.4 cannot compare two Quantity values with <= (TypeError); not checked",
}


@dataclass(frozen=True)
class Invariant:
    key: str
    severity: str
    human: str
    expression: str
    context: tuple[str, ...]
    evaluate: Callable[[Any, Mapping[str, Any]], list[Any]]


def _has_value(inputs: list[Any]) -> bool:
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)


_OPTIONS = {
    "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
    "traceFn": lambda *_: None,
}


def raw() -> list[dict[str, Any]]:
    text = resources.files(__package__).joinpath("r4_invariants.json").read_text("utf-8")
    entries: list[dict[str, Any]] = json.loads(text)["invariants"]
    return entries


@functools.cache
def load() -> dict[str, tuple[Invariant, ...]]:
    """Compiled invariants by context (a type, a backbone path or an element path)."""
    model = models["r4"]
    by_context: dict[str, list[Invariant]] = {}
    for entry in raw():
        if entry["key"] in NOT_EVALUATED:
            continue
        compiled = compile_fhirpath(entry["expression"], model, _OPTIONS)
        invariant = Invariant(
            entry["key"],
            entry["severity"],
            entry["human"],
            entry["expression"],
            tuple(entry["context"]),
            compiled,
        )
        for context in invariant.context:
            by_context.setdefault(context, []).append(invariant)
    return {k: tuple(v) for k, v in by_context.items()}


def _applicable(node: Node, table: Mapping[str, tuple[Invariant, ...]]) -> Iterator[Invariant]:
    if node.element is None:  # a resource root
        yield from table.get("DomainResource", ())
        yield from table.get(node.type, ())
        return
    if isinstance(node.value, dict):
        yield from table.get("Element", ())
        yield from table.get(node.type, ())
        if node.path != node.type:
            yield from table.get(node.path, ())


def _typed(value: Any, type_path: str) -> Any:
    return ResourceNode.create_node(value, type_path)  # type: ignore[no-untyped-call]


def check(nodes: Iterable[Node], root: Mapping[str, Any]) -> Iterator[Issue]:
    table = load()
    for node in nodes:
        variables = {"resource": node.resource, "rootResource": root}
        # A datatype node is typed by its path so that dates, numbers etc. compare as such.
        data = node.value if node.element is None else _typed(node.value, node.type)
        for invariant in _applicable(node, table):
            try:
                result = invariant.evaluate(data, variables)
            except Exception as e:
                yield Issue(
                    "information",
                    "informational",
                    node.location,
                    f"{invariant.key} could not be evaluated ({type(e).__name__}).",
                )
                continue
            if result == [False]:
                yield Issue(
                    invariant.severity,
                    "invariant",
                    node.location,
                    f"{invariant.key}: {invariant.human}",
                )
