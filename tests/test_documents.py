"""The strict, bounded reader of JSON and YAML documents (``mappings.documents``).

Contract: a document reads as the stdlib (JSON) or PyYAML's safe loader (YAML) would read
it, unless it holds something refused (duplicate keys, nesting past ``MAX_DEPTH``, numbers
longer than ``MAX_NUMBER_LENGTH``, non-finite numbers, YAML anchors and aliases, bidi
controls); then a ``DocumentError`` names the line where it is. Nothing else is raised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.documents import (  # _JsonReader: the strict reader alone
    DocumentError,
    _JsonReader,
    find_bidi,
    json_lines,
    loads_json,
    loads_yaml,
)
from mappings.limits import BIDI_CONTROLS, MAX_DEPTH, MAX_NUMBER_LENGTH
from tests.conftest import FIXTURES


def refusal(read: Any, text: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        read(text)
    return caught.value


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((FIXTURES / "fhir").glob("*.json")), ids=lambda p: p.stem)
def test_json_reads_as_the_stdlib_does(path: Path) -> None:
    text = path.read_text("utf-8")
    assert loads_json(text) == json.loads(text)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**18), 10**18)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8", exclude_characters=BIDI_CONTROLS)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(_JSON)
def test_any_json_within_the_limits_reads_back(value: Any) -> None:
    assert loads_json(json.dumps(value)) == value
    assert loads_json(json.dumps(value, indent=1, ensure_ascii=False)) == value


def test_a_duplicate_key_is_refused_at_its_line() -> None:
    error = refusal(loads_json, '{\n "status": "active",\n "code": {},\n "status": "x"\n}')
    assert (error.line, error.message) == (4, "duplicate key 'status' in one object")


def test_a_duplicate_key_in_a_nested_object_is_refused_at_its_line() -> None:
    error = refusal(loads_json, '{"a": [\n {"b": 1},\n {"b": 1,\n  "c": 2, "b": 3}]}')
    assert error.line == 4


def test_the_same_key_in_two_objects_is_not_a_duplicate() -> None:
    assert loads_json('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


def test_nesting_to_the_limit_reads_and_one_more_is_refused() -> None:
    assert loads_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    text = '{"a":\n' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"
    error = refusal(loads_json, text)
    assert error.line == 2
    assert "nested more than" in error.message


def test_nesting_a_thousand_deep_is_refused_not_a_recursion_error() -> None:
    assert refusal(loads_json, '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}").line == 1


@pytest.mark.parametrize(
    "number", ["1" * (MAX_NUMBER_LENGTH + 1), "0." + "5" * MAX_NUMBER_LENGTH, "1" * 4301]
)
def test_a_number_over_the_length_limit_is_refused_at_its_line(number: str) -> None:
    error = refusal(loads_json, '{\n"a": 1,\n"b": [2, ' + number + "]}")
    assert error.line == 3
    assert f"{len(number)} characters" in error.message


def test_a_number_at_the_length_limit_reads() -> None:
    assert loads_json("1" * MAX_NUMBER_LENGTH) == int("1" * MAX_NUMBER_LENGTH)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e999", "[-1E400]"])
def test_non_finite_numbers_are_refused(text: str) -> None:
    assert refusal(loads_json, text).line == 1


@pytest.mark.parametrize(
    ("text", "line"),
    [("{,}", 1), ('{"a": 1}\n{"b": 2}', 2), ('{"a": "\x01"}', 1), ("", 1), ("[1,\n2,]", 2)],
)
def test_json_syntax_errors_name_their_line(text: str, line: int) -> None:
    error = refusal(loads_json, text)
    assert error.line == line
    assert error.message.startswith("not valid JSON: ")


@pytest.mark.parametrize("control", sorted(BIDI_CONTROLS))
def test_a_bidi_control_is_refused_written_or_escaped(control: str) -> None:
    written = refusal(loads_json, f'{{\n"title": "abc{control}def"\n}}')
    escaped = refusal(loads_json, f'{{\n"title": "abc\\u{ord(control):04x}def"\n}}')
    key = refusal(loads_json, f'{{\n"a": 1,\n"\\u{ord(control):04X}": 1\n}}')
    assert (written.line, escaped.line, key.line) == (2, 2, 3)
    assert f"U+{ord(control):04X}" in written.message


def test_an_escaped_backslash_before_u202e_is_text_not_a_control() -> None:
    assert loads_json(r'["\\u202e", "\\\\u202e"]') == ["\\u202e", "\\\\u202e"]


def test_bidi_marks_are_not_refused() -> None:
    text = '{"title": "\u05e9\u05dc\u05d5\u05dd \u200f(ALL)\u200e \u061c"}'
    assert loads_json(text)["title"].endswith("\u061c")


def test_json_lines_finds_each_value_and_falls_back_to_its_ancestor() -> None:
    text = '{\n "a": [\n  {"b": 1},\n  {\n   "c": "x"\n  }\n ],\n "d": 2\n}'
    line = json_lines(text)
    assert line(("a", 1, "c")) == 5
    assert line(("a", 1, "missing")) == 4
    assert line(("d",)) == 8
    assert line(("a", 7)) == 2
    assert line(()) == 1


def test_find_bidi_looks_in_keys_and_values() -> None:
    assert find_bidi({"a": ["b", {"c": "x\u2067"}]}) == "\u2067"
    assert find_bidi({"\u202a": 1}) == "\u202a"
    assert find_bidi({"a": ["\u200f"]}) is None


# --- YAML ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted((FIXTURES / "content").glob("*.yaml")), ids=lambda p: p.stem
)
def test_yaml_reads_as_the_safe_loader_does(path: Path) -> None:
    text = path.read_text("utf-8")
    assert loads_yaml(text) == yaml.safe_load(text)


def test_an_alias_bomb_is_refused_at_its_first_anchor_without_expanding() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 9):
        lines.append(f"{chr(97 + n)}: &{chr(97 + n)} [" + ", ".join([f"*{chr(96 + n)}"] * 9) + "]")
    error = refusal(loads_yaml, "format: x\n" + "\n".join(lines))
    assert (error.line, error.message) == (2, "a YAML anchor (&a) is not allowed")


def test_an_alias_alone_is_refused_at_its_line() -> None:
    error = refusal(loads_yaml, "a: 1\nb: *a\n")
    assert (error.line, error.message) == (2, "a YAML alias (*a) is not allowed")


def test_a_merge_key_is_refused() -> None:
    assert refusal(loads_yaml, "a: 1\n<<: {b: 2}\n").line == 2


def test_a_duplicate_yaml_key_is_refused_at_its_line() -> None:
    error = refusal(loads_yaml, "content:\n  title: a\n  intro: []\n  title: b\n")
    assert (error.line, error.message) == (4, "duplicate key 'title' in one mapping")


def test_yaml_nesting_past_the_limit_is_refused_at_its_line() -> None:
    assert loads_yaml("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None
    error = refusal(loads_yaml, "a: 1\nb: " + "[" * 1000 + "]" * 1000)
    assert error.line == 2
    block = "".join(f"{'  ' * n}k{n}:\n" for n in range(MAX_DEPTH + 2)) + f"{'  ' * 70}v: 1\n"
    assert refusal(loads_yaml, block).line == MAX_DEPTH + 1


@pytest.mark.parametrize(
    "scalar", ["1" * 4301, "0x" + "f" * MAX_NUMBER_LENGTH, "1." + "0" * MAX_NUMBER_LENGTH]
)
def test_a_yaml_number_over_the_length_limit_is_refused(scalar: str) -> None:
    error = refusal(loads_yaml, f"a: 1\nb: {scalar}\n")
    assert error.line == 2
    assert "characters" in error.message


def test_a_long_quoted_string_of_digits_is_text() -> None:
    assert loads_yaml(f"a: '{'1' * 5000}'") == {"a": "1" * 5000}


def test_a_yaml_value_its_constructor_rejects_is_a_refusal_not_a_crash() -> None:
    error = refusal(loads_yaml, "a: 1\nreviewed: 2024-13-45\n")
    assert error.line == 2


@pytest.mark.parametrize("control", sorted(BIDI_CONTROLS))
def test_a_yaml_bidi_control_is_refused_written_or_escaped(control: str) -> None:
    assert refusal(loads_yaml, f"a: 1\nb: x{control}y\n").line == 2
    assert refusal(loads_yaml, f'a: 1\nb: "x\\u{ord(control):04x}y"\n').line == 2


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("key: [unclosed\n  - x", 2),
        ("a: 1\n\tb: 2\n", 2),
        ("a: b\n\x01", 2),
        ("a: 1\n---\nb: 2", 2),
    ],
)
def test_yaml_syntax_errors_name_their_line(text: str, line: int) -> None:
    error = refusal(loads_yaml, text)
    assert error.line == line
    assert error.message.startswith("not valid YAML")


def test_yaml_tags_beyond_the_safe_ones_are_refused() -> None:
    assert refusal(loads_yaml, "a: !!python/object/apply:os.system [id]").line == 1


# Pieces that make a document doubtful: a duplicate key, long or non-finite numbers, deep
# nesting. The fast reader must refuse exactly what the strict one does, with its line.
_PIECES = st.sampled_from(
    ['{"a": 1, "a": 2}', "1" * (MAX_NUMBER_LENGTH + 1), "1e999", "NaN", "[]", '"x"', "1.5",
     "[" * MAX_DEPTH + "]" * MAX_DEPTH, '{"b": [1, {"c": null}]}']
)  # fmt: skip


@st.composite
def _documents(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(_PIECES, min_size=1, max_size=4))
    wrap = draw(st.integers(min_value=0, max_value=3))
    text = "[\n" + ",\n".join(pieces) + "\n]"
    return "[" * wrap + text + "]" * wrap


@given(_documents())
@settings(max_examples=200, deadline=None)
def test_the_fast_reader_refuses_what_the_strict_reader_refuses(text: str) -> None:
    try:
        strict: Any = _JsonReader().read(text)
    except DocumentError as e:
        strict = e
    try:
        fast: Any = loads_json(text)
    except DocumentError as e:
        fast = e
    if isinstance(strict, DocumentError):
        assert isinstance(fast, DocumentError) and str(fast) == str(strict)
    else:
        assert fast == strict
