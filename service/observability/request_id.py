"""The id of the request being served: the client's when it is sane, else a new one.

A load balancer or a client that already tagged the request (``X-Request-Id``) keeps its
id, so one id follows the request across the load balancer's log, ours and the client's.
Anything else it sends is replaced rather than trusted: the id lands in every log line,
and a free-form header would let a client forge or bloat them.

The id is held in a context variable for the duration of the request, so code anywhere
(logging included) reads it without being handed the request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-Id"
ENVIRON_KEY = "ped.request_id"
"""Where the WSGI environ (``flask.request.environ``) holds the id."""

_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept(offered: str | None) -> str:
    """The id to use for a request whose client sent ``offered`` (None: no header)."""
    if offered is not None and _SANE.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served in this context; None outside a request."""
    return _current.get()


@contextmanager
def bound(request_id: str) -> Iterator[None]:
    """Make ``request_id`` the current one for the block."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)
