"""Request limits, checked before any view runs, whatever front end the request is for.

``RequestLimits`` wraps the WSGI app and looks at each request once:

- The body is limited however it is framed. werkzeug refuses a declared ``Content-Length``
  over ``MAX_CONTENT_LENGTH``, but a body without one (``Transfer-Encoding: chunked``, which
  gunicorn de-chunks and marks ``wsgi.input_terminated``) is wrapped in a stream that stops
  at exactly the limit and says nothing (``werkzeug.wsgi.LimitedStream.readall`` ends when
  the limit is reached, without the read that would raise): the view gets the prefix, and
  ``$import`` stored it. So such a body is read here, up to one byte past the limit: over it
  is a 413, within it the body is handed on as if it had been sent with its length.
- The request target (path and query) and the header fields have limits of their own,
  below gunicorn's (``gunicorn.conf.py`` sets gunicorn's higher), so the client gets this
  app's 414 or 431 in the format of the front end it asked, not gunicorn's page.

A refused request still reaches Flask, where the first ``before_request`` hook raises the
error, so each front end answers it its own way: an OperationOutcome from the API and the
Infobutton, an HTML page from the reading view. Nothing of a refused request reaches a view.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from flask import Flask, request
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    RequestURITooLarge,
)
from werkzeug.wsgi import get_content_length

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

MAX_REQUEST_TARGET = 4096
"""Bytes of the request target (path and query string, as sent): over it, 414."""
MAX_HEADER_FIELDS = 100
"""Header fields of a request (as the server hands them on: repeats of one name joined,
so one field): over it, 431."""
MAX_HEADER_FIELD = 8190
"""Bytes of one header field (``Name: value``): over it, 431."""

ENVIRON_KEY = "ped.refused"
_READ_SIZE = 64 * 1024

log = logging.getLogger(__name__)


class RequestLimits:
    """Wraps ``app.wsgi_app``; ``max_body`` is the body limit now (``MAX_CONTENT_LENGTH``)."""

    def __init__(self, app: WSGIApplication, max_body: Callable[[], int | None]) -> None:
        self.app = app
        self.max_body = max_body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        refused = _line_and_headers(environ) or _bounded_body(environ, self.max_body())
        if refused is not None:
            environ[ENVIRON_KEY] = refused
        return self.app(environ, start_response)


def _request_target(environ: WSGIEnvironment) -> int:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str):
        return len(raw)
    query = environ.get("QUERY_STRING", "")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return len(path) + (len(query) + 1 if query else 0)


def _line_and_headers(environ: WSGIEnvironment) -> HTTPException | None:
    length = _request_target(environ)
    if length > MAX_REQUEST_TARGET:
        return RequestURITooLarge(
            f"the request target (path and query) is {length} bytes; "
            f"this server takes at most {MAX_REQUEST_TARGET}"
        )
    fields = 0
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        fields += 1
        size = len(name) + 2 + len(str(value))
        if size > MAX_HEADER_FIELD:
            shown = name.replace("_", "-").title()
            return RequestHeaderFieldsTooLarge(
                f"the header field {shown} is {size} bytes; "
                f"this server takes at most {MAX_HEADER_FIELD} per field"
            )
    if fields > MAX_HEADER_FIELDS:
        return RequestHeaderFieldsTooLarge(
            f"the request has {fields} header fields; this server takes at most {MAX_HEADER_FIELDS}"
        )
    return None


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"the request body is over this server's limit of {limit} bytes (MAX_CONTENT_LENGTH)"
    )


def _bounded_body(environ: WSGIEnvironment, limit: int | None) -> HTTPException | None:
    if limit is None:
        return None
    declared = get_content_length(environ)
    if declared is not None:
        return _too_large(limit) if declared > limit else None
    if not environ.get("wsgi.input_terminated"):
        # werkzeug reads nothing of a body of unknown length the server does not end.
        return None
    stream = environ["wsgi.input"]
    buffer = io.BytesIO()
    try:
        while buffer.tell() <= limit:
            piece = stream.read(min(_READ_SIZE, limit + 1 - buffer.tell()))
            if not piece:
                break
            buffer.write(piece)
    except Exception as error:  # the server's stream: a broken chunk, a reset connection
        log.info("request body could not be read: %s", error)
        return BadRequest("the request body could not be read (malformed chunked encoding?)")
    if buffer.tell() > limit:
        return _too_large(limit)
    if buffer.tell() or "HTTP_TRANSFER_ENCODING" in environ:
        # The whole body is here: from now on it has a length, like any other.
        environ["CONTENT_LENGTH"] = str(buffer.tell())
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        buffer.seek(0)
        environ["wsgi.input"] = buffer
    return None


def _refuse() -> None:
    refused: HTTPException | None = request.environ.get(ENVIRON_KEY)
    if refused is not None:
        raise refused


def init_app(app: Flask) -> None:
    """Call before ``observability.init_app``, so the request id and the access record
    wrap this middleware too."""
    app.wsgi_app = RequestLimits(  # type: ignore[method-assign]
        app.wsgi_app, lambda: app.config.get("MAX_CONTENT_LENGTH")
    )
    # First of all hooks: a refused request touches neither the store nor negotiation.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse)
