"""The ``load`` command: everything mapped and validated first, then one transaction.

Contract: a good load prints one summary line and exits 0; loading the same content again
creates no version; changed content creates one; any bad input prints one
``FILE:LINE: message`` line, exits 1, and leaves the store exactly as it was.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from service import create_app
from service.store import Store
from tests.conftest import FIXTURES, golden_bundle, resources

SUMMARY = re.compile(
    r"loaded (\d+) files: (\d+) resources \((.*)\); "
    r"(\d+) created, (\d+) updated, (\d+) unchanged\n"
)


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})


def load(app: Flask, *paths: Path | str) -> Result:
    return app.test_cli_runner().invoke(args=["load", *map(str, paths)])


def store_of(app: Flask) -> Store:
    store: Store = app.extensions["ped.store"]
    return store


def fixture_resource_count() -> int:
    keys = {
        (r["resourceType"], r["id"])
        for stem in ("all-induction", "all-maintenance")
        for r in resources(golden_bundle(stem))
    }
    return len(keys)


def snapshot(app: Flask) -> list[tuple[str, str, int]]:
    store = store_of(app)
    rows = []
    for resource_type in ("PlanDefinition", "ActivityDefinition", "Medication"):
        page = store.history(resource_type, None, count=200, offset=0)
        rows += [(i.resource_type, i.id, i.version_id) for i in page.items]
    return sorted(rows)


def assert_one_error_line(result: Result, source: str) -> int:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    match = re.match(rf"{re.escape(source)}:(\d+): \S", lines[0])
    assert match, lines[0]
    return int(match.group(1))


def test_loading_fixtures_creates_every_resource_once(app: Flask) -> None:
    result = load(app, FIXTURES)
    assert result.exit_code == 0, result.output
    match = SUMMARY.fullmatch(result.stdout)
    assert match, result.stdout
    files = [p for p in FIXTURES.rglob("*") if p.suffix in (".txt", ".yaml", ".json")]
    assert int(match.group(1)) == len(files)
    total = fixture_resource_count()
    assert (int(match.group(2)), int(match.group(4))) == (total, total)
    assert sum(store_of(app).counts().values()) == total


def test_loading_again_creates_nothing(app: Flask) -> None:
    load(app, FIXTURES)
    before = snapshot(app)
    result = load(app, FIXTURES)
    assert result.exit_code == 0
    match = SUMMARY.fullmatch(result.stdout)
    assert match and match.group(4, 5) == ("0", "0")
    assert snapshot(app) == before


def test_changed_content_creates_one_new_version(app: Flask, tmp_path: Path) -> None:
    load(app, FIXTURES / "pages")
    page = (FIXTURES / "pages" / "all-induction.txt").read_text("utf-8")
    first_sentence = "Induction treatment is also called remission induction therapy."
    assert first_sentence in page
    changed = tmp_path / "all-induction.txt"
    changed.write_text(page.replace(first_sentence, "Induction is the first phase."), "utf-8")
    result = load(app, changed)
    assert result.exit_code == 0, result.output
    match = SUMMARY.fullmatch(result.stdout)
    assert match and match.group(5) == "1"
    stored = store_of(app).read("PlanDefinition", "all-induction")
    assert stored is not None and stored.version_id == 2
    assert "Induction is the first phase." in json.loads(stored.body)["description"]
    old = store_of(app).vread("PlanDefinition", "all-induction", 1)
    assert old is not None and first_sentence in json.loads(old.body)["description"]


def test_pages_content_and_bundles_of_one_phase_agree(app: Flask) -> None:
    """The three forms of a fixture are one set of resources (else the load would fail
    with a conflict naming both files)."""
    result = load(
        app,
        FIXTURES / "pages" / "all-induction.txt",
        FIXTURES / "content" / "all-induction.yaml",
        FIXTURES / "fhir" / "all-induction.json",
    )
    assert result.exit_code == 0, result.output


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, int | None]]:
    """name -> (file, expected line or None if any line is acceptable)."""
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"resourceType": "Bundle",\n "entry": [\n  {,}\n]}', "utf-8")
    patient = tmp_path / "patient.json"
    patient.write_text('{\n"resourceType": "Patient",\n"id": "p1"\n}', "utf-8")
    invalid = tmp_path / "invalid.json"
    medication = next(
        r for r in resources(golden_bundle("all-induction")) if r["resourceType"] == "Medication"
    )
    invalid.write_text(json.dumps({**medication, "status": 42}, indent=1), "utf-8")
    no_id = tmp_path / "noid.json"
    no_id.write_text(json.dumps({k: v for k, v in medication.items() if k != "id"}), "utf-8")
    not_a_page = tmp_path / "notes.txt"
    not_a_page.write_text("just some notes\n", "utf-8")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    content = tmp_path / "content.yaml"
    content.write_text("format: ped-content/1\ncontent: [unclosed\n", "utf-8")
    a_list = tmp_path / "list.yaml"
    a_list.write_text("- just\n- a list\n", "utf-8")
    unknown_suffix = tmp_path / "page.pdf"
    unknown_suffix.write_bytes(b"%PDF")
    delete = tmp_path / "delete.json"
    delete.write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Medication/x"}, "resource": medication},
    ]}, indent=1), "utf-8")  # fmt: skip
    return {
        "a DELETE entry": (delete, 6),
        "invalid JSON": (bad_json, 3),
        "unsupported resource type": (patient, 3),
        "invalid resource": (invalid, None),
        "resource without id": (no_id, None),
        "not a page": (not_a_page, None),
        "binary page": (binary, None),
        "broken YAML": (content, None),
        "not a mapping": (a_list, None),
        "unknown file type": (unknown_suffix, 0),
        "missing file": (tmp_path / "nope.txt", 0),
    }


@pytest.mark.parametrize(
    "case",
    [
        "a DELETE entry",
        "invalid JSON",
        "unsupported resource type",
        "invalid resource",
        "resource without id",
        "not a page",
        "binary page",
        "broken YAML",
        "not a mapping",
        "unknown file type",
        "missing file",
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(app: Flask, tmp_path: Path, case: str) -> None:
    load(app, FIXTURES / "pages" / "all-maintenance.txt")
    before = snapshot(app)
    path, line = _bad_inputs(tmp_path)[case]
    # The bad file comes last, after good ones that would otherwise have been written.
    result = load(app, FIXTURES / "pages" / "all-induction.txt", path)
    got = assert_one_error_line(result, str(path))
    if line is not None:
        assert got == line
    assert "_schema" not in result.stderr
    assert "None" not in result.stderr
    if case == "a DELETE entry":  # what a file takes, and where the rest goes
        assert "DELETE Medication/x" in result.stderr and "POST /fhir" in result.stderr
    assert snapshot(app) == before


def test_two_different_resources_under_one_id_are_a_conflict(app: Flask, tmp_path: Path) -> None:
    bundle = golden_bundle("all-induction")
    changed = json.loads(json.dumps(bundle))
    changed["entry"][0]["resource"]["title"] = "Something else"
    other = tmp_path / "changed.json"
    other.write_text(json.dumps(changed), "utf-8")
    original = tmp_path / "original.json"
    shutil.copyfile(FIXTURES / "fhir" / "all-induction.json", original)
    result = load(app, original, other)
    assert_one_error_line(result, str(other))
    assert str(original) in result.stderr
    assert store_of(app).counts() == {}
