"""gunicorn settings for `make serve` and the benchmark (override with GUNICORN_CMD_ARGS).

Logs: gunicorn's own records (start, workers, timeouts) go to stderr as JSON objects with
the same keys as the app's (``service/observability/logs.py``), so every line on stderr is
one JSON object. The app installs its own handler on the root logger in each worker
(``FLASK_LOG_LEVEL``, ``FLASK_LOG_FORMAT``); this file does not import the app, so a
``HUP`` reload still loads new code. gunicorn's access log stays off: the app writes one
access record per request, with its request id.
"""

import multiprocessing
import os
import threading
import time
from typing import Any

from gunicorn.glogging import Logger

bind = f"127.0.0.1:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = 4
keepalive = 5
accesslog = None

# --- bounded time and memory per worker ------------------------------------------------
# The app bounds its CPU-heavy work (FLASK_REQUEST_DEADLINE, 10 s) and runs at most
# FLASK_HEAVY_REQUESTS heavy requests per worker at once (service/api/admission.py). What
# follows is the backstop behind that, and the bound on memory.
#
# timeout: gunicorn kills a worker whose main loop stops answering for 30 s. With gthread
# the main loop keeps answering while a request thread computes, so on its own this does
# not stop a runaway request; the watchdog below does: a request in flight for more than
# WORKER_REQUEST_LIMIT seconds (180: above an import's wait for the write lock,
# FLASK_DATABASE_LOCK_TIMEOUT 120 s, plus its deadline) gets its worker recycled (no new
# connections, `graceful_timeout` for the requests in flight, then the process exits,
# taking the runaway thread with it).
timeout = 30
graceful_timeout = 30
request_limit = int(os.environ.get("WORKER_REQUEST_LIMIT", "180"))
# Recycle each worker after about 5,000 requests (jitter: not all at once), so slow growth
# (fragmentation of the heap by large bodies) cannot build up for ever.
max_requests = 5000
max_requests_jitter = 500
# And sooner when it is large: a worker whose resident memory is over WORKER_MAX_RSS_MB
# after a request is recycled the same way. A worker serving ordinary requests stays near
# 200 MB (bench/README.md); one large $validate or XML Bundle needs a few hundred MB more
# for its duration, most of which the heap keeps. The limit lets one such request run and
# recycles the worker that kept its memory, instead of leaving it at a GB.
max_worker_rss = int(os.environ.get("WORKER_MAX_RSS_MB", "400")) * 1024 * 1024

_PAGE = os.sysconf("SC_PAGE_SIZE")
_in_flight: dict[int, float] = {}  # request thread -> when its request began (per worker)
_runaway = threading.Event()


def _rss() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _recycle(worker: Any, why: str) -> None:
    if worker.alive:
        worker.log.warning("recycling worker %s: %s", worker.pid, why)
        worker.alive = False  # as gunicorn's own max_requests does


def pre_request(worker: Any, req: Any) -> None:
    _in_flight[threading.get_ident()] = time.monotonic()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    _in_flight.pop(threading.get_ident(), None)
    rss = _rss()
    if rss > max_worker_rss:
        _recycle(worker, f"{rss >> 20} MB resident, over WORKER_MAX_RSS_MB={max_worker_rss >> 20}")


def _watch(worker: Any) -> None:
    while worker.alive:
        time.sleep(1)
        now = time.monotonic()
        if any(now - began > request_limit for began in list(_in_flight.values())):
            _runaway.set()
            _recycle(worker, f"a request has run for over {request_limit} s")


def post_worker_init(worker: Any) -> None:
    # The app is loaded by now (worker.wsgi); importing it here, in the worker, keeps a HUP
    # reload loading new code.
    from service.storage import open_at_start

    open_at_start(worker.wsgi)
    threading.Thread(target=_watch, args=(worker,), name="request-watchdog", daemon=True).start()


def worker_exit(server: Any, worker: Any) -> None:
    """A runaway request thread would keep the exiting process alive (the interpreter waits
    for its threads) until the arbiter's timeout: end it now; its transaction, if any, is
    rolled back by the database."""
    if _runaway.is_set():
        os._exit(1)


# gunicorn's runtime control socket defaults to one path per user (~/.gunicorn), so several
# nodes on one host would fight over it; the service does not use it.
control_socket_disable = True
# gunicorn answers its own limits with an HTML page before the app sees the request, so its
# limits sit above the app's (service/limits.py: 4096-byte request target, 100 header
# fields, 8190 bytes a field), and the app answers 414/431 in the client's format. What
# passes these (a request line over 8190 bytes, gunicorn's ceiling) stays gunicorn's.
limit_request_line = 8190
limit_request_fields = 200
limit_request_field_size = 16380


class _WithoutAccessLog(Logger):
    """gunicorn's logger, minus the access log: a ``logconfig_dict`` turns gunicorn's
    access log on, and it would build every request's fields only to drop them."""

    def access(self, resp: object, req: object, environ: object, request_time: object) -> None:
        return None


logger_class = _WithoutAccessLog

# Same keys as service.observability.logs.json_formatter (a test checks they agree).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "process"],
            "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    # The level of gunicorn.error stays gunicorn's --log-level.
    "loggers": {"gunicorn.error": {"handlers": ["stderr"], "propagate": False}},
    # The root logger's handler is the app's (one per worker); one here would write each
    # of the app's records twice.
    "root": {"level": "INFO", "handlers": []},
}
