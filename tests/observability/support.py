"""Helpers for the observability tests: reading the JSON log lines, counting database use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event

from service.storage import get_store

BASE_KEYS = {"time", "level", "logger", "message", "pid"}
"""What every JSON line has, the app's and gunicorn's alike."""

ACCESS_KEYS = {
    "method",
    "path",
    "query_length",
    "status",
    "duration_ms",
    "remote_addr",
    "user_agent",
    "request_id",
}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object; fails on any line that is not one."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from e
        assert isinstance(record, dict), f"line {number} is not a JSON object: {line!r}"
        records.append(record)
    return records


def access_records(records: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [
        r for r in records if r["logger"] == "service.access" and r.get("request_id") == request_id
    ]


@contextmanager
def database_use(app: Flask) -> Iterator[list[str]]:
    """Every connection attempt to the app's database and every connection taken from its
    pool during the block (the store reads through raw DBAPI cursors, so statements are
    not seen by SQLAlchemy's execute events; a connection is)."""
    engine = get_store_engine(app)
    seen: list[str] = []

    def connecting(*_args: Any) -> None:
        seen.append("connect")

    def checking_out(*_args: Any) -> None:
        seen.append("checkout")

    event.listen(engine, "do_connect", connecting)
    event.listen(engine, "checkout", checking_out)
    try:
        yield seen
    finally:
        event.remove(engine, "do_connect", connecting)
        event.remove(engine, "checkout", checking_out)


def get_store_engine(app: Flask) -> Any:
    with app.app_context():
        return get_store().engine
