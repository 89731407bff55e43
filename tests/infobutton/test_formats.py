"""The reply: Atom that is valid (RFC 4287's RELAX NG and its other rules) and that a real
consumer (feedparser) reads as meant, a JSON mirror that says exactly what the Atom says,
each entry's links, ids, dates and words traced to the stored resource, and the HTTP
headers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from tests.support.servers import make_app

from . import expected
from .atom_schema import problems
from .support import (
    DISPLAY,
    ICD9CM,
    ICD10CM,
    LANGUAGE,
    RXNORM,
    SNOMED,
    TYPE,
    XML_NS,
    criteria,
    get,
    outcome,
    read_atom,
    read_json,
    url,
)

REQUESTS = {
    "icd10cm": criteria(ICD10CM, "C91.00", (DISPLAY, "Acute lymphoblastic leukemia")),
    "snomed": criteria(SNOMED, "91857003"),
    "rxnorm": criteria(RXNORM, "6851"),
    "unknown code": criteria(ICD10CM, "Z99.89"),
    "other system": criteria(ICD9CM, "204.00"),
    "spanish": criteria(RXNORM, "6851", (LANGUAGE, "es")),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_every_feed_is_valid_atom(client: FlaskClient, name: str) -> None:
    response = get(client, REQUESTS[name])
    assert response.status_code == 200
    assert problems(response.data) == []


def test_the_atom_checker_finds_what_is_wrong(client: FlaskClient) -> None:
    """The checker above can fail: each planted fault in a served feed is reported."""
    body = get(client, REQUESTS["rxnorm"]).data
    atom = "{http://www.w3.org/2005/Atom}"
    faults = {
        "no feed id": lambda f: f.remove(f.find(f"{atom}id")),
        "date not RFC 3339": lambda f: setattr(f.find(f"{atom}updated"), "text", "2026-01-01"),
        "entry without alternate link": lambda f: f.find(f"{atom}entry").remove(
            f.find(f"{atom}entry/{atom}link")
        ),
        "relative id": lambda f: setattr(f.find(f"{atom}entry/{atom}id"), "text", "x"),
        "unknown atom element": lambda f: etree.SubElement(f, f"{atom}bogus"),
        "no author anywhere": lambda f: f.remove(f.find(f"{atom}author")),
    }
    for name, plant in faults.items():
        feed = etree.fromstring(body)
        plant(feed)
        found = problems(etree.tostring(feed))
        assert found, name


@pytest.mark.parametrize("name", REQUESTS)
def test_feedparser_reads_the_feed_as_meant(client: FlaskClient, name: str) -> None:
    response = get(client, REQUESTS[name])
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    shown = read_atom(response.data)
    assert parsed.feed.title == shown.title == "Patient education"
    assert parsed.feed.id == shown.id
    assert parsed.feed.subtitle == shown.subtitle
    assert parsed.feed.author_detail.name == shown.author[0]
    assert [(t.scheme, t.term) for t in parsed.feed.tags] == shown.categories
    assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC) == datetime.fromisoformat(
        shown.updated
    ).replace(microsecond=0)
    assert [e.title for e in parsed.entries] == shown.titles
    assert [e.id for e in parsed.entries] == shown.ids
    for entry, mine in zip(parsed.entries, shown.entries, strict=True):
        assert entry.link == shown.link(mine, "alternate")
        assert [(x.href, x.rel, x.type) for x in entry.links] == mine["links"]
        assert entry.summary_detail.type == "text/html"
        assert entry.summary == mine["summary"][1]
        # feedparser does not carry the feed's author down to an entry that has none.
        assert entry.get("author") == (mine["author"][0] if mine["author"] else None)


@pytest.mark.parametrize("name", REQUESTS)
def test_the_json_mirror_says_what_the_atom_says(client: FlaskClient, name: str) -> None:
    atom = read_atom(get(client, REQUESTS[name]).data)
    mirror = read_json(get(client, [*REQUESTS[name], (TYPE, "application/json")]).data)
    empty = not atom.entries
    # An empty feed is dated when it is served; everything else is the same.
    assert (atom.updated == mirror.updated) or empty
    assert atom.entries == mirror.entries
    assert (atom.base, atom.lang, atom.title, atom.id, atom.author, atom.subtitle) == (
        mirror.base,
        mirror.lang,
        mirror.title,
        mirror.id,
        mirror.author,
        mirror.subtitle,
    )
    assert atom.categories == mirror.categories


def test_the_json_mirror_has_medlineplus_connects_shape(client: FlaskClient) -> None:
    response = get(client, [*REQUESTS["icd10cm"], (TYPE, "application/json")])
    assert response.headers["Content-Type"] == "application/json"
    feed = json.loads(response.data)["feed"]
    assert list(feed) == [
        "base", "lang", "xsi", "title", "updated", "id", "author", "subtitle", "category", "entry"
    ]  # fmt: skip
    assert feed["base"] == "http://localhost/"
    assert feed["lang"] == "en"
    assert feed["xsi"] == "http://www.w3.org/2001/XMLSchema-instance"
    assert feed["title"] == {"type": "text", "_value": "Patient education"}
    assert set(feed["author"]) == {"name", "uri"}
    assert feed["category"][0] == {"scheme": "mainSearchCriteria.v.c", "term": "C91.00"}
    for entry in feed["entry"]:
        assert list(entry)[:5] == ["title", "link", "id", "summary", "updated"]
        assert entry["title"]["type"] == "text"
        assert entry["summary"]["type"] == "html"
        assert [(x["rel"], x["type"]) for x in entry["link"]] == [
            ("alternate", "text/html"),
            ("related", "application/fhir+json"),
        ]


@pytest.mark.parametrize("fmt", ["atom", "json"])
def test_each_entry_traces_to_its_stored_resource(client: FlaskClient, fmt: str) -> None:
    pairs = [*REQUESTS["rxnorm"], *([(TYPE, "application/json")] if fmt == "json" else [])]
    response = get(client, pairs)
    feed = read_json(response.data) if fmt == "json" else read_atom(response.data)
    assert feed.entries
    for entry, path in zip(feed.entries, feed.resource_paths(), strict=True):
        resource_type, resource_id = path.split("/")
        assert shown_link(feed.link(entry, "alternate")) == f"/education/{path}"
        assert feed.link(entry, "related") == f"http://localhost/fhir/{path}"
        served = client.get(f"/fhir/{path}")
        assert served.status_code == 200
        stored = served.get_json()
        assert entry["updated"] == stored["meta"]["lastUpdated"]
        source = expected.RESOURCES[path]
        if resource_type == "PlanDefinition":
            assert entry["title"] == source["title"]
            assert entry["id"] == source["url"]
            assert entry["summary"][0] == "html"
            assert html_text(entry["summary"][1]) == expected.plain(source["purpose"])
            assert entry["author"] == (source["publisher"], None)
        else:
            assert entry["title"] == source["code"]["text"]
            (artifact_url,) = [
                x["valueUri"] for x in source["extension"] if x["url"].endswith("/artifact-url")
            ]
            assert entry["id"] == artifact_url
            giving = sorted(
                expected.PHASES[p]["title"] for p in expected.phases_giving({resource_id})
            )
            assert entry["summary"][0] == "html"
            assert html_text(entry["summary"][1]) == "; ".join(giving)
            assert entry["author"] is None


def html_text(markup: str) -> str:
    """What a reader sees of an HTML summary."""
    return " ".join(
        lxml.html.fragment_fromstring(markup, create_parent="div").text_content().split()
    )


def shown_link(href: str) -> str:
    return href.removeprefix("http://localhost")


def test_the_feed_is_dated_by_its_latest_entry(client: FlaskClient) -> None:
    feed = read_atom(get(client, REQUESTS["rxnorm"]).data)
    assert feed.updated == max(e["updated"] for e in feed.entries)


def test_an_empty_feed_is_dated_when_served(client: FlaskClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    feed = read_atom(get(client, REQUESTS["unknown code"]).data)
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert before <= datetime.fromisoformat(feed.updated) <= after


def test_the_feed_id_depends_on_the_question_not_on_how_it_was_asked(
    client: FlaskClient,
) -> None:
    ids = {
        read_atom(get(client, pairs).data).id
        for pairs in [
            criteria(ICD10CM, "C91.0"),
            criteria(ICD10CM, "c91.0"),
            [("mainSearchCriteria.v.cs", ICD10CM), ("mainSearchCriteria.v.c", "C91.0")],
            criteria(ICD10CM, "C91.0", (DISPLAY, "ALL"), ("age.v.v", "3")),
            criteria(ICD10CM, "C91.0", (TYPE, "text/xml")),
        ]
    }
    assert len(ids) == 1
    (feed_id,) = ids
    assert feed_id.startswith("http://localhost/infobutton?")
    # and it is a URL that answers the same question
    again = read_atom(client.get(feed_id.removeprefix("http://localhost")).data)
    assert again.id == feed_id
    others = {
        read_atom(get(client, pairs).data).id
        for pairs in [
            criteria(ICD10CM, "C91.00"),
            criteria(SNOMED, "91857003"),
            criteria(ICD10CM, "C91.0", (LANGUAGE, "es")),
        ]
    }
    assert feed_id not in others and len(others) == 3


def test_our_own_words_say_they_are_english_in_a_feed_for_another_language(
    client: FlaskClient,
) -> None:
    root = etree.fromstring(get(client, REQUESTS["spanish"]).data)
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.get(f"{{{XML_NS}}}lang") == "es"
    for tag in ("title", "subtitle"):
        element = root.find(f"{atom}{tag}")
        assert element is not None and element.get(f"{{{XML_NS}}}lang") == "en"
    mirror = json.loads(get(client, [*REQUESTS["spanish"], (TYPE, "application/json")]).data)
    assert mirror["feed"]["title"]["lang"] == mirror["feed"]["subtitle"]["lang"] == "en"
    english = etree.fromstring(get(client, REQUESTS["rxnorm"]).data).find(f"{atom}title")
    assert english is not None and english.get(f"{{{XML_NS}}}lang") is None


@pytest.mark.parametrize(
    "display", ['<script>alert("x")</script> & co', "]]> &amp; \"'", "Leucemia linfoblástica 😀"]
)
def test_echoed_text_is_escaped_and_kept_exactly(client: FlaskClient, display: str) -> None:
    pairs = criteria(ICD10CM, "C91.0", (DISPLAY, display))
    atom = get(client, pairs).data
    assert b"<script" not in atom
    assert problems(atom) == []
    parsed = feedparser.parse(atom)
    assert not parsed.bozo
    assert read_atom(atom).subtitle == f"Results for ICD-10-CM C91.0 ({display})"
    assert (DISPLAY, display) in read_atom(atom).categories
    mirror = get(client, [*pairs, (TYPE, "application/json")])
    assert mirror.data.isascii()
    assert (DISPLAY, display) in read_json(mirror.data).categories


@pytest.mark.parametrize(
    ("asked", "content_type"),
    [
        (None, "application/atom+xml; charset=utf-8"),
        ("application/atom+xml", "application/atom+xml; charset=utf-8"),
        ("text/xml", "text/xml; charset=utf-8"),
        ("TEXT/XML", "text/xml; charset=utf-8"),
        ("application/json", "application/json"),
    ],
)
def test_content_type_follows_knowledge_response_type(
    client: FlaskClient, asked: str | None, content_type: str
) -> None:
    pairs = [*REQUESTS["snomed"], *([(TYPE, asked)] if asked else [])]
    response = get(client, pairs)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    if content_type.startswith("application/json"):
        assert read_json(response.data).entries
    else:
        assert response.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        assert read_atom(response.data).entries


def test_the_accept_header_does_not_change_the_reply(client: FlaskClient) -> None:
    plain = get(client, REQUESTS["snomed"])
    for accept in ("application/json", "application/fhir+xml", "text/html", "*/*"):
        response = get(client, REQUESTS["snomed"], headers={"Accept": accept})
        assert response.headers["Content-Type"] == plain.headers["Content-Type"]
        assert read_atom(response.data).entries == read_atom(plain.data).entries
    assert "Vary" not in plain.headers


@pytest.mark.parametrize("fmt", [None, "application/json"])
def test_cache_and_cors_headers(client: FlaskClient, app: Flask, fmt: str | None) -> None:
    pairs = [*REQUESTS["rxnorm"], *([(TYPE, fmt)] if fmt else [])]
    response = get(client, pairs, headers={"Origin": "https://ehr.example.org"})
    assert response.status_code == 200
    assert response.cache_control.public
    assert response.cache_control.max_age == app.config["CACHE_MAX_AGE"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_cache_lifetime_comes_from_the_configuration(loaded_database: Path) -> None:
    other = make_app(loaded_database, CACHE_MAX_AGE=42, SERVICE_NAME="Example Cancer Centre")
    response = get(other.test_client(), REQUESTS["rxnorm"])
    assert response.cache_control.max_age == 42
    assert read_atom(response.data).author == ("Example Cancer Centre", "http://localhost/")


def test_head_answers_like_get_without_a_body(client: FlaskClient) -> None:
    got = get(client, REQUESTS["rxnorm"])
    head = client.head(url(REQUESTS["rxnorm"]))
    assert head.status_code == 200
    assert head.data == b""
    for name in ("Content-Type", "Content-Length", "Cache-Control"):
        assert head.headers[name] == got.headers[name]


def test_a_cors_preflight_is_answered(client: FlaskClient) -> None:
    response = client.options(
        url(REQUESTS["rxnorm"]),
        headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused(client: FlaskClient, method: str) -> None:
    response = client.open(url(REQUESTS["rxnorm"]), method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    # In the Infobutton's own error format: FHIR XML, as the client did not ask for JSON.
    assert response.headers["Content-Type"].startswith("application/fhir+xml")
    assert outcome(response)[0]["code"] == "processing"


def test_links_follow_the_host_the_client_used(loaded_database: Path) -> None:
    """A host named in TRUSTED_HOSTS (others are refused: service.settings)."""
    client = make_app(loaded_database, TRUSTED_HOSTS="ped.example.org").test_client()
    response = client.get(url(REQUESTS["rxnorm"]), base_url="https://ped.example.org:8443/")
    feed = read_atom(response.data)
    root = "https://ped.example.org:8443/"
    assert feed.base == root
    assert feed.id.startswith(f"{root}infobutton?")
    assert feed.author == ("Patient-education FHIR service", root)
    for entry in feed.entries:
        assert all(href.startswith(root) for href, _, _ in entry["links"])
