"""The reading view, served by the app over a store loaded with fixtures/.

Expectations are computed from the golden FHIR bundles (fixtures/fhir), never from the
renderer: every piece of text a phase holds must be on its page, every drug it gives must
be linked, and nothing on the page may be markup the content smuggled in.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mappings.pipeline import map_page
from mappings.rules.config import MappingConfig
from service.education import reading, wording
from service.storage import open_store
from service.store import StoreUnavailable
from tests.conftest import FIXTURES, PAGE_IDS, golden_bundle, resources

from ..support.servers import make_app

PHASES = {
    r["id"]: r
    for stem in PAGE_IDS
    for r in resources(golden_bundle(stem))
    if r["resourceType"] == "PlanDefinition"
}
BY_URL = {
    f"{r['url']}|{r['version']}": r
    for stem in PAGE_IDS
    for r in resources(golden_bundle(stem))
    if r["resourceType"] == "ActivityDefinition"
}
MEDICATIONS = {
    r["id"]: r
    for stem in PAGE_IDS
    for r in resources(golden_bundle(stem))
    if r["resourceType"] == "Medication"
}


def _text(html: bytes) -> str:
    document = lxml.html.fromstring(html)
    return " ".join(document.body.text_content().split())


def _flat(text: str) -> str:
    return " ".join(text.split())


def _actions(actions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for action in actions:
        yield action
        yield from _actions(action.get("action", []))


def _statements(plan: Mapping[str, Any]) -> Iterator[str]:
    """Every piece of reader-facing text a PlanDefinition holds."""
    yield plan["title"]
    if plan.get("subtitle"):
        yield plan["subtitle"]
    yield from (g["description"]["text"] for g in plan.get("goal", []))
    yield from plan.get("description", "").split("\n\n")
    for action in _actions(plan.get("action", [])):
        for key in ("title", "textEquivalent"):
            if action.get(key):
                yield action[key]
        yield from action.get("description", "").split("\n\n")
        yield from (d["display"] for d in action.get("documentation", []))
        yield from (c["expression"]["description"] for c in action.get("condition", []))
    yield from (r["name"] for r in plan.get("reviewer", []))
    yield from (a["citation"] for a in plan.get("relatedArtifact", []) if a.get("citation"))
    for extension in plan.get("extension", []):
        if "valueMarkdown" in extension:
            yield from extension["valueMarkdown"].split("\n\n")
    yield plan["copyright"]
    yield plan["publisher"]
    yield from (t["value"] for c in plan.get("contact", []) for t in c.get("telecom", []))


def _drugs(plan: Mapping[str, Any]) -> set[str]:
    """Medication ids the phase gives, through its ActivityDefinitions."""
    found = set()
    for action in _actions(plan.get("action", [])):
        activity = BY_URL.get(action.get("definitionCanonical", ""))
        reference = (activity or {}).get("productReference", {}).get("reference", "")
        if reference.startswith("Medication/"):
            found.add(reference.removeprefix("Medication/"))
    return found


@pytest.fixture(params=sorted(PHASES))
def phase_id(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_a_phase_page_holds_every_statement_of_its_plan(client: FlaskClient, phase_id: str) -> None:
    response = client.get(f"/education/PlanDefinition/{phase_id}")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    text = _text(response.data)
    missing = [s for s in map(_flat, _statements(PHASES[phase_id])) if s and s not in text]
    assert missing == []


def test_a_phase_page_links_every_drug_it_gives(client: FlaskClient, phase_id: str) -> None:
    document = lxml.html.fromstring(client.get(f"/education/PlanDefinition/{phase_id}").data)
    linked = {
        href.removeprefix("/education/Medication/")
        for href in document.xpath("//main//a/@href")
        if href.startswith("/education/Medication/")
    }
    assert linked == _drugs(PHASES[phase_id])
    for medication_id in linked:  # each with its name as the content writes it (brand too)
        name = MEDICATIONS[medication_id]["code"]["text"]
        generic = name.split(" (")[0]
        texts = document.xpath(f'//a[@href="/education/Medication/{medication_id}"]/text()')
        assert any(t in (name, generic) for t in texts), (medication_id, texts)


def test_a_phase_page_is_one_document_with_sections_in_order(
    client: FlaskClient, phase_id: str
) -> None:
    plan = PHASES[phase_id]
    document = lxml.html.fromstring(client.get(f"/education/PlanDefinition/{phase_id}").data)
    assert document.get("lang") == plan["language"]
    assert [h.text_content() for h in document.xpath("//h1")] == [plan["title"]]
    sections = [a["title"] for a in plan["action"][0]["action"]]
    headings = [h.text_content() for h in document.xpath("//main//section/h2")]
    assert headings[: len(sections)] == sections
    levels = [int(h.tag[1]) for h in document.xpath("//h1|//h2|//h3|//h4|//h5|//h6")]
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    assert document.xpath("//script|//link[@rel='stylesheet']|//img|//iframe") == []


def test_option_groups_read_by_how_their_options_are_chosen(client: FlaskClient) -> None:
    plan = PHASES["all-induction"]
    text = _text(client.get("/education/PlanDefinition/all-induction").data)
    untitled = [
        a
        for a in _actions(plan["action"])
        if a.get("action") and a.get("textEquivalent") and a.get("selectionBehavior")
    ]
    assert untitled
    for group in untitled:
        exhaustive = all(e.get("valueBoolean") is not False for e in group.get("extension", []))
        phrase = wording.choice_phrase(group["selectionBehavior"], exhaustive)
        assert phrase is not None
        first_option = group["action"][0]["textEquivalent"]
        # The option's words, then (after any notes) how its options are chosen, then them.
        at = text.index(_flat(group["textEquivalent"]))
        at = text.index(phrase, at)
        assert text.index(first_option, at) - at < 200, (phrase, first_option)


def test_phase_facts_come_from_goal_and_timing(client: FlaskClient) -> None:
    document = lxml.html.fromstring(client.get("/education/PlanDefinition/all-maintenance").data)
    facts = dict(
        zip(
            document.xpath("//dl[@class='facts']/dt/text()"),
            document.xpath("//dl[@class='facts']/dd/text()"),
            strict=True,
        )
    )
    assert facts["How long"] == "about 2 to 3 years"
    assert facts["Goal"] == PHASES["all-maintenance"]["goal"][0]["description"]["text"]


def test_conditions_and_order_are_shown_where_the_plan_has_them(client: FlaskClient) -> None:
    text = _text(client.get("/education/PlanDefinition/all-induction").data)
    assert "When this applies: if the leukemia cells have the Philadelphia chromosome" in text
    assert "Order: after imatinib" in text


def test_the_drug_page_lists_every_phase_and_activity_that_gives_it(client: FlaskClient) -> None:
    for medication_id in sorted(MEDICATIONS):
        response = client.get(f"/education/Medication/{medication_id}")
        assert response.status_code == 200
        document = lxml.html.fromstring(response.data)
        assert (
            document.xpath("//h1")[0].text_content() == MEDICATIONS[medication_id]["code"]["text"]
        )
        expected = {phase_id for phase_id, plan in PHASES.items() if medication_id in _drugs(plan)}
        linked = {
            h.removeprefix("/education/PlanDefinition/")
            for h in document.xpath("//main//h3/a/@href")
        }
        assert linked == expected, medication_id
        text = _text(response.data)
        for activity in BY_URL.values():
            if (
                activity.get("productReference", {}).get("reference")
                == f"Medication/{medication_id}"
            ):
                assert activity["title"] in text


def test_the_index_lists_every_phase_under_its_disease(client: FlaskClient) -> None:
    document = lxml.html.fromstring(client.get("/education/").data)
    for phase_id, plan in PHASES.items():
        disease = reading.disease(plan)
        assert disease is not None
        link = document.xpath(f'//a[@href="/education/PlanDefinition/{phase_id}"]')
        assert len(link) == 1
        heading = link[0].xpath("ancestor::section[1]/h2")[0].text_content()
        assert heading.lower() == disease.lower()
    drugs = {h.rsplit("/", 1)[1] for h in document.xpath("//a/@href") if "/Medication/" in h}
    assert drugs == set(MEDICATIONS)


def test_pages_are_cacheable_and_revalidate(client: FlaskClient) -> None:
    first = client.get("/education/PlanDefinition/all-induction")
    assert first.headers["ETag"].startswith('W/"')
    assert "max-age=300" in first.headers["Cache-Control"]
    again = client.get(
        "/education/PlanDefinition/all-induction", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.data == b""


def test_a_new_version_of_a_drug_changes_the_phase_etag(writable_app: Flask) -> None:
    client = writable_app.test_client()
    before = client.get("/education/PlanDefinition/all-maintenance").headers["ETag"]
    medication = dict(MEDICATIONS["mercaptopurine"], status="inactive")
    writable_app.extensions["ped.store"].put([medication])
    assert client.get("/education/PlanDefinition/all-maintenance").headers["ETag"] != before


def test_the_policy_allows_the_inline_stylesheet_and_nothing_else(client: FlaskClient) -> None:
    response = client.get("/education/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # falls back to default-src 'none'
    style = lxml.html.fromstring(response.data).xpath("//style/text()")[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_content_markup_is_text_not_html(writable_app: Flask) -> None:
    client = writable_app.test_client()
    plan = json.loads(json.dumps(PHASES["all-induction"]))
    plan["title"] = "<script>alert(1)</script> plan"
    plan["description"] = 'Raw <img src="x" onerror="alert(2)"> and [a link](javascript:alert(3))'
    plan["action"][0]["action"][0]["action"][0]["action"][0]["textEquivalent"] = "<b>bold</b>"
    writable_app.extensions["ped.store"].put([plan])
    response = client.get("/education/PlanDefinition/all-induction")
    document = lxml.html.fromstring(response.data)
    assert document.xpath("//script|//img|//main//b") == []
    assert document.xpath("//h1")[0].text_content() == "<script>alert(1)</script> plan"
    assert not any(h.startswith("javascript:") for h in document.xpath("//a/@href"))
    assert "<b>bold</b>" in _text(response.data)


@pytest.mark.parametrize(
    "path",
    [
        "/education/PlanDefinition/no-such-phase",
        "/education/Medication/no-such-drug",
        "/education/Patient/1",
        "/education/PlanDefinition/all-induction/extra",
    ],
)
def test_unknown_pages_are_html_404s(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.content_type == "text/html; charset=utf-8"
    assert lxml.html.fromstring(response.data).xpath("//h1/text()") == ["Not Found"]


def test_a_lost_database_is_an_html_503(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    store = app.extensions["ped.store"]

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(store, "read", down)
    response = app.test_client().get("/education/PlanDefinition/all-induction")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.content_type == "text/html; charset=utf-8"


def test_an_empty_store_has_an_index_that_says_so(tmp_path: Any) -> None:
    client = make_app(tmp_path / "empty.sqlite3").test_client()
    response = client.get("/education/")
    assert response.status_code == 200
    assert "No treatment phases are loaded." in _text(response.data)


@pytest.mark.parametrize(
    ("timing", "words"),
    [
        ({"repeat": {"boundsDuration": {"value": 1, "system": "http://unitsofmeasure.org",
                                        "code": "mo"}}}, "1 month"),
        ({"repeat": {"boundsDuration": {"value": 6, "system": "http://unitsofmeasure.org",
                                        "code": "wk"}}}, "6 weeks"),
        ({"repeat": {"boundsDuration": {"value": 1.5, "unit": "cycles"}}}, "1.5 cycles"),
        ({"repeat": {"boundsRange": {"high": {"value": 3, "system": "http://unitsofmeasure.org",
                                              "code": "a"}}}}, "up to 3 years"),
        ({"repeat": {"boundsRange": {"low": {"value": 2, "system": "http://unitsofmeasure.org",
                                             "code": "d"}}}}, "at least 2 days"),
        ({"repeat": {}}, None),
        (None, None),
    ],
)  # fmt: skip
def test_durations_read_as_words(timing: dict[str, Any] | None, words: str | None) -> None:
    assert wording.duration(timing) == words


def test_every_selection_behavior_has_a_phrase() -> None:
    # R4 action-selection-behavior: each code reads as a lead-in, a non-exhaustive group
    # says its options are examples.
    codes = ["any", "all", "all-or-none", "exactly-one", "at-most-one", "one-or-more"]
    phrases = [wording.choice_phrase(c) for c in codes]
    assert all(phrases) and len(set(phrases)) == len(codes)
    open_group = wording.choice_phrase("exactly-one", exhaustive=False)
    assert "(examples)" in str(open_group)
    assert re.search("choose one", str(open_group))


def test_our_extensions_are_read_under_the_configured_canonical_base(tmp_path: Any) -> None:
    # Content mapped under another deployment's base keeps its disclaimer and its
    # "such as" lists when the service is configured with that base.
    base = "https://content.example.net/fhir"
    bundle = map_page((FIXTURES / "pages" / "all-induction.txt").read_bytes(),
                      MappingConfig(base=base)).bundle  # fmt: skip
    app = make_app(tmp_path / "other.sqlite3", CANONICAL_BASE=base)
    with app.app_context():  # the store is opened (migrated) on first use
        open_store().put([e["resource"] for e in bundle["entry"]])
    text = _text(app.test_client().get("/education/PlanDefinition/all-induction").data)
    plan = PHASES["all-induction"]
    disclaimer = next(e["valueMarkdown"] for e in plan["extension"] if "valueMarkdown" in e)
    assert _flat(disclaimer.split("\n\n")[0]) in text
    assert "Your team will choose one of these (examples):" in text
