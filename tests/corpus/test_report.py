"""The reading report (``flask --app wsgi map --report PAGE|FOLDER``): what a content
reviewer reads before loading a page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from mappings.content.report import Totals, totals
from mappings.source import BulletList, read_page
from service import create_app

from .oracle import ALL, TUNED, mapped
from .oracle import page_id as _id


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    db = tmp_path_factory.mktemp("report") / "db.sqlite3"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{db}"})


def report(app: Flask, path: Path) -> str:
    result = app.test_cli_runner().invoke(args=["map", "--report", str(path)])
    assert result.exit_code == 0, result.output
    return result.stdout


def _statement_lines(path: Path) -> set[int]:
    page = read_page(path.read_bytes())
    lines = {page.title_line}
    for block in [*page.intro, *(b for s in page.sections for b in s.blocks)]:
        if isinstance(block, BulletList):
            stack = list(block.items)
            while stack:
                bullet = stack.pop()
                stack.extend(bullet.children)
                lines.add(bullet.line)
        else:
            lines.add(block.line)
    lines |= {s.line for s in page.sections if s.heading}
    return lines


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_every_statement_of_the_page_is_reported_with_its_line(app: Flask, path: Path) -> None:
    text = report(app, path)
    reported = {int(m[1]) for m in re.finditer(r"^\s*(\d+)  ", text, re.MULTILINE)}
    missing = sorted(_statement_lines(path) - reported)
    assert not missing, f"lines not in the report: {missing}"
    for statement in mapped(path).reading.statements:
        assert statement.became, statement


@pytest.mark.parametrize("path", TUNED[:3], ids=_id)
def test_the_totals_are_the_readings_own(app: Flask, path: Path) -> None:
    text = report(app, path)
    t = totals(mapped(path).reading)
    assert (
        f"totals: {t.statements} statements: {t.structured} structured, {t.kept_as_text} kept "
        f"as text; {t.mentions} drug mentions: {t.medications} -> Medications, {t.warned} -> "
        f"warnings; {t.warnings} warnings"
    ) in text
    for warning in mapped(path).reading.content.warnings:
        assert f"  {warning}\n" in text
    assert t.structured + t.kept_as_text == t.statements
    assert t.medications + t.warned == t.mentions


def test_a_folder_gives_one_line_a_page_and_the_sum(app: Flask) -> None:
    folder = TUNED[0].parent
    text = report(app, folder)
    lines = text.splitlines()
    assert len(lines) == len(TUNED) + 1
    total = sum((totals(mapped(p).reading) for p in TUNED), Totals())
    assert lines[-1].startswith(f"{len(TUNED)} pages. totals: {total.statements} statements")


def test_a_bad_page_is_one_line(app: Flask, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Only a title\n", "utf-8")
    result = app.test_cli_runner().invoke(args=["map", "--report", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(f"{bad}:1: ")
