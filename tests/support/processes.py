"""Small helpers for the real processes tests start (gunicorn nodes, PostgreSQL, loaders):
a free loopback port, and stopping a process with everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from typing import Any


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """SIGTERM to the process's whole session (it was started with ``start_new_session``),
    so workers go too, should the master have gone first; SIGKILL after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
