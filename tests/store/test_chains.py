"""Chains and ``_has`` over canonicals, as the store evaluates them: a pinned canonical
(``url|version``) names that version only, a bare url names every version of it. Once on
SQLite and once on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from service.search.query import parse_search
from service.store import Store
from tests.store.conftest import activity

URL = "https://example.org/ActivityDefinition/x"


def plan(resource_id: str, *canonicals: str) -> dict[str, Any]:
    return {
        "resourceType": "PlanDefinition",
        "id": resource_id,
        "status": "active",
        "action": [{"definitionCanonical": c} for c in canonicals],
    }


@pytest.fixture
def versions(store: Store) -> Store:
    store.put(
        [
            activity("x1", url=URL, version="1.0", title="one"),
            activity("x2", url=URL, version="2.0", title="two"),
            activity("y", url="https://example.org/ActivityDefinition/y", title="one"),
            plan("pinned-1", f"{URL}|1.0"),
            plan("pinned-2", f"{URL}|2.0"),
            plan("bare", URL),
            plan("pinned-3", f"{URL}|3.0"),
            # The url with a longer path is another url, not a version of URL.
            plan("longer", f"{URL}-other", f"{URL}|9"),
        ]
    )
    return store


def ids(store: Store, resource_type: str, name: str, value: str) -> set[str]:
    page = store.search(parse_search(resource_type, [(name, value), ("_count", "50")]).query)
    return {item.id for item in page.items}


def test_a_chain_follows_a_pinned_canonical_to_its_version_only(versions: Store) -> None:
    assert ids(versions, "PlanDefinition", "definition.title", "one") == {"pinned-1", "bare"}
    assert ids(versions, "PlanDefinition", "definition.title", "two") == {"pinned-2", "bare"}
    assert ids(versions, "PlanDefinition", "definition._id", "y") == set()


def test_has_finds_the_versions_a_canonical_names(versions: Store) -> None:
    has = "_has:PlanDefinition:definition:_id"
    assert ids(versions, "ActivityDefinition", has, "pinned-1") == {"x1"}
    assert ids(versions, "ActivityDefinition", has, "pinned-2") == {"x2"}
    assert ids(versions, "ActivityDefinition", has, "bare") == {"x1", "x2"}
    assert ids(versions, "ActivityDefinition", has, "pinned-3") == set()
    assert ids(versions, "ActivityDefinition", has, "longer") == set()


def test_a_literal_chain_and_has_over_the_store(store: Store) -> None:
    store.put(
        [
            {"resourceType": "Medication", "id": "m", "code": {"coding": [{"code": "1"}]}},
            {"resourceType": "Medication", "id": "n", "code": {"coding": [{"code": "2"}]}},
            activity("a", productReference={"reference": "Medication/m"}, title="alpha"),
            activity("b", productReference={"reference": "Medication/n"}, title="beta"),
        ]
    )
    assert ids(store, "ActivityDefinition", "product.code", "1") == {"a"}
    assert ids(store, "Medication", "_has:ActivityDefinition:product:title", "beta") == {"n"}
    assert ids(store, "Medication", "_has:ActivityDefinition:product:title", "b,a") == {"m", "n"}


def test_a_chain_is_one_statement_however_many_resources_it_crosses(
    versions: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Evaluated in the database: no resource is read into Python to follow a reference.
    statements: list[str] = []
    run = versions._run

    def counted(prepared: Any, fetch: Any, **values: Any) -> Any:
        statements.append(prepared.sql)
        return run(prepared, fetch, **values)

    monkeypatch.setattr(versions, "_run", counted)
    monkeypatch.setattr(versions, "_current_where", None)  # any per-resource read fails
    monkeypatch.setattr(versions, "read_many", None)
    has = "_has:ActivityDefinition:product:_has:PlanDefinition:definition:_id"
    assert ids(versions, "Medication", has, "bare") == set()
    assert ids(versions, "PlanDefinition", "definition.title", "one") == {"pinned-1", "bare"}
    assert len(statements) == 3  # the page; the count only when the page is empty
