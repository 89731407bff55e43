"""Against gunicorn with the project's settings: the probes and the request id over real
HTTP, and every line gunicorn and the app write to stderr a JSON object."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from service.observability.logs import json_formatter
from tests.conftest import ROOT
from tests.support.processes import free_port, stop_group
from tests.support.servers import BIN, wait_for

from .support import ACCESS_KEYS, BASE_KEYS, access_records, json_lines

# Requests the logged run makes, by the id each sends.
SENT = {"gunicorn-1": "/readyz", "gunicorn-2": "/fhir/metadata", "gunicorn-3": "/no/such/path"}


def fetch(url: str, method: str = "GET", **headers: str) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_live_readyz(live_site: str) -> None:
    status, headers, body = fetch(f"{live_site}/readyz")
    assert status == 200
    assert json.loads(body) == {"status": "ready"}
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    assert len(headers["X-Request-Id"]) == 32
    status, headers, body = fetch(f"{live_site}/readyz", method="HEAD")
    assert (status, body) == (200, b"")


@pytest.mark.parametrize("path", ["/healthz", "/fhir/metadata", "/no/such/path"])
def test_live_request_id(live_site: str, path: str) -> None:
    _, headers, _ = fetch(f"{live_site}{path}", **{"X-Request-Id": "from-the-lb.42"})
    assert headers.get_all("X-Request-Id") == ["from-the-lb.42"]
    _, headers, _ = fetch(f"{live_site}{path}", **{"X-Request-Id": "not sane"})
    assert len(headers["X-Request-Id"]) == 32


@dataclass(frozen=True)
class Run:
    records: list[dict[str, Any]]
    stdout: bytes
    answered: dict[str, str]
    """The X-Request-Id of each answer, by the id its request sent."""


@pytest.fixture(scope="module")
def logged_run(loaded_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """gunicorn of our own, from start to stop, with ``SENT`` requests in between; what it
    wrote to stdout and stderr (into files, so no pipe fills up)."""
    workdir = tmp_path_factory.mktemp("gunicorn-logs")
    shutil.copyfile(loaded_database, workdir / "store.sqlite3")
    port = free_port()
    env = {
        **os.environ,
        "FLASK_DATABASE_URL": f"sqlite:///{workdir / 'store.sqlite3'}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    env.pop("FLASK_LOG_LEVEL", None)
    env.pop("FLASK_LOG_FORMAT", None)
    with (workdir / "stdout").open("wb") as stdout, (workdir / "stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    answered = {}
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        for request_id, path in SENT.items():
            _, headers, _ = fetch(f"http://127.0.0.1:{port}{path}", **{"X-Request-Id": request_id})
            answered[request_id] = headers["X-Request-Id"]
    except Exception as e:
        stop_group(process, timeout=20)
        e.add_note(f"gunicorn's stderr:\n{(workdir / 'stderr').read_text('utf-8')}")
        raise
    stop_group(process, timeout=20)
    return Run(
        json_lines((workdir / "stderr").read_text("utf-8")),
        (workdir / "stdout").read_bytes(),
        answered,
    )


def test_gunicorn_writes_json_lines_only(logged_run: Run) -> None:
    """``json_lines`` has parsed every line; each is a full record, gunicorn's own
    included, and nothing went to stdout."""
    assert logged_run.stdout == b""
    for record in logged_run.records:
        assert BASE_KEYS <= set(record), record
    gunicorn = [str(r["message"]) for r in logged_run.records if r["logger"] == "gunicorn.error"]
    assert any(m.startswith("Listening at: ") for m in gunicorn)
    assert any(m.startswith("Booting worker") for m in gunicorn)
    assert "Shutting down: Master" in gunicorn


def test_one_access_record_per_request_and_none_from_gunicorn(logged_run: Run) -> None:
    assert logged_run.answered == {i: i for i in SENT}
    for request_id, path in SENT.items():
        (access,) = access_records(logged_run.records, request_id)
        assert set(access) == BASE_KEYS | ACCESS_KEYS
        assert access["path"] == path
    assert not [r for r in logged_run.records if r["logger"].startswith("gunicorn.access")]


def test_gunicorn_and_the_app_name_their_keys_alike(logged_run: Run) -> None:
    """gunicorn.conf.py cannot import the app's formatter; its copy must agree."""
    (gunicorn_keys,) = {frozenset(r) for r in logged_run.records if r["logger"] == "gunicorn.error"}
    record = logging.LogRecord("any", logging.INFO, __file__, 1, "message", None, None)
    assert set(json.loads(json_formatter().format(record))) == gunicorn_keys == BASE_KEYS
