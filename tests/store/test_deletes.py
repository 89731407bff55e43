"""Deletes, recorded methods and history queries, on both backends: a delete is a version
of its own with no content, every version records the method that made it, and history
answers at system level and at an instant (``_at``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from service.search.query import parse_search
from service.search.values import instant_key
from service.store import Latest, Store
from tests.store.conftest import activity

AD = "ActivityDefinition"


def _ids(store: Store, *pairs: tuple[str, str]) -> list[str]:
    return [item.id for item in store.search(parse_search(AD, pairs).query).items]


def _methods(store: Store, resource_type: str | None, resource_id: str | None) -> list[str]:
    page = store.history(resource_type, resource_id, count=100, offset=0)
    return [f"{i.resource_type}/{i.id}/{i.version_id}:{i.method}" for i in page.items]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The store's clock, one minute on per write: versions get distinct, known times."""
    moments = [datetime(2026, 12, 1, 10, 0, tzinfo=UTC)]

    def now() -> datetime:
        moments.append(moments[-1] + timedelta(minutes=1))
        return moments[-1]

    monkeypatch.setattr("service.store.store._now", now)
    yield moments


def test_put_records_the_method_given_or_post_then_put(store: Store) -> None:
    store.put([activity("a", title="one")])
    store.put([activity("a", title="two")])
    store.put([activity("a", title="three")], methods=["PATCH"])
    store.put([activity("b", title="made by put")], methods=["PUT"])
    assert _methods(store, AD, "a") == [f"{AD}/a/3:PATCH", f"{AD}/a/2:PUT", f"{AD}/a/1:POST"]
    assert _methods(store, AD, "b") == [f"{AD}/b/1:PUT"]
    latest = store.latest(AD, "a")
    assert latest is not None
    assert (latest.version_id, latest.method, latest.deleted) == (3, "PATCH", False)


def test_put_refuses_methods_that_do_not_fit(store: Store) -> None:
    with pytest.raises(ValueError, match="2 methods for 1"):
        store.put([activity("a")], methods=["PUT", "PUT"])
    with pytest.raises(ValueError, match="DELETE"):
        store.put([activity("a")], methods=["DELETE"])
    assert store.latest(AD, "a") is None


def test_unchanged_content_writes_no_version_whatever_the_method(store: Store) -> None:
    store.put([activity("a", title="same")])
    [again] = store.put([activity("a", title="same")], methods=["PUT"])
    assert (again.action, again.version_id) == ("unchanged", 1)
    assert _methods(store, AD, "a") == [f"{AD}/a/1:POST"]


def test_a_delete_is_a_version_without_content_and_leaves_search(store: Store) -> None:
    store.put([activity("a", title="doomed"), activity("b", title="doomed too")])
    store.put([activity("a", title="doomed, revised")])
    [outcome] = store.delete([(AD, "a")])
    assert (outcome.action, outcome.version_id) == ("deleted", 3)
    assert store.read(AD, "a") is None
    assert not store.exists(AD, "a")
    assert store.read_many(AD, ["a", "b"])[0].id == "b"
    assert _ids(store, ("title", "doomed")) == ["b"]
    assert store.counts() == {AD: 1}
    gone = store.vread(AD, "a", 3)
    assert gone is not None and gone.deleted and gone.body == b"" and gone.method == "DELETE"
    assert gone.last_updated == outcome.last_updated
    earlier = store.vread(AD, "a", 2)
    assert earlier is not None and not earlier.deleted
    assert json.loads(earlier.body)["title"] == "doomed, revised"
    assert store.latest(AD, "a") == Latest(3, outcome.last_updated, "DELETE", True)
    history = store.history(AD, "a", count=10, offset=0)
    assert [(i.version_id, i.method, i.deleted) for i in history.items] == [
        (3, "DELETE", True),
        (2, "PUT", False),
        (1, "POST", False),
    ]


def test_deleting_what_has_no_current_version_writes_nothing(store: Store) -> None:
    store.put([activity("a")])
    store.delete([(AD, "a")])
    again, never = store.delete([(AD, "a"), (AD, "never")])
    assert (again.action, again.version_id) == ("absent", 2)
    assert (never.action, never.version_id) == ("absent", 0)
    assert store.history(AD, None, count=10, offset=0).total == 2
    assert store.latest(AD, "never") is None


def test_a_delete_refuses_a_key_named_twice(store: Store) -> None:
    store.put([activity("a")])
    with pytest.raises(ValueError, match="twice"):
        store.delete([(AD, "a"), (AD, "a")])
    assert store.read(AD, "a") is not None


def test_putting_a_deleted_resource_brings_it_back_as_the_next_version(store: Store) -> None:
    store.put([activity("a", title="first life")])
    store.delete([(AD, "a")])
    [outcome] = store.put([activity("a", title="second life")])
    assert (outcome.action, outcome.version_id) == ("created", 3)
    back = store.read(AD, "a")
    assert back is not None and back.version_id == 3
    assert json.loads(back.body)["meta"]["versionId"] == "3"
    assert _ids(store, ("title", "second")) == ["a"]
    assert _methods(store, AD, "a") == [f"{AD}/a/3:POST", f"{AD}/a/2:DELETE", f"{AD}/a/1:POST"]


def test_a_delete_joins_the_open_transaction_and_rolls_back_with_it(store: Store) -> None:
    store.put([activity("a", title="kept")])
    with pytest.raises(RuntimeError, match="abandon"), store.transaction():
        [outcome] = store.delete([(AD, "a")])
        assert outcome.action == "deleted"
        assert store.read(AD, "a") is None  # the transaction sees its own delete
        latest = store.latest(AD, "a")
        assert latest is not None and latest.deleted
        raise RuntimeError("abandon")
    kept = store.read(AD, "a")
    assert kept is not None
    assert store.latest(AD, "a") == Latest(1, kept.last_updated, "POST", False)


def test_system_history_covers_every_type_newest_first_and_pages(
    store: Store, clock: list[datetime]
) -> None:
    medication = {"resourceType": "Medication", "id": "m", "status": "active"}
    store.put([activity("a")])
    store.put([medication])
    store.delete([(AD, "a")])
    assert _methods(store, None, None) == [
        f"{AD}/a/2:DELETE",
        "Medication/m/1:POST",
        f"{AD}/a/1:POST",
    ]
    first = store.history(None, None, count=2, offset=0)
    rest = store.history(None, None, count=2, offset=2)
    assert (first.total, first.has_more, rest.has_more) == (3, True, False)
    assert [i.id for i in first.items + rest.items] == ["a", "m", "a"]


def test_at_keeps_the_versions_current_at_that_instant(store: Store, clock: list[datetime]) -> None:
    store.put([activity("a", title="v1")])  # 10:01
    store.put([activity("b", title="v1")])  # 10:02
    store.put([activity("a", title="v2")])  # 10:03
    store.delete([(AD, "b")])  # 10:04

    def at(hour: int, minute: int, second: int = 0) -> list[str]:
        key = instant_key(datetime(2026, 12, 1, hour, minute, second, tzinfo=UTC))
        page = store.history(AD, None, at=key, count=10, offset=0)
        return sorted(f"{i.id}/{i.version_id}" for i in page.items)

    assert at(10, 0) == []
    assert at(10, 1) == ["a/1"]  # made at that very instant
    assert at(10, 2, 30) == ["a/1", "b/1"]
    assert at(10, 3) == ["a/2", "b/1"]  # a/1 was replaced at that instant
    assert at(10, 5) == ["a/2", "b/2"]  # b's delete is what was current
    one = store.history(AD, "a", at=instant_key(clock[1]), count=10, offset=0)
    assert [i.version_id for i in one.items] == [1]


def test_at_over_a_period_keeps_every_version_current_during_it(
    store: Store, clock: list[datetime]
) -> None:
    store.put([activity("a", title="v1")])  # 10:01
    store.put([activity("a", title="v2")])  # 10:02
    store.put([activity("a", title="v3")])  # 10:03

    def during(start: int, end: int) -> list[int]:
        low = instant_key(datetime(2026, 12, 1, 10, start, tzinfo=UTC))
        high = instant_key(datetime(2026, 12, 1, 10, end, tzinfo=UTC))
        page = store.history(AD, "a", at=(low, high), count=10, offset=0)
        return [i.version_id for i in page.items]

    assert during(0, 1) == []  # [10:00, 10:01): nothing yet
    assert during(0, 2) == [1]
    assert during(1, 3) == [2, 1]
    assert during(3, 9) == [3]


def test_since_and_at_together_keep_versions_meeting_both(
    store: Store, clock: list[datetime]
) -> None:
    store.put([activity("a", title="v1")])  # 10:01
    store.put([activity("b", title="v1")])  # 10:02
    at = instant_key(datetime(2026, 12, 1, 10, 5, tzinfo=UTC))
    since = instant_key(datetime(2026, 12, 1, 10, 2, tzinfo=UTC))
    page = store.history(AD, None, since=since, at=at, count=10, offset=0)
    assert [i.id for i in page.items] == ["b"]
