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

from gunicorn.glogging import Logger

bind = f"127.0.0.1:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = 4
keepalive = 5
timeout = 30
accesslog = None
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
