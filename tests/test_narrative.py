"""Narratives (``text.div``) are well-formed, inert XHTML: page text is always text.

FHIR R4 narrative rules (txt-1, txt-2): only basic XHTML, no scripts, forms, event handlers
or other active content, and some non-whitespace content.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mappings.pipeline import MappedPage, map_page
from mappings.source import PageError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
XHTML = "{http://www.w3.org/1999/xhtml}"
FORBIDDEN = frozenset({"script", "form", "input", "iframe", "object", "embed", "style", "link"})
STATUSES = frozenset({"generated", "extensions", "additional", "empty"})

PAYLOAD = '<script>alert(1)</script> and <b onclick="x">bold</b> & more'
# (text on the seed page, the same text with PAYLOAD injected)
INJECTIONS = (
    ("  • vincristine\n", f"  • vincristine {PAYLOAD}\n"),
    ("  • growth factors to help", f"  • growth factors {PAYLOAD} to help"),
    (
        "while limiting harm to normal cells.\n",
        f"while limiting harm to normal cells. Ask about {PAYLOAD} today.\n",
    ),
)

Resource = dict[str, Any]


def seed_with(injections: tuple[tuple[str, str], ...]) -> str:
    text = (FIXTURES / "pages" / "all-maintenance.txt").read_text(encoding="utf-8")
    for old, new in injections:
        assert text.count(old) == 1, f"the seed page changed: {old!r} is not on it once"
        text = text.replace(old, new)
    return text


def local(tag: str) -> str:
    return tag.removeprefix(XHTML)


def parse_div(resource: Resource) -> ET.Element:
    """Parse text.div and check the structure every narrative must have."""
    where = f"{resource['resourceType']}/{resource['id']}"
    assert "text" in resource, f"{where} has no narrative"
    div = resource["text"]["div"]
    try:
        root = ET.fromstring(div)  # noqa: S314 -- our own output; defusedxml is not a dependency
    except ET.ParseError as e:
        pytest.fail(f"{where}: text.div is not well-formed XML ({e}): {div[:300]!r}")
    assert root.tag == f"{XHTML}div", f"{where}: root is {root.tag}, not an XHTML div"
    assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml"'), f"{where}: {div[:80]!r}"
    for element in root.iter():
        assert element.tag.startswith(XHTML), f"{where}: {element.tag} is not XHTML"
        name = local(element.tag).casefold()
        assert name not in FORBIDDEN, f"{where}: <{name}> in the narrative"
        on = [a for a in element.attrib if a.casefold().startswith("on")]
        assert not on, f"{where}: event attributes {on} on <{name}>"
        # The root's xmlns is a namespace declaration, not an attribute, once parsed.
        assert not element.attrib, f"{where}: attributes {element.attrib} on <{name}>"
    return root


def text_of(root: ET.Element) -> str:
    return "".join(root.itertext())


def golden_resources() -> list[Resource]:
    resources = []
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        resources += [entry["resource"] for entry in bundle["entry"]]
    return resources


GOLDEN = golden_resources()


@pytest.fixture(scope="module")
def injected() -> MappedPage:
    return map_page(seed_with(INJECTIONS).encode("utf-8"))


def test_golden_bundles_have_resources() -> None:
    assert len(GOLDEN) > 2


@pytest.mark.parametrize("resource", GOLDEN, ids=[f"{r['resourceType']}/{r['id']}" for r in GOLDEN])
def test_golden_narrative_is_inert_non_empty_xhtml(resource: Resource) -> None:
    root = parse_div(resource)

    assert resource["text"]["status"] in STATUSES, resource["text"]["status"]
    assert text_of(root).strip(), f"{resource['resourceType']}/{resource['id']}: empty div"


def test_injected_page_maps(injected: MappedPage) -> None:
    assert injected.result.resources


def test_every_injected_narrative_is_inert_xhtml(injected: MappedPage) -> None:
    for resource in injected.result.resources:
        parse_div(resource)


def test_injected_markup_is_text_in_the_plan_narrative(injected: MappedPage) -> None:
    (pd,) = [r for r in injected.result.resources if r["resourceType"] == "PlanDefinition"]
    root = parse_div(pd)

    assert text_of(root).count(PAYLOAD) == len(INJECTIONS), (
        f"each injection should show as text once: {pd['text']['div']}"
    )
    assert "<script>" not in pd["text"]["div"], "markup reached the div unescaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pd["text"]["div"]
    assert "&amp; more" in pd["text"]["div"]


def test_injected_markup_is_text_in_the_activity_narrative(injected: MappedPage) -> None:
    """The growth-factors bullet names no coded concept: its words are the activity's code.
    (A drug's or a procedure's activity is named from the tables, the same on every page.)"""
    shown = [
        r
        for r in injected.result.resources
        if r["resourceType"] == "ActivityDefinition" and PAYLOAD in text_of(parse_div(r))
    ]
    assert shown, "no ActivityDefinition narrative shows the injected bullet's words"


@pytest.mark.parametrize("char", ["\x0c", "\x0b", "\x1b"], ids=["form-feed", "vtab", "esc"])
def test_control_characters_never_make_a_div_ill_formed(char: str) -> None:
    page = seed_with(
        (
            (
                "while limiting harm to normal cells.\n",
                f"while limiting harm to normal cells. Page{char}break.\n",
            ),
        )
    )
    try:
        mapped = map_page(page.encode("utf-8"))
    except PageError:
        return  # refusing the page, at its line, is fine too
    for resource in mapped.result.resources:
        parse_div(resource)
