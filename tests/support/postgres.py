"""A throwaway PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` package,
a fresh cluster in a temporary directory, listening on loopback only.

``make test`` and ``.ci/run`` install the package; the pytest plugin in
``tests/support/servers.py`` starts one server per session and stops it at the end. The
server can also be driven by hand::

    .venv/bin/python -m tests.support.postgres     # starts one, prints its URL, stops on Ctrl-C

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
system user the package creates.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.processes import free_port

SUPERUSER = "ped"
"""The cluster's superuser; loopback connections are trusted (nothing leaves the machine)."""

# Durability is not under test (a killed *client* is; the server is stopped cleanly or
# with "immediate", which recovers from its WAL), so the test cluster skips fsync.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresMissing(RuntimeError):
    """Debian's PostgreSQL server binaries are not installed."""


def bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/N/bin`` (Debian's layout)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise PostgresMissing(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: "
            "install Debian's postgresql package (make test does)"
        )
    return candidates[-1].parent


class PostgresServer:
    """One cluster. ``start()`` creates it on first use; ``stop()`` shuts it down and keeps
    the files, so a test can stop the database and start it again; ``destroy()`` removes
    everything."""

    def __init__(self, settings: Sequence[str] = FAST) -> None:
        self.bin = bin_dir()
        self.port = free_port()
        self.settings = tuple(settings)
        self.directory = Path(tempfile.mkdtemp(prefix="ped-postgres-"))
        self.data = self.directory / "data"
        self._owner = "postgres" if os.geteuid() == 0 else getpass.getuser()
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self._owner)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._initialised = False

    # --- running binaries as the cluster's owner -------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self._owner, "--", *command]
        return subprocess.run(
            command, check=check, capture_output=True, text=True, cwd=self.directory
        )

    def _init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C.UTF-8", "--no-instructions",
        )  # fmt: skip
        self._initialised = True

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        if not self._initialised:
            self._init()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.directory}",
            "-c max_connections=200",
            *(f"-c {setting}" for setting in self.settings),
        ]
        result = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"),
            "-o", " ".join(options), "-w", "-t", "60", "start", check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{self.log()}")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (roll back sessions, shut down cleanly) or ``immediate`` (like a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    # --- databases --------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._run(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
            "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running(settings: Sequence[str] = FAST) -> Iterator[PostgresServer]:
    server = PostgresServer(settings)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


if __name__ == "__main__":
    with running() as server:
        print(server.url(), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
