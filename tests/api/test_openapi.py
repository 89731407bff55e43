"""The OpenAPI document and the docs page: valid, complete, true to the server.

Completeness is checked against the registries (every route and search parameter appears,
nothing else does). Truth is checked by schemathesis, in-process over WSGI, with all its
default checks: it generates requests from the document (valid and invalid ones) and holds
every reply to the documented statuses, media types, headers and schemas.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from service import create_app
from service.api import conformance
from service.api.negotiation import FORMATS
from service.api.openapi import build_document
from service.api.registry import CONFORMANCE_ROUTES, ROUTES
from service.search.params import PARAMETERS

from .conftest import TOKEN, make_app

# Deterministic and bounded: a fixed seed, few examples per operation.
MAX_EXAMPLES = 8
SEED = 20261121
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _config(**checks: Any) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            **({"checks": checks} if checks else {}),
        }
    )


# --- the document -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data: dict[str, Any] = response.get_json()
    return data


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema; raises on any violation
    assert document["openapi"].startswith("3.")


def test_an_invalid_document_is_refused_by_the_validation_used_above() -> None:
    """The validation in the test above can fail: it refuses a broken document."""
    broken = {"openapi": "3.1.0", "info": {"title": "x"}, "paths": {"/a": {"get": {}}}}
    with pytest.raises(Exception, match="version"):
        schemathesis.openapi.from_dict(broken).validate()


# The conformance routes that answer (their writes are a 405, their history none: those are
# not operations, and are not in the document).
ANSWERING = [r for r in CONFORMANCE_ROUTES if r.view not in (conformance.refuse,
                                                               conformance.no_history)]  # fmt: skip


def _expected_methods() -> dict[str, set[str]]:
    """Path -> methods, of every route (several routes share a path, each its methods)."""
    expected: dict[str, set[str]] = {}
    for route in (*ROUTES, *ANSWERING):
        typed = "resource_type>" in route.rule
        for resource_type in PARAMETERS if typed else [""]:
            path = "/fhir" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.rule).replace(
                "{resource_type}", resource_type
            )
            methods = {m.lower() for m in route.methods}
            if "get" in methods:
                methods.add("head")
            expected.setdefault(path, set()).update(methods)
    return expected


def test_every_route_and_method_appears_and_nothing_else(document: dict[str, Any]) -> None:
    expected = _expected_methods()
    assert set(document["paths"]) == set(expected)
    assert any(path.startswith("/fhir/StructureDefinition") for path in expected)
    for path, methods in expected.items():
        assert set(document["paths"][path]) == methods, path


def _query_names(operation: dict[str, Any]) -> set[str]:
    """Query field names: a parameter's, or each property of an exploded object's."""
    names = set()
    for p in operation["parameters"]:
        if "name" not in p or p["in"] != "query":
            continue
        if p.get("explode") and "properties" in p["schema"]:
            names |= set(p["schema"]["properties"])
        else:
            names.add(p["name"])
    return names


def test_every_search_parameter_and_modifier_appears_and_nothing_else(
    document: dict[str, Any],
) -> None:
    result = {"_count", "_offset", "_sort", "_summary", "_elements", "_total"}
    for resource_type, params in PARAMETERS.items():
        expected = {name for name in params} | {
            f"{p.name}:{m}" for p in params.values() for m in p.modifiers
        }
        for path in (f"/fhir/{resource_type}", f"/fhir/{resource_type}/_search"):
            search = document["paths"][path]["get"]
            assert _query_names(search) == expected | result
        form = document["paths"][f"/fhir/{resource_type}/_search"]["post"]
        body = form["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        assert set(body["properties"]) == expected
        assert _query_names(form) == result


def test_every_format_is_a_reply_media_type(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation["responses"]["200"]["content"]
            assert set(content) == {f.media_type for f in FORMATS}, (method, path)


def test_the_document_is_built_once_per_app(app: Flask) -> None:
    client = app.test_client()
    first, second = client.get("/openapi.json"), client.get("/openapi.json")
    assert first.data == second.data
    assert app.extensions["ped.openapi"].body is app.extensions["ped.openapi"].body


def test_the_document_follows_the_configuration(tmp_path: Path) -> None:
    base = "https://example.test/other"
    other = make_app(tmp_path / "empty.sqlite3", CANONICAL_BASE=base)
    assert base in other.test_client().get("/openapi.json").get_json()["info"]["description"]
    assert base in build_document(other.config)["info"]["description"]


def test_the_import_examples_are_content_validate_accepts(
    document: dict[str, Any], client: FlaskClient
) -> None:
    """What the document offers a client to send (and schemathesis sends to follow the
    links of the reply) is a resource of each served type with no error."""
    content = document["paths"]["/fhir/$import"]["post"]["requestBody"]["content"]
    examples = {
        media_type: {e["value"]["resourceType"]: e["value"] for e in m["examples"].values()}
        for media_type, m in content.items()
        if "examples" in m
    }
    assert set(examples) == {"application/json", "application/fhir+json"}
    for resources in examples.values():
        assert set(resources) == set(PARAMETERS)
        for resource_type, resource in resources.items():
            outcome = client.post(f"/fhir/{resource_type}/$validate", json=resource).get_json()
            assert [i for i in outcome["issue"] if i["severity"] != "information"] == [], outcome


# --- the docs page ------------------------------------------------------------------------


class _Page(HTMLParser):
    """Headings, asset references and the root ``lang`` of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.headings: list[int] = []
        self.references: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.lang = values.get("lang")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        for name in ("src", "href"):
            if name in values:
                self.references.append((tag, name, values[name]))


@pytest.fixture(scope="module")
def docs_page(app: Flask) -> tuple[str, _Page]:
    response = app.test_client().get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    page = _Page()
    page.feed(html)
    return html, page


def test_docs_mention_every_path(docs_page: tuple[str, _Page], document: dict[str, Any]) -> None:
    html, _ = docs_page
    for path in document["paths"]:
        assert f"<code>{path}</code>" in html, path


def test_docs_reference_no_external_asset_and_need_no_script(
    docs_page: tuple[str, _Page],
) -> None:
    html, page = docs_page
    assert page.references
    for tag, name, value in page.references:
        assert not re.match(r"(?i)^(?:[a-z][a-z0-9+.-]*:)?//", value), (tag, name, value)
    assert not {"script", "link", "img", "iframe"} & page.tags
    assert "@import" not in html and "url(" not in html


def test_docs_have_a_language_and_headings_in_order(docs_page: tuple[str, _Page]) -> None:
    _, page = docs_page
    assert page.lang == "en"
    assert page.headings[0] == 1 and page.headings.count(1) == 1
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        assert after <= before + 1, (before, after)


def test_docs_escape_what_they_show(tmp_path: Path) -> None:
    """Text from the document (here the configured base) is escaped, never markup."""
    base = "https://example.test/<script>alert(1)</script>"
    other = make_app(tmp_path / "empty.sqlite3", CANONICAL_BASE=base)
    html = other.test_client().get("/docs").get_data(as_text=True)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- schemathesis -------------------------------------------------------------------------


# The document depends on the configuration only, so schemathesis loads it at import from an
# app configured like the ``app`` fixture (over an empty in-memory store), and every case is
# sent to the fixture's app, which serves the loaded store.
_DOCUMENT_APP = create_app({"DATABASE_URL": "sqlite://", "API_TOKEN": TOKEN})
API = schemathesis.openapi.from_wsgi("/openapi.json", _DOCUMENT_APP, config=_config())
# A content body's grammar (a page, middle-format YAML, a FHIR Bundle) is beyond JSON Schema:
# data the schema allows may still be refused as content, so with the token 400 also counts
# as accepting the request. Every other check runs as everywhere else.
WRITE_API = schemathesis.openapi.from_wsgi(
    "/openapi.json",
    _DOCUMENT_APP,
    config=_config(
        positive_data_acceptance={
            "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
        }
    ),
).include(path_regex=r"\$import")


def test_schemathesis_tests_the_document_the_app_serves(app: Flask) -> None:
    assert build_document(app.config) == build_document(_DOCUMENT_APP.config)
    assert app.test_client().get("/openapi.json").get_json() == API.raw_schema


@API.parametrize()
@HYPOTHESIS
def test_the_server_does_what_the_document_says(case: schemathesis.Case, app: Flask) -> None:
    """Every operation over the shared store; $import is sent without credentials."""
    case.call_and_validate(app=app)


@WRITE_API.parametrize()
@HYPOTHESIS
def test_import_with_the_token_does_what_the_document_says(
    case: schemathesis.Case, writable_app: Flask
) -> None:
    """$import with the token, over a private copy of the store."""
    case.call_and_validate(app=writable_app, headers={"Authorization": f"Bearer {TOKEN}"})


def test_known_resources_are_served_as_documented(app: Flask, client: FlaskClient) -> None:
    """Generated ids rarely exist: read, vread and history of real ones, against the
    document's 200 replies (schema, media type, headers)."""
    for resource_type in PARAMETERS:
        bundle = client.get(f"/fhir/{resource_type}?_count=3").get_json()
        ids = [e["resource"]["id"] for e in bundle["entry"]]
        assert ids, resource_type
        for resource_id in ids:
            for path, extra in (
                ("/{resource_id}", {}),
                ("/{resource_id}/_history", {}),
                ("/{resource_id}/_history/{version_id}", {"version_id": 1}),
            ):
                operation = API[f"/fhir/{resource_type}{path}"]["GET"]
                case = operation.Case(path_parameters={"resource_id": resource_id, **extra})
                response = case.call_and_validate(app=app)
                assert response.status_code == 200
