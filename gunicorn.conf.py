"""gunicorn settings for `make serve` and the benchmark (override with GUNICORN_CMD_ARGS)."""

import multiprocessing
import os

bind = f"127.0.0.1:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = 4
keepalive = 5
timeout = 30
accesslog = None
