"""Every FHIR API request gets a deadline; heavy ones also need a free slot.

``FLASK_REQUEST_DEADLINE`` (seconds, default 10; ``service.settings``) bounds the CPU-heavy
work of each request under ``/fhir``: the loops that grow with the input check it
(``service.deadlines``), and a request past it is answered 503 with an OperationOutcome
(code ``timeout``) and ``Retry-After``; a write in progress rolls back. Waiting for the
store's write lock does not count. gunicorn's worker ``timeout`` and its watchdog
(``gunicorn.conf.py``) stay the backstop for whatever runs between two checkpoints.

``FLASK_HEAVY_REQUESTS`` (default 1) is how many heavy requests one worker process runs at
once. A request is heavy when its work is large, not by its endpoint alone: a
``$validate`` of a body over ``LARGE_BODY`` bytes (here), includes that reach more than
``HEAVY_FRONTIER`` resources in one round (``_include:iterate``, ``$package``; in
``service.store.includes``), converting a reply over ``LARGE_REPLY`` bytes to XML or R5
(``rendering``). One more is refused at once with a 503 OperationOutcome (code
``throttled``) and ``Retry-After``, never queued: the worker's other threads (gunicorn
gthread, 4 per worker) stay free for ``/healthz``, ``/readyz`` and light requests, and a
worker never holds the memory of several large requests at once. ``$import`` is never
throttled: it needs the API token, and imports queue on the store's write lock by design
(up to ``FLASK_DATABASE_LOCK_TIMEOUT``).
"""

from __future__ import annotations

import contextlib
import logging
from contextlib import ExitStack

from flask import Flask, Response, current_app, g, request

from service.deadlines import (
    Admission,
    DeadlineExceeded,
    Overloaded,
    claim_heavy,
    request_bounds,
)
from service.settings import current_settings, settings_of

from .errors import outcome_response
from .views import negotiated

RETRY_AFTER = 5  # seconds; as the API's other 503s
EXTENSION = "ped.admission"  # app.extensions key of the worker's Admission
LARGE_BODY = 64 * 1024  # bytes of a $validate body; about 0.15 s of validation

log = logging.getLogger(__name__)


def admission() -> Admission:
    found: Admission = current_app.extensions[EXTENSION]
    return found


def is_heavy() -> bool:
    """Known to be heavy from the request alone: a large (or unsized) body to validate.
    Other work is found heavy by the layer doing it."""
    if request.endpoint not in ("fhir.validate", "fhir.validate_instance"):
        return False
    length = request.content_length
    return length is None or length > LARGE_BODY


def _begin() -> None:
    if request.blueprint != "fhir" or request.method == "OPTIONS":  # OPTIONS: Allow, no work
        return
    negotiated()  # errors in the client's format; an unacceptable request is a 406 first
    stack = ExitStack()
    g.ped_request_bounds = stack
    stack.enter_context(request_bounds(current_settings().request_deadline, admission()))
    if is_heavy():
        claim_heavy()


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
    app.extensions[EXTENSION] = Admission(settings_of(app).heavy_requests)
    app.before_request(_begin)
    app.teardown_request(_end)
    app.register_error_handler(DeadlineExceeded, _deadline_exceeded)
    app.register_error_handler(Overloaded, _overloaded)
