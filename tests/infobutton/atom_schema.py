"""Atom 1.0 conformance for the tests: RFC 4287's RELAX NG schema, and its other rules.

``ATOM_RNG`` is RFC 4287 Appendix B (RELAX NG compact syntax) transcribed into RELAX NG's
XML syntax, which lxml (libxml2) can compile. It is written out here, independently of the
feed writer, and deviates from the appendix in three ways, each stricter, none of which the
endpoint's feeds rely on:

- ``atom:content`` and ``atom:source`` are left out (the endpoint writes neither), so an
  entry carrying one is refused;
- extension elements are any non-Atom element with any content, one pattern instead of the
  appendix's simple/structured pair (the same set of documents);
- ``atomUri`` stays ``text`` as in the appendix; IRIs are checked by ``problems`` instead.

``problems`` adds what the appendix states as Schematron or prose: a feed or each of its
entries has an author; each entry has an alternate link (it has no content); no two
alternate links share type and hreflang; ``atom:id`` is an absolute IRI; dates are RFC 3339
with an upper-case ``T`` and ``Z`` (§3.3), which ``xsd:dateTime`` alone does not require.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urljoin, urlsplit

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

ATOM_RNG = b"""<?xml version="1.0" encoding="UTF-8"?>
<grammar xmlns="http://relaxng.org/ns/structure/1.0"
         ns="http://www.w3.org/2005/Atom"
         datatypeLibrary="http://www.w3.org/2001/XMLSchema-datatypes">
  <start>
    <choice><ref name="atomFeed"/><ref name="atomEntry"/></choice>
  </start>

  <define name="atomCommonAttributes">
    <optional><attribute name="xml:base"><ref name="atomUri"/></attribute></optional>
    <optional><attribute name="xml:lang"><ref name="atomLanguageTag"/></attribute></optional>
    <zeroOrMore><ref name="undefinedAttribute"/></zeroOrMore>
  </define>

  <define name="atomPlainTextConstruct">
    <ref name="atomCommonAttributes"/>
    <optional>
      <attribute name="type"><choice><value>text</value><value>html</value></choice></attribute>
    </optional>
    <text/>
  </define>
  <define name="atomXHTMLTextConstruct">
    <ref name="atomCommonAttributes"/>
    <attribute name="type"><value>xhtml</value></attribute>
    <ref name="xhtmlDiv"/>
  </define>
  <define name="atomTextConstruct">
    <choice><ref name="atomPlainTextConstruct"/><ref name="atomXHTMLTextConstruct"/></choice>
  </define>

  <define name="atomPersonConstruct">
    <ref name="atomCommonAttributes"/>
    <interleave>
      <element name="name"><text/></element>
      <optional><element name="uri"><ref name="atomUri"/></element></optional>
      <optional><element name="email"><ref name="atomEmailAddress"/></element></optional>
      <zeroOrMore><ref name="extensionElement"/></zeroOrMore>
    </interleave>
  </define>

  <define name="atomDateConstruct">
    <ref name="atomCommonAttributes"/>
    <data type="dateTime"/>
  </define>

  <define name="atomFeed">
    <element name="feed">
      <ref name="atomCommonAttributes"/>
      <interleave>
        <zeroOrMore><ref name="atomAuthor"/></zeroOrMore>
        <zeroOrMore><ref name="atomCategory"/></zeroOrMore>
        <zeroOrMore><ref name="atomContributor"/></zeroOrMore>
        <optional><ref name="atomGenerator"/></optional>
        <optional><ref name="atomIcon"/></optional>
        <ref name="atomId"/>
        <zeroOrMore><ref name="atomLink"/></zeroOrMore>
        <optional><ref name="atomLogo"/></optional>
        <optional><ref name="atomRights"/></optional>
        <optional><ref name="atomSubtitle"/></optional>
        <ref name="atomTitle"/>
        <ref name="atomUpdated"/>
        <zeroOrMore><ref name="extensionElement"/></zeroOrMore>
      </interleave>
      <zeroOrMore><ref name="atomEntry"/></zeroOrMore>
    </element>
  </define>

  <define name="atomEntry">
    <element name="entry">
      <ref name="atomCommonAttributes"/>
      <interleave>
        <zeroOrMore><ref name="atomAuthor"/></zeroOrMore>
        <zeroOrMore><ref name="atomCategory"/></zeroOrMore>
        <zeroOrMore><ref name="atomContributor"/></zeroOrMore>
        <ref name="atomId"/>
        <zeroOrMore><ref name="atomLink"/></zeroOrMore>
        <optional><ref name="atomPublished"/></optional>
        <optional><ref name="atomRights"/></optional>
        <optional><ref name="atomSummary"/></optional>
        <ref name="atomTitle"/>
        <ref name="atomUpdated"/>
        <zeroOrMore><ref name="extensionElement"/></zeroOrMore>
      </interleave>
    </element>
  </define>

  <define name="atomAuthor">
    <element name="author"><ref name="atomPersonConstruct"/></element>
  </define>
  <define name="atomContributor">
    <element name="contributor"><ref name="atomPersonConstruct"/></element>
  </define>
  <define name="atomCategory">
    <element name="category">
      <ref name="atomCommonAttributes"/>
      <attribute name="term"><text/></attribute>
      <optional><attribute name="scheme"><ref name="atomUri"/></attribute></optional>
      <optional><attribute name="label"><text/></attribute></optional>
      <ref name="undefinedContent"/>
    </element>
  </define>
  <define name="atomGenerator">
    <element name="generator">
      <ref name="atomCommonAttributes"/>
      <optional><attribute name="uri"><ref name="atomUri"/></attribute></optional>
      <optional><attribute name="version"><text/></attribute></optional>
      <text/>
    </element>
  </define>
  <define name="atomIcon">
    <element name="icon"><ref name="atomCommonAttributes"/><ref name="atomUri"/></element>
  </define>
  <define name="atomId">
    <element name="id"><ref name="atomCommonAttributes"/><ref name="atomUri"/></element>
  </define>
  <define name="atomLogo">
    <element name="logo"><ref name="atomCommonAttributes"/><ref name="atomUri"/></element>
  </define>
  <define name="atomLink">
    <element name="link">
      <ref name="atomCommonAttributes"/>
      <attribute name="href"><ref name="atomUri"/></attribute>
      <optional>
        <attribute name="rel">
          <choice><ref name="atomNCName"/><ref name="atomUri"/></choice>
        </attribute>
      </optional>
      <optional><attribute name="type"><ref name="atomMediaType"/></attribute></optional>
      <optional><attribute name="hreflang"><ref name="atomLanguageTag"/></attribute></optional>
      <optional><attribute name="title"><text/></attribute></optional>
      <optional><attribute name="length"><text/></attribute></optional>
      <ref name="undefinedContent"/>
    </element>
  </define>
  <define name="atomPublished">
    <element name="published"><ref name="atomDateConstruct"/></element>
  </define>
  <define name="atomRights">
    <element name="rights"><ref name="atomTextConstruct"/></element>
  </define>
  <define name="atomSubtitle">
    <element name="subtitle"><ref name="atomTextConstruct"/></element>
  </define>
  <define name="atomSummary">
    <element name="summary"><ref name="atomTextConstruct"/></element>
  </define>
  <define name="atomTitle">
    <element name="title"><ref name="atomTextConstruct"/></element>
  </define>
  <define name="atomUpdated">
    <element name="updated"><ref name="atomDateConstruct"/></element>
  </define>

  <define name="atomUri"><text/></define>
  <define name="atomEmailAddress">
    <data type="string"><param name="pattern">.+@.+</param></data>
  </define>
  <define name="atomMediaType">
    <data type="string"><param name="pattern">.+/.+</param></data>
  </define>
  <define name="atomLanguageTag">
    <data type="string"><param name="pattern">[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*</param></data>
  </define>
  <define name="atomNCName">
    <data type="string">
      <param name="minLength">1</param>
      <param name="pattern">[^:]*</param>
    </data>
  </define>

  <define name="undefinedAttribute">
    <attribute>
      <anyName>
        <except><name>xml:base</name><name>xml:lang</name><nsName ns=""/></except>
      </anyName>
      <text/>
    </attribute>
  </define>
  <define name="undefinedContent">
    <zeroOrMore><choice><text/><ref name="anyForeignElement"/></choice></zeroOrMore>
  </define>
  <define name="anyElement">
    <element>
      <anyName/>
      <zeroOrMore>
        <choice>
          <attribute><anyName/></attribute>
          <text/>
          <ref name="anyElement"/>
        </choice>
      </zeroOrMore>
    </element>
  </define>
  <define name="anyForeignElement">
    <element>
      <anyName><except><nsName ns="http://www.w3.org/2005/Atom"/></except></anyName>
      <zeroOrMore>
        <choice>
          <attribute><anyName/></attribute>
          <text/>
          <ref name="anyElement"/>
        </choice>
      </zeroOrMore>
    </element>
  </define>
  <define name="extensionElement"><ref name="anyForeignElement"/></define>

  <define name="xhtmlDiv">
    <element ns="http://www.w3.org/1999/xhtml" name="div">
      <zeroOrMore>
        <choice><attribute><anyName/></attribute><text/><ref name="anyXHTML"/></choice>
      </zeroOrMore>
    </element>
  </define>
  <define name="anyXHTML">
    <element>
      <nsName ns="http://www.w3.org/1999/xhtml"/>
      <zeroOrMore>
        <choice><attribute><anyName/></attribute><text/><ref name="anyXHTML"/></choice>
      </zeroOrMore>
    </element>
  </define>
</grammar>
"""

# RFC 3339 date-time as RFC 4287 §3.3 restricts it: upper-case T and Z, offset required.
RFC3339 = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)


@cache
def relax_ng() -> etree.RelaxNG:
    return etree.RelaxNG(etree.fromstring(ATOM_RNG))


def _atom(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _alternates(element: etree._Element) -> list[etree._Element]:
    return [
        link
        for link in element.findall(_atom("link"))
        if link.get("rel", "alternate") == "alternate"
    ]


def _absolute(iri: str) -> bool:
    parts = urlsplit(iri)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def problems(document: bytes) -> list[str]:
    """Everything that makes ``document`` not a valid Atom feed; empty when it is one."""
    root = etree.fromstring(document)
    schema = relax_ng()
    found = []
    if not schema.validate(root):
        found += [f"RELAX NG line {e.line}: {e.message}" for e in schema.error_log]
    if root.tag != _atom("feed"):
        return [*found, f"the root is {root.tag}, not atom:feed"]
    entries = root.findall(_atom("entry"))
    if root.find(_atom("author")) is None and any(e.find(_atom("author")) is None for e in entries):
        found.append("neither the feed nor every entry has an atom:author")
    for owner in (root, *entries):
        label = "feed" if owner is root else f"entry {entries.index(owner) + 1}"
        kinds = [(x.get("type"), x.get("hreflang")) for x in _alternates(owner)]
        if len(kinds) != len(set(kinds)):
            found.append(f"{label}: two alternate links with the same type and hreflang")
        for tag in ("id", "title", "updated"):
            if len(owner.findall(_atom(tag))) != 1:
                found.append(f"{label}: {len(owner.findall(_atom(tag)))} atom:{tag}")
        ident = owner.findtext(_atom("id")) or ""
        if not _absolute(ident):
            found.append(f"{label}: atom:id {ident!r} is not an absolute IRI")
        for tag in ("updated", "published"):
            for date in owner.findall(_atom(tag)):
                if not RFC3339.fullmatch(date.text or ""):
                    found.append(f"{label}: atom:{tag} {date.text!r} is not RFC 3339")
        for link in owner.findall(_atom("link")):
            href = urljoin(root.get(XML_BASE, ""), link.get("href", ""))
            if not _absolute(href):
                found.append(f"{label}: link {link.get('href')!r} does not resolve to an IRI")
    for number, entry in enumerate(entries, 1):
        if not _alternates(entry):
            found.append(f"entry {number}: no alternate link and no atom:content")
    return found
