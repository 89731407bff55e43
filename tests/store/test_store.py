"""The store on its own: versions, atomic batches, and search semantics over the index."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from service.search import params
from service.search.query import parse_search
from service.store import Store
from tests.conftest import golden_bundle, resources
from tests.store.conftest import activity


def _ids(store: Store, resource_type: str, *pairs: tuple[str, str]) -> list[str]:
    page = store.search(parse_search(resource_type, pairs).query)
    return [item.id for item in page.items]


def test_first_write_creates_version_1_with_server_meta(store: Store) -> None:
    plan = next(resources(golden_bundle("all-induction")))
    [outcome] = store.put([plan])
    assert (outcome.action, outcome.version_id) == ("created", 1)
    stored = store.read("PlanDefinition", plan["id"])
    assert stored is not None
    body = json.loads(stored.body)
    # The server's meta, and the mapping's own (the profile it claims) kept beside it.
    assert body["meta"] == {"versionId": "1", "lastUpdated": stored.last_updated, **plan["meta"]}
    assert {k: v for k, v in body.items() if k != "meta"} == {
        k: v for k, v in plan.items() if k != "meta"
    }


def test_identical_content_creates_no_version(store: Store) -> None:
    plan = next(resources(golden_bundle("all-induction")))
    store.put([plan])
    [again] = store.put([copy.deepcopy(plan)])
    assert (again.action, again.version_id) == ("unchanged", 1)
    assert store.history("PlanDefinition", plan["id"], count=10, offset=0).total == 1


def test_changed_content_is_a_new_version_and_the_old_one_stays(store: Store) -> None:
    plan = next(resources(golden_bundle("all-induction")))
    store.put([plan])
    changed = {**plan, "title": "Induction (revised)"}
    [outcome] = store.put([changed])
    assert (outcome.action, outcome.version_id) == ("updated", 2)
    old = store.vread("PlanDefinition", plan["id"], 1)
    new = store.read("PlanDefinition", plan["id"])
    assert old is not None and new is not None
    assert json.loads(old.body)["title"] == plan["title"]
    assert json.loads(new.body)["title"] == "Induction (revised)"
    history = store.history("PlanDefinition", plan["id"], count=10, offset=0)
    assert [item.version_id for item in history.items] == [2, 1]
    # The index follows the current version only.
    assert _ids(store, "PlanDefinition", ("title", "induction (rev")) == [plan["id"]]
    assert _ids(store, "PlanDefinition", ("title:exact", plan["title"])) == []


def test_a_failing_batch_writes_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = list(resources(golden_bundle("all-induction")))
    real = params.index_entries
    calls = {"n": 0}

    def fail_on_fifth(resource: dict[str, Any]) -> list[params.IndexEntry]:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk on fire")
        return real(resource)

    monkeypatch.setattr("service.store.store.index_entries", fail_on_fifth)
    with pytest.raises(RuntimeError):
        store.put(batch)
    assert store.counts() == {}
    assert store.history("Medication", None, count=10, offset=0).total == 0


def test_a_batch_naming_one_resource_twice_is_refused(store: Store) -> None:
    plan = next(resources(golden_bundle("all-induction")))
    with pytest.raises(ValueError, match="twice"):
        store.put([plan, plan])
    assert store.counts() == {}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("2024", ["may10"]),  # eq: the search range contains the whole value
        ("eq2024-05", ["may10"]),
        ("eq2024-05-10", ["may10"]),
        ("ne2024-05-10", ["span", "y2023"]),
        ("gt2024-05-09", ["may10", "span"]),
        ("lt2024-05-11", ["may10", "span", "y2023"]),
        ("ge2024-05-10", ["may10", "span"]),
        ("le2023-12-31", ["span", "y2023"]),
        ("sa2024-01-01", ["may10"]),
        ("eb2024-01-01", ["y2023"]),
        ("ap2024-05-10", ["may10", "span"]),
        ("gt2025", []),
    ],
)
def test_date_prefixes(store: Store, query: str, expected: list[str]) -> None:
    store.put(
        [
            activity("may10", date="2024-05-10"),
            activity("y2023", date="2023"),
            activity("span", effectivePeriod={"start": "2023-06-01", "end": "2024-06-30"}),
        ]
    )
    found = sorted(
        set(_ids(store, "ActivityDefinition", ("date", query)))
        | set(_ids(store, "ActivityDefinition", ("effective", query)))
    )
    assert found == expected


def test_strings_match_ignoring_case_and_accents_and_escape_like(store: Store) -> None:
    store.put(
        [
            activity("cafe", title="Café au lait"),
            activity("percent", title="100% of the dose"),
            activity("underscore", title="a_b"),
        ]
    )
    assert _ids(store, "ActivityDefinition", ("title", "CAFE")) == ["cafe"]
    assert _ids(store, "ActivityDefinition", ("title:exact", "Café au lait")) == ["cafe"]
    assert _ids(store, "ActivityDefinition", ("title:exact", "cafe au lait")) == []
    assert _ids(store, "ActivityDefinition", ("title:contains", "%")) == ["percent"]
    assert _ids(store, "ActivityDefinition", ("title:contains", "_")) == ["underscore"]
    assert _ids(store, "ActivityDefinition", ("title:contains", "AU LAIT")) == ["cafe"]


def test_long_strings_match_beyond_the_indexed_key(store: Store) -> None:
    long_a = "x" * 300 + " alpha"
    long_b = "x" * 300 + " beta"
    store.put([activity("a", description=long_a), activity("b", description=long_b)])
    assert _ids(store, "ActivityDefinition", ("description", "x" * 300 + " al")) == ["a"]
    assert _ids(store, "ActivityDefinition", ("description:exact", long_b)) == ["b"]


def test_tokens_with_and_without_system(store: Store) -> None:
    coded = {"coding": [{"system": "http://example.org/cs", "code": "A1"}]}
    uncoded = {"coding": [{"code": "A1"}]}
    store.put([activity("sys", topic=[coded]), activity("nosys", topic=[uncoded])])
    assert _ids(store, "ActivityDefinition", ("topic", "A1")) == ["nosys", "sys"]
    assert _ids(store, "ActivityDefinition", ("topic", "http://example.org/cs|A1")) == ["sys"]
    assert _ids(store, "ActivityDefinition", ("topic", "|A1")) == ["nosys"]
    assert _ids(store, "ActivityDefinition", ("topic", "http://example.org/cs|")) == ["sys"]
    assert _ids(store, "ActivityDefinition", ("topic:not", "http://example.org/cs|A1")) == ["nosys"]
    assert _ids(store, "ActivityDefinition", ("topic:missing", "true")) == []


def test_search_cost_does_not_depend_on_statement_building(store: Store) -> None:
    """Two searches of one shape share one compiled statement; different values still
    give their own results."""
    store.put([activity("one", title="One"), activity("two", title="Two")])
    assert _ids(store, "ActivityDefinition", ("title", "one")) == ["one"]
    assert _ids(store, "ActivityDefinition", ("title", "two")) == ["two"]
    assert len(store._search_cache) == 1


def test_a_large_mixed_batch_writes_in_order_across_chunks(store: Store) -> None:
    """More resources than one round of statements holds (``_WRITE_BATCH``): new, changed
    and unchanged resources interleaved keep their outcomes in order, and the index
    follows every current version."""
    store.put([activity(f"a{n:04}", title=f"old {n}") for n in range(0, 1200, 2)])
    batch = [
        activity(f"a{n:04}", title=f"old {n}" if n % 4 == 0 else f"new {n}") for n in range(1200)
    ]
    outcomes = store.put(batch)
    assert [o.id for o in outcomes] == [r["id"] for r in batch]
    expected = [
        "unchanged" if n % 4 == 0 else "updated" if n % 2 == 0 else "created" for n in range(1200)
    ]
    assert [o.action for o in outcomes] == expected
    assert [o.version_id for o in outcomes] == [2 if a == "updated" else 1 for a in expected]
    assert store.counts() == {"ActivityDefinition": 1200}
    assert _ids(store, "ActivityDefinition", ("title:exact", "new 2")) == ["a0002"]
    assert _ids(store, "ActivityDefinition", ("title:exact", "old 2")) == []
    assert _ids(store, "ActivityDefinition", ("title:exact", "old 4")) == ["a0004"]
    assert store.history("ActivityDefinition", None, count=0, offset=0).total == 1200 + 300
