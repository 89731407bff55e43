"""Numbers and versions from input: ASCII digits only, bounded, read by one function.

``str.isdigit()`` then ``int()`` answered 500 for ``_history/²`` and read Arabic-Indic or
fullwidth digits as numbers; one stored ``version`` of ``1.²`` made every
``_include=PlanDefinition:definition`` search and the reading view answer 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mappings.content import ContentError, loads
from mappings.limits import MAX_DEPTH, MAX_NUMBER_LENGTH
from mappings.numbers import MAX_DIGITS, VERSION_ID_DIGITS, strict_int
from mappings.pipeline import map_page
from tests.api.test_contract import assert_outcome, body
from tests.conftest import FIXTURES, golden_bundle

ARABIC_ONE, FULLWIDTH_ONE, ARABIC_TWO = "\u0661", "\uff11", "\u0662"
# Characters str.isdigit() (or int()) takes for digits that are not ASCII digits.
NOT_ASCII_DIGITS = ["²", "¹", "①", ARABIC_ONE, FULLWIDTH_ONE, "\u0967", "\U0001d7cf"]


# --- the one function -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "7", "0042", "9" * MAX_DIGITS])
def test_strict_int_reads_ascii_digits(text: str) -> None:
    assert strict_int(text) == int(text)


@pytest.mark.parametrize(
    "text",
    [*NOT_ASCII_DIGITS, "1" + ARABIC_ONE, "", " 1", "1 ", "1\n", "1_0", "+1", "-1", "1.0",
     "0x1", "1e3", "9" * (MAX_DIGITS + 1), "9" * 5000],
)  # fmt: skip
def test_strict_int_refuses_everything_else(text: str) -> None:
    with pytest.raises(ValueError, match="number"):
        strict_int(text)


def test_strict_int_takes_a_sign_only_when_asked_and_bounds_any_length() -> None:
    assert strict_int("-12", signed=True) == -12
    assert strict_int("+12", signed=True) == 12
    assert strict_int("1234", max_digits=4) == 1234
    for text in ("--1", "-", "+-1", "-" + ARABIC_ONE):
        with pytest.raises(ValueError):
            strict_int(text, signed=True)
    with pytest.raises(ValueError):
        strict_int("12345", max_digits=4)


# --- the API --------------------------------------------------------------------------------

VREAD = "/fhir/PlanDefinition/all-induction/_history/"


@pytest.mark.parametrize(
    "version",
    [*NOT_ASCII_DIGITS, "1" + ARABIC_ONE, "1_0", "+1", "01.0", "9" * (VERSION_ID_DIGITS + 1)],
)
def test_vread_of_a_version_that_is_no_ascii_number_is_404(
    client: FlaskClient, version: str
) -> None:
    # '²' and '¹' were a 500 (isdigit, then int() failing); Arabic-Indic and fullwidth one
    # were read as version 1.
    outcome = assert_outcome(client.get(VREAD + version), 404)
    assert outcome["issue"][0]["code"] == "not-found"
    assert "has no version" in outcome["issue"][0]["diagnostics"]


def test_vread_of_version_1_still_answers(client: FlaskClient) -> None:
    response = client.get(VREAD + "1")
    assert response.status_code == 200
    assert body(response)["meta"]["versionId"] == "1"


@pytest.mark.parametrize("value", [ARABIC_ONE, FULLWIDTH_ONE, "1_0", " 5", "5 ", "+5", "²"])
@pytest.mark.parametrize(
    ("path", "name"),
    [("/fhir/PlanDefinition", "_count"), ("/fhir/PlanDefinition", "_offset"),
     ("/fhir/PlanDefinition/_history", "_count"), ("/fhir/PlanDefinition/_history", "_offset")],
)  # fmt: skip
def test_paging_numbers_are_ascii_digits(
    client: FlaskClient, path: str, name: str, value: str
) -> None:
    # int() read Arabic-Indic and fullwidth 1 as 1, and '1_0' as 10.
    outcome = assert_outcome(client.get(path, query_string={name: value}), 400)
    assert name in outcome["issue"][0]["diagnostics"]


FULLWIDTH_2024 = "\uff12\uff10\uff12\uff14"


@pytest.mark.parametrize("date", [ARABIC_TWO + "024", "2024-0" + ARABIC_ONE, FULLWIDTH_2024])
def test_dates_are_ascii_digits(client: FlaskClient, date: str) -> None:
    # The date pattern's \d matched every script's digits, and int() read them.
    assert_outcome(client.get("/fhir/PlanDefinition", query_string={"_lastUpdated": date}), 400)
    assert_outcome(client.get("/fhir/PlanDefinition/_history", query_string={"_since": date}), 400)


def _unversioned_plan_and(activity_version: str) -> list[dict[str, Any]]:
    """The golden plan with unversioned canonicals (they resolve to the latest version),
    and its vincristine ActivityDefinition stored with ``activity_version``."""
    text = json.dumps(golden_bundle("all-induction"))
    text = re.sub(r"(ActivityDefinition/[a-z0-9-]+)\|1\.0\.0", r"\1", text)
    entries = [e["resource"] for e in json.loads(text)["entry"]]
    plan = next(r for r in entries if r["resourceType"] == "PlanDefinition")
    activity = next(r for r in entries if r["id"] == "vincristine")
    return [plan, {**activity, "version": activity_version}]


@pytest.mark.parametrize("version", ["1.²", "1." + ARABIC_ONE, "²", "1.beta", "1." + "9" * 40])
def test_an_odd_stored_version_is_an_opaque_string(writable_app: Flask, version: str) -> None:
    # Stored straight into the store, as a resource stored before the write gate was.
    writable_app.extensions["ped.store"].put(_unversioned_plan_and(version))
    client = writable_app.test_client()
    response = client.get(
        "/fhir/PlanDefinition",
        query_string={"_id": "all-induction", "_include": "PlanDefinition:definition"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    included = [e["resource"] for e in body(response)["entry"] if e["search"]["mode"] == "include"]
    vincristine = [r for r in included if r["id"] == "vincristine"]
    assert [r["version"] for r in vincristine] == [version]
    page = client.get("/education/PlanDefinition/all-induction")
    assert page.status_code == 200
    assert "vincristine" in page.get_data(as_text=True)


def test_numeric_versions_still_order_as_numbers(writable_app: Flask) -> None:
    store = writable_app.extensions["ped.store"]
    plan, activity = _unversioned_plan_and("1.10.0")
    older = {**activity, "id": "vincristine-old", "version": "1.9.0"}
    store.put([plan, activity])
    store.put([older])  # stored last, but 1.9.0 < 1.10.0
    response = writable_app.test_client().get(
        "/fhir/PlanDefinition",
        query_string={"_id": "all-induction", "_include": "PlanDefinition:definition"},
    )
    ids = [e["resource"]["id"] for e in body(response)["entry"]]
    assert "vincristine" in ids and "vincristine-old" not in ids


def _xml_with(client: FlaskClient, value: str) -> str:
    xml = client.get("/fhir/PlanDefinition/all-induction?_format=xml").get_data(as_text=True)
    assert '<value value="1"/>' in xml
    return xml.replace('<value value="1"/>', f'<value value="{value}"/>', 1)


@pytest.mark.parametrize("digits", [MAX_DIGITS + 1, 4_301, 10_000])
def test_validate_of_xml_with_a_huge_number_is_a_finding_not_a_500(
    client: FlaskClient, digits: int
) -> None:
    # int() of more than 4,300 digits raised ValueError: a public 500.
    response = client.post(
        "/fhir/PlanDefinition/$validate",
        data=_xml_with(client, "1" * digits),
        headers={"Content-Type": "application/fhir+xml"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    issue = body(response)["issue"][0]
    assert issue["severity"] == "fatal"
    # Past MAX_NUMBER_LENGTH characters the reader refuses it before counting digits.
    expected = (
        f"more than {MAX_DIGITS} digits"
        if digits <= MAX_NUMBER_LENGTH
        else f"at most {MAX_NUMBER_LENGTH} are read"
    )
    assert expected in issue["diagnostics"]


def test_validate_of_xml_with_a_long_number_within_the_bound_passes(client: FlaskClient) -> None:
    response = client.post(
        "/fhir/PlanDefinition/$validate",
        data=_xml_with(client, "1" * MAX_DIGITS),
        headers={"Content-Type": "application/fhir+xml"},
    )
    assert body(response)["issue"][0]["diagnostics"] == "no problems found"


# --- pages and the middle format ------------------------------------------------------------

PAGE = (FIXTURES / "pages" / "all-induction.txt").read_text("utf-8")
SPAN = "usually lasts about a month"


@pytest.mark.parametrize(
    "words", [ARABIC_TWO + " months", FULLWIDTH_ONE + " month", "9" * 5_000 + " months"]
)
def test_a_page_duration_in_other_digits_or_too_long_stays_text(words: str) -> None:
    # "lasts about ٢ months" was a KeyError and 5,000 digits a ValueError: a traceback in
    # flask map/load and a 500 from $import.
    assert SPAN in PAGE
    mapped = map_page(PAGE.replace(SPAN, "usually lasts about " + words).encode())
    assert mapped.content.duration is None


def test_a_page_duration_in_ascii_digits_is_read() -> None:
    mapped = map_page(PAGE.replace(SPAN, "usually lasts about 2 months").encode())
    assert mapped.content.duration is not None and mapped.content.duration.low == 2


CONTENT = (FIXTURES / "content" / "all-induction.yaml").read_text("utf-8")


def _with_first_line(value: str) -> str:
    changed, n = re.subn(r"line: \d+", f"line: {value}", CONTENT, count=1)
    assert n == 1
    return changed


@pytest.mark.parametrize("value", [f"'{ARABIC_ONE}'", ARABIC_ONE, "'1_0'", "'7'", "1.0"])
def test_middle_format_numbers_are_numbers_not_text(value: str) -> None:
    # marshmallow's int() read the text of an Arabic-Indic 1 as 1, and '1_0' as 10.
    with pytest.raises(ContentError, match="line: Not a valid integer"):
        loads(_with_first_line(value))


def test_middle_format_integer_beyond_the_bound_is_refused_at_its_line() -> None:
    # PyYAML's int() of 5,000 digits raised ValueError out of loads().
    line = CONTENT[: CONTENT.index("line: ")].count("\n") + 1
    with pytest.raises(ContentError, match=rf"^line {line}: a number of 5000 characters"):
        loads(_with_first_line("9" * 5_000))


@pytest.mark.parametrize("depth", [1_000, 20_000])
@pytest.mark.parametrize("shape", ["[{}]", '{{"format": "ped-content/1", "content": {}}}'])
def test_deeply_nested_middle_format_is_a_content_error(depth: int, shape: str) -> None:
    nested = '{"a": ' * depth + "1" + "}" * depth
    text = shape.format(nested)
    with pytest.raises(ContentError, match=f"nested more than {MAX_DEPTH} levels deep"):
        loads(text)
