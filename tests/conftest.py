"""Shared fixtures: every page under fixtures/pages, mapped once per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mappings.pipeline import MappedPage, map_page

# The loaded store, the app over it and a live gunicorn, for every test folder.
# Both database backends (SQLite, a real PostgreSQL server) for tests that take
# ``database_url``.
pytest_plugins = ["tests.support.servers", "tests.support.databases"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
PAGES = sorted((FIXTURES / "pages").glob("*.txt"))
PAGE_IDS = [p.stem for p in PAGES]


@cache
def mapped(stem: str) -> MappedPage:
    return map_page((FIXTURES / "pages" / f"{stem}.txt").read_bytes())


def golden_bundle(stem: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "fhir" / f"{stem}.json").read_text("utf-8"))
    return data


def resources(bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in bundle["entry"]:
        yield entry["resource"]


@pytest.fixture(params=PAGE_IDS)
def stem(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value
