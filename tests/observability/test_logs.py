"""Structured logs: one JSON object a line on stderr, the access record, the request id in
every record made during a request, and the set-up's configuration."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.observability.logs import StderrHandler, configure
from service.store import Store, StoreUnavailable
from tests.support.servers import make_app

from .support import ACCESS_KEYS, BASE_KEYS, access_records, json_lines

SEARCH = "/fhir/PlanDefinition?name=induction&_count=1"


@pytest.fixture
def reconfigurable(app: Flask) -> Iterator[None]:
    """For tests that configure logging otherwise: the session app's set-up afterwards."""
    yield
    configure(app.config.get("LOG_LEVEL", "INFO"), app.config.get("LOG_FORMAT", "json"))


def stderr_records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return json_lines(capsys.readouterr().err)


def test_one_access_record_per_request(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = client.get(SEARCH, headers={"User-Agent": "widget/1.0"})
    assert response.status_code == 200
    request_id = response.headers["X-Request-Id"]
    (record,) = access_records(stderr_records(capsys), request_id)
    assert set(record) == BASE_KEYS | ACCESS_KEYS
    assert record["logger"] == "service.access"
    assert record["level"] == "INFO"
    assert record["pid"] == os.getpid()
    assert datetime.fromisoformat(str(record["time"])).utcoffset() is not None
    assert record["method"] == "GET"
    assert record["path"] == "/fhir/PlanDefinition"
    assert record["query_length"] == len("name=induction&_count=1")
    assert record["status"] == 200
    assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    assert record["remote_addr"] == "127.0.0.1"
    assert record["user_agent"] == "widget/1.0"
    assert "induction" not in str(record), "the query's values stay out of the log"


def test_the_access_record_has_the_echoed_id_and_the_real_status(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = client.get("/no/such/path", headers={"X-Request-Id": "access-404"})
    (record,) = access_records(stderr_records(capsys), "access-404")
    assert record["status"] == response.status_code == 404


def test_records_of_a_failing_request_carry_its_id(
    client: FlaskClient,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API's own ``log.exception`` lands as one JSON line, traceback included, with
    the id the client was given."""

    def broken(*_args: object) -> None:
        raise ValueError("a bug in a read")

    monkeypatch.setattr(Store, "read", broken)
    capsys.readouterr()
    response = client.get("/fhir/PlanDefinition/all-induction")
    assert response.status_code == 500
    request_id = response.headers["X-Request-Id"]
    records = stderr_records(capsys)
    (error,) = [r for r in records if r["logger"] == "service.api.errors"]
    assert error["request_id"] == request_id
    assert error["level"] == "ERROR"
    assert "ValueError: a bug in a read" in str(error["exc_info"])
    (access,) = access_records(records, request_id)
    assert access["status"] == 500
    (captured,) = [r for r in caplog.records if r.name == "service.api.errors"]
    assert captured.__dict__["request_id"] == request_id, "caplog sees the id too"


def test_every_front_end_logs_with_the_request_id(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def away(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("the database went away")

    monkeypatch.setattr(Store, "read", away)
    monkeypatch.setattr(Store, "search", away)
    paths = {
        "/fhir/PlanDefinition/all-induction": "service.api.errors",
        "/education/PlanDefinition/all-induction": "service",
        "/infobutton?mainSearchCriteria.v.c=C91.0&mainSearchCriteria.v.cs=2.16.840.1.113883.6.90": (
            "service"
        ),
    }
    for path, logger in paths.items():
        caplog.clear()
        response = client.get(path)
        assert response.status_code == 503, path
        warnings = [r for r in caplog.records if r.name == logger and "unavailable" in r.message]
        assert warnings, path
        assert {r.__dict__.get("request_id") for r in warnings} == {
            response.headers["X-Request-Id"]
        }


def test_records_outside_a_request_have_no_id(caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("service.test").warning("between requests")
    (record,) = caplog.records
    assert "request_id" not in record.__dict__


def test_set_up_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reconfigurable: None
) -> None:
    apps = [make_app(tmp_path / f"store-{n}.sqlite3") for n in range(3)]
    ours = [h for h in logging.getLogger().handlers if isinstance(h, StderrHandler)]
    assert len(ours) == 1
    capsys.readouterr()
    response = apps[-1].test_client().get("/healthz")
    assert len(access_records(stderr_records(capsys), response.headers["X-Request-Id"])) == 1


def test_text_format_for_humans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reconfigurable: None
) -> None:
    app = make_app(tmp_path / "store.sqlite3", LOG_FORMAT="text")
    capsys.readouterr()
    app.test_client().get("/healthz", headers={"X-Request-Id": "human-1"})
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(" INFO service.access [human-1] GET /healthz 200")
    logging.getLogger("service.test").warning("outside")
    assert capsys.readouterr().err.endswith(" WARNING service.test [-] outside\n")


def test_warning_level_drops_the_access_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reconfigurable: None
) -> None:
    app = make_app(tmp_path / "store.sqlite3", LOG_LEVEL="WARNING")
    capsys.readouterr()
    app.test_client().get("/healthz")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("environment", "level"), [("ERROR", logging.ERROR), ("debug", logging.DEBUG), ("30", 30)]
)
def test_level_from_the_environment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reconfigurable: None,
    environment: str,
    level: int,
) -> None:
    monkeypatch.setenv("FLASK_LOG_LEVEL", environment)
    make_app(tmp_path / "store.sqlite3")
    assert logging.getLogger().level == level


@pytest.mark.parametrize(
    "config", [{"LOG_LEVEL": "LOUD"}, {"LOG_LEVEL": True}, {"LOG_FORMAT": "xml"}]
)
def test_a_wrong_setting_stops_the_start(
    tmp_path: Path, reconfigurable: None, config: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match=next(iter(config))):
        make_app(tmp_path / "store.sqlite3", **config)
