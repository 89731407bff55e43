"""The answer to an Infobutton request as one model, and its two serializations.

``to_atom`` writes an Atom 1.0 feed (RFC 4287); ``to_json`` writes the JSON mirror
MedlinePlus Connect serves for ``knowledgeResponseType=application/json``, which is that
feed transcribed mechanically (attributes as keys, element text as ``_value``, ``xml:base``
and ``xml:lang`` as ``base`` and ``lang``, ``xmlns:xsi`` as ``xsi``). Both are written from
the same ``Feed``, field by field, so the two formats cannot disagree.

Text goes in as data and lxml escapes it. A ``type="html"`` text holds HTML that the
composer has already escaped or rendered; here it is only more text to escape once more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True)
class Text:
    """An Atom text construct. ``lang`` is set where the text's language is not the
    feed's (our own words in a feed for a reader of another language)."""

    value: str
    type: Literal["text", "html"] = "text"
    lang: str | None = None


@dataclass(frozen=True)
class Link:
    href: str
    rel: str
    type: str


@dataclass(frozen=True)
class Category:
    scheme: str
    term: str


@dataclass(frozen=True)
class Person:
    name: str
    uri: str | None = None


@dataclass(frozen=True)
class FeedEntry:
    title: Text
    links: tuple[Link, ...]
    id: str
    summary: Text
    updated: str
    author: Person | None = None


@dataclass(frozen=True)
class Feed:
    base: str
    """The site root, ending in ``/`` (``xml:base``)."""
    lang: str
    title: Text
    updated: str
    id: str
    author: Person
    subtitle: Text
    categories: tuple[Category, ...]
    entries: tuple[FeedEntry, ...]


# --- Atom --------------------------------------------------------------------------------


def _atom(
    parent: etree._Element, name: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM_NS}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def _text(parent: etree._Element, name: str, text: Text) -> None:
    element = _atom(parent, name, text.value, type=text.type)
    if text.lang is not None:
        element.set(f"{{{XML_NS}}}lang", text.lang)


def _person(parent: etree._Element, name: str, person: Person) -> None:
    element = _atom(parent, name)
    _atom(element, "name", person.name)
    if person.uri is not None:
        _atom(element, "uri", person.uri)


def to_atom(feed: Feed) -> bytes:
    # Atom as the default namespace (lxml-stubs do not allow its None key); xsi declared,
    # as MedlinePlus Connect declares it.
    nsmap = {None: ATOM_NS, "xsi": XSI_NS}
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap=nsmap)  # type: ignore[arg-type]
    root.set(f"{{{XML_NS}}}base", feed.base)
    root.set(f"{{{XML_NS}}}lang", feed.lang)
    _text(root, "title", feed.title)
    _atom(root, "updated", feed.updated)
    _atom(root, "id", feed.id)
    _person(root, "author", feed.author)
    _text(root, "subtitle", feed.subtitle)
    for category in feed.categories:
        _atom(root, "category", scheme=category.scheme, term=category.term)
    for entry in feed.entries:
        element = _atom(root, "entry")
        _text(element, "title", entry.title)
        for link in entry.links:
            _atom(element, "link", href=link.href, rel=link.rel, type=link.type)
        _atom(element, "id", entry.id)
        _text(element, "summary", entry.summary)
        _atom(element, "updated", entry.updated)
        if entry.author is not None:
            _person(element, "author", entry.author)
    body: bytes = etree.tostring(root, encoding="UTF-8")
    return _DECLARATION + body


# --- the JSON mirror ---------------------------------------------------------------------


def _json_text(text: Text) -> dict[str, str]:
    shaped: dict[str, str] = {"type": text.type}
    if text.lang is not None:
        shaped["lang"] = text.lang
    shaped["_value"] = text.value
    return shaped


def _json_person(person: Person) -> dict[str, Any]:
    shaped: dict[str, Any] = {"name": {"_value": person.name}}
    if person.uri is not None:
        shaped["uri"] = {"_value": person.uri}
    return shaped


def _json_entry(entry: FeedEntry) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "title": {"_value": entry.title.value, "type": entry.title.type},
        "link": [{"href": x.href, "rel": x.rel, "type": x.type} for x in entry.links],
        "id": {"_value": entry.id},
        "summary": _json_text(entry.summary),
        "updated": {"_value": entry.updated},
    }
    if entry.title.lang is not None:
        shaped["title"]["lang"] = entry.title.lang
    if entry.author is not None:
        shaped["author"] = _json_person(entry.author)
    return shaped


def to_json(feed: Feed) -> dict[str, Any]:
    return {
        "feed": {
            "base": feed.base,
            "lang": feed.lang,
            "xsi": XSI_NS,
            "title": _json_text(feed.title),
            "updated": {"_value": feed.updated},
            "id": {"_value": feed.id},
            "author": _json_person(feed.author),
            "subtitle": _json_text(feed.subtitle),
            "category": [{"scheme": c.scheme, "term": c.term} for c in feed.categories],
            "entry": [_json_entry(e) for e in feed.entries],
        }
    }
