"""Garbage and random mutations of real content never make validate raise."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.validation import Issue, validate

from .conftest import KnownReferences, content

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
SAMPLES = content()[:6]
KEYS = st.sampled_from(
    ["resourceType", "status", "_status", "text", "div", "action", "code", "coding", "system",
     "reference", "timingTiming", "repeat", "contained", "url", "extension", "value", "id"]
)  # fmt: skip


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*path, i))
    return found


def _ok(issues: list[Issue]) -> bool:
    # "exception" is the engine's own safety net: reaching it is a bug, so the test fails.
    return all(isinstance(i, Issue) and i.code != "exception" for i in issues)


@settings(max_examples=150, deadline=None)
@given(JSON)
def test_garbage_never_raises(body: Any) -> None:
    assert _ok(validate(body, expected_type="PlanDefinition"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_mutations_never_raise(resource: dict[str, Any], data: st.DataObject) -> None:
    mutated = copy.deepcopy(resource)
    paths = _paths(mutated)
    path = paths[data.draw(st.integers(0, len(paths) - 1))]
    key, new, wrap = data.draw(KEYS), data.draw(JSON), data.draw(st.booleans())
    if wrap:
        new = {key: new}
    if path:
        target = mutated
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = new
    else:
        mutated[key] = new
    refs = KnownReferences()
    assert _ok(validate(mutated, references=refs))
