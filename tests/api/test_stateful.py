"""Schemathesis, stateful: chains of calls the document's OpenAPI links describe.

A search leads to a read of its first match, a read to a vread of its ETag's version and to
its history, a history to a vread, and what ``$import`` wrote to a read, vread and history
of it. The links are checked twice: once deterministically (each link, followed from a real
reply, names a real resource and the target answers 200 as documented), and once by
schemathesis' state machine, which chains generated calls along them over a writable store
with the Bearer token configured, holding every reply to the document with all its default
checks. Bounded: a fixed number of scenarios of a fixed number of steps, no deadline.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transforms import UNRESOLVABLE
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi.stateful.links import OpenApiLink

from service import create_app
from service.search.params import PARAMETERS

from .conftest import TOKEN

SEED = 20261206
# 30 scenarios of an import and at most 6 more calls (generation is derandomized; whether a
# step uses a link's value or explores is schemathesis' own coin).
STATEFUL = settings(
    max_examples=30,
    stateful_step_count=6,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# A content body's grammar (a page, middle-format YAML, a FHIR resource or Bundle, FHIR XML)
# is beyond JSON Schema, so a schema-valid body of $import or of a write may still be refused
# as content: there 400 also counts as accepting the request (as in test_openapi.py), and for
# a write what FHIR answers a well-formed one it cannot apply (412 a stale If-Match or several
# matches, 422 a patch that does not apply). Every other check runs with its defaults.
_IMPORT_ACCEPTS = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
_WRITE_ACCEPTS = [*_IMPORT_ACCEPTS, "412", "422"]
_WRITES = r"^(create|update|conditional_update|patch|delete|conditional_delete|transaction)-"
_CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"deterministic": True},
        "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
        "operations": [
            {
                "include-path-regex": r"\$import",
                "checks": {"positive_data_acceptance": {"expected-statuses": _IMPORT_ACCEPTS}},
            },
            {
                "include-operation-id-regex": _WRITES,
                "checks": {"positive_data_acceptance": {"expected-statuses": _WRITE_ACCEPTS}},
            },
        ],
    }
)
_DOCUMENT_APP = create_app({"DATABASE_URL": "sqlite://", "API_TOKEN": TOKEN})
SCHEMA = schemathesis.openapi.from_wsgi("/openapi.json", _DOCUMENT_APP, config=_CONFIG)
AUTHORIZATION = {"Authorization": f"Bearer {TOKEN}"}
IMPORT = SCHEMA["/fhir/$import"]["POST"]


def _import_examples() -> list[tuple[str, dict[str, Any]]]:
    """(media type, resource) of every example the document gives for $import."""
    content = SCHEMA.raw_schema["paths"]["/fhir/$import"]["post"]["requestBody"]["content"]
    return [
        (media_type, example["value"])
        for media_type, media in content.items()
        for example in media.get("examples", {}).values()
    ]


EXAMPLES = _import_examples()


def _links(source: Any) -> list[OpenApiLink]:
    """The document's links of an operation's 200 reply, as schemathesis reads them (not
    those it infers and adds to the loaded schema when it builds a state machine)."""
    links = [
        OpenApiLink(name, "200", definition, source)
        for name, definition in source.responses.get("200").iter_links()
    ]
    return [link for link in links if not link.is_inferred]


def _follow(app: Flask, link: OpenApiLink, output: StepOutput) -> tuple[dict[str, Any], Any]:
    """The path parameters the link takes from ``output``, and the target's reply to them."""
    extracted = link.extract(output).parameters["path_parameters"]
    values = {name: param.value.ok() for name, param in extracted.items()}
    assert UNRESOLVABLE not in values.values(), (link.full_name, values)
    case = link.target.Case(path_parameters=values)
    return values, case.call_and_validate(app=app)


def _call(app: Flask, operation: Any, **path_parameters: Any) -> StepOutput:
    case = operation.Case(path_parameters=path_parameters)
    return StepOutput(case.call_and_validate(app=app), case)


# --- the links, followed one by one --------------------------------------------------------


def test_every_link_is_valid_and_reaches_each_single_resource_operation() -> None:
    """Links name existing operations and parameters (schemathesis refuses the machine
    otherwise), and every operation on one resource is reached by two or more of them."""
    SCHEMA.as_state_machine()
    targets = Counter(
        link.target.label for result in SCHEMA.get_all_operations() for link in _links(result.ok())
    )
    for resource_type in PARAMETERS:
        for path in (
            "/{resource_id}",
            "/{resource_id}/_history",
            "/{resource_id}/_history/{version_id}",
        ):
            assert targets[f"GET /fhir/{resource_type}{path}"] >= 2, (resource_type, path)
    assert targets["GET /fhir/PlanDefinition/{resource_id}/$package"] >= 1


@pytest.mark.parametrize(
    ("media_type", "resource"),
    EXAMPLES,
    ids=[f"{media_type}-{resource['resourceType']}" for media_type, resource in EXAMPLES],
)
def test_import_links_lead_to_what_was_written(
    writable_app: Flask, media_type: str, resource: dict[str, Any]
) -> None:
    case = IMPORT.Case(body=resource, media_type=media_type, headers=AUTHORIZATION)
    response = case.call_and_validate(app=writable_app)
    assert response.status_code == 200
    version = response.json()["entry"][0]["response"]["etag"].split('"')[1]
    output = StepOutput(response, case)
    followed = 0
    for link in _links(IMPORT):
        if not link.target.path.startswith(f"/fhir/{resource['resourceType']}/"):
            # another type's link finds nothing to follow in this reply
            extracted = link.extract(output).parameters["path_parameters"]
            assert all(p.value.ok() is UNRESOLVABLE for p in extracted.values()), link.name
            continue
        values, reply = _follow(writable_app, link, output)
        assert values["resource_id"] == resource["id"]
        assert values.get("version_id", version) == version
        assert reply.status_code == 200, link.full_name
        followed += 1
    assert followed == 3  # read, vread, history


@pytest.mark.parametrize("resource_type", PARAMETERS)
def test_search_read_and_history_links_lead_to_the_resource_they_name(
    app: Flask, resource_type: str
) -> None:
    base = f"/fhir/{resource_type}"
    search = _call(app, SCHEMA[base]["GET"])
    first = search.response.json()["entry"][0]["resource"]
    sources = [
        search,
        _call(app, SCHEMA[f"{base}/_history"]["GET"]),
        _call(app, SCHEMA[f"{base}/{{resource_id}}"]["GET"], resource_id=first["id"]),
        _call(app, SCHEMA[f"{base}/{{resource_id}}/_history"]["GET"], resource_id=first["id"]),
    ]
    for output in sources:
        links = _links(output.case.operation)
        assert links, output.case.operation.label
        for link in links:
            values, reply = _follow(app, link, output)
            assert reply.status_code == 200, link.full_name
            if "version_id" in values:
                assert reply.json()["meta"]["versionId"] == str(values["version_id"])
            if output is not sources[1]:  # the type's history starts with its newest change
                assert values["resource_id"] == first["id"], link.full_name


# --- the state machine ---------------------------------------------------------------------


def _workflow(app: Flask) -> Any:
    """The state machine of the document's links, sending every call to ``app``. Each
    scenario starts by importing one of the document's examples (a random body is rarely
    content the server can store), so the chains from $import have something to follow."""

    class Workflow(SCHEMA.as_state_machine()):  # type: ignore[misc]
        @initialize(target=Bundle("catch_all"), example=st.sampled_from(EXAMPLES))
        def import_an_example(self, example: tuple[str, dict[str, Any]]) -> StepOutput:
            media_type, body = example
            case = IMPORT.Case(body=body, media_type=media_type, headers=AUTHORIZATION)
            self.recorder.record_case(case=case)
            return self.step(StepInput.initial(case))

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": app}

    return Workflow


def test_chains_of_calls_do_what_the_document_says(writable_app: Flask) -> None:
    _workflow(writable_app).run(settings=STATEFUL)
