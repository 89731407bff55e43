"""The WSGI boundary alone, around apps that misbehave in ways ours do not."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pytest
from werkzeug.test import EnvironBuilder

from service.observability.middleware import RequestBoundary

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def _environ(request_id: str) -> WSGIEnvironment:
    return EnvironBuilder("/", headers=[("X-Request-Id", request_id)]).get_environ()


class _Server:
    """The server's side of ``start_response``: what the app started its answer with."""

    def __init__(self) -> None:
        self.started: list[tuple[str, list[tuple[str, str]]]] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
    ) -> Callable[[bytes], object]:
        self.started.append((status, headers))
        return lambda _data: None


def _raising(_environ: WSGIEnvironment, _start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("escaped the framework")


def _stamping_its_own(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("X-Request-Id", "the-app-s"), ("Content-Type", "text/plain")])
    return [b"ok"]


def test_an_exception_that_escapes_the_app_is_logged_as_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(RuntimeError):
        RequestBoundary(_raising)(_environ("escaped-1"), _Server())
    (record,) = [r for r in caplog.records if r.name == "service.access"]
    assert record.__dict__["status"] == 500
    assert record.__dict__["request_id"] == "escaped-1"


def test_the_response_carries_one_request_id_ours() -> None:
    server = _Server()
    assert list(RequestBoundary(_stamping_its_own)(_environ("client-1"), server)) == [b"ok"]
    ((status, headers),) = server.started
    assert status == "200 OK"
    assert [v for n, v in headers if n.lower() == "x-request-id"] == ["client-1"]
