"""The whole corpus as one catalogue: loaded at once, in one transaction, into a fresh
store, and shown by the reading view page by page.

Two pages that name one drug differently ("rituximab (Rituxan)" and "rituximab") give one
Medication and one ActivityDefinition: identity comes from what a thing is, the page's
wording stays in its PlanDefinition. A real conflict still fails the whole load.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from service import create_app

from .oracle import TUNED, UNSEEN, mapped

SUMMARY = re.compile(r"loaded (\d+) files: (\d+) resources .*; (\d+) created, (\d+) updated")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    db = tmp_path_factory.mktemp("catalogue") / "db.sqlite3"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{db}"})


def load(app: Flask, *paths: Path) -> Result:
    return app.test_cli_runner().invoke(args=["load", *map(str, paths)])


@pytest.fixture(scope="module")
def loaded(app: Flask) -> Result:
    return load(app, TUNED[0].parent, UNSEEN[0].parent)


def test_the_whole_corpus_loads_in_one_transaction(loaded: Result) -> None:
    assert loaded.exit_code == 0, loaded.output
    summary = SUMMARY.search(loaded.stdout)
    assert summary, loaded.stdout
    files, resources, created, updated = map(int, summary.groups())
    assert files == len(TUNED) + len(UNSEEN)
    assert created == resources and updated == 0


def test_loading_it_again_changes_nothing(app: Flask, loaded: Result) -> None:
    again = load(app, TUNED[0].parent, UNSEEN[0].parent)
    assert again.exit_code == 0, again.output
    assert re.search(r"; 0 created, 0 updated, \d+ unchanged", again.stdout), again.stdout


def test_one_drug_named_with_and_without_its_brand_is_one_medication(
    app: Flask, loaded: Result
) -> None:
    texts = [p.read_text("utf-8") for p in TUNED]
    assert any("rituximab (Rituxan)" in t for t in texts)
    assert any(re.search(r"\brituximab\b(?! \()", t) for t in texts)
    client = app.test_client()
    medication = client.get("/fhir/Medication/rituximab").get_json()
    assert medication["code"]["text"] == "rituximab"
    bundle = client.get("/fhir/Medication?_count=200").get_json()
    assert bundle["total"] <= 200
    named = [
        e["resource"]["id"] for e in bundle["entry"] if "rituximab" in e["resource"]["code"]["text"]
    ]
    assert named == ["rituximab"], named


@pytest.mark.parametrize("path", TUNED + UNSEEN, ids=lambda p: p.stem)
def test_the_reading_view_shows_every_page(app: Flask, loaded: Result, path: Path) -> None:
    plan = mapped(path).page.bundle["entry"][0]["resource"]
    reply = app.test_client().get(f"/education/PlanDefinition/{plan['id']}")
    assert reply.status_code == 200
    html = reply.get_data(as_text=True)
    assert f"<h1>{plan['title']}</h1>" in html or plan["title"] in html


def test_a_real_conflict_still_fails_the_whole_load(tmp_path: Path) -> None:
    """The same phase twice with different words is not a catalogue: nothing is written."""
    page = TUNED[0].read_text("utf-8")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shutil.copy(TUNED[0], first / TUNED[0].name)
    changed = page.replace("\n\n", "\n\nA sentence only this copy has.\n\n", 1)
    (second / TUNED[0].name).write_text(changed, "utf-8")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    result = load(app, first, second)
    assert result.exit_code == 1
    assert "differs" in result.stderr, result.stderr
    assert app.test_client().get("/fhir/PlanDefinition").get_json()["total"] == 0


@pytest.mark.parametrize(
    ("page", "sentence", "target"),
    [
        ("cll-chemotherapy", "Learn more about targeted therapy for CLL.", "cll-targeted-therapy"),
        (
            "myeloma-treatments",
            "Learn more about treatment of relapsed multiple myeloma.",
            "myeloma-older-layout",
        ),
    ],
)
def test_find_out_more_links_to_the_loaded_phase_it_names(
    app: Flask, loaded: Result, page: str, sentence: str, target: str
) -> None:
    """By title, or by topic and disease (the abbreviation as the target page defines it)."""
    plans = {p.stem: mapped(p).page.bundle["entry"][0]["resource"]["id"] for p in TUNED}
    html = app.test_client().get(f"/education/PlanDefinition/{plans[page]}").get_data(True)
    link = f'<a href="/education/PlanDefinition/{plans[target]}">{sentence}</a>'
    assert link in html


def test_find_out_more_never_links_what_the_store_does_not_hold(app: Flask, loaded: Result) -> None:
    """ "Find out more about chemotherapy." names no disease; "clinical trials" is no phase:
    the sentence stays text, and no link leaves the server."""
    for path in TUNED:
        plan = mapped(path).page.bundle["entry"][0]["resource"]["id"]
        html = app.test_client().get(f"/education/PlanDefinition/{plan}").get_data(True)
        for sentence in re.findall(r"(?:Find out|Learn) more about clinical trials\.", html):
            assert f">{sentence}</a>" not in html
        assert not re.search(r'<a href="https?://[^"]*">(?:Find out|Learn) more', html)
