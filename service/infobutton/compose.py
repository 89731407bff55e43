"""From what the store found to the feed a reader sees: titles, links, ids, summaries, dates.

Every word of an entry comes from its stored resource (``title``, ``purpose``,
``description``, ``publisher``, ``Medication.code.text``, the titles of the phases that
give a drug); the only words of our own are the feed's title and the subtitle that echoes
the request. Those are English, so in a feed for a reader of another language they carry
``xml:lang="en"`` rather than passing for a translation.

Links are absolute, from the site root (``service.settings.public_root``: the configured
``PUBLIC_BASE_URL``, else the trusted host the client used): the reading view for people,
the FHIR resource for software.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from mappings.rules.vocabulary import ARTIFACT_URL
from service.catalog import Entry
from service.formats.markdown import to_inline_html

from . import language
from .feed import Category, Feed, FeedEntry, Link, Person, Text
from .lookup import Found
from .request import CODE, CODE_SYSTEM, LANGUAGE, InfobuttonRequest

FEED_TITLE = "Patient education"
WORDING_LANGUAGE = "en"
"""The language of the feed's own words (its title and subtitle)."""

READING_TYPE = "text/html"
FHIR_TYPE = "application/fhir+json"


def rfc3339(instant: datetime) -> str:
    """UTC with milliseconds and ``Z`` (``2026-11-21T14:11:07.062Z``): RFC 3339 as Atom
    requires, and the shape of the store's ``meta.lastUpdated``."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _last_updated(entry: Entry) -> datetime:
    meta = entry.resource.get("meta")
    stated = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return _instant(stated if isinstance(stated, str) else entry.last_updated)


def _string(resource: dict[str, Any], key: str) -> str | None:
    value = resource.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _order(title: str, resource_id: str) -> tuple[str, str, str]:
    """Reading order: by title as a reader compares them (case-insensitively), ties broken
    so that the order never depends on the store's."""
    return (title.casefold(), title, resource_id)


def _first_paragraph(markdown: str) -> str:
    return markdown.strip().replace("\r\n", "\n").split("\n\n", 1)[0]


def _phase_summary(phase: Entry) -> str:
    """``purpose`` (why the phase is given), else the first paragraph of ``description``,
    both Markdown rendered as inline HTML; the title when the resource has neither."""
    purpose = _string(phase.resource, "purpose")
    if purpose is not None:
        return to_inline_html(purpose)
    description = _string(phase.resource, "description")
    if description is not None:
        return to_inline_html(_first_paragraph(description))
    return html.escape(phase.title)


def _medication_summary(medication: Entry, phases: Iterable[Entry]) -> str:
    """The titles of the phases that give the drug: the only thing the store says about a
    drug beyond its name. The name itself when no phase gives it."""
    ordered = sorted(phases, key=lambda p: _order(p.title, p.id))
    titles = [p.title for p in ordered] or [medication.title]
    return html.escape("; ".join(titles))


class _Links:
    def __init__(self, root: str) -> None:
        self.root = root

    def reading(self, entry: Entry) -> str:
        return f"{self.root}education/{self._path(entry)}"

    def fhir(self, entry: Entry) -> str:
        return f"{self.root}fhir/{self._path(entry)}"

    @staticmethod
    def _path(entry: Entry) -> str:
        return f"{entry.resource['resourceType']}/{quote(entry.id, safe='')}"

    def entry(self, entry: Entry) -> tuple[Link, ...]:
        return (
            Link(self.reading(entry), "alternate", READING_TYPE),
            Link(self.fhir(entry), "related", FHIR_TYPE),
        )


def _artifact_url(medication: Entry) -> str | None:
    for extension in medication.resource.get("extension", []):
        if extension.get("url") == ARTIFACT_URL and isinstance(extension.get("valueUri"), str):
            value: str = extension["valueUri"]
            return value
    return None


def _phase_entry(phase: Entry, links: _Links) -> FeedEntry:
    publisher = _string(phase.resource, "publisher")
    return FeedEntry(
        title=Text(phase.title),
        links=links.entry(phase),
        id=_string(phase.resource, "url") or links.fhir(phase),
        summary=Text(_phase_summary(phase), "html"),
        updated=rfc3339(_last_updated(phase)),
        author=Person(publisher) if publisher is not None else None,
    )


def _medication_entry(medication: Entry, phases: Iterable[Entry], links: _Links) -> FeedEntry:
    return FeedEntry(
        title=Text(medication.title),
        links=links.entry(medication),
        id=_artifact_url(medication) or links.fhir(medication),
        summary=Text(_medication_summary(medication, phases), "html"),
        updated=rfc3339(_last_updated(medication)),
    )


def feed_id(request: InfobuttonRequest, root: str) -> str:
    """The request's URL reduced to what decides the entries (system, normalized code,
    language), in a fixed order: the same question always has the same feed id, whatever
    else the client sent and in whichever format it asked."""
    pairs = [(CODE_SYSTEM, request.oid), (CODE, request.code), (LANGUAGE, request.language)]
    return f"{root}infobutton?{urlencode(pairs, quote_via=quote)}"


def subtitle(request: InfobuttonRequest) -> str:
    """``Results for ICD-10-CM C91.00 (Acute lymphoblastic leukemia)``."""
    if request.system is not None:
        asked = f"{request.system.name} {request.code}"
    else:
        asked = f"code {request.code} of code system {request.oid}"
    return f"Results for {asked}" + (f" ({request.display})" if request.display else "")


def compose(
    request: InfobuttonRequest, found: Found, *, root: str, author: str, now: datetime
) -> Feed:
    """The feed: Medications first, by name, then phases by title; each resource once.
    ``updated`` is the latest change among the entries, or ``now`` when there are none."""
    links = _Links(root)
    uses = sorted(found.medications, key=lambda u: _order(u.medication.title, u.medication.id))
    phases = sorted(found.phases, key=lambda p: _order(p.title, p.id))
    entries = [_medication_entry(u.medication, u.phases, links) for u in uses]
    entries += [_phase_entry(p, links) for p in phases]
    changed = [_last_updated(u.medication) for u in uses] + [_last_updated(p) for p in phases]
    own_words = None if language.primary(request.language) == WORDING_LANGUAGE else WORDING_LANGUAGE
    return Feed(
        base=root,
        lang=request.language,
        title=Text(FEED_TITLE, lang=own_words),
        updated=rfc3339(max(changed, default=now)),
        id=feed_id(request, root),
        author=Person(author, root),
        subtitle=Text(subtitle(request), lang=own_words),
        categories=tuple(Category(scheme, term) for scheme, term in request.criteria),
        entries=tuple(entries),
    )
