"""Property tests: whatever body a client posts to $validate (public) or $import (with the
token), the reply is FHIR, never a 5xx; a refused $import writes nothing; an accepted one
wrote what its reply says.

Bodies are bytes, any JSON, and real resources with one element replaced, dropped or added,
sent as JSON, FHIR XML or YAML under every content type the server takes and some it does
not. The hostile shapes the issue found (deep nesting, huge numbers) are cases of their own
at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from service.api.imports import BODY_KINDS
from service.api.validate import BODY_TYPES
from service.formats.xml import to_xml
from service.search.params import PARAMETERS
from tests.conftest import FIXTURES
from tests.support.servers import TOKEN

from .bounds import BOUNDED
from .replies import check_reply

AUTHORIZATION = {"Authorization": f"Bearer {TOKEN}"}


def _resources() -> list[dict[str, Any]]:
    """A few resources of each type, from the fixtures' golden FHIR."""
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in PARAMETERS}
    for path in sorted((FIXTURES / "fhir").glob("*.json")):
        for entry in json.loads(path.read_text("utf-8"))["entry"]:
            found[entry["resource"]["resourceType"]].append(entry["resource"])
    return [r for kind in found.values() for r in kind[:3]]


RESOURCES = _resources()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


class Mutated(dict[str, Any]):
    """A resource, shown in a failure report by what was done to it (a PlanDefinition is
    tens of kB: Hypothesis warns, and pytest fails, on so large a report)."""

    def __init__(self, resource: dict[str, Any], how: str) -> None:
        super().__init__(resource)
        self.how = how

    def __repr__(self) -> str:
        return f"<{self.get('resourceType')!r}/{self.get('id')!r}: {self.how[:200]}>"


@dataclass(frozen=True)
class Body:
    kind: str  # json, xml, yaml or bytes
    data: bytes
    how: str

    def __repr__(self) -> str:
        return f"<{self.kind} body, {len(self.data)} bytes: {self.how[:200]}>"


@st.composite
def mutated_resources(draw: st.DrawFn) -> Mutated:
    """A real resource as it is, under a new id, or with one top-level element replaced
    by any JSON, dropped or added."""
    original = draw(st.sampled_from(RESOURCES))
    resource = dict(original)
    action = draw(st.sampled_from(["keep", "new id", "replace", "drop"]))
    key = draw(st.sampled_from([*resource, "extension", "bogus", "resourceType", "id"]))
    how = f"{original['resourceType']}/{original['id']}, {action}"
    if action == "new id":
        resource["id"] = draw(st.from_regex(r"\Afuzz-[a-z0-9]{1,12}\Z"))
        how += f" {resource['id']!r}"
    elif action == "drop":
        resource.pop(key, None)
        how += f" {key!r}"
    elif action == "replace":
        resource[key] = draw(JSON_VALUES)
        how += f" {key!r} with {resource[key]!r}"
    return Mutated(resource, how)


def _encodings(resource: Mutated) -> list[Body]:
    """The bodies the resource can be sent as: JSON, and FHIR XML if XML can hold it."""
    as_json = Body("json", json.dumps(resource, ensure_ascii=False).encode(), resource.how)
    try:
        as_xml = to_xml(resource)
    except Exception:  # a mutated resource FHIR XML cannot hold is sent as JSON only
        return [as_json]
    return [as_json, Body("xml", as_xml, resource.how)]


@st.composite
def bodies(draw: st.DrawFn) -> Body:
    """A mutated resource as JSON or XML, any JSON, or any bytes."""
    choice = draw(st.sampled_from(["resource", "resource", "json", "bytes"]))
    if choice == "resource":
        return draw(st.sampled_from(_encodings(draw(mutated_resources()))))
    if choice == "json":
        value = draw(JSON_VALUES)
        return Body("json", json.dumps(value).encode(), repr(value))
    data = draw(st.binary(max_size=64))
    return Body("bytes", data, repr(data))


def _content_types(kind: str, taken: list[str]) -> st.SearchStrategy[str]:
    """Mostly a type that fits the body, sometimes any the endpoint takes, or another."""
    fitting = [t for t in taken if kind == "bytes" or kind in t] or taken
    return st.one_of(
        st.sampled_from(fitting),
        st.sampled_from([*taken, "text/html", "multipart/form-data", "application/octet-stream"]),
    )


# --- $validate -----------------------------------------------------------------------------


@given(resource_type=st.sampled_from([*PARAMETERS, "Patient"]), data=st.data())
@BOUNDED
def test_validate_answers_any_body_with_an_outcome(
    client: FlaskClient, resource_type: str, data: st.DataObject
) -> None:
    body = data.draw(bodies())
    content_type = data.draw(_content_types(body.kind, list(BODY_TYPES)))
    response = client.post(
        f"/fhir/{resource_type}/$validate", data=body.data, content_type=content_type
    )
    assert check_reply(response, "POST") == "OperationOutcome"
    assert response.status_code in (200, 400, 404, 413, 415), response.status_code


# --- $import -------------------------------------------------------------------------------


def _versions(client: FlaskClient) -> dict[str, int]:
    """How many versions the store holds, per type: what a write changes."""
    totals = {}
    for resource_type in PARAMETERS:
        response = client.get(f"/fhir/{resource_type}/_history?_count=0")
        assert response.status_code == 200
        totals[resource_type] = response.get_json()["total"]
    return totals


@st.composite
def import_bodies(draw: st.DrawFn) -> Body:
    """Bodies as for $validate, plus YAML (middle format, or anything)."""
    body = draw(bodies())
    if body.kind == "json" and draw(st.integers(0, 3)) == 0:
        # JSON is YAML: the middle-format reader gets any structure
        return Body("yaml", body.data, body.how)
    return body


@given(data=st.data())
@BOUNDED
def test_import_refuses_without_writing_or_writes_what_it_says(
    writable_app: Flask, data: st.DataObject
) -> None:
    client = writable_app.test_client()
    body = data.draw(import_bodies())
    content_type = data.draw(_content_types(body.kind, list(BODY_KINDS)))
    before = _versions(client)
    response = client.post(
        "/fhir/$import", data=body.data, content_type=content_type, headers=AUTHORIZATION
    )
    resource_type = check_reply(response, "POST")
    event(f"$import {response.status_code}")
    after = _versions(client)
    if response.status_code >= 400:
        assert response.status_code in (400, 413, 415), response.status_code
        assert after == before, "a refused $import wrote something"
        return
    assert response.status_code == 200 and resource_type == "Bundle"
    reply = response.get_json()
    assert reply["type"] == "transaction-response"
    for entry in reply["entry"]:
        location = entry["response"]["location"]
        read = client.get(f"/fhir/{location}")
        assert read.status_code == 200, location
    created = sum(e["response"]["status"].startswith("201") for e in reply["entry"])
    assert sum(after.values()) - sum(before.values()) >= created


_MEDICATION = next(r for r in RESOURCES if r["resourceType"] == "Medication")
_BOGUS_STATUS = Mutated(
    {**_MEDICATION, "status": "bogus-status"}, "Medication, replace 'status' with 'bogus-status'"
)
_DANGLING = "https://fhir.example.org/ped/ActivityDefinition/nowhere"
_DANGLING_DEFINITION = Mutated(
    {
        "resourceType": "PlanDefinition",
        "id": "fuzz-dangling",
        "status": "draft",
        "action": [{"title": "x", "definitionCanonical": _DANGLING}],
    },
    "a PlanDefinition whose action's definitionCanonical resolves to nothing",
)


@st.composite
def new_resources(draw: st.DrawFn) -> Mutated:
    """A mutated resource under an id (and canonical URL) of its own: writing it changes no
    stored resource, so each verdict of $validate is the same whenever it is asked."""
    resource = draw(mutated_resources())
    resource_id = draw(st.from_regex(r"\Afuzz-[a-z0-9]{1,12}\Z"))
    if isinstance(resource.get("id"), str):
        resource["id"] = resource_id
    if isinstance(resource.get("url"), str):
        resource["url"] = f"https://fhir.example.org/ped/fuzz/{resource_id}"
    return Mutated(resource, f"{resource.how}, as {resource_id}")


@given(resource=new_resources())
@example(resource=_BOGUS_STATUS)
@example(resource=_DANGLING_DEFINITION)
@settings(BOUNDED, report_multiple_bugs=False)
def test_import_refuses_what_validate_rejects(writable_app: Flask, resource: Mutated) -> None:
    client = writable_app.test_client()
    body = json.dumps(resource).encode()
    resource_type = resource.get("resourceType")
    served = (
        resource_type if isinstance(resource_type, str) and resource_type in PARAMETERS else None
    )
    validated = client.post(
        f"/fhir/{served or 'Medication'}/$validate", data=body, content_type="application/fhir+json"
    )
    check_reply(validated, "POST")
    rejected = validated.status_code != 200 or any(
        issue["severity"] in ("error", "fatal") for issue in validated.get_json()["issue"]
    )
    imported = client.post(
        "/fhir/$import", data=body, content_type="application/fhir+json", headers=AUTHORIZATION
    )
    check_reply(imported, "POST")
    event(f"$validate {'rejects' if rejected else 'accepts'}, $import {imported.status_code}")
    if rejected:  # the other way round need not hold: $import also needs an id to store by
        assert imported.status_code == 400, (validated.get_json(), imported.get_json())


# --- hostile shapes ------------------------------------------------------------------------

_DEEP_JSON = "[" * 1200 + "]" * 1200
_DEEP_OBJECT = '{"a":' * 1200 + "1" + "}" * 1200
_BIG = "9" * 4400
_BIG_JSON = (
    '{"resourceType":"Medication","id":"x","status":"active",'
    f'"amount":{{"numerator":{{"value":{_BIG}}}}}}}'
)
_BIG_XML = (
    '<Medication xmlns="http://hl7.org/fhir"><id value="x"/><status value="active"/>'
    f'<amount><numerator><value value="{_BIG}"/></numerator></amount></Medication>'
)
_DEEP_YAML = "- " * 1000 + "x"


_VALIDATE = "/fhir/Medication/$validate"
_JSON, _XML, _YAML = "application/fhir+json", "application/fhir+xml", "application/yaml"
_IMPORT = "/fhir/$import"
HOSTILE = [
    pytest.param(_VALIDATE, _JSON, _DEEP_JSON, id="validate-deep-json"),
    pytest.param(_VALIDATE, _JSON, _DEEP_OBJECT, id="validate-deep-object"),
    pytest.param(_VALIDATE, _JSON, _BIG_JSON, id="validate-big-number-json"),
    pytest.param(_VALIDATE, _XML, _BIG_XML, id="validate-big-number-xml"),
    pytest.param(_IMPORT, _JSON, _DEEP_JSON, id="import-deep-json"),
    pytest.param(_IMPORT, _JSON, _DEEP_OBJECT, id="import-deep-object"),
    pytest.param(_IMPORT, _JSON, _BIG_JSON, id="import-big-number-json"),
    pytest.param(_IMPORT, _YAML, _DEEP_YAML, id="import-deep-yaml"),
]


@pytest.mark.parametrize(("path", "content_type", "body"), HOSTILE)
def test_a_hostile_body_gets_an_outcome(
    writable_app: Flask, path: str, content_type: str, body: str
) -> None:
    client = writable_app.test_client()
    before = _versions(client)
    response = client.post(path, data=body, content_type=content_type, headers=AUTHORIZATION)
    assert check_reply(response, "POST") == "OperationOutcome"
    assert _versions(client) == before
