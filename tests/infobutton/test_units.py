"""The pieces on their own: code systems and ICD-10-CM ancestry, BCP 47 tags, parsing, and
the two serializers of one feed model (a property: any feed, both formats, same content).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from service.infobutton import codes, language
from service.infobutton.feed import Category, Feed, FeedEntry, Link, Person, Text, to_atom, to_json
from service.infobutton.request import RequestError, parse

from .atom_schema import problems
from .support import CODE, ICD10CM, LANGUAGE, RXNORM, SNOMED, SYSTEM, read_atom, read_json


@pytest.mark.parametrize(
    ("code", "ancestry"),
    [
        ("C91.00", ("C91.00", "C91.0", "C91")),
        ("C91.0", ("C91.0", "C91")),
        ("C91", ("C91",)),
        ("S72.001A", ("S72.001A", "S72.001", "S72.00", "S72.0", "S72")),
    ],
)
def test_icd10cm_ancestors_are_found_by_truncation(code: str, ancestry: tuple[str, ...]) -> None:
    assert codes.icd10cm_ancestors(code) == ancestry


ICD10CM_CODES = st.from_regex(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", fullmatch=True)


@given(ICD10CM_CODES)
def test_every_ancestor_is_a_shorter_valid_prefix(code: str) -> None:
    system = codes.SYSTEMS[ICD10CM]
    ancestry = codes.icd10cm_ancestors(code)
    assert ancestry[0] == code
    assert ancestry[-1] == code[:3]
    assert [len(a) for a in ancestry] == sorted((len(a) for a in ancestry), reverse=True)
    assert all(code.startswith(a) and system.accepts(a) for a in ancestry)


@pytest.mark.parametrize(
    ("oid", "good", "bad"),
    [
        (
            ICD10CM,
            ["C91.0", "c91.00", "Z99.89", "S72.001A", "C7A.0"],
            ["C9", "91.0", "C91.", "C91-0"],
        ),
        (SNOMED, ["91857003", "123456", "1" * 18], ["12345", "1" * 19, "91857003 ", "٩١٨٥٧٠"]),
        (
            RXNORM,
            ["6851", "1", "105585"],
            ["", "RX6851", "6851.0", "1" * 13, "\uff16\uff18\uff15\uff11"],
        ),
    ],
)
def test_code_shapes(oid: str, good: list[str], bad: list[str]) -> None:
    system = codes.SYSTEMS[oid]
    assert all(system.accepts(c) for c in good)
    assert not any(system.accepts(c) for c in bad)


@pytest.mark.parametrize("oid", [ICD10CM, "1.2", "0.0", "2.999.1", "2.16.840.1.113883.6.103"])
def test_oids(oid: str) -> None:
    assert codes.is_oid(oid)


@pytest.mark.parametrize(
    "not_oid", ["", "1", "3.1", "1.02", "1..2", "1.2.", ".1.2", "urn:oid:1.2", "1.2\n", "1.٢"]
)
def test_not_oids(not_oid: str) -> None:
    assert not codes.is_oid(not_oid)


@pytest.mark.parametrize(
    "tag",
    ["en", "EN", "en-US", "en-us", "es-419", "zh-Hant-TW", "sl-rozaj-biske", "de-CH-1901",
     "en-a-bbb-x-a-ccc", "x-whatever", "i-klingon", "en-GB-oed", "zh-min-nan", "qaa", "haw"],
)  # fmt: skip
def test_well_formed_language_tags(tag: str) -> None:
    assert language.is_language_tag(tag)


@pytest.mark.parametrize(
    "tag",
    ["", "e", "en_US", "en-", "-en", "en--US", "en US", "en-abcdefghi", "en-x", "1234",
     "en-US\n", "\uff45\uff4e", "en-a", "english!"],
)  # fmt: skip
def test_malformed_language_tags(tag: str) -> None:
    assert not language.is_language_tag(tag)


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [("EN-us", "en-US"), ("zh-hant-tw", "zh-Hant-TW"), ("en-a-bb-x-ab-cdef", "en-a-bb-x-ab-cdef"),
     ("SGN-BE-FR", "sgn-BE-FR"), ("es-419", "es-419"), ("X-AB", "x-ab")],
)  # fmt: skip
def test_language_tags_are_written_in_their_recommended_case(tag: str, canonical: str) -> None:
    assert language.canonical_case(tag) == canonical


@pytest.mark.parametrize(
    ("resource", "asked", "serves"),
    [("en", "en-US", True), ("EN", "en", True), ("en-CA", "en-GB", True), ("en", "es", False),
     (None, "en", False), ("", "en", False), (3, "en", False)],
)  # fmt: skip
def test_content_serves_a_language_by_primary_subtag(
    resource: object, asked: str, serves: bool
) -> None:
    assert language.serves(resource, asked) is serves


def test_parsing_normalizes_and_keeps_what_was_sent() -> None:
    asked = parse(MultiDict([(CODE, "c91.00"), (SYSTEM, ICD10CM), (LANGUAGE, "EN-us")]))
    assert asked.code == "C91.00"
    assert asked.language == "en-US"
    assert asked.searched_codes() == ("C91.00", "C91.0", "C91")
    assert asked.criteria == ((CODE, "c91.00"), (SYSTEM, ICD10CM), (LANGUAGE, "EN-us"))
    assert asked.response_type is None and not asked.wants_json


def test_an_unsupported_system_searches_nothing() -> None:
    asked = parse(MultiDict([(CODE, "anything at all"), (SYSTEM, "1.2.3")]))
    assert asked.system is None
    assert asked.searched_codes() == ()


def test_snomed_and_rxnorm_codes_are_searched_exactly() -> None:
    assert parse(MultiDict([(CODE, "91857003"), (SYSTEM, SNOMED)])).searched_codes() == (
        "91857003",
    )
    assert parse(MultiDict([(CODE, "6851"), (SYSTEM, RXNORM)])).searched_codes() == ("6851",)


def test_parse_errors_name_each_parameter_in_order() -> None:
    with pytest.raises(RequestError) as caught:
        parse(MultiDict([(LANGUAGE, "?"), (SYSTEM, "x")]))
    assert [(p.parameter, p.code) for p in caught.value.problems] == [
        (CODE, "required"),
        (SYSTEM, "invalid"),
        (LANGUAGE, "invalid"),
    ]


# --- one model, two serializers ----------------------------------------------------------

# Text XML can carry, markup-significant characters well represented. Control characters
# are left out: XML parsing turns a carriage return into a newline, and feedparser reads C1
# controls as Windows-1252 (the server's own text holds neither).
XML_TEXT = (
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
            blacklist_characters="\ufffe\uffff",
        ),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
WORDS = st.one_of(XML_TEXT, st.sampled_from(["<b>&amp;</b>", "]]>", "a & b", '"quoted"', "é😀"]))
HREFS = st.from_regex(r"https://example\.org/[a-z]{1,8}(/[A-Za-z0-9.-]{1,10})?", fullmatch=True)
DATES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
TAGS = st.sampled_from(["en", "en-US", "es", "fr-CA"])
ENTRIES = st.builds(
    FeedEntry,
    title=st.builds(Text, WORDS),
    links=st.tuples(
        st.builds(Link, HREFS, st.just("alternate"), st.just("text/html")),
        st.builds(Link, HREFS, st.just("related"), st.just("application/fhir+json")),
    ),
    id=HREFS,
    summary=st.builds(Text, WORDS, st.just("html")),
    updated=DATES,
    author=st.none() | st.builds(Person, WORDS),
)
FEEDS = st.builds(
    Feed,
    base=st.just("https://example.org/"),
    lang=TAGS,
    title=st.builds(Text, WORDS, lang=st.none() | st.just("en")),
    updated=DATES,
    id=HREFS,
    author=st.builds(Person, WORDS, HREFS),
    subtitle=st.builds(Text, WORDS, lang=st.none() | st.just("en")),
    categories=st.lists(st.builds(Category, st.sampled_from([CODE, SYSTEM]), WORDS)).map(tuple),
    entries=st.lists(ENTRIES, max_size=4).map(tuple),
)


@settings(max_examples=150, deadline=None, database=None)
@given(FEEDS)
def test_atom_and_json_say_the_same_of_any_feed(feed: Feed) -> None:
    atom = to_atom(feed)
    mirror = json.dumps(to_json(feed)).encode()
    assert read_atom(atom) == read_json(mirror)
    assert problems(atom) == []
    parsed = feedparser.parse(atom)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.id for e in parsed.entries] == [e.id for e in feed.entries]
    # Text is compared by the lxml reader above: feedparser "repairs" what looks like
    # double-encoded UTF-8 ("Â¡" reads as "¡"), so only ASCII titles are compared with it.
    for entry, parsed_entry in zip(feed.entries, parsed.entries, strict=True):
        if entry.title.value.isascii():
            assert parsed_entry.title == entry.title.value
