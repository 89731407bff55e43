"""Property tests: whatever path, query, method or headers a client sends under /fhir, the
reply is FHIR (a resource or an OperationOutcome) or empty where HTTP says so, never a 5xx,
never HTML (``replies.check_reply``).

Requests go through the Flask test client to the app over the loaded store (read-only use:
without the token nothing is written). Each test is bounded (a fixed number of examples)
and derandomized, so a run is the same run every time.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import example, given
from hypothesis import strategies as st

from service.search.params import PARAMETERS

from .bounds import BOUNDED
from .replies import check_reply

TYPES = list(PARAMETERS)
IDS = ["all-induction", "all-maintenance", "methotrexate", "imatinib", "nope", "a" * 64]
WORDS = [
    *TYPES,
    *IDS,
    "metadata",
    "$import",
    "$validate",
    "$package",
    "$everything",
    "_history",
    "_search",
    "1",
    "2",
    "0",
    "-1",
    "01",
    ".",
    "..",
]
# Segments: the words routes are made of, or any text (quoted, so a "?" or "#" in it stays
# inside the segment). Not an empty one, nor a "/", which the server reads as "//" (even
# quoted): that is test_an_empty_segment_gets_fhir's case.
SEGMENT_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12
)
SEGMENTS = st.one_of(st.sampled_from(WORDS), SEGMENT_TEXT)
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
# Header values a client can send: printable Latin-1, no line breaks.
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)


def _path(segments: list[str]) -> str:
    return "/fhir/" + "/".join(quote(s, safe="") for s in segments)


@st.composite
def queries(draw: st.DrawFn, resource_type: str) -> list[tuple[str, str]]:
    """Search and result parameters of the type (with and without modifiers), unknown
    names, and values that are anything or something the grammar cares about."""
    params = PARAMETERS[resource_type]
    names = [
        *params,
        *(f"{p.name}:{m}" for p in params.values() for m in p.modifiers),
        *(f"{name}:bogus" for name in list(params)[:2]),
        "_count",
        "_offset",
        "_sort",
        "_summary",
        "_elements",
        "_total",
        "_format",
        "_include",
        "_revinclude",
        "_since",
        "_id",
    ]
    values = st.one_of(
        st.sampled_from(
            ["", "0", "-1", "1e3", "99999999999999999999", "true", "json", "xml", "text",
             "count", "PlanDefinition:definition", "*", "eq2020", "gt2020-01-01T00:00:00Z",
             "2020-13-45", "a,b", "a\\,b", "\\", "|", "a|b", "$", "a$b", "²", "١٢", "-title"]
        ),
        st.text(max_size=20),
    )  # fmt: skip
    name = st.one_of(st.sampled_from(names), st.text(max_size=10))
    pairs: list[tuple[str, str]] = draw(st.lists(st.tuples(name, values), max_size=6))
    return pairs


# --- paths and methods ---------------------------------------------------------------------


@given(segments=st.lists(SEGMENTS, min_size=0, max_size=5), method=st.sampled_from(METHODS))
@example(segments=["PlanDefinition", "all-induction", "_history", "1"], method="GET")
@example(segments=["..", "..", "openapi.json"], method="GET")
@example(segments=["PlanDefinition", "x" * 65], method="GET")
@BOUNDED
def test_any_path_and_method_gets_fhir(
    client: FlaskClient, segments: list[str], method: str
) -> None:
    response = client.open(_path(segments), method=method)
    check_reply(response, method)


@pytest.mark.parametrize(
    "path", ["/fhir//PlanDefinition", "/fhir/PlanDefinition//all-induction",
             "/fhir/PlanDefinition/all-induction/_history/%2F1"],
)  # fmt: skip
def test_an_empty_segment_gets_fhir(client: FlaskClient, path: str) -> None:
    check_reply(client.get(path))


def test_options_gets_fhir(client: FlaskClient) -> None:
    response = client.open("/fhir/PlanDefinition", method="OPTIONS")
    check_reply(response, "OPTIONS")


# --- queries -------------------------------------------------------------------------------


@given(
    resource_type=st.sampled_from(TYPES),
    where=st.sampled_from(
        ["", "/_search", "/_history", "/all-induction", "/all-induction/_history"]
    ),
    data=st.data(),
)
@BOUNDED
def test_any_query_gets_fhir(
    client: FlaskClient, resource_type: str, where: str, data: st.DataObject
) -> None:
    pairs = data.draw(queries(resource_type))
    response = client.get(f"/fhir/{resource_type}{where}?{urlencode(pairs)}")
    check_reply(response)


@given(resource_type=st.sampled_from(TYPES), data=st.data())
@BOUNDED
def test_any_search_form_gets_fhir(
    client: FlaskClient, resource_type: str, data: st.DataObject
) -> None:
    pairs = data.draw(queries(resource_type))
    response = client.post(
        f"/fhir/{resource_type}/_search",
        data=urlencode(pairs),
        content_type="application/x-www-form-urlencoded",
    )
    check_reply(response, "POST")


@given(version=SEGMENT_TEXT)
@example(version="1")
@example(version="0")
@example(version="-1")
@example(version="99999999999999999999999")
@BOUNDED
def test_any_ascii_version_gets_fhir(client: FlaskClient, version: str) -> None:
    """vread of any version spelled with ASCII characters. Other characters: below."""
    version = version.encode("ascii", "ignore").decode()
    response = client.get(f"/fhir/PlanDefinition/all-induction/_history/{quote(version, safe='')}")
    check_reply(response)


@given(version=st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=3))
@example(version="²")
@BOUNDED
def test_any_unicode_digit_version_gets_fhir(client: FlaskClient, version: str) -> None:
    response = client.get(f"/fhir/PlanDefinition/all-induction/_history/{quote(version, safe='')}")
    check_reply(response)


# --- headers -------------------------------------------------------------------------------

ACCEPT = st.one_of(
    st.sampled_from(
        ["application/fhir+json", "application/fhir+xml", "application/json", "text/xml",
         "application/fhir+json; fhirVersion=4.0", "application/fhir+json; fhirVersion=5.0",
         "application/fhir+xml; fhirVersion=3.0", "application/fhir+json; fhirVersion=",
         "text/html", "*/*", "*/*;q=0", "application/*;q=0.5, text/html", "", ";;;", "a/b/c"]
    ),
    HEADER_TEXT,
)  # fmt: skip
CONDITIONS = st.one_of(
    st.sampled_from(['W/"1"', '"1"', "*", 'W/"2", W/"1"', "W/", '""', "yesterday", "0",
                     "Sun, 06 Nov 1994 08:49:37 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"]),
    HEADER_TEXT,
)  # fmt: skip
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Accept": ACCEPT,
        "If-None-Match": CONDITIONS,
        "If-Modified-Since": CONDITIONS,
        "Prefer": st.one_of(st.sampled_from(["handling=strict", "handling=lenient"]), HEADER_TEXT),
        "Accept-Language": HEADER_TEXT,
        "Accept-Encoding": st.sampled_from(["gzip", "br", "identity;q=0", "*"]),
        "Origin": st.sampled_from(["https://example.org", "null", ""]),
        "Authorization": st.one_of(st.just("Bearer nope"), HEADER_TEXT),
        "Content-Type": HEADER_TEXT,
        "X-Forwarded-For": HEADER_TEXT,
        "X-Request-Id": HEADER_TEXT,
    },
)
READS = [
    "/fhir/metadata",
    "/fhir/PlanDefinition",
    "/fhir/Medication/_search?code=L01XX02",
    "/fhir/PlanDefinition/all-induction",
    "/fhir/PlanDefinition/all-induction/_history/1",
    "/fhir/ActivityDefinition/_history",
    "/fhir/PlanDefinition/all-induction/$package",
    "/fhir/PlanDefinition/nope",
]


@given(path=st.sampled_from(READS), headers=HEADERS, method=st.sampled_from(["GET", "HEAD"]))
@BOUNDED
def test_any_headers_get_fhir(
    client: FlaskClient, path: str, headers: dict[str, str], method: str
) -> None:
    response = client.open(path, method=method, headers=headers)
    check_reply(response, method)


def test_a_failing_if_match_gets_an_outcome(client: FlaskClient) -> None:
    response = client.get("/fhir/PlanDefinition/all-induction", headers={"If-Match": 'W/"9"'})
    assert response.status_code == 412
    check_reply(response)


def test_the_invariant_can_fail(app: Flask) -> None:
    """check_reply refuses what it must: a 5xx, HTML, an error that is not an outcome."""
    cases = [
        app.response_class(b"{}", status=500, content_type="application/fhir+json"),
        app.response_class(b"<p>x</p>", status=200, content_type="text/html"),
        app.response_class(b'{"resourceType":"Medication"}', 404,
                           content_type="application/fhir+json"),
        app.response_class(b'{"resourceType":"OperationOutcome","issue":[]}', 400,
                           content_type="application/fhir+json"),
    ]  # fmt: skip
    for response in cases:
        with pytest.raises(AssertionError):
            check_reply(response)  # type: ignore[arg-type]
