"""Requests ``/infobutton`` cannot answer: each is a 400 OperationOutcome naming the
parameter, in FHIR JSON when the client asked for JSON and in FHIR XML otherwise; and no
query string at all makes it fail with a 5xx.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from service.infobutton import lookup
from service.store import StoreUnavailable
from tests.support.r4_validator import validate_r4
from tests.support.xml_validator import check_xml

from .support import (
    CODE,
    DISPLAY,
    ICD10CM,
    LANGUAGE,
    RECIPIENT,
    RXNORM,
    SNOMED,
    SYSTEM,
    TYPE,
    Pairs,
    criteria,
    get,
    outcome,
    read_atom,
    read_json,
    url,
)

JSON_TYPE = (TYPE, "application/json")

# (request, parameter named, issue code)
MALFORMED: dict[str, tuple[list[tuple[str, str]], str, str]] = {
    "no code": ([(SYSTEM, ICD10CM)], CODE, "required"),
    "no system": ([(CODE, "C91.0")], SYSTEM, "required"),
    "empty code": (criteria(ICD10CM, ""), CODE, "invalid"),
    "system is a name": (criteria("ICD-10-CM", "C91.0"), SYSTEM, "invalid"),
    "system is a URI": (criteria("http://snomed.info/sct", "91857003"), SYSTEM, "invalid"),
    "system as urn:oid": (criteria(f"urn:oid:{ICD10CM}", "C91.0"), SYSTEM, "invalid"),
    "oid with a leading zero": (criteria("2.16.840.1.113883.6.090", "C91.0"), SYSTEM, "invalid"),
    "oid with one arc": (criteria("2", "C91.0"), SYSTEM, "invalid"),
    "oid rooted at 3": (criteria("3.1", "C91.0"), SYSTEM, "invalid"),
    "oid with a trailing newline": (criteria(f"{ICD10CM}\n", "C91.0"), SYSTEM, "invalid"),
    "icd10cm too short": (criteria(ICD10CM, "C9"), CODE, "invalid"),
    "icd10cm too long": (criteria(ICD10CM, "C91.00000"), CODE, "invalid"),
    "icd9 code as icd10cm": (criteria(ICD10CM, "204.00"), CODE, "invalid"),
    "icd10cm with a dash": (criteria(ICD10CM, "C91-0"), CODE, "invalid"),
    "icd10cm with a space": (criteria(ICD10CM, " C91.0"), CODE, "invalid"),
    "icd10cm with a dotless i": (criteria(ICD10CM, "\u013191.0"), CODE, "invalid"),
    "icd10cm with a trailing dot": (criteria(ICD10CM, "C91."), CODE, "invalid"),
    "snomed too short": (criteria(SNOMED, "12345"), CODE, "invalid"),
    "snomed too long": (criteria(SNOMED, "1" * 19), CODE, "invalid"),
    "snomed not digits": (criteria(SNOMED, "91857003X"), CODE, "invalid"),
    "snomed in arabic-indic digits": (criteria(SNOMED, "٩١٨٥٧٠٠٣"), CODE, "invalid"),
    "rxnorm not digits": (criteria(RXNORM, "RX6851"), CODE, "invalid"),
    "rxnorm decimal": (criteria(RXNORM, "6851.0"), CODE, "invalid"),
    "language with underscore": (
        criteria(RXNORM, "6851", (LANGUAGE, "en_US")),
        LANGUAGE,
        "invalid",
    ),
    "language one letter": (criteria(RXNORM, "6851", (LANGUAGE, "e")), LANGUAGE, "invalid"),
    "language empty": (criteria(RXNORM, "6851", (LANGUAGE, "")), LANGUAGE, "invalid"),
    "language with a space": (criteria(RXNORM, "6851", (LANGUAGE, "en US")), LANGUAGE, "invalid"),
    "language a display name": (
        criteria(RXNORM, "6851", (LANGUAGE, "English!")),
        LANGUAGE,
        "invalid",
    ),
    "language subtag too long": (
        criteria(RXNORM, "6851", (LANGUAGE, "en-abcdefghi")),
        LANGUAGE,
        "invalid",
    ),
    "language empty private use": (
        criteria(RXNORM, "6851", (LANGUAGE, "en-x")),
        LANGUAGE,
        "invalid",
    ),
    "language double dash": (criteria(RXNORM, "6851", (LANGUAGE, "en--US")), LANGUAGE, "invalid"),
    "recipient lower case": (criteria(RXNORM, "6851", (RECIPIENT, "pat")), RECIPIENT, "invalid"),
    "recipient other": (criteria(RXNORM, "6851", (RECIPIENT, "PATIENT")), RECIPIENT, "invalid"),
    "recipient empty": (criteria(RXNORM, "6851", (RECIPIENT, "")), RECIPIENT, "invalid"),
    "display with a NUL": (criteria(RXNORM, "6851", (DISPLAY, "a\x00b")), DISPLAY, "invalid"),
    "display with U+FFFE": (criteria(RXNORM, "6851", (DISPLAY, "a\ufffeb")), DISPLAY, "invalid"),
    "code with a control": (criteria("1.2.3", "a\x1bb"), CODE, "invalid"),
}
# Malformed only in its format, so the error cannot be JSON (it is FHIR XML).
BAD_TYPES = ["application/xml", "json", "application/fhir+json", "text/html", ""]


def _as(fmt: str, pairs: Pairs) -> list[tuple[str, str]]:
    return [*pairs, JSON_TYPE] if fmt == "json" else list(pairs)


def _check_outcome(
    client: FlaskClient, pairs: Pairs, fmt: str, parameter: str, code: str
) -> list[dict[str, str]]:
    response = get(client, _as(fmt, pairs))
    assert response.status_code == 400, response.data
    expected_type = "application/fhir+json" if fmt == "json" else "application/fhir+xml"
    assert response.headers["Content-Type"].startswith(expected_type)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    issues = outcome(response)
    assert [i["severity"] for i in issues] == ["error"] * len(issues)
    named = [i for i in issues if i["diagnostics"].startswith(f"{parameter}: ")]
    assert named, issues
    assert {i["code"] for i in named} == {code}
    return issues


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_request_is_a_400_naming_the_parameter(
    client: FlaskClient, fmt: str, case: str
) -> None:
    pairs, parameter, code = MALFORMED[case]
    issues = _check_outcome(client, pairs, fmt, parameter, code)
    assert len(issues) == 1, issues


@pytest.mark.parametrize("value", BAD_TYPES)
def test_an_unknown_response_type_is_a_400_in_xml(client: FlaskClient, value: str) -> None:
    _check_outcome(client, criteria(RXNORM, "6851", (TYPE, value)), "xml", TYPE, "invalid")


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("parameter", [CODE, SYSTEM, DISPLAY, LANGUAGE, RECIPIENT])
def test_a_repeated_parameter_is_a_400(client: FlaskClient, fmt: str, parameter: str) -> None:
    values = {CODE: "6851", SYSTEM: RXNORM, DISPLAY: "x", LANGUAGE: "en", RECIPIENT: "PAT"}
    once = criteria(RXNORM, "6851")
    pairs = [*once, *([(parameter, values[parameter])] * (1 if parameter in dict(once) else 2))]
    issues = _check_outcome(client, pairs, fmt, parameter, "invalid")
    assert "2 times" in issues[0]["diagnostics"]


def test_a_repeated_response_type_is_a_400_in_xml(client: FlaskClient) -> None:
    pairs = [*criteria(RXNORM, "6851"), JSON_TYPE, JSON_TYPE]
    _check_outcome(client, pairs, "xml", TYPE, "invalid")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_problem_is_reported_at_once(client: FlaskClient, fmt: str) -> None:
    pairs = [(SYSTEM, SNOMED), (LANGUAGE, "en_US"), (RECIPIENT, "X"), (DISPLAY, "\x01")]
    issues = _check_outcome(client, pairs, fmt, CODE, "required")
    assert [(i["diagnostics"].split(":")[0], i["code"]) for i in issues] == [
        (CODE, "required"),
        (DISPLAY, "invalid"),
        (LANGUAGE, "invalid"),
        (RECIPIENT, "invalid"),
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_code_of_the_wrong_shape_says_what_was_expected(client: FlaskClient, fmt: str) -> None:
    (issue,) = _check_outcome(client, criteria(ICD10CM, "C9"), fmt, CODE, "invalid")
    assert "'C9' is not a valid ICD-10-CM code" in issue["diagnostics"]
    assert "C91.00" in issue["diagnostics"]


def test_error_bodies_are_valid_r4_in_both_formats(client: FlaskClient) -> None:
    """Checked by FHIR.js (validators/), independent of the server's JSON and XML code."""
    json_bodies, xml_bodies = [], []
    for pairs, _, _ in MALFORMED.values():
        json_bodies.append(json.loads(get(client, _as("json", pairs)).data))
        xml_bodies.append(get(client, pairs).data)
    for verdict in validate_r4(json_bodies):
        assert verdict.valid, verdict.describe()
    checked = check_xml(list(zip(xml_bodies, json_bodies, strict=True)))
    for body, read, reference in zip(xml_bodies, checked, json_bodies, strict=True):
        assert read.valid, (body, read.describe())
        assert read.parsed == reference  # the XML says what the JSON says


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unavailable_store_is_a_503(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    def unavailable(*_: object) -> lookup.Found:
        raise StoreUnavailable("database is down")

    monkeypatch.setattr(lookup, "find", unavailable)
    response = get(client, _as(fmt, criteria(RXNORM, "6851")))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert [i["code"] for i in outcome(response)] == ["transient"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unexpected_failure_is_an_outcome_not_a_traceback(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    def broken(*_: object) -> lookup.Found:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(lookup, "find", broken)
    response = get(client, _as(fmt, criteria(RXNORM, "6851")))
    assert response.status_code == 500
    assert b"secret detail" not in response.data
    assert [i["code"] for i in outcome(response)] == ["exception"]


NAMES = [CODE, SYSTEM, DISPLAY, LANGUAGE, TYPE, RECIPIENT, "taskContext.c.c"]
VALUES = st.one_of(
    st.text(max_size=24),
    st.sampled_from(
        [
            ICD10CM,
            SNOMED,
            RXNORM,
            "C91.0",
            "c91.00",
            "91857003",
            "6851",
            "en",
            "en-US",
            "es",
            "application/json",
            "text/xml",
            "PAT",
            "PROV",
            "1.2.3",
            "",
        ]
    ),
    st.lists(st.sampled_from([*"C9.1aZ0-_&=%+;é\x00\x01\ufffe😀 "]), max_size=10).map("".join),
)
PAIRS = st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)), VALUES))


def _answer_is_well_formed(status: int, content_type: str, body: bytes) -> None:
    assert status in (200, 400), (status, body[:300])
    if content_type.startswith("application/json"):
        assert read_json(body) is not None
    elif status == 200:
        assert read_atom(body) is not None
    elif content_type.startswith("application/fhir+json"):
        assert json.loads(body)["resourceType"] == "OperationOutcome"
    else:
        assert etree.fromstring(body).tag == "{http://hl7.org/fhir}OperationOutcome"


@settings(max_examples=300, deadline=None, database=None)
@given(pairs=PAIRS)
def test_generated_requests_are_answered_without_a_server_error(
    app: Flask, pairs: list[tuple[str, str]]
) -> None:
    response = app.test_client().get(f"/infobutton?{urlencode(pairs, quote_via=quote)}")
    _answer_is_well_formed(response.status_code, response.headers["Content-Type"], response.data)
    if response.status_code == 200:
        names = [name for name, _ in pairs]
        assert names.count(CODE) == names.count(SYSTEM) == 1


@settings(max_examples=200, deadline=None, database=None)
@given(raw=st.binary(max_size=80))
def test_raw_query_bytes_are_answered_without_a_server_error(app: Flask, raw: bytes) -> None:
    # As a server receives it: WSGI gives the query string as bytes decoded as Latin-1.
    query = raw.decode("latin-1")
    response = app.test_client().get("/infobutton", environ_overrides={"QUERY_STRING": query})
    _answer_is_well_formed(response.status_code, response.headers["Content-Type"], response.data)


def test_the_generated_vocabulary_reaches_real_answers(app: Flask) -> None:
    """The property tests above are not vacuous: values they draw find content."""
    pairs = [(CODE, "c91.00"), (SYSTEM, ICD10CM), (LANGUAGE, "en-US")]
    response = app.test_client().get(url(pairs))
    assert len(read_atom(response.data).entries) == 2


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_query_string_that_is_not_utf8_is_a_400(app: Flask, fmt: str) -> None:
    # WSGI's QUERY_STRING holds the raw bytes as Latin-1 characters: here 0x80 0xFF.
    query = urlencode(_as(fmt, criteria(RXNORM, "6851"))) + "&x=\x80\xff"
    response = app.test_client().get("/infobutton", environ_overrides={"QUERY_STRING": query})
    assert response.status_code == 400
    (issue,) = outcome(response)
    assert issue["diagnostics"] == "query string: is not UTF-8"
    # The format cannot be read either, so the error is FHIR XML whatever was asked.
    assert response.headers["Content-Type"].startswith("application/fhir+xml")
