"""Golden files: each page's middle format and FHIR Bundle, compared as parsed data.

Regenerate on purpose only: ``make goldens``, then review the diff.
"""

from __future__ import annotations

import json

import pytest
import yaml

from mappings.content import ContentError, dump, dumps_json, dumps_yaml, loads
from mappings.pipeline import map_phase

from .conftest import FIXTURES, PAGES, golden_bundle, mapped


def test_every_page_has_both_goldens() -> None:
    assert PAGES, "no pages under fixtures/pages"
    for page in PAGES:
        assert (FIXTURES / "content" / f"{page.stem}.yaml").is_file(), page.stem
        assert (FIXTURES / "fhir" / f"{page.stem}.json").is_file(), page.stem


def test_middle_format_matches_golden(stem: str) -> None:
    golden = yaml.safe_load((FIXTURES / "content" / f"{stem}.yaml").read_text("utf-8"))
    assert yaml.safe_load(dumps_yaml(mapped(stem).content)) == golden


def test_bundle_matches_golden(stem: str) -> None:
    # Through JSON text, so tuples/lists and number types compare as a client sees them.
    assert json.loads(json.dumps(mapped(stem).bundle)) == golden_bundle(stem)


def test_golden_middle_format_loads_and_maps_to_the_golden_bundle(stem: str) -> None:
    content = loads((FIXTURES / "content" / f"{stem}.yaml").read_text("utf-8"))
    assert content == mapped(stem).content
    assert json.loads(json.dumps(map_phase(content).bundle)) == golden_bundle(stem)


def test_middle_format_round_trips_through_json(stem: str) -> None:
    content = mapped(stem).content
    assert loads(dumps_json(content)) == content


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(format="other/9"), "format"),
        (lambda d: d["content"].pop("title"), "content.title"),
        (lambda d: d["content"].update(surprise=1), "content.surprise"),
        (lambda d: d["content"]["sections"][0].update(kind=""), "content.sections.0.kind"),
        (
            lambda d: d["content"]["sections"][0]["groups"][0].update(selection="some"),
            "content.sections.0.groups.0.selection",
        ),
        (lambda d: d["content"]["citations"].append({"text": "x", "url": "nope"}), "citations"),
    ],
)
def test_bad_middle_format_is_refused_with_its_location(mutate, where) -> None:  # type: ignore[no-untyped-def]
    data = dump(mapped("all-maintenance").content)
    data = json.loads(json.dumps(data))
    mutate(data)
    with pytest.raises(ContentError) as caught:
        loads(json.dumps(data))
    assert where in str(caught.value)


def test_middle_format_that_is_not_yaml_is_refused_with_a_line() -> None:
    with pytest.raises(ContentError, match=r"^line 3: not valid YAML: found character"):
        loads("format: ped-content/1\ncontent:\n\ttitle: x\n")


def test_a_ped_content_1_document_still_loads_and_maps() -> None:
    """The maintenance golden as the previous format wrote it (one ``brand`` per drug):
    it loads, reads its brand as a list of one, and maps to valid resources."""
    text = (FIXTURES.parent / "tests" / "data" / "ped-content-1-all-maintenance.yaml").read_text()
    assert text.startswith("format: ped-content/1")
    content = loads(text)
    brands = [
        c.drug.brands
        for s in content.sections
        for g in s.groups
        for o in g.options
        for c in o.choices
        if c.drug is not None and c.drug.brands
    ]
    assert brands == [("Purinethol",)]
    assert map_phase(content).result.resources
