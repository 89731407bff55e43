"""Hostile pages and content: a clear error at its line, or a clean answer, never a crash.

An empty bullet is refused at its line; bullets nested without end are refused instead of
recursing past Python's limit; a PlanDefinition of 300 nested actions is a 400 from
``$import`` and one line from ``flask load``, not a RecursionError; and a deeply nested
resource that is already stored reads, renders (XML, R5, the reading view) and packages
without one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings import fhir
from mappings.limits import MAX_DEPTH
from mappings.pipeline import map_page
from mappings.source import MAX_BULLET_DEPTH, Bullet, BulletList, PageError, parse_page
from tests.support.servers import TOKEN, make_app

PAGE = Path(__file__).resolve().parent.parent / "fixtures" / "pages" / "all-induction.txt"
TEXT = PAGE.read_text("utf-8")
LINES = TEXT.split("\n")
FIRST_BULLET = LINES.index("  • vincristine")  # 0-based: its line number is this + 1
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EMPTY = "empty bullet: a list item with no words"


def _with_line(at: int, line: str) -> str:
    """The page with ``line`` inserted before 0-based line ``at`` (so it is line at + 1)."""
    return "\n".join([*LINES[:at], line, *LINES[at:]])


@pytest.fixture
def empty_app(tmp_path: Path) -> Flask:
    return make_app(tmp_path / "db.sqlite3", TESTING=True)


def _cli(app: Flask, *args: str) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _one_line(result: Result, source: Path) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith(f"{source}:"), lines[0]
    return lines[0]


# --- an empty bullet ------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["  • ", "  •", "•", "  - ", "\t*\t", "    • "])
@pytest.mark.parametrize("at", [FIRST_BULLET, FIRST_BULLET + 1, FIRST_BULLET - 1, 2, 0])
def test_an_empty_bullet_is_refused_at_its_line(marker: str, at: int) -> None:
    # It was dropped without a word (and, at the top, even read as the page's title "•"):
    # a list item whose words the export lost would be published as a shorter list.
    with pytest.raises(PageError) as caught:
        parse_page(_with_line(at, marker))
    assert (caught.value.line, caught.value.message) == (
        at + 1,
        "empty bullet: a list item with no words",
    )


def test_flask_map_and_load_of_a_page_with_an_empty_bullet_print_one_line(
    empty_app: Flask, tmp_path: Path
) -> None:
    page = tmp_path / "empty-bullet.txt"
    page.write_text(_with_line(FIRST_BULLET + 1, "  • "), "utf-8")
    expected = f"{page}:{FIRST_BULLET + 2}: empty bullet: a list item with no words"
    assert _one_line(_cli(empty_app, "map", str(page)), page) == expected
    assert _one_line(_cli(empty_app, "load", str(page)), page) == expected


def test_import_of_a_page_with_an_empty_bullet_is_400_at_its_line(empty_app: Flask) -> None:
    response = empty_app.test_client().post(
        "/fhir/$import",
        data=_with_line(FIRST_BULLET, "  • ").encode(),
        headers={"Content-Type": "text/plain", **AUTH},
    )
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["diagnostics"] == f"body:{FIRST_BULLET + 1}: {EMPTY}"


# --- bullets nested without end -------------------------------------------------------------


def _nested_bullets(levels: int) -> str:
    bullets = [" " * (2 + 2 * i) + "• vincristine" for i in range(levels)]
    return "\n".join([*LINES[:FIRST_BULLET], *bullets, *LINES[FIRST_BULLET + 1 :]])


@pytest.mark.parametrize("levels", [MAX_BULLET_DEPTH + 1, 1_000, 5_000])
def test_bullets_nested_too_deep_are_refused_at_the_first_too_deep_line(levels: int) -> None:
    # 1,000 levels was a RecursionError in the reader (a traceback from map/load, a 500).
    with pytest.raises(PageError) as caught:
        map_page(_nested_bullets(levels).encode())
    assert caught.value.line == FIRST_BULLET + MAX_BULLET_DEPTH + 1
    assert caught.value.message == f"bullets nested more than {MAX_BULLET_DEPTH} levels deep"


def test_bullets_nested_to_the_limit_are_read() -> None:
    mapped = map_page(_nested_bullets(MAX_BULLET_DEPTH).encode())
    assert mapped.bundle["entry"]


def _reference_nest(indents: list[int]) -> tuple[Any, ...]:
    """The recursive reading it replaced: children are the following bullets indented
    further than their parent."""

    def level(i: int, floor: int) -> tuple[tuple[Any, ...], int]:
        out = []
        while i < len(indents) and indents[i] > floor:
            children, j = level(i + 1, indents[i])
            out.append((i, children))
            i = j
        return tuple(out), i

    return level(0, -1)[0]


def _shape(bullets: tuple[Bullet, ...], first_line: int) -> tuple[Any, ...]:
    return tuple((b.line - first_line, _shape(b.children, first_line)) for b in bullets)


def _reference_depth(tree: tuple[Any, ...]) -> int:
    return 1 + max(_reference_depth(children) for _, children in tree) if tree else 0


SMALL_PAGE = (
    "Title\n\nIntro.\n\nChemotherapy\n\nDrugs:\n\n{bullets}\n\nExpert review and references"
    "\n\n  • A B, MD\n\nMedical disclaimer\n\nX.\n\n1 | a | © b"
)
SMALL_PAGE_FIRST_BULLET = 9


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=14))
def test_nesting_is_the_one_the_recursive_reader_gave(indents: list[int]) -> None:
    text = SMALL_PAGE.format(
        bullets="\n".join(" " * n + f"• item {i}" for i, n in enumerate(indents))
    )
    expected = _reference_nest(indents)
    if _reference_depth(expected) > MAX_BULLET_DEPTH:
        with pytest.raises(PageError, match="levels deep"):
            parse_page(text)
        return
    (section,) = parse_page(text).sections
    bullets = section.blocks[-1]
    assert isinstance(bullets, BulletList)
    assert _shape(bullets.items, SMALL_PAGE_FIRST_BULLET) == expected


# --- FHIR input nested too deep -------------------------------------------------------------


def _deep_plan(levels: int) -> dict[str, Any]:
    action: dict[str, Any] = {
        "id": "leaf",
        "textEquivalent": "the deepest vincristine",
        "definitionCanonical": "https://fhir.example.org/ped/ActivityDefinition/vincristine",
    }
    for i in range(levels):
        action = {"id": f"a{i}", "title": f"Level {i}", "action": [action]}
    return {
        "resourceType": "PlanDefinition",
        "id": "deep",
        "url": "https://fhir.example.org/ped/PlanDefinition/deep",
        "version": "1.0.0",
        "name": "Deep",
        "title": "Deep",
        "status": "draft",
        "action": [action],
    }


def test_fhir_validate_of_300_nested_actions_is_invalid_not_a_recursion_error() -> None:
    with pytest.raises(fhir.InvalidResource, match="too deep to validate"):
        fhir.validate(_deep_plan(300))


def test_import_and_load_of_300_nested_actions_answer_400_and_one_line(
    empty_app: Flask, tmp_path: Path
) -> None:
    body = json.dumps(_deep_plan(300))
    response = empty_app.test_client().post(
        "/fhir/$import", data=body, headers={"Content-Type": "application/fhir+json", **AUTH}
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    # The document's nesting limit refuses it first (mappings.limits.MAX_DEPTH).
    deep = f"nested more than {MAX_DEPTH} levels deep"
    assert deep in response.get_json()["issue"][0]["diagnostics"]
    path = tmp_path / "deep.json"
    path.write_text(body, "utf-8")
    assert deep in _one_line(_cli(empty_app, "load", str(path)), path)


def test_deep_values_are_walked_and_copied_without_recursion() -> None:
    deep: Any = {"reference": "urn:uuid:1"}
    for _ in range(5_000):
        deep = {"extension": [deep]}
    copied = fhir.rewrite_references(deep, {"urn:uuid:1": "Medication/m"})
    assert fhir.depth(copied) == fhir.depth(deep) == 10_001
    inner = copied
    while "extension" in inner:
        inner = inner["extension"][0]
    assert inner == {"reference": "Medication/m"}
    assert sum(1 for _ in fhir._paths(deep, "")) == 5_001


def test_rewrite_references_keeps_order_and_leaves_the_input_alone() -> None:
    value = {"b": [{"reference": "x", "z": 1}, 2], "a": {"reference": "y"}, "reference": 3}
    copied = fhir.rewrite_references(value, {"x": "X", "y": "Y"})
    assert copied == {"b": [{"reference": "X", "z": 1}, 2], "a": {"reference": "Y"}, "reference": 3}
    assert list(copied) == ["b", "a", "reference"]
    assert value["a"] == {"reference": "y"}


# --- deeply nested resources already stored -------------------------------------------------


def _deep_medication(levels: int) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": "http://example.org/e", "valueString": "deepest"}
    for _ in range(levels):
        extension = {"url": "http://example.org/e", "extension": [extension]}
    return {"resourceType": "Medication", "id": "deep", "extension": [extension]}


READS = [
    "/fhir/PlanDefinition/deep",
    "/fhir/PlanDefinition/deep?_format=xml",
    "/fhir/PlanDefinition/deep?_format=json&fhirVersion=5.0",
    "/fhir/PlanDefinition/deep?_format=xml&fhirVersion=5.0",
    "/fhir/PlanDefinition/deep?_elements=action",
    "/fhir/PlanDefinition/deep/_history/1?_format=xml",
    "/fhir/PlanDefinition?_id=deep&_include=PlanDefinition:definition&_format=xml",
    "/fhir/ActivityDefinition?_id=vincristine&_revinclude=PlanDefinition:definition&_format=xml",
    "/fhir/PlanDefinition/deep/$package",
    "/fhir/Medication/deep?_format=xml",
    "/fhir/Medication?_format=xml&fhirVersion=5.0",
    "/education/",
    "/education/PlanDefinition/deep",
    "/education/Medication/vincristine",
]


@pytest.mark.parametrize("levels", [300, 420])
def test_a_stored_deeply_nested_resource_never_answers_5xx(
    writable_app: Flask, levels: int
) -> None:
    # Stored straight into the store, as one stored before the write gate refused them:
    # $package, the reading view and XML rendering recursed once or more a level (500).
    writable_app.extensions["ped.store"].put([_deep_plan(levels), _deep_medication(levels)])
    client = writable_app.test_client()
    for url in READS:
        response = client.get(url)
        assert response.status_code < 500, (url, response.get_data(as_text=True)[:300])
        if "fhirVersion=5.0" not in url:
            assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
    xml = client.get("/fhir/PlanDefinition/deep?_format=xml").get_data(as_text=True)
    assert xml.count("</action>") == levels + 1
    assert "the deepest vincristine" in xml
    page = client.get("/education/PlanDefinition/deep").get_data(as_text=True)
    # Every level is shown; those past MAX_ITEM_DEPTH as one list at the last level.
    assert "the deepest" in page and "Level 0" in page and f"Level {levels - 1}" in page
    package = client.get("/fhir/PlanDefinition/deep/$package").get_json()
    assert any(e["resource"]["id"] == "deep" for e in package["entry"])


def test_a_deep_stored_resource_r5_is_given_or_refused_with_an_outcome(
    writable_app: Flask,
) -> None:
    writable_app.extensions["ped.store"].put([_deep_plan(420)])
    response = writable_app.test_client().get("/fhir/PlanDefinition/deep?fhirVersion=5.0")
    assert response.status_code in (200, 406)
    if response.status_code == 406:
        assert "nested too deeply" in response.get_json()["issue"][0]["diagnostics"]


def test_xml_of_the_fixtures_is_unchanged_by_the_iterative_renderer(client: Any) -> None:
    xml = client.get("/fhir/PlanDefinition/all-induction?_format=xml").get_data(as_text=True)
    assert re.search(r'<title value="Induction treatments[^"]*"/>', xml)
    assert xml.index("<id ") < xml.index("<action") < xml.rindex("</action>")
