"""gunicorn.conf.py's bounds on a worker: recycled after ``max_requests``, when its memory
is over ``WORKER_MAX_RSS_MB`` after a request, and when a request runs past
``WORKER_REQUEST_LIMIT`` (the watchdog). The hooks run here against a stand-in worker; no
clock is waited on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str, *args: object) -> None:
        self.lines.append(message % args)


class FakeWorker:
    def __init__(self) -> None:
        self.alive = True
        self.pid = 4242
        self.log = FakeLog()


@pytest.fixture
def conf() -> dict[str, Any]:
    """gunicorn.conf.py's namespace, which its hooks read their settings from."""
    path = ROOT / "gunicorn.conf.py"
    namespace: dict[str, Any] = {"__name__": "gunicorn_conf", "__file__": str(path)}
    exec(compile(path.read_text("utf-8"), str(path), "exec"), namespace)  # noqa: S102
    return namespace


def test_gunicorn_recycles_workers(conf: dict[str, Any]) -> None:
    assert conf["max_requests"] > 0
    assert 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["timeout"] > 0
    assert conf["graceful_timeout"] > 0
    assert conf["worker_class"] == "gthread"


def test_a_worker_over_the_memory_limit_is_recycled_after_its_request(
    conf: dict[str, Any],
) -> None:
    worker = FakeWorker()
    assert conf["max_worker_rss"] == 400 * 1024 * 1024  # WORKER_MAX_RSS_MB's default
    conf["max_worker_rss"] = conf["_rss"]() * 2
    conf["pre_request"](worker, None)
    conf["post_request"](worker, None, {}, None)
    assert worker.alive
    conf["max_worker_rss"] = conf["_rss"]() // 2
    conf["post_request"](worker, None, {}, None)
    assert worker.alive is False
    assert ["WORKER_MAX_RSS_MB" in line for line in worker.log.lines] == [True]


def test_a_worker_with_a_runaway_request_is_recycled(conf: dict[str, Any]) -> None:
    worker = FakeWorker()
    clock = {"now": 1000.0}

    class FakeTime:
        @staticmethod
        def monotonic() -> float:
            return clock["now"]

        @staticmethod
        def sleep(_seconds: float) -> None:
            clock["now"] += 1

    conf["time"] = FakeTime
    conf["pre_request"](worker, None)  # began at 1000 and never ends
    conf["_watch"](worker)  # returns once it has recycled the worker
    assert worker.alive is False
    assert clock["now"] > 1000 + conf["request_limit"]
    assert conf["request_limit"] > 120 + 10, "above the lock wait and the deadline"
    assert "run for over" in worker.log.lines[0]
    exits: list[int] = []

    class FakeOs:
        @staticmethod
        def _exit(code: int) -> None:
            exits.append(code)

    conf["os"] = FakeOs
    conf["worker_exit"](None, worker)
    assert exits == [1], "the runaway thread is not waited for"
