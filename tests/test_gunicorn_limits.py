"""Request limits against a live gunicorn with the project's settings (``gunicorn.conf.py``).

Bodies are limited however they are framed: gunicorn de-chunks a ``Transfer-Encoding:
chunked`` body and sets ``wsgi.input_terminated``, and werkzeug then stops reading at
``MAX_CONTENT_LENGTH`` without saying so; the app must answer 413 instead of using the
prefix. Request lines and header fields the app refuses reach it first (gunicorn's own
limits are set above the app's), so the client gets the app's error in its front end's
format, not gunicorn's page.
"""

from __future__ import annotations

import http.client
import json
import runpy
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from service import limits
from tests.conftest import FIXTURES, ROOT
from tests.support.servers import TOKEN, gunicorn

MAX_BODY = 64 * 1024
PAGE = (FIXTURES / "pages" / "all-induction.txt").read_bytes()
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One gunicorn worker over an empty store, with a 64 KiB body limit."""
    folder = tmp_path_factory.mktemp("limits")
    with gunicorn(folder / "store.sqlite3", workers=1, MAX_CONTENT_LENGTH=str(MAX_BODY)) as port:
        yield "127.0.0.1", port


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.body = response.read()

    def outcome(self) -> dict[str, Any]:
        assert self.headers["content-type"].startswith("application/fhir+json"), self.body[:300]
        found: dict[str, Any] = json.loads(self.body)
        assert found["resourceType"] == "OperationOutcome"
        assert found["issue"][0]["severity"] == "error"
        return found


def send(
    site: tuple[str, int],
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
) -> Reply:
    connection = http.client.HTTPConnection(*site, timeout=30)
    try:
        if chunked:
            pieces = (body[i : i + 8192] for i in range(0, len(body or b""), 8192))
            connection.request(method, target, pieces, headers or {}, encode_chunked=True)
        else:
            connection.request(method, target, body, headers or {})
        return Reply(connection.getresponse())
    finally:
        connection.close()


def raw(site: tuple[str, int], request: bytes) -> Reply:
    """Bytes as they are, for requests http.client refuses to write."""
    connection = http.client.HTTPConnection(*site, timeout=30)
    try:
        connection.connect()
        assert connection.sock is not None
        connection.sock.sendall(request)
        response = http.client.HTTPResponse(connection.sock, method="GET")
        response.begin()
        return Reply(response)
    finally:
        connection.close()


def stored_plans(site: tuple[str, int]) -> int:
    reply = send(site, "GET", "/fhir/PlanDefinition?_summary=count")
    assert reply.status == 200
    total: int = json.loads(reply.body)["total"]
    return total


def _padded_page(size: int) -> bytes:
    """A page whose every prefix past the page itself is the same page: blank lines."""
    return PAGE + b"\n" * (size - len(PAGE))


# --- bodies --------------------------------------------------------------------------------


def test_a_chunked_import_over_the_limit_is_a_413_and_nothing_is_stored(
    site: tuple[str, int],
) -> None:
    before = stored_plans(site)
    reply = send(
        site,
        "POST",
        "/fhir/$import",
        _padded_page(MAX_BODY + 10_000),
        {**AUTH, "Content-Type": "text/plain"},
        chunked=True,
    )
    assert reply.status == 413, reply.body[:300]
    assert reply.outcome()["issue"][0]["code"] == "too-costly"
    assert reply.headers["cache-control"] == "no-store"
    assert stored_plans(site) == before


def test_a_chunked_import_one_byte_over_the_limit_is_a_413(site: tuple[str, int]) -> None:
    reply = send(
        site,
        "POST",
        "/fhir/$import",
        _padded_page(MAX_BODY + 1),
        {**AUTH, "Content-Type": "text/plain"},
        chunked=True,
    )
    assert reply.status == 413
    reply.outcome()


def test_a_chunked_import_at_the_limit_is_read_whole(site: tuple[str, int]) -> None:
    reply = send(
        site,
        "POST",
        "/fhir/$import",
        _padded_page(MAX_BODY),
        {**AUTH, "Content-Type": "text/plain"},
        chunked=True,
    )
    assert reply.status == 200, reply.body[:500]
    assert json.loads(reply.body)["type"] == "transaction-response"
    assert stored_plans(site) >= 1


def test_a_chunked_search_form_over_the_limit_is_a_413(site: tuple[str, int]) -> None:
    form = b"_count=1&title=" + b"a" * (MAX_BODY + 100)
    reply = send(
        site,
        "POST",
        "/fhir/PlanDefinition/_search",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
        chunked=True,
    )
    assert reply.status == 413, reply.body[:300]
    reply.outcome()


def test_a_chunked_search_form_under_the_limit_is_answered(site: tuple[str, int]) -> None:
    reply = send(
        site,
        "POST",
        "/fhir/PlanDefinition/_search",
        b"_count=1&_summary=count",
        {"Content-Type": "application/x-www-form-urlencoded"},
        chunked=True,
    )
    assert reply.status == 200, reply.body[:300]
    assert json.loads(reply.body)["type"] == "searchset"


def test_a_declared_length_over_the_limit_is_a_413(site: tuple[str, int]) -> None:
    reply = send(
        site,
        "POST",
        "/fhir/$import",
        _padded_page(MAX_BODY + 1),
        {**AUTH, "Content-Type": "text/plain"},
    )
    assert reply.status == 413
    reply.outcome()


# --- request lines and header fields ------------------------------------------------------


def test_a_long_request_target_is_a_414_outcome_from_the_app(site: tuple[str, int]) -> None:
    target = "/fhir/PlanDefinition?title=" + "a" * 5000
    reply = send(site, "GET", target)
    assert reply.status == 414, reply.body[:300]
    assert reply.outcome()["issue"][0]["code"] == "too-long"
    assert reply.headers["cache-control"] == "no-store"
    assert "x-request-id" in reply.headers  # answered by the app, not by gunicorn


def test_a_long_reading_view_address_is_an_html_414(site: tuple[str, int]) -> None:
    reply = send(site, "GET", "/education/PlanDefinition/" + "a" * 5000)
    assert reply.status == 414
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert lxml.html.fromstring(reply.body).xpath("//h1/text()") == ["Request URI Too Long"]


def test_a_large_header_field_is_a_431_outcome(site: tuple[str, int]) -> None:
    reply = send(site, "GET", "/fhir/metadata", headers={"X-Padding": "a" * 9000})
    assert reply.status == 431, reply.body[:300]
    reply.outcome()
    assert "x-request-id" in reply.headers


def test_too_many_header_fields_is_a_431_outcome(site: tuple[str, int]) -> None:
    headers = {f"X-Field-{n}": "1" for n in range(120)}
    reply = send(site, "GET", "/fhir/metadata", headers=headers)
    assert reply.status == 431, reply.body[:300]
    reply.outcome()


def test_within_the_limits_a_request_is_answered(site: tuple[str, int]) -> None:
    headers = {f"X-Field-{n}": "a" * 100 for n in range(limits.MAX_HEADER_FIELDS - 10)}
    headers["X-Padding"] = "a" * (limits.MAX_HEADER_FIELD - 200)
    target = "/fhir/PlanDefinition?title=" + "a" * (limits.MAX_REQUEST_TARGET - 100)
    reply = send(site, "GET", target, headers=headers)
    assert reply.status == 200, reply.body[:300]


def test_past_gunicorns_own_limits_the_answer_is_gunicorns(site: tuple[str, int]) -> None:
    """What stays gunicorn's (README says so): a request line over 8190 bytes, and a request
    line gunicorn cannot parse. The status is still right; the body is gunicorn's."""
    reply = send(site, "GET", "/fhir/PlanDefinition?title=" + "a" * 9000)
    assert reply.status == 414
    assert "x-request-id" not in reply.headers
    malformed = raw(site, b"GET /fhir/metadata HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    assert malformed.status == 400


def test_gunicorn_lets_the_app_see_what_the_app_refuses() -> None:
    settings = runpy.run_path(str(Path(ROOT) / "gunicorn.conf.py"))
    request_line = len("DELETE ") + limits.MAX_REQUEST_TARGET + len(" HTTP/1.1")
    assert settings["limit_request_line"] > request_line
    assert settings["limit_request_line"] <= 8190  # gunicorn's ceiling
    assert settings["limit_request_fields"] > limits.MAX_HEADER_FIELDS
    assert settings["limit_request_field_size"] > limits.MAX_HEADER_FIELD


def test_a_malformed_chunked_body_is_a_400_outcome(site: tuple[str, int]) -> None:
    reply = raw(
        site,
        b"POST /fhir/PlanDefinition/_search HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"zz\r\n_count=1\r\n0\r\n\r\n",
    )
    assert reply.status == 400, reply.body[:300]
    reply.outcome()


# --- start-up -------------------------------------------------------------------------------


def test_a_serving_worker_migrates_before_its_first_request(tmp_path: Path) -> None:
    """The store is opened lazily (``flask map`` opens none), but a gunicorn worker opens
    it as it starts: a node's first import must not be the request that migrates, under a
    write lock another node may hold."""
    database = tmp_path / "fresh.sqlite3"
    with gunicorn(database, workers=1):  # answers /healthz, which never reads the store
        with closing(sqlite3.connect(database)) as connection:
            tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            assert "alembic_version" in {name for (name,) in tables}
