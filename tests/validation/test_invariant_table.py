"""The invariant table: what is evaluated, what is not and why, pinned."""

from __future__ import annotations

from service.validation import invariants


def test_not_evaluated_list_is_pinned() -> None:
    assert sorted(invariants.NOT_EVALUATED) == ["dom-3", "rng-2", "txt-1", "txt-2"]


def test_every_invariant_is_evaluated_or_listed() -> None:
    keys = [entry["key"] for entry in invariants.raw()]
    compiled = {i.key for table in invariants.load().values() for i in table}
    assert len(keys) == len(set(keys))
    assert set(keys) == compiled | set(invariants.NOT_EVALUATED)
    assert not compiled & set(invariants.NOT_EVALUATED)


def test_every_entry_names_its_source() -> None:
    for entry in invariants.raw():
        assert entry["source"] in {"rh", "rh-sd", "lfh"}
        assert entry["severity"] in {"error", "warning"}
        assert entry["expression"] and entry["human"] and entry["context"]


def test_spec_severities() -> None:
    severity = {entry["key"]: entry["severity"] for entry in invariants.raw()}
    assert severity["pdf-0"] == severity["adf-0"] == severity["dom-6"] == "warning"
    assert severity["ele-1"] == severity["ref-1"] == severity["tim-9"] == "error"
