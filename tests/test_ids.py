"""Action ids: the allocator gives the ids it always gave, with linear work."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.pipeline import map_page
from mappings.rules.ids import IdAllocator, slug
from tests.conftest import FIXTURES

PAGE = (FIXTURES / "pages" / "all-induction.txt").read_text("utf-8")

_MAX_ID = 64


def _reference(names: list[str]) -> list[str]:
    """The allocator as it was (probing -2, -3, … from 2 for every clash): the ids it gave
    are in the goldens, so the linear one must give exactly these."""
    seen: set[str] = set()
    out = []
    for name in names:
        base = slug(name)
        candidate, n = base, 2
        while candidate in seen:
            suffix = f"-{n}"
            candidate = base[: _MAX_ID - len(suffix)] + suffix
            n += 1
        seen.add(candidate)
        out.append(candidate)
    return out


class _CountingSet(set[str]):
    """A set that counts membership tests: the allocator's unit of work."""

    lookups = 0

    def __contains__(self, item: object) -> bool:
        type(self).lookups += 1
        return super().__contains__(item)


def _lookups(names: list[str]) -> int:
    allocator = IdAllocator()
    seen = _CountingSet()
    _CountingSet.lookups = 0
    allocator._seen = seen  # the work is what is measured
    for name in names:
        allocator(name)
    return _CountingSet.lookups


LONG = "a" * 70  # slugs to 64 characters: its suffixed ids are truncated
# Names whose slugs collide with suffixed ids, short and long.
NAMES = st.lists(
    st.one_of(
        st.sampled_from(["x", "x-2", "x-3", "x 10", "Vincristine", "vincristine-9", LONG]),
        st.sampled_from([LONG[:62] + "-2", LONG[:61] + "-10", LONG + "b", LONG[:63] + "c"]),
        st.text(alphabet="ab- 1", max_size=6),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None, database=None)
@given(NAMES)
def test_ids_are_those_the_probing_allocator_gave(names: list[str]) -> None:
    allocator = IdAllocator()
    assert [allocator(name) for name in names] == _reference(names)


def test_suffixes_past_nine_and_ninety_nine_keep_the_64_character_bound() -> None:
    names = [LONG] * 120
    allocator = IdAllocator()
    ids = [allocator(name) for name in names]
    assert ids == _reference(names)
    assert ids[1] == LONG[:62] + "-2"
    assert ids[9] == LONG[:61] + "-10"
    assert ids[99] == LONG[:60] + "-100"
    assert all(len(i) <= _MAX_ID for i in ids) and len(set(ids)) == len(ids)


def test_identical_names_cost_linear_work() -> None:
    # 20,000 identical bullets took 44 s when every clash probed from -2 again.
    small, large = _lookups(["vincristine"] * 500), _lookups(["vincristine"] * 5_000)
    assert large <= 15 * small


def test_names_sharing_a_truncated_stem_cost_linear_work() -> None:
    # Distinct long names whose suffixed ids share one 62-character stem, each twice: a memo
    # per name alone would probe every earlier name's suffix again.
    def names(n: int) -> list[str]:
        distinct = [LONG[:62] + f" {i}" for i in range(n)]
        return distinct + distinct

    small, large = _lookups(names(300)), _lookups(names(3_000))
    assert large <= 15 * small


def test_mapping_a_page_of_identical_bullets_allocates_ids_in_linear_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Through the whole mapping: every action id of the page comes from one allocator.
    original = IdAllocator.__init__

    def counted(self: IdAllocator) -> None:
        original(self)
        self._seen = _CountingSet()

    monkeypatch.setattr(IdAllocator, "__init__", counted)
    bullet = "  • vincristine\n"
    assert bullet in PAGE

    def lookups(n: int) -> int:
        _CountingSet.lookups = 0
        mapped = map_page(PAGE.replace(bullet, bullet * n).encode())
        plan = mapped.bundle["entry"][0]["resource"]
        assert json.dumps(plan).count('"vincristine-') >= n - 1  # the clashing ids
        return _CountingSet.lookups

    assert lookups(1_000) <= 15 * lookups(100)
