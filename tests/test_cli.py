"""The ``map`` command, driven through Flask's CLI test runner.

Contract: a good page prints the Bundle (or, with ``--content``, the middle format) on stdout
and exits 0; a bad page prints exactly one ``FILE:LINE: message`` line on stderr, nothing on
stdout, and exits non-zero, never with a traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from flask import Flask

from service import ConfigError, create_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAGES = FIXTURES / "pages"
STEMS = ("all-induction", "all-maintenance")


@pytest.fixture(autouse=True)
def _no_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app() reads FLASK_* variables; the expected output assumes the defaults."""
    for name in ("FLASK_CANONICAL_BASE", "FLASK_ARTIFACT_VERSION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})


def run_map(app: Flask, *args: str) -> Result:
    """``map ARGS`` through the app's CLI test runner.

    The app context is pushed here because service/cli.py's command needs one and does not
    push it itself (see test_map_runs_under_the_test_runner_without_a_pushed_app_context).
    Pushing it is harmless once the command does.
    """
    with app.app_context():
        return app.test_cli_runner().invoke(args=["map", *args])


def describe(result: Result) -> str:
    return (
        f"exit code {result.exit_code}, exception {result.exception!r}\n"
        f"--- stdout ---\n{result.stdout[:2000]}\n--- stderr ---\n{result.stderr}"
    )


def assert_success(result: Result) -> None:
    assert result.exit_code == 0, describe(result)
    assert result.exception is None, describe(result)


def golden(stem: str) -> Any:
    return json.loads((FIXTURES / "fhir" / f"{stem}.json").read_text(encoding="utf-8"))


def golden_content(stem: str) -> Any:
    return yaml.safe_load((FIXTURES / "content" / f"{stem}.yaml").read_text(encoding="utf-8"))


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a JSON-shaped value, at any depth."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield key, child
            yield from walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child)


# -- good pages ------------------------------------------------------------------------


@pytest.mark.parametrize("stem", STEMS)
def test_map_prints_the_golden_bundle(app: Flask, stem: str) -> None:
    result = run_map(app, str(PAGES / f"{stem}.txt"))

    assert_success(result)
    assert result.stderr == "", "a seed page maps without warnings"
    bundle = json.loads(result.stdout)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert bundle == golden(stem), f"stdout differs from fixtures/fhir/{stem}.json"


@pytest.mark.parametrize("stem", STEMS)
def test_map_content_prints_the_golden_middle_format_as_yaml(app: Flask, stem: str) -> None:
    result = run_map(app, "--content", str(PAGES / f"{stem}.txt"))

    assert_success(result)
    assert yaml.safe_load(result.stdout) == golden_content(stem)


@pytest.mark.parametrize("stem", STEMS)
def test_map_content_prints_the_golden_middle_format_as_json(app: Flask, stem: str) -> None:
    result = run_map(app, "--content", "--format", "json", str(PAGES / f"{stem}.txt"))

    assert_success(result)
    assert json.loads(result.stdout) == golden_content(stem)


def test_canonical_base_and_version_come_from_the_app_config(tmp_path: Path) -> None:
    app = create_app(
        {
            "CANONICAL_BASE": "https://example.net/fhir",
            "ARTIFACT_VERSION": "2.0.0",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )

    result = run_map(app, str(PAGES / "all-induction.txt"))

    assert_success(result)
    bundle = json.loads(result.stdout)
    resources = [entry["resource"] for entry in bundle["entry"]]
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("https://example.net/fhir/"), entry["fullUrl"]
    urls = [r["url"] for r in resources if "url" in r]
    # Medication is not a canonical resource in R4; it carries its url in an extension.
    urls += [
        ext["valueUri"]
        for r in resources
        for ext in r.get("extension", [])
        if ext["url"] == "http://hl7.org/fhir/StructureDefinition/artifact-url"
    ]
    assert len(urls) == len(resources), "every resource has a url or an artifact-url extension"
    for url in urls:
        assert url.startswith("https://example.net/fhir/"), url
    canonicals = [v for k, v in walk(resources) if k == "definitionCanonical"]
    assert canonicals, "the PlanDefinition references its ActivityDefinitions"
    for canonical in canonicals:
        assert canonical.startswith("https://example.net/fhir/"), canonical
        assert canonical.endswith("|2.0.0"), canonical
    assert "https://fhir.example.org/ped" not in result.stdout, "the default base leaked"


# -- bad input -------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    """A file to write (None: do not create it), the line the error must name and a word
    the message must contain."""

    data: bytes | None
    line: Callable[[bytes], int] | int
    says: str


def _seed(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def _first_lines(data: bytes, n: int) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:n])


def _without_review_line(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    return b"".join(line for line in lines if not line.startswith(b"Last medical review:"))


def _within_file_on_a_filled_line(data: bytes) -> Callable[[int], bool]:
    lines = data.decode().split("\n")
    return lambda n: 1 <= n <= len(lines) and bool(lines[n - 1].strip())


BAD_INPUTS: dict[str, BadInput] = {
    "empty": BadInput(b"", 1, "empty"),
    "whitespace-only": BadInput(b"  \n\t\n   \r\n\n  ", 1, "empty"),
    "nul-bytes": BadInput(
        b"Some title\nLast medical review:\n\x00\x01\x02\x00binary\n", 3, "binary"
    ),
    "invalid-utf8": BadInput(
        b"Some title\nLast medical review:\n\nA paragraph with \xff\xfe in it.\n", 4, "UTF-8"
    ),
    "title-only": BadInput(b"Induction treatments for acute myeloid leukemia\n", 1, "truncated"),
    "nonexistent": BadInput(None, 0, "cannot read"),
}
TRUNCATED = ("all-induction.txt", "all-maintenance.txt")


def assert_one_error_line(result: Result, path: str) -> int:
    """The failure contract; returns the line number the message names."""
    assert result.exit_code != 0, describe(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), describe(result)
    assert result.stdout == "", describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, describe(result)
    match = re.fullmatch(rf"{re.escape(path)}:(\d+): (\S.*)\n", result.stderr)
    assert match is not None, f"not 'FILE:LINE: message': {result.stderr!r}"
    assert not match[2].startswith("Error:"), result.stderr
    return int(match[1])


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_error_line_naming_the_line(
    app: Flask, tmp_path: Path, case: BadInput
) -> None:
    path = tmp_path / "page.txt"
    if case.data is not None:
        path.write_bytes(case.data)

    result = run_map(app, str(path))

    line = assert_one_error_line(result, str(path))
    expected = case.line(case.data or b"") if callable(case.line) else case.line
    assert line == expected, f"wrong line in {result.stderr!r}"
    assert case.says.casefold() in result.stderr.casefold(), result.stderr


@pytest.mark.parametrize("seed", TRUNCATED)
def test_truncated_page_is_one_error_line_within_the_file(
    app: Flask, tmp_path: Path, seed: str
) -> None:
    data = _first_lines(_seed(seed), 40)
    path = tmp_path / seed
    path.write_bytes(data)

    result = run_map(app, str(path))

    line = assert_one_error_line(result, str(path))
    assert _within_file_on_a_filled_line(data)(line), (
        f"line {line} is not a non-blank line of the 40-line file: {result.stderr!r}"
    )
    assert "truncated" in result.stderr, result.stderr


def test_error_names_the_path_as_given_not_resolved(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "empty.txt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)

    result = run_map(app, "pages/../pages/empty.txt")

    assert assert_one_error_line(result, "pages/../pages/empty.txt") == 1


def test_map_runs_under_the_test_runner_without_a_pushed_app_context(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["map", str(PAGES / "all-induction.txt")])

    assert_success(result)
    assert json.loads(result.stdout) == golden("all-induction")


def test_a_directory_is_one_error_line(app: Flask, tmp_path: Path) -> None:
    result = run_map(app, str(tmp_path))
    assert assert_one_error_line(result, str(tmp_path)) == 0
    assert "cannot read" in result.stderr


def test_a_control_character_is_refused_at_its_line(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(b"Some title\nLast medical review:\n\nA paragraph with \x1b in it.\n")
    result = run_map(app, str(path))
    assert assert_one_error_line(result, str(path)) == 4
    assert "control character U+001B" in result.stderr


def test_a_bad_canonical_base_stops_the_app_before_any_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^CANONICAL_BASE='https://example.net/fhir/': "):
        create_app(
            {
                "TESTING": True,
                "CANONICAL_BASE": "https://example.net/fhir/",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            }
        )


def test_map_opens_no_database(app: Flask, tmp_path: Path) -> None:
    result = run_map(app, str(PAGES / "all-induction.txt"))
    assert_success(result)
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == [], "no database file was made"


def test_map_of_a_page_with_a_bidi_control_is_one_line_naming_its_line(app: Flask) -> None:
    # map read the page without the write path's checks and printed the reversed text.
    page = ROOT / "tests" / "hostile" / "bidi.txt"
    result = run_map(app, str(page))
    assert result.exit_code != 0, describe(result)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert re.fullmatch(rf"{re.escape(str(page))}:\d+: a bidirectional control .*", line), line


# -- the commands as a shell runs them ---------------------------------------------------

ROOT = FIXTURES.parent
FLASK = Path(sys.executable).parent / "flask"


def flask(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``flask --app wsgi ARGS`` in a process of its own, over a database in ``tmp_path``
    unless ``env`` names one, with no other FLASK_ setting from the caller's environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    environ["FLASK_DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    environ.update(env)
    return subprocess.run(
        [str(FLASK), "--app", "wsgi", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert done.returncode != 0, done
    assert done.stdout == "", done.stdout[:500]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.fullmatch(pattern, done.stderr.rstrip("\n")), done.stderr


def test_map_in_a_shell_prints_its_bundle_and_nothing_else(tmp_path: Path) -> None:
    """Before: it made and migrated a database and wrote four JSON log lines to stderr."""
    done = flask(tmp_path, "map", str(PAGES / "all-induction.txt"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == golden("all-induction")
    assert list(tmp_path.iterdir()) == [], "no database file was made"


@pytest.mark.parametrize(
    ("name", "value"),
    [("CACHE_MAX_AGE", "abc"), ("DATABASE_MIGRATE", "sometimes"), ("CANONICAL_BASE", "x")],
)
def test_a_bad_setting_is_one_line_in_a_shell(tmp_path: Path, name: str, value: str) -> None:
    done = flask(tmp_path, "map", str(PAGES / "all-induction.txt"), **{f"FLASK_{name}": value})
    assert_one_line(done, rf"configuration: FLASK_{name}={re.escape(repr(value))}: expected .+")
    assert list(tmp_path.iterdir()) == []


def test_load_into_a_new_database_prints_its_summary_only(tmp_path: Path) -> None:
    """Before: the migration's four JSON log lines came first."""
    done = flask(tmp_path, "load", str(PAGES / "all-induction.txt"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("loaded 1 files: "), done.stdout


@pytest.mark.parametrize(
    "command", [["load", str(PAGES / "all-induction.txt")], ["export", "--out", "OUT"], ["migrate"]]
)
def test_the_database_away_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """A SQLite file in a folder that is not there; before, ``load`` also logged a JSON
    warning when the app started."""
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    away = f"sqlite:///{tmp_path / 'not-there' / 'db.sqlite3'}"
    done = flask(tmp_path, *args, FLASK_DATABASE_URL=away)
    assert_one_line(done, r"(Error: )?database: .+")


def test_a_schema_behind_is_one_line_naming_flask_migrate(tmp_path: Path) -> None:
    page = str(PAGES / "all-induction.txt")
    done = flask(tmp_path, "load", page, FLASK_DATABASE_MIGRATE="false")
    assert_one_line(done, r"database: the database schema is behind .*flask --app wsgi migrate.*")
    done = flask(tmp_path, "migrate", FLASK_DATABASE_MIGRATE="false")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert flask(tmp_path, "load", page, FLASK_DATABASE_MIGRATE="false").returncode == 0


def test_a_name_too_long_is_one_line(app: Flask) -> None:
    """``Path.is_dir`` raises for a name longer than the system allows: a traceback before."""
    name = "x" * 5000
    with app.app_context():
        for args in (["load", name], ["map", "--report", name]):
            result = app.test_cli_runner().invoke(args=args)
            assert_one_error_line(result, name)


def test_a_page_without_its_review_line_maps_to_the_same_plan(app: Flask, tmp_path: Path) -> None:
    page = tmp_path / "no-review.txt"
    page.write_bytes(_without_review_line(_seed("all-induction.txt")))
    result = run_map(app, str(page))
    assert_success(result)
    plan = json.loads(result.stdout)["entry"][0]["resource"]
    assert plan["action"] == golden("all-induction")["entry"][0]["resource"]["action"]
