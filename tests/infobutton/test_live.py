"""``/infobutton`` served by gunicorn with the project's settings, fetched with urllib: the
way an EHR's Infobutton manager reaches it. One request per format, and one error."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import feedparser
import pytest

from . import expected
from .atom_schema import problems
from .support import ICD10CM, RXNORM, TYPE, criteria, read_atom, read_json, url

ACCEPTANCE = criteria(RXNORM, "6851")


def _fetch(address: str) -> tuple[int, dict[str, str], bytes]:
    origin = {"Origin": "https://ehr.example.org"}
    request = urllib.request.Request(address, headers=origin)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def _phases_and_medications(paths: list[str]) -> tuple[set[str], set[str]]:
    return (
        {p.removeprefix("PlanDefinition/") for p in paths if p.startswith("PlanDefinition/")},
        {p.removeprefix("Medication/") for p in paths if p.startswith("Medication/")},
    )


def test_atom_from_the_live_server(live_site: str) -> None:
    status, headers, body = _fetch(f"{live_site}{url(ACCEPTANCE)}")
    assert status == 200
    assert headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age=" in headers["Cache-Control"]
    assert problems(body) == []
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    feed = read_atom(body)
    assert feed.base == f"{live_site}/"
    assert all(href.startswith(f"{live_site}/") for e in feed.entries for href, _, _ in e["links"])
    phases, medications = _phases_and_medications(feed.resource_paths())
    assert medications == expected.medications_coded("6851") == {"methotrexate"}
    assert phases == expected.phases_giving(medications)
    assert [e.title for e in parsed.entries] == feed.titles


def test_json_from_the_live_server(live_site: str) -> None:
    status, headers, body = _fetch(f"{live_site}{url([*ACCEPTANCE, (TYPE, 'application/json')])}")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    feed = read_json(body)
    phases, medications = _phases_and_medications(feed.resource_paths())
    assert medications == {"methotrexate"}
    assert phases == expected.phases_giving(medications)
    _, _, atom = _fetch(f"{live_site}{url(ACCEPTANCE)}")
    assert read_atom(atom).entries == feed.entries


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_error_from_the_live_server(live_site: str, fmt: str) -> None:
    pairs = criteria(
        ICD10CM, "not-a-code", *([(TYPE, "application/json")] if fmt == "json" else [])
    )
    status, headers, body = _fetch(f"{live_site}{url(pairs)}")
    assert status == 400
    assert headers["Access-Control-Allow-Origin"] == "*"
    if fmt == "json":
        assert headers["Content-Type"].startswith("application/fhir+json")
        assert json.loads(body)["issue"][0]["code"] == "invalid"
    else:
        assert headers["Content-Type"].startswith("application/fhir+xml")
        assert b'<code value="invalid"/>' in body
