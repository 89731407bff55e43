"""Contract tests for errors: every failure is an OperationOutcome with the right status and
headers, content negotiation, lenient vs strict handling, and no request makes a 5xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from service.search.params import PARAMETERS
from service.search.query import RESULT_PARAMETERS

from .test_contract import FHIR_JSON, STRICT, assert_outcome, body, links, matches, search

READ = "/fhir/PlanDefinition/all-induction"

# --- 404 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/nowhere", "/fhir/nothing/here/at/all", "/fhir/PlanDefinition/all-induction/x/y/z",
     "/fhir/Patient", "/fhir/Patient/_search", "/fhir/Patient/x/_history/1"],
)  # fmt: skip
def test_unknown_path_is_404_outcome(client: FlaskClient, path: str) -> None:
    assert_outcome(client.get(path), 404)


# --- 400 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("_count=abc", "_count"),
        ("_count=-1", "_count"),
        ("_offset=-1", "_offset"),
        ("_lastUpdated=notadate", "notadate"),
        ("_lastUpdated=2024-13-01", "2024-13-01"),
        ("title:unknownmodifier=x", "unknownmodifier"),
        ("status:contains=x", "contains"),
        ("_summary=everything", "_summary"),
        ("_total=maybe", "_total"),
        ("_elements=,", "_elements"),
        ("_sort=", "_sort"),
        ("title=", "title"),
        ("title:missing=maybe", "missing"),
        ("version=a|b|c", "a|b|c"),
        ("context-type-value=focus", "context-type-value"),
        ("_count=1&_count=2", "_count"),
    ],
)
def test_bad_search_value_is_400_naming_it(client: FlaskClient, query: str, named: str) -> None:
    outcome = assert_outcome(client.get(f"/fhir/PlanDefinition?{query}"), 400)
    assert outcome["issue"][0]["code"] == "invalid"
    assert named in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("query", ["_summary=everything", "_summary=count", "_summary="])
def test_bad_summary_on_read_is_400(client: FlaskClient, query: str) -> None:
    assert_outcome(client.get(f"{READ}?{query}"), 400)


# --- lenient and strict handling ---------------------------------------------------------------


def test_unknown_param_is_ignored_with_a_warning(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/PlanDefinition?title=induction&foo=bar")
    assert matches(bundle) == ["all-induction"]
    assert bundle["total"] == 1
    self_link = links(bundle)["self"]
    assert "foo" not in self_link
    assert ("title", "induction") in parse_qsl(urlsplit(self_link).query)
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    outcome = outcomes[0]["resource"]
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["severity"] == "warning"
    assert issue["expression"] == ["foo"]
    assert "'foo'" in issue["diagnostics"]


def test_known_params_make_no_warning(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/PlanDefinition?title=induction&_format=json&_pretty=true")
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match"]


@pytest.mark.parametrize(
    "prefer", ["handling=strict", "HANDLING = STRICT", "return=minimal, handling=strict"]
)
def test_unknown_param_is_400_when_strict(client: FlaskClient, prefer: str) -> None:
    response = client.get("/fhir/PlanDefinition?foo=bar", headers={"Prefer": prefer})
    outcome = assert_outcome(response, 400)
    assert "foo" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("path", "named"),
    [("/fhir/PlanDefinition?definition.titl=vincristine", "definition.titl"),
     ("/fhir/PlanDefinition?definition:missing.title=x&title=induction", "definition:missing"),
     ("/fhir/Medication?_has:ActivityDefinition:title:title=vincristine", "_has"),
     ("/fhir/PlanDefinition/_search?definition.titl=x", "definition.titl")],
)  # fmt: skip
def test_unsupported_chained_and_has_searches_are_400_even_when_lenient(
    client: FlaskClient, path: str, named: str
) -> None:
    # Ignored as unknown, they answered every resource as if each had matched (fhirpy's
    # .has() got all 21 Medications). Chains and _has are evaluated now
    # (tests/api/test_search_chain.py); the forms not supported stay a 400.
    outcome = assert_outcome(client.get(path), 400)
    assert named in outcome["issue"][0]["diagnostics"]


def test_a_dotted_name_that_is_no_parameter_stays_an_ignored_unknown(client: FlaskClient) -> None:
    assert client.get("/fhir/PlanDefinition?foo.bar=1").status_code == 200


def test_lenient_handling_header_is_lenient(client: FlaskClient) -> None:
    response = client.get("/fhir/PlanDefinition?foo=bar", headers={"Prefer": "handling=lenient"})
    assert response.status_code == 200


def test_unknown_history_param_is_400_when_strict(client: FlaskClient) -> None:
    assert client.get("/fhir/PlanDefinition/_history?foo=1").status_code == 200
    assert_outcome(client.get("/fhir/PlanDefinition/_history?foo=1", headers=STRICT), 400)


# --- 405 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", READ, {"GET", "PUT", "PATCH", "DELETE"}),
        ("PATCH", "/fhir/PlanDefinition", {"GET", "POST", "PUT", "DELETE"}),
        ("DELETE", "/fhir/PlanDefinition/_search", {"GET", "POST"}),
        ("PUT", "/fhir/PlanDefinition/all-induction/_history", {"GET"}),
        ("DELETE", "/fhir", {"GET", "POST"}),
        ("POST", "/fhir/metadata", {"GET"}),
        ("PUT", "/fhir/$import", {"POST"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method)
    assert_outcome(response, 405)
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method not in allow


# --- 406 and acceptable formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("", "text/html"),
        ("", "application/fhir+json; fhirVersion=3.0"),
        ("", "application/fhir+xml; fhirVersion=4.3"),
        ("", "application/fhir+json;q=0"),
        ("_format=html", None),
        ("_format=text/turtle", None),
        ("_format=application/fhir%2Bjson;fhirVersion=3.0", None),
        ("_format=turtle", "application/fhir+json"),  # _format wins over Accept
        ("_format=json", "application/fhir+json; fhirVersion=6.0"),
    ],
)
@pytest.mark.parametrize("path", [READ, "/fhir/PlanDefinition", "/fhir/metadata"])
def test_unacceptable_format_is_406(
    client: FlaskClient, path: str, query: str, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    url = f"{path}?{query}" if query else path
    assert_outcome(client.get(url, headers=headers), 406)


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("", None),
        ("", "application/json"),
        ("", "application/fhir+json"),
        ("", "*/*"),
        ("", "application/*"),
        ("", "application/fhir+json; fhirVersion=4.0"),
        ("", "application/fhir+json; fhirVersion=4.0.1"),
        ("", "application/fhir+xml;q=0.5, application/fhir+json"),
        ("_format=json", None),
        ("_format=application/json", None),
        ("_format=application/fhir+json", None),  # raw '+' arrives as a space
        ("_format=application/fhir%2Bjson", None),
        ("_format=application/fhir%2Bjson;fhirVersion=4.0", None),
        ("_format=json", "application/xml"),  # _format wins over Accept
    ],
)
@pytest.mark.parametrize("path", [READ, "/fhir/PlanDefinition", "/fhir/metadata"])
def test_acceptable_format_is_fhir_json(
    client: FlaskClient, path: str, query: str, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    url = f"{path}?{query}" if query else path
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == FHIR_JSON
    assert body(response)["resourceType"] in ("PlanDefinition", "Bundle", "CapabilityStatement")


def test_format_is_not_echoed_as_a_search_parameter(client: FlaskClient) -> None:
    bundle = search(client, "/fhir/PlanDefinition?_format=json&title=induction")
    assert "_format" not in links(bundle)["self"]


# --- a body too large --------------------------------------------------------------------------


def test_search_form_too_large_is_413(client: FlaskClient, app: Flask) -> None:
    data = "title=" + "x" * app.config["MAX_CONTENT_LENGTH"]
    response = client.post(
        "/fhir/PlanDefinition/_search",
        data=data,
        content_type="application/x-www-form-urlencoded",
    )
    assert_outcome(response, 413)


# --- no 5xx -------------------------------------------------------------------------------

ODD_REQUESTS: list[tuple[str, str]] = [
    ("PROPFIND", "/fhir/PlanDefinition"),
    ("TRACE", READ),
    ("PATCH", "/fhir/$import"),
    ("GET", "/fhir/PlanDefinition/" + "a" * 5000),
    ("GET", "/fhir/PlanDefinition/" + "a" * 64),
    ("GET", "/fhir/PlanDefinition/%C3%B1and%C3%BA"),
    ("GET", "/fhir/PlanDefinition/%00"),
    ("GET", "/fhir/Plan%00Definition"),
    ("GET", "/fhir/%F0%9F%98%80"),
    ("GET", "/fhir/PlanDefinition/all-induction/_history/1.5"),
    ("GET", "/fhir/PlanDefinition/all-induction/_history/-1"),
    ("GET", "/fhir/PlanDefinition/all-induction/_history/%20"),
    ("GET", "/fhir/PlanDefinition/all-induction/_history/" + "9" * 40),
    ("GET", "/fhir/PlanDefinition?title=%00"),
    ("GET", "/fhir/PlanDefinition?title=%F0%9F%98%80"),
    ("GET", "/fhir/PlanDefinition?title=%E9"),  # not UTF-8
    ("GET", "/fhir/PlanDefinition?_count=1&_count=2"),
    ("GET", "/fhir/PlanDefinition?_sort=title&_sort=-title"),
    ("GET", "/fhir/PlanDefinition?title="),
    ("GET", "/fhir/PlanDefinition?_sort="),
    ("GET", "/fhir/PlanDefinition?_elements="),
    ("GET", "/fhir/PlanDefinition?_summary="),
    ("GET", "/fhir/PlanDefinition?_sort=-"),
    ("GET", "/fhir/PlanDefinition?_sort=--title"),
    ("GET", "/fhir/PlanDefinition?title=a\\,b"),
    ("GET", "/fhir/PlanDefinition?title=a\\"),
    ("GET", "/fhir/PlanDefinition?title=%25_%5C"),
    ("GET", "/fhir/PlanDefinition?title=" + "x" * 10000),
    ("GET", "/fhir/PlanDefinition?_id=|"),
    ("GET", "/fhir/PlanDefinition?_id=a|"),
    ("GET", "/fhir/PlanDefinition?_id:missing=true"),
    ("GET", "/fhir/PlanDefinition?_lastUpdated:missing=false"),
    ("GET", "/fhir/Medication?code=|"),
    ("GET", "/fhir/PlanDefinition?context-type-value=$"),
    ("GET", "/fhir/PlanDefinition?context-type-value=a$b$c"),
    ("GET", "/fhir/PlanDefinition?context-type-value=a|$b"),
    ("GET", "/fhir/PlanDefinition?context-type-value=a\\$b$c"),
    ("GET", "/fhir/PlanDefinition?_lastUpdated=gt"),
    ("GET", "/fhir/PlanDefinition?_lastUpdated=2024-02-30"),
    ("GET", "/fhir/PlanDefinition?_lastUpdated=2024-01-01T00:00:00%2B25:00"),
    ("GET", "/fhir/PlanDefinition?_lastUpdated=0000"),
    ("GET", "/fhir/PlanDefinition?_lastUpdated=9999-12"),
    ("GET", "/fhir/PlanDefinition?_lastUpdated=ap2024,sa2024,eb2024"),
    ("GET", "/fhir/PlanDefinition?title:exact:contains=x"),
    ("GET", "/fhir/PlanDefinition?:=x"),
    ("GET", "/fhir/PlanDefinition?=x"),
    ("GET", "/fhir/PlanDefinition?&&&=&"),
    ("GET", "/fhir/PlanDefinition?%ZZ=%ZZ"),
    ("GET", "/fhir/PlanDefinition?_count=1.5"),
    ("GET", "/fhir/PlanDefinition?_count=" + "9" * 30),
    ("GET", "/fhir/PlanDefinition?_offset=9223372036854775807"),
    ("GET", "/fhir/PlanDefinition?_offset=9223372036854775808"),
    ("GET", "/fhir/PlanDefinition?_offset=" + "9" * 30),
    ("GET", "/fhir/PlanDefinition/_history?_offset=" + "9" * 30),
    ("GET", "/fhir/PlanDefinition/_history?_since=" + "9" * 30),
    ("GET", "/fhir/PlanDefinition?_id=" + ",".join(["x"] * 1000)),
    ("GET", "/fhir/PlanDefinition?title=" + ",".join(["x"] * 600)),
    ("GET", "/fhir/PlanDefinition?" + "&".join(["title:contains=a"] * 300)),
    ("GET", "/fhir/metadata?_summary=true&_count=abc"),
    ("POST", "/fhir/PlanDefinition/_search?_count=abc"),
    ("POST", "/fhir/$import"),
]


@pytest.mark.parametrize(
    ("method", "url"), ODD_REQUESTS, ids=[f"{m} {u[:60]}" for m, u in ODD_REQUESTS]
)
def test_odd_request_is_not_a_server_error(client: FlaskClient, method: str, url: str) -> None:
    response = client.open(url, method=method)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"] == FHIR_JSON
    kind = body(response)["resourceType"]
    assert kind in ("OperationOutcome", "Bundle", "CapabilityStatement")
    if response.status_code >= 400:
        assert kind == "OperationOutcome"


ODD_HEADERS: list[dict[str, str]] = [
    {"Accept": ";;;"},
    {"Accept": "*"},
    {"Accept": "application/fhir+json; q=abc"},
    {"Accept": "application/fhir+json; fhirVersion"},
    {"Accept": 'application/fhir+json; fhirVersion="4.0"'},
    {"Accept": "x/y;fhirVersion=4.0, application/json;fhirVersion=9"},
    {"Accept": "application/fhir+json;q=0.5, */*;q=0"},
    {"Prefer": ";;,,="},
    {"Prefer": "handling"},
    {"Authorization": "Bearer"},
    {"Origin": "null"},
    {"If-None-Match": 'W/"1"'},
    {"If-Modified-Since": "not a date"},
    {"Range": "bytes=0-10"},
    {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
]


@pytest.mark.parametrize("headers", ODD_HEADERS, ids=[repr(h)[:60] for h in ODD_HEADERS])
@pytest.mark.parametrize("url", [READ, "/fhir/PlanDefinition?title=induction"])
def test_odd_headers_are_not_server_errors(
    client: FlaskClient, url: str, headers: dict[str, str]
) -> None:
    response = client.get(url, headers=headers)
    assert response.status_code in (200, 206, 304, 406), response.get_data(as_text=True)[:300]
    if response.status_code == 406:
        assert_outcome(response, 406)


NAMES = sorted({name for params in PARAMETERS.values() for name in params} | set(RESULT_PARAMETERS))
MODIFIERS = ["", ":exact", ":contains", ":missing", ":not", ":text", ":"]
ALPHABET = st.sampled_from([*"aZ09-_.:|$,\\%&=+ /é\x00😀", "ge", "2024", "true", "|"])
VALUES = st.one_of(
    st.lists(ALPHABET, max_size=8).map("".join),
    st.text(max_size=20),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.sampled_from(["true", "false", "2024", "gt2024-01-01", "focus$C91.0", "title", "-_id"]),
)
PAIRS = st.lists(
    st.tuples(
        st.one_of(
            st.tuples(st.sampled_from(NAMES), st.sampled_from(MODIFIERS)).map("".join),
            st.text(max_size=8),
        ),
        VALUES,
    ),
    max_size=5,
)


@settings(max_examples=100, deadline=None, database=None)
@given(
    resource_type=st.sampled_from([*PARAMETERS, "Patient"]),
    pairs=PAIRS,
    strict=st.booleans(),
    method=st.sampled_from(["GET", "POST"]),
)
def test_generated_searches_are_not_server_errors(
    app: Flask, resource_type: str, pairs: list[tuple[str, str]], strict: bool, method: str
) -> None:
    query = urlencode(pairs, quote_via=quote)
    headers = dict(STRICT) if strict else {}
    client = app.test_client()
    if method == "GET":
        response = client.get(f"/fhir/{resource_type}?{query}", headers=headers)
    else:
        response = client.post(
            f"/fhir/{resource_type}/_search",
            data=query,
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )
    assert response.status_code < 500, (query, response.get_data(as_text=True)[:300])
    result: dict[str, Any] = json.loads(response.get_data(as_text=True))
    assert result["resourceType"] == (
        "Bundle" if response.status_code == 200 else "OperationOutcome"
    )


@pytest.mark.parametrize("path", ["/fhir/metadata", "/fhir/PlanDefinition"])
def test_an_undecodable_query_string_is_a_400(client: FlaskClient, path: str) -> None:
    response = client.get(path, environ_overrides={"QUERY_STRING": "x=\x80"})
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["diagnostics"] == "the query string is not valid UTF-8"
