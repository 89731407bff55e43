"""Requests to ``/infobutton`` and both reply formats read into one comparable shape.

The Atom reader here is lxml over the raw XML (namespaces and attributes as written); the
tests also read every feed with feedparser, a consumer that shares nothing with the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

ICD10CM = "2.16.840.1.113883.6.90"
SNOMED = "2.16.840.1.113883.6.96"
RXNORM = "2.16.840.1.113883.6.88"
ICD9CM = "2.16.840.1.113883.6.103"
LOINC = "2.16.840.1.113883.6.1"

CODE = "mainSearchCriteria.v.c"
SYSTEM = "mainSearchCriteria.v.cs"
DISPLAY = "mainSearchCriteria.v.dn"
LANGUAGE = "informationRecipient.languageCode.c"
TYPE = "knowledgeResponseType"
RECIPIENT = "informationRecipient"

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_NS = "http://www.w3.org/XML/1998/namespace"
FHIR_NS = "http://hl7.org/fhir"

Pairs = Sequence[tuple[str, str]]


def criteria(oid: str, code: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [(CODE, code), (SYSTEM, oid), *extra]


def url(pairs: Pairs) -> str:
    return f"/infobutton?{urlencode(list(pairs), quote_via=quote)}"


def get(client: FlaskClient, pairs: Pairs, **kwargs: Any) -> TestResponse:
    return client.get(url(pairs), **kwargs)


@dataclass(frozen=True)
class Shown:
    """A feed as either format says it: what both must agree on."""

    base: str
    lang: str
    title: str
    updated: str
    id: str
    author: tuple[str, str | None]
    subtitle: str
    categories: list[tuple[str, str]]
    entries: list[dict[str, Any]]

    @property
    def ids(self) -> list[str]:
        return [e["id"] for e in self.entries]

    @property
    def titles(self) -> list[str]:
        return [e["title"] for e in self.entries]

    def link(self, entry: Mapping[str, Any], rel: str) -> str:
        (href,) = [href for (href, r, _type) in entry["links"] if r == rel]
        return str(href)

    def resource_paths(self) -> list[str]:
        """``Type/id`` of each entry, from its FHIR link."""
        return [self.link(e, "related").split("/fhir/", 1)[1] for e in self.entries]


def _a(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


def _person(element: etree._Element | None) -> tuple[str, str | None] | None:
    if element is None:
        return None
    return (element.findtext(_a("name")) or "", element.findtext(_a("uri")))


def read_atom(body: bytes) -> Shown:
    root = etree.fromstring(body)
    assert root.tag == _a("feed")
    author = _person(root.find(_a("author")))
    assert author is not None
    entries = []
    for entry in root.findall(_a("entry")):
        summary = entry.find(_a("summary"))
        assert summary is not None
        entries.append(
            {
                "title": entry.findtext(_a("title")),
                "links": [
                    (x.get("href"), x.get("rel"), x.get("type")) for x in entry.findall(_a("link"))
                ],
                "id": entry.findtext(_a("id")),
                "summary": (summary.get("type"), summary.text or ""),
                "updated": entry.findtext(_a("updated")),
                "author": _person(entry.find(_a("author"))),
            }
        )
    return Shown(
        base=root.get(f"{{{XML_NS}}}base", ""),
        lang=root.get(f"{{{XML_NS}}}lang", ""),
        title=root.findtext(_a("title")) or "",
        updated=root.findtext(_a("updated")) or "",
        id=root.findtext(_a("id")) or "",
        author=author,
        subtitle=root.findtext(_a("subtitle")) or "",
        categories=[(c.get("scheme", ""), c.get("term", "")) for c in root.findall(_a("category"))],
        entries=entries,
    )


def _json_person(person: Mapping[str, Any] | None) -> tuple[str, str | None] | None:
    if person is None:
        return None
    uri = person.get("uri")
    return (person["name"]["_value"], uri["_value"] if uri else None)


def read_json(body: bytes) -> Shown:
    feed = json.loads(body)["feed"]
    author = _json_person(feed["author"])
    assert author is not None
    return Shown(
        base=feed["base"],
        lang=feed["lang"],
        title=feed["title"]["_value"],
        updated=feed["updated"]["_value"],
        id=feed["id"]["_value"],
        author=author,
        subtitle=feed["subtitle"]["_value"],
        categories=[(c["scheme"], c["term"]) for c in feed["category"]],
        entries=[
            {
                "title": e["title"]["_value"],
                "links": [(x["href"], x["rel"], x["type"]) for x in e["link"]],
                "id": e["id"]["_value"],
                "summary": (e["summary"]["type"], e["summary"]["_value"]),
                "updated": e["updated"]["_value"],
                "author": _json_person(e.get("author")),
            }
            for e in feed["entry"]
        ],
    )


def fetch(client: FlaskClient, pairs: Pairs, fmt: str) -> Shown:
    """The feed for ``pairs`` in ``fmt`` (``atom`` or ``json``), checked to be a 200."""
    extra = [(TYPE, "application/json")] if fmt == "json" else []
    response = get(client, [*pairs, *extra])
    assert response.status_code == 200, response.get_data(as_text=True)
    return read_json(response.data) if fmt == "json" else read_atom(response.data)


def outcome(response: TestResponse) -> list[dict[str, str]]:
    """The issues of an OperationOutcome reply, JSON or FHIR XML, read independently of the
    server's XML writer."""
    content_type = response.headers["Content-Type"]
    if content_type.startswith("application/fhir+json"):
        resource = json.loads(response.data)
        assert resource["resourceType"] == "OperationOutcome"
        return [dict(issue) for issue in resource["issue"]]
    assert content_type.startswith("application/fhir+xml"), content_type
    root = etree.fromstring(response.data)
    assert root.tag == f"{{{FHIR_NS}}}OperationOutcome"
    issues = []
    for issue in root.findall(f"{{{FHIR_NS}}}issue"):
        issues.append(
            {child.tag.removeprefix(f"{{{FHIR_NS}}}"): child.get("value", "") for child in issue}
        )
    return issues
