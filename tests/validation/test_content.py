"""Our real content is valid R4: no errors and no warnings, with references resolved."""

from __future__ import annotations

import time
from typing import Any

import pytest

from service.validation import validate

from .conftest import KnownReferences, content, first

RESOURCES = content()


@pytest.mark.parametrize(
    "resource", RESOURCES, ids=[f"{r['resourceType']}/{r['id']}" for r in RESOURCES]
)
def test_mapped_resource_is_clean(resource: dict[str, Any], known: KnownReferences) -> None:
    issues = validate(resource, expected_type=resource["resourceType"], references=known)
    assert issues == []


def test_without_resolver_says_so_once() -> None:
    issues = validate(first("Medication"))
    assert [(i.severity, i.code) for i in issues] == [("information", "informational")]


def test_plan_definition_validates_fast(known: KnownReferences) -> None:
    plan = first("PlanDefinition")
    validate(plan, references=known)  # warm-up: definitions, compiled FHIRPath
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        validate(plan, references=known)
        runs.append(time.perf_counter() - start)
    assert sorted(runs)[2] < 0.2
