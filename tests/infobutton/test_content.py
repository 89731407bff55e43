"""Content the fixtures do not have, loaded beside them into a private store: a phase with
no ``purpose`` and Markdown with raw HTML in its ``description``, a phase in French, a phase
with no publisher and no words beyond its title, and a Medication with no artifact URL that
no phase gives. Each is derived from a fixture resource, so it is as valid as they are.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
from flask import Flask

from . import expected
from .support import ICD10CM, LANGUAGE, RXNORM, TYPE, criteria, get, read_atom, read_json

Resource = dict[str, Any]


def _phase(new_id: str, **changes: Any) -> Resource:
    phase = copy.deepcopy(expected.PHASES["all-maintenance"])
    phase.pop("text", None)
    phase.update(id=new_id, url=phase["url"].replace("all-maintenance", new_id), **changes)
    phase["name"] = "".join(word.capitalize() for word in new_id.split("-"))
    for key, value in changes.items():
        if value is None:
            del phase[key]
    return phase


def _without_words(phase: Resource) -> Resource:
    for key in ("purpose", "description", "publisher"):
        del phase[key]
    return phase


EXTRA: list[Resource] = [
    _phase(
        "zz-markdown",
        title="A <b>test</b> phase & more",
        purpose=None,
        description="Intro with *emphasis* and <script>alert(1)</script>.\n\nSecond paragraph.",
    ),
    _phase("zz-french", title="Traitement d'entretien", language="fr"),
    _without_words(_phase("zz-bare", title="Bare phase")),
    {
        "resourceType": "Medication",
        "id": "zz-methotrexate-copy",
        "language": "en",
        "code": {
            "coding": [{"system": expected.RXNORM_URI, "code": "6851", "display": "methotrexate"}],
            "text": "Methotrexate (copy)",
        },
        "status": "active",
    },
]


@pytest.fixture
def extended(writable_app: Flask, tmp_path: Path) -> Flask:
    for number, resource in enumerate(EXTRA):
        path = tmp_path / f"extra-{number}.json"
        path.write_text(json.dumps(resource), encoding="utf-8")
    result = writable_app.test_cli_runner().invoke(args=["load", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return writable_app


def _summary_html(feed_entry: dict[str, Any]) -> lxml.html.HtmlElement:
    kind, markup = feed_entry["summary"]
    assert kind == "html"
    return lxml.html.fragment_fromstring(markup, create_parent="div")


def _entry(feed: Any, path: str) -> dict[str, Any]:
    (found,) = [e for e, p in zip(feed.entries, feed.resource_paths(), strict=True) if p == path]
    return dict(found)


def test_a_phase_without_purpose_is_summarised_by_its_first_paragraph(extended: Flask) -> None:
    client = extended.test_client()
    feed = read_atom(get(client, criteria(ICD10CM, "C91.0")).data)
    summary = _summary_html(_entry(feed, "PlanDefinition/zz-markdown"))
    assert [e.text for e in summary.iter("em")] == ["emphasis"]
    assert not list(summary.iter("script"))
    assert summary.text_content() == "Intro with emphasis and <script>alert(1)</script>."
    assert "Second paragraph" not in summary.text_content()


def test_markup_in_a_title_stays_text(extended: Flask) -> None:
    client = extended.test_client()
    response = get(client, criteria(ICD10CM, "C91.0"))
    parsed = feedparser.parse(response.data)
    assert "A <b>test</b> phase & more" in [e.title for e in parsed.entries]
    assert read_atom(response.data).titles[0] == "A <b>test</b> phase & more"


def test_a_phase_with_no_words_is_summarised_by_its_title_and_has_no_author(
    extended: Flask,
) -> None:
    feed = read_json(
        get(extended.test_client(), [*criteria(ICD10CM, "C91.0"), (TYPE, "application/json")]).data
    )
    bare = _entry(feed, "PlanDefinition/zz-bare")
    assert bare["summary"] == ("html", "Bare phase")
    assert bare["author"] is None


@pytest.mark.parametrize(
    ("tag", "phases"),
    [
        ("en", {"all-induction", "all-maintenance", "zz-markdown", "zz-bare"}),
        ("fr-CA", {"zz-french"}),
        ("es", set()),
    ],
)
def test_content_is_chosen_by_its_own_language(extended: Flask, tag: str, phases: set[str]) -> None:
    client = extended.test_client()
    feed = read_atom(get(client, criteria(ICD10CM, "C91.0", (LANGUAGE, tag))).data)
    assert {p.removeprefix("PlanDefinition/") for p in feed.resource_paths()} == phases


def test_a_french_phase_giving_an_english_medication_answers_a_french_drug_request(
    extended: Flask,
) -> None:
    assert "all-maintenance" in expected.phases_giving({"methotrexate"})  # so zz-french does
    client = extended.test_client()
    feed = read_atom(get(client, criteria(RXNORM, "6851", (LANGUAGE, "fr"))).data)
    assert feed.resource_paths() == ["PlanDefinition/zz-french"]


def test_medications_sharing_a_code_are_each_listed_once_in_reading_order(
    extended: Flask,
) -> None:
    client = extended.test_client()
    feed = read_atom(get(client, criteria(RXNORM, "6851")).data)
    paths = feed.resource_paths()
    assert paths[:2] == ["Medication/methotrexate", "Medication/zz-methotrexate-copy"]
    assert len(paths) == len(set(paths))
    copy_entry = _entry(feed, "Medication/zz-methotrexate-copy")
    # no artifact-url extension: the id is the resource's FHIR URL
    assert copy_entry["id"] == "http://localhost/fhir/Medication/zz-methotrexate-copy"
    # no phase gives it: its summary is its name
    assert copy_entry["summary"] == ("html", "Methotrexate (copy)")
    phase_titles = [t for t, p in zip(feed.titles, paths, strict=True) if "PlanDefinition" in p]
    assert phase_titles == sorted(phase_titles, key=str.casefold)
    assert "PlanDefinition/zz-french" not in paths
