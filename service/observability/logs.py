"""Where log records go: one line each on stderr, a JSON object by default (``text`` for
a human at a terminal), every record made during a request carrying its ``request_id``.

stderr is the one destination a process manager, a container runtime and a log shipper all
collect; the process never manages files. The JSON keys are the same for the app's records
and gunicorn's own (``gunicorn.conf.py`` builds its formatter from the same fields), so one
query covers both: ``time``, ``level``, ``logger``, ``message``, ``pid``, then the record's
extras (``request_id``, the access record's fields) and ``exc_info`` for a traceback.

``configure`` may run any number of times (every app the tests create runs it): it swaps
its own handler on the root logger and leaves every other handler alone, pytest's capture
among them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from .request_id import current_request_id

FORMATS = ("json", "text")

JSON_FIELDS = ["levelname", "name", "message", "process"]
JSON_RENAMES = {"levelname": "level", "name": "logger", "process": "pid"}
JSON_TIMESTAMP = "time"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class StderrHandler(logging.Handler):
    """Writes each record as one line to ``sys.stderr`` as it is when the record is
    written, not when the handler was made: test and CLI runners swap ``sys.stderr`` for a
    while and close what they swapped in, and a handler holding that stream would write to
    a closed file afterwards."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


class _RecordFactory:
    """Stamps ``request_id`` on every record made during a request, whichever logger made
    it and whichever handler writes it (pytest's capture included)."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        request_id = current_request_id()
        if request_id is not None:
            record.__dict__["request_id"] = request_id
        return record


def json_formatter() -> logging.Formatter:
    return JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES, timestamp=JSON_TIMESTAMP)


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


def parse_level(value: object) -> int:
    """A level from configuration: a name in any case (``info``) or a number (``20``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        level = logging.getLevelNamesMapping().get(value.strip().upper())
        if level is not None:
            return level
    raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}")


def configure(level: object, log_format: object) -> None:
    """Send records at ``level`` and above to stderr in ``log_format`` (``json`` or
    ``text``). Replaces what an earlier call installed."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    threshold = parse_level(level)
    if not isinstance(logging.getLogRecordFactory(), _RecordFactory):
        logging.setLogRecordFactory(_RecordFactory(logging.getLogRecordFactory()))
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
        handler.close()
    handler = StderrHandler()
    handler.setFormatter(json_formatter() if log_format == "json" else text_formatter())
    root.addHandler(handler)
    root.setLevel(threshold)
