"""Every FHIR API request gets a deadline; heavy ones also need a free slot.

``FLASK_REQUEST_DEADLINE`` (seconds, default 10) bounds the CPU-heavy work of each request
under ``/fhir``: the loops that grow with the input check it (``service.deadlines``), and a
request past it is answered 503 with an OperationOutcome (code ``timeout``) and
``Retry-After``; a write in progress rolls back. gunicorn's worker ``timeout`` stays the
backstop for whatever runs between two checkpoints.

``FLASK_HEAVY_REQUESTS`` (default 1) is how many heavy requests one worker process runs at
once. Heavy are ``$validate``, ``$import``, ``$package``, searches with an ``:iterate``
include, and converting a reply of more than ``LARGE_REPLY`` bytes to XML or R5
(``rendering``). One more is refused at once with a 503 OperationOutcome (code
``throttled``) and ``Retry-After``, never queued: the worker's other threads (gunicorn
gthread, 4 per worker) stay free for ``/healthz``, ``/readyz`` and light requests, and a
worker never holds the memory of several large requests at once.
"""

from __future__ import annotations

import contextlib
import logging
from contextlib import ExitStack
from typing import Any

from flask import Flask, Response, current_app, g, request

from service.deadlines import Admission, DeadlineExceeded, Overloaded, deadline

from .errors import outcome_response
from .rendering import ADMISSION
from .views import negotiated

DEFAULT_DEADLINE = 10.0  # seconds
DEFAULT_HEAVY_REQUESTS = 1  # per worker process
RETRY_AFTER = 5  # seconds; as the API's other 503s
HEAVY_ENDPOINTS = frozenset(
    {"fhir.validate", "fhir.import", "fhir.package_type", "fhir.package_instance"}
)
SEARCH_ENDPOINTS = frozenset({"fhir.search", "fhir.search_form"})

log = logging.getLogger(__name__)


def _setting(app: Flask, name: str, default: float) -> float:
    value: Any = app.config.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:
        raise ValueError(f"FLASK_{name} must be a positive number, not {value!r}")
    return number


def admission() -> Admission:
    found: Admission = current_app.extensions[ADMISSION]
    return found


def _iterates() -> bool:
    names = list(request.args)
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        names += list(request.form)
    return any(n.startswith(("_include", "_revinclude")) and n.endswith(":iterate") for n in names)


def is_heavy() -> bool:
    """Known to be heavy from the request alone (replies found large later are admitted by
    ``rendering``)."""
    endpoint = request.endpoint
    return endpoint in HEAVY_ENDPOINTS or (endpoint in SEARCH_ENDPOINTS and _iterates())


def _begin() -> None:
    if request.blueprint != "fhir":
        return
    negotiated()  # errors in the client's format; an unacceptable request is a 406 first
    stack = ExitStack()
    g.ped_request_bounds = stack
    stack.enter_context(deadline(current_app.config.get("REQUEST_DEADLINE", DEFAULT_DEADLINE)))
    if is_heavy():
        stack.enter_context(admission().admit())


def _end(_error: BaseException | None) -> None:
    stack: ExitStack | None = g.pop("ped_request_bounds", None)
    if stack is not None:
        stack.close()


def _discard_body() -> None:
    """Read what the client sent and the view did not, so that it gets the 503 and not a
    reset: gunicorn closes a connection that has more than 64 kB of a body unread."""
    with contextlib.suppress(Exception):  # a body too large, a client gone: nothing to do
        while request.stream.read(64 * 1024):
            pass


def _deadline_exceeded(error: DeadlineExceeded) -> Response:
    _discard_body()
    log.warning("%s %s passed its deadline of %g s", request.method, request.path, error.seconds)
    return outcome_response(
        503,
        "timeout",
        f"{error}; it was abandoned and nothing was written. Try again later, or send less.",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def _overloaded(error: Overloaded) -> Response:
    _discard_body()
    log.warning("%s %s refused: %s", request.method, request.path, error)
    return outcome_response(
        503,
        "throttled",
        f"this server is busy with other heavy requests ({error}); try again shortly",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def init_app(app: Flask) -> None:
    """After ``errors.init_app``; before the store's hooks is not needed (a slot is taken
    before the view's first read, and the snapshot opens lazily)."""
    _setting(app, "REQUEST_DEADLINE", DEFAULT_DEADLINE)
    limit = _setting(app, "HEAVY_REQUESTS", DEFAULT_HEAVY_REQUESTS)
    if limit != int(limit):
        raise ValueError(f"FLASK_HEAVY_REQUESTS must be a whole number, not {limit:g}")
    app.extensions[ADMISSION] = Admission(int(limit))
    app.before_request(_begin)
    app.teardown_request(_end)
    app.register_error_handler(DeadlineExceeded, _deadline_exceeded)
    app.register_error_handler(Overloaded, _overloaded)
