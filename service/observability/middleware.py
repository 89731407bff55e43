"""The WSGI boundary of every request: it gets its id, the response carries the id, and
one access record describes it.

A WSGI middleware rather than Flask hooks, because it sees every response whole, whatever
produced it: a view, an error handler of any front end, a 304, a 404 for an unknown path,
an exception that escaped Flask altogether (logged as the 500 the server then sends), and
CORS headers added by any ``after_request`` hook.

The access record (logger ``service.access``, INFO) replaces gunicorn's access log. It has
the method, the path, the length of the query string (not the query, which can carry
identifiers), the status, the time the app took to build the response (``duration_ms``;
responses here are built whole before they are sent, so sending time is not in it), the
peer address and the user agent. Never a body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .request_id import ENVIRON_KEY, HEADER, accept, bound

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ACCESS_LOGGER = "service.access"
"""The access record's logger: its name is what operators filter on; it must not move."""

access_log = logging.getLogger(ACCESS_LOGGER)

_USER_AGENT_MAX = 512
_HEADER_LOWER = HEADER.lower()


class RequestBoundary:
    """Wraps ``app.wsgi_app``."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = accept(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = request_id
        started = time.perf_counter()
        statuses: list[str] = []

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            statuses.append(status)
            return start_response(status, _stamped(headers, request_id), exc_info)

        with bound(request_id):
            try:
                return self.app(environ, start)
            finally:
                # No status: the app raised, and the server answers 500.
                status = int(statuses[-1][:3]) if statuses else 500
                _log_access(environ, status, time.perf_counter() - started)


def _stamped(headers: list[tuple[str, str]], request_id: str) -> list[tuple[str, str]]:
    """``headers`` with ours as the only ``X-Request-Id``. A CORS response (one with
    ``Access-Control-Allow-Origin``) also lets the browser's script read it. One pass: this
    runs for every response."""
    stamped: list[tuple[str, str]] = []
    cors = False
    exposed_at: int | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == _HEADER_LOWER:
            continue
        if lower == "access-control-allow-origin":
            cors = True
        elif lower == "access-control-expose-headers":
            exposed_at = len(stamped)
        stamped.append((name, value))
    if cors and exposed_at is None:
        stamped.append(("Access-Control-Expose-Headers", HEADER))
    elif cors and exposed_at is not None:
        name, value = stamped[exposed_at]
        if _HEADER_LOWER not in (h.strip().lower() for h in value.split(",")):
            stamped[exposed_at] = (name, f"{value}, {HEADER}")
    stamped.append((HEADER, request_id))
    return stamped


def _log_access(environ: WSGIEnvironment, status: int, seconds: float) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    access_log.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "query_length": len(environ.get("QUERY_STRING", "")),
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT", "")[:_USER_AGENT_MAX] or None,
        },
    )
