"""Soak test: several gunicorn nodes on one PostgreSQL database under wrk for a fixed time.

    .venv/bin/python -m bench.soak [--seconds 60 --connections 64 --nodes 2]
    .venv/bin/python -m bench.soak --seconds 10        (quick check that it works)

Starts a throwaway PostgreSQL server with its default (durable) settings, loads fixtures/
into a new database with the real ``flask load`` command, starts ``--nodes`` gunicorn nodes
(gunicorn.conf.py, ``--workers`` workers each) on loopback ports, all on that database, and
drives them at the same time with one wrk process per node, with bench/soak.lua rotating
over a mix of reads, searches, includes, /metadata, conditional reads and reading-view
pages built from what the store holds. Every second it samples the RSS of every gunicorn
worker, the database connections of the service, and the CPU time of every process
involved.

The pass condition is zero errors (socket errors and non-2xx/3xx responses) and flat
worker RSS. Prints a Markdown report; exits 1 if the condition is not met. Everything it
starts is stopped on the way out, Ctrl-C and SIGTERM included. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gunicorn
import psutil
import psycopg

from bench.serve import BIN, ROOT, _free_port
from service.store import make_engine
from tests.support import postgres

LUA = ROOT / "bench" / "soak.lua"
DATABASE = "soak"
APPLICATION_NAME = "ped-fhir"  # what service/store/engine.py tells PostgreSQL

# Two cores run everything: each gunicorn worker is one Python process (one GIL), so at most
# two of them compute at a time. Two per node (four in all, 4 threads each) keep both cores
# busy while some wait on PostgreSQL or the socket; the default 2 x cores + 1 = 5 per node
# would mean 10 processes contending for 2 cores with wrk and PostgreSQL, for more RSS and
# database connections and no more throughput.
DEFAULT_WORKERS = 2
WRK_THREADS = 1  # per wrk process: one thread drives 32 connections; the servers are the limit
WRK_TIMEOUT = "5s"  # a request slower than this is a socket error (timeout), i.e. a failure
READY_TIMEOUT = 90.0  # seconds for a node to start (imports, migrations under the lock)
RSS_FLAT_MB = 5.0  # flat: a worker's last-window median is under 5 MB *and* 5 % above
RSS_FLAT_SHARE = 0.05  # its first-window median
LOG_ERROR = re.compile(
    r"WORKER TIMEOUT|Traceback|QueuePool limit|\[(ERROR|CRITICAL)\]"
    r'|"(level|levelname|severity)"\s*:\s*"(error|critical)"',
    re.IGNORECASE,
)
PG_ERROR = re.compile(r"\b(ERROR|FATAL|PANIC|WARNING):")


# --- processes --------------------------------------------------------------------------


@dataclass
class Node:
    """One gunicorn master (its own process group) and the file its stderr goes to."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def stop_group(process: subprocess.Popen[Any], grace: float = 30.0) -> None:
    """SIGTERM the process group started for ``process`` (gunicorn: graceful stop of the
    master and its workers), SIGKILL it if it is still there after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
            return


def raise_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the ``finally`` clauses stop what was started."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def load_fixtures(env: dict[str, str]) -> str:
    """The real load command; returns its summary line."""
    result = subprocess.run(
        [BIN / "flask", "--app", "wsgi", "load", "fixtures/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"flask load failed:\n{result.stdout}{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def start_node(name: str, env: dict[str, str], workers: int, workdir: Path) -> Node:
    """``gunicorn --config gunicorn.conf.py wsgi:app`` in a process group of its own. Each
    node gets its own control socket: gunicorn's default (~/.gunicorn/gunicorn.ctl) is one
    path for every master of the user, so the second node (or any other gunicorn on the
    machine) would take it over. It does not touch serving."""
    port = _free_port()
    log = workdir / f"gunicorn-{name}.log"
    control = workdir / f"gunicorn-{name}.ctl"
    with log.open("wb") as stderr:  # the child keeps its own descriptor
        command = [BIN / "gunicorn", "--config", "gunicorn.conf.py", "--control-socket", control]
        process = subprocess.Popen(
            [*command, "wsgi:app"],
            cwd=ROOT,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,
            env={**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)},
        )
    return Node(name, port, process, log)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body; a 3xx, 4xx or 5xx is an answer here, not an exception."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_ready(node: Node, probe: str) -> str:
    """Poll ``probe`` (/readyz, which checks the database) until it answers 200. A 404 means
    this build has no /readyz yet: fall back to /healthz. Returns the probe that answered."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise SystemExit(f"node {node.name} exited:\n{node.log.read_text()[-3000:]}")
        try:
            status, _, _ = get(node.base + probe)
        except OSError:
            status = 0
        if status == 200:
            return probe
        if status == 404 and probe == "/readyz":
            probe = "/healthz"
            continue
        time.sleep(0.2)
    raise SystemExit(f"node {node.name} not ready on {probe} after {READY_TIMEOUT:g} s")


# --- the request mix --------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    kind: str
    path: str
    header: str = ""  # "Name: value", or nothing
    expect: int = 200


Resource = dict[str, Any]


def _search(base: str, type_: str) -> list[Resource]:
    status, _, body = get(f"{base}/fhir/{type_}?_count=200", {"Accept": "application/fhir+json"})
    if status != 200:
        raise SystemExit(f"listing {type_}: HTTP {status}")
    return [e["resource"] for e in json.loads(body).get("entry", [])]


def _query(path: str, **params: str) -> str:
    return f"{path}?{urllib.parse.urlencode(params)}"


def _title_words(titles: Sequence[str], most: int) -> list[str]:
    """The most frequent first words of ``titles`` (4 letters or more): searches that
    match several resources, as a person typing a drug's name would."""
    words = [re.split(r"\W+", t.strip().lower())[0] for t in titles]
    counts = Counter(w for w in words if len(w) >= 4)
    return sorted(w for w, _ in counts.most_common(most))


def _searches(
    plans: Sequence[Resource], activities: Sequence[Resource], drugs: Sequence[Resource]
) -> list[Request]:
    """Every PlanDefinition and ActivityDefinition by its canonical ``url`` (what a client
    resolving references does), every coded Medication by ``code``, a few title prefixes."""
    mix = [
        Request("search url", _query(f"/fhir/{r['resourceType']}", url=r["url"]))
        for r in (*plans, *activities)
    ]
    for drug in drugs:
        for coding in drug.get("code", {}).get("coding", [])[:1]:
            code = f"{coding['system']}|{coding['code']}"
            mix.append(Request("search code", _query("/fhir/Medication", code=code)))
    titles = [("PlanDefinition", w) for w in _title_words([p["title"] for p in plans], 2)]
    titles += [("ActivityDefinition", w) for w in _title_words([a["title"] for a in activities], 3)]
    mix += [Request("search title", _query(f"/fhir/{t}", title=w)) for t, w in titles]
    return mix


def _includes(plans: Sequence[Resource]) -> list[Request]:
    """Each phase with its activities and their Medications, in one search."""
    include = {
        "_include": "PlanDefinition:definition",
        "_include:iterate": "ActivityDefinition:product",
    }
    return [
        Request("include", _query("/fhir/PlanDefinition", _id=p["id"], **include)) for p in plans
    ]


def _pages(plans: Sequence[Resource], drugs: Sequence[Resource]) -> list[Request]:
    """The reading view: its index, every phase page and every drug page."""
    pages = [
        "/education/",
        *(f"/education/PlanDefinition/{p['id']}" for p in plans),
        *(f"/education/Medication/{d['id']}" for d in drugs),
    ]
    return [Request("education", page) for page in pages]


def _conditional(base: str, paths: Sequence[str]) -> list[Request]:
    """Revalidations a cache sends: If-None-Match with the current ETag, answered 304."""
    mix = []
    for path in paths:
        etag = get(base + path)[1]["ETag"]
        mix.append(Request("conditional read", path, f"If-None-Match: {etag}", 304))
    return mix


def build_mix(base: str) -> list[Request]:
    """What the store holds, asked for the ways clients ask: every resource read by id,
    searches, includes, /metadata, conditional reads and the reading view. Each kind is
    spread evenly over the list, so heavy and light requests alternate instead of coming
    in blocks."""
    plans, activities, drugs = (
        _search(base, t) for t in ("PlanDefinition", "ActivityDefinition", "Medication")
    )
    mix = [
        Request("read", f"/fhir/{r['resourceType']}/{r['id']}")
        for r in (*plans, *activities, *drugs)
    ]
    mix += _searches(plans, activities, drugs)
    mix += _includes(plans)
    mix.append(Request("metadata", "/fhir/metadata"))
    mix += _pages(plans, drugs)
    paths = [f"/fhir/PlanDefinition/{p['id']}" for p in plans]
    mix += _conditional(
        base, [*paths, *(f"/education/PlanDefinition/{p['id']}" for p in plans[:1])]
    )
    return spread(mix)


def spread(mix: Sequence[Request]) -> list[Request]:
    """The i-th of a kind's n requests goes at (i + 1/2) / n of the list."""
    kinds: dict[str, list[Request]] = {}
    for request in mix:
        kinds.setdefault(request.kind, []).append(request)
    placed = [
        ((i + 0.5) / len(group), kind, i)
        for kind, group in kinds.items()
        for i in range(len(group))
    ]
    return [kinds[kind][i] for _, kind, i in sorted(placed)]


def check_mix(base: str, mix: Sequence[Request]) -> None:
    """Send every request once before the run: a wrong request would count as a load
    error, so the mix must be right before it is measured."""
    for request in mix:
        headers = dict([request.header.split(": ", 1)]) if request.header else {}
        status = get(base + request.path, headers)[0]
        if status != request.expect:
            raise SystemExit(f"{request.path}: HTTP {status}, expected {request.expect}")


def write_mix(mix: Sequence[Request], path: Path) -> None:
    path.write_text("".join(f"{r.kind}\t{r.path}\t{r.header}".rstrip("\t") + "\n" for r in mix))


# --- wrk --------------------------------------------------------------------------------


def wrk_command(node: Node, connections: int, seconds: int, mix: Path, offset: int) -> list[str]:
    return [
        "wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT}", "--latency", "-s", str(LUA), node.base,
        "--", str(mix), str(offset),
    ]  # fmt: skip


def run_wrk(
    nodes: Sequence[Node],
    per_node: Sequence[int],
    seconds: int,
    mix: Path,
    workdir: Path,
    label: str,
) -> dict[str, dict[str, Any]]:
    """One wrk process per node, all at once, for ``seconds``; killed if still running
    well after that. Returns the SOAK_JSON figures of each node."""
    runs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for index, (node, connections) in enumerate(zip(nodes, per_node, strict=True)):
            out = workdir / f"wrk-{label}-{node.name}.txt"
            offset = index * len(mix.read_text().splitlines()) // len(nodes)  # apart
            command = wrk_command(node, connections, seconds, mix, offset)
            with out.open("wb") as stdout:
                process = subprocess.Popen(
                    command, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True
                )
            runs[node.name] = (process, out)
        for process, _ in runs.values():
            process.wait(timeout=seconds + 30)
    finally:
        for process, _ in runs.values():
            if process.poll() is None:
                stop_group(process, grace=2)
    return {name: parse_wrk(out) for name, (_, out) in runs.items()}


def parse_wrk(out: Path) -> dict[str, Any]:
    text = out.read_text()
    line = next((x for x in text.splitlines() if x.startswith("SOAK_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no figures ({out}):\n{text[-2000:]}")
    figures: dict[str, Any] = json.loads(line.removeprefix("SOAK_JSON "))
    return figures


def bad_statuses(figures: dict[str, Any]) -> int:
    return sum(n for s, n in figures["statuses"].items() if not 200 <= int(s) < 400)


def socket_errors(figures: dict[str, Any]) -> int:
    errors = figures["errors"]
    return sum(int(errors[k]) for k in ("connect", "read", "write", "timeout"))


def merged_percentile(runs: Sequence[dict[str, Any]], percent: float) -> float:
    """A percentile of the union of several wrk runs, in ms: each run's 999 quantiles
    stand for equal shares of its requests."""
    weighted = sorted(
        (float(value), run["requests"] / 999)
        for run in runs
        for value in run["quantiles"]
        if value is not None
    )
    target, seen = sum(w for _, w in weighted) * percent / 100, 0.0
    for value, weight in weighted:
        seen += weight
        if seen >= target:
            return value / 1000
    return weighted[-1][0] / 1000 if weighted else float("nan")


# --- sampling ---------------------------------------------------------------------------


@dataclass
class Samples:
    """Per-second samples: worker RSS (bytes) by (node, pid), service connections by
    state, cumulative CPU seconds by (group, pid) and of the whole machine."""

    rss: list[tuple[float, dict[tuple[str, int], int]]] = field(default_factory=list)
    connections: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    database: list[tuple[float, int, int]] = field(default_factory=list)  # transactions, analysed
    cpu: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    machine: list[tuple[float, float]] = field(default_factory=list)  # busy, steal


def connections_by_state(connection: psycopg.Connection[Any]) -> dict[str, int]:
    """The service's connections by state (idle, active, idle in transaction, ...)."""
    rows = connection.execute(
        "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity"
        " WHERE application_name = %s GROUP BY 1",
        (APPLICATION_NAME,),
    ).fetchall()
    return {state: int(n) for state, n in rows}


def _groups(
    nodes: Sequence[Node], postmaster: int, wrk: Sequence[int]
) -> Iterator[tuple[str, psutil.Process]]:
    """Every process whose CPU time counts, with its group's name."""
    for node in nodes:
        with contextlib.suppress(psutil.Error):
            master = psutil.Process(node.process.pid)
            for process in (master, *master.children()):
                yield f"gunicorn {node.name}", process
    yield "bench.soak itself", psutil.Process()
    with contextlib.suppress(psutil.Error):
        master = psutil.Process(postmaster)
        for process in (master, *master.children()):
            yield "PostgreSQL", process
    for pid in wrk:
        with contextlib.suppress(psutil.Error):
            yield "wrk", psutil.Process(pid)


class Sampler(threading.Thread):
    """Samples once a second until stopped; wrk pids are found as wrk children appear."""

    def __init__(self, nodes: Sequence[Node], postmaster: int, dsn: str) -> None:
        super().__init__(daemon=True)
        self.nodes, self.postmaster, self.dsn = nodes, postmaster, dsn
        self.samples = Samples()
        self._halt = threading.Event()
        self._start = time.monotonic()

    def stop(self) -> Samples:
        self._halt.set()
        self.join(timeout=10)
        return self.samples

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            while not self._halt.is_set():
                elapsed = time.monotonic() - self._start
                self._sample(elapsed, connection)
                self._halt.wait(max(0.0, 1.0 - (time.monotonic() - self._start - elapsed)))

    def _sample(self, elapsed: float, connection: psycopg.Connection[Any]) -> None:
        self.samples.rss.append((elapsed, self._rss()))
        self.samples.connections.append((elapsed, connections_by_state(connection)))
        row = connection.execute(DATABASE_SAMPLE).fetchone()
        if row is not None:
            self.samples.database.append((elapsed, int(row[0] or 0), int(row[1] or 0)))
        self._cpu()

    def _rss(self) -> dict[tuple[str, int], int]:
        rss: dict[tuple[str, int], int] = {}
        for node in self.nodes:
            with contextlib.suppress(psutil.Error):
                for worker in psutil.Process(node.process.pid).children():
                    with contextlib.suppress(psutil.Error):
                        rss[(node.name, worker.pid)] = worker.memory_info().rss
        return rss

    def _cpu(self) -> None:
        """Cumulative CPU of every process involved, and of the whole machine: whatever
        else runs on it during the run shows as the difference."""
        wrk = []
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if child.name() == "wrk":
                    wrk.append(child.pid)
        for group, process in _groups(self.nodes, self.postmaster, wrk):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                self.samples.cpu.setdefault((group, process.pid), []).append(
                    times.user + times.system
                )
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        self.samples.machine.append((busy, getattr(machine, "steal", 0.0)))


DATABASE_SAMPLE = """
SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database
        WHERE datname = current_database()),
       (SELECT count(*) FROM pg_stat_user_tables
        WHERE analyze_count > 0 OR autoanalyze_count > 0)
"""
"""Transactions so far (one a request that reads the store) and how many tables have
planner statistics (the load's own ANALYZE, or autovacuum's): without them every search is
planned for empty tables."""


def postmaster_pid(server: postgres.PostgresServer) -> int:
    return int((server.data / "postmaster.pid").read_text().splitlines()[0])


def dsn(server: postgres.PostgresServer) -> str:
    return (
        f"host=127.0.0.1 port={server.port} user={postgres.SUPERUSER} dbname={DATABASE}"
        " application_name=ped-soak"
    )


# --- figures ----------------------------------------------------------------------------


def database_figures(samples: Samples, window: int = 10) -> dict[str, Any]:
    """Transactions per second in each ``window`` of the run, so a change of pace shows,
    and when a table was first analysed (None: not during the run)."""
    rows = samples.database
    rates = []
    end = rows[-1][0] if rows else 0.0
    for start in range(0, int(end) - window + 1, window):  # whole windows only
        inside = [r for r in rows if start <= r[0] <= start + window]
        if len(inside) > 1 and inside[-1][0] > inside[0][0]:
            rates.append((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]))
    before = rows[0][2] if rows else 0
    analysed = next((t for t, _, n in rows if n > before), None)
    total = rows[-1][1] - rows[0][1] if rows else 0
    return {
        "rates": rates,
        "window": window,
        "analysed_at": analysed,
        "before": before,
        "transactions": total,
    }


def rss_figures(samples: Samples, seconds: int) -> list[dict[str, Any]]:
    """Per worker: median RSS of the first and of the last window (10 s, or a third of a
    shorter run) and the growth between them. A worker missing from either window was
    started or stopped during the run (a restart), which is reported, not judged flat."""
    window = min(10, max(1, seconds // 3))
    workers = sorted({key for _, sample in samples.rss for key in sample})
    rows = []
    for key in workers:
        first = [s[key] for t, s in samples.rss if t < window and key in s]
        last = [s[key] for t, s in samples.rss if t >= seconds - window and key in s]
        row: dict[str, Any] = {"node": key[0], "pid": key[1], "window": window}
        if first and last:
            start, end = statistics.median(first) / 2**20, statistics.median(last) / 2**20
            growth = end - start
            row |= {
                "first": start,
                "last": end,
                "growth": growth,
                "share": growth / start,
                "flat": growth < RSS_FLAT_MB and growth / start < RSS_FLAT_SHARE,
            }
        else:
            row |= {"flat": False, "restarted": True}
        rows.append(row)
    return rows


def cpu_figures(samples: Samples) -> dict[str, float]:
    """CPU seconds each group used during the run (last sample minus first, per pid);
    "other processes" is the machine's busy time less all of those, and "stolen" the
    time the hypervisor gave to other guests."""
    groups: dict[str, float] = {}
    for (group, _), values in samples.cpu.items():
        groups[group] = groups.get(group, 0.0) + values[-1] - values[0]
    groups = dict(sorted(groups.items()))
    if len(samples.machine) > 1:
        (busy0, steal0), (busy1, steal1) = samples.machine[0], samples.machine[-1]
        groups["other processes"] = max(0.0, busy1 - busy0 - sum(groups.values()))
        groups["stolen"] = steal1 - steal0
    return groups


def pool_figures(url: str, workers: int, conf: dict[str, Any]) -> dict[str, Any]:
    """The pool each worker builds (from the service's own make_engine) and the most
    connections the service can hold: per worker, its threads bound how many are checked
    out at once, and the pool keeps up to pool_size of them open between requests."""
    engine = make_engine(url)
    pool = engine.pool
    figures = {
        "pool": type(pool).__name__,
        "size": pool.size(),
        "overflow": getattr(pool, "_max_overflow", None),
        "timeout": pool.timeout(),
        "threads": int(conf["threads"]),
        "workers": workers,
    }
    engine.dispose()
    figures["bound"] = workers * min(
        figures["threads"], figures["size"] + (figures["overflow"] or 0)
    )
    return figures


def scan_log(path: Path, pattern: re.Pattern[str]) -> tuple[int, list[str]]:
    """How many lines of a log look like errors, and the first few of them."""
    if not path.exists():
        return 0, []
    hits = [
        line for line in path.read_text("utf-8", "replace").splitlines() if pattern.search(line)
    ]
    return len(hits), hits[:5]


def machine(server: postgres.PostgresServer) -> dict[str, str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": f"{os.cpu_count()} ({model})",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "gunicorn": gunicorn.__version__,
        "PostgreSQL": server.psql("SHOW server_version"),
        "wrk": wrk[1] if len(wrk) > 1 else "?",
    }


# --- report -----------------------------------------------------------------------------


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.1f} ms"


def traffic_table(runs: dict[str, dict[str, Any]]) -> list[str]:
    names = list(runs)
    total_requests = sum(r["requests"] for r in runs.values())
    seconds = max(r["duration_us"] for r in runs.values()) / 1e6
    columns = [*(f"node {n}" for n in names), "total"]
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]

    def row(label: str, per_node: list[str], total: str) -> None:
        lines.append(f"| {label} | " + " | ".join([*per_node, total]) + " |")

    row("requests", [f"{r['requests']:,}" for r in runs.values()], f"{total_requests:,}")
    row(
        "req/s",
        [f"{r['requests'] / (r['duration_us'] / 1e6):,.0f}" for r in runs.values()],
        f"{total_requests / seconds:,.0f}",
    )
    for percent in (50, 90, 99):
        row(
            f"p{percent} latency",
            [_ms(r["quantiles"][percent * 10 - 1]) for r in runs.values()],
            f"{merged_percentile(list(runs.values()), percent):.1f} ms",
        )
    row(
        "max latency",
        [_ms(r["latency"]["max"]) for r in runs.values()],
        _ms(max(r["latency"]["max"] or 0 for r in runs.values())),
    )
    for kind in ("connect", "read", "write", "timeout"):
        counts = [int(r["errors"][kind]) for r in runs.values()]
        row(f"socket errors: {kind}", [str(c) for c in counts], str(sum(counts)))
    bad = [bad_statuses(r) for r in runs.values()]
    row("non-2xx/3xx responses", [str(b) for b in bad], f"**{sum(bad)}**")
    statuses: dict[str, int] = {}
    for r in runs.values():
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    row("statuses", [_statuses(r["statuses"]) for r in runs.values()], _statuses(statuses))
    return lines


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{s}: {n:,}" for s, n in sorted(counts.items()))


def sent_line(runs: dict[str, dict[str, Any]]) -> str:
    """Requests sent of each kind, and whether the 304s match the conditional reads (a
    few may still have been in flight when wrk stopped)."""
    sent: dict[str, int] = {}
    for run in runs.values():
        for kind, n in run["sent"].items():
            sent[kind] = sent.get(kind, 0) + n
    not_modified = sum(r["statuses"].get("304", 0) for r in runs.values())
    return (
        "Sent, by kind: "
        + ", ".join(f"{kind} {n:,}" for kind, n in sorted(sent.items()))
        + f". 304 answers: {not_modified:,} for {sent.get('conditional read', 0):,} "
        "conditional reads sent."
    )


def database_line(figures: dict[str, Any], requests: int) -> str:
    rates = ", ".join(f"{r:,.0f}" for r in figures["rates"])
    if figures["before"]:
        analysed = "the tables had planner statistics before the run (ANALYZE)"
    elif figures["analysed_at"] is None:
        analysed = "the tables were not analysed before or during the run (no planner statistics)"
    else:
        analysed = (
            f"the tables were first analysed {figures['analysed_at']:.0f} s into the run "
            "(no planner statistics before that)"
        )
    per_request = figures["transactions"] / requests if requests else 0.0
    return (
        f"Database transactions/s by {figures['window']} s window: {rates} "
        f"({per_request:.2f} per request); {analysed}."
    )


def rss_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    window = rows[0]["window"] if rows else 10
    lines = [
        f"| node | worker pid | first {window} s median | last {window} s median | growth | flat |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("restarted"):
            lines.append(
                f"| {r['node']} | {r['pid']} | - | - | started or stopped during the run | ✗ |"
            )
            continue
        lines.append(
            f"| {r['node']} | {r['pid']} | {r['first']:.1f} MB | {r['last']:.1f} MB "
            f"| {r['growth']:+.1f} MB ({r['share']:+.1%}) | {'✓' if r['flat'] else '✗'} |"
        )
    return lines


def render(report: dict[str, Any]) -> str:
    info, pool, conf = report["machine"], report["pool"], report["conf"]
    runs, warm = report["runs"], report["warmup"]
    end, peak = report["connections_end"], report["connections_peak"]
    out = [
        f"## bench.soak {info['date']}",
        "",
        f"`{report['command']}`",
        "",
        f"{report['nodes']} gunicorn nodes x {conf['workers']} workers ({conf['worker_class']}, "
        f"{conf['threads']} threads, timeout {conf['timeout']} s) on one PostgreSQL database "
        f"(default durability settings); {report['connections']} connections for "
        f"{report['seconds']} s, one wrk process per node ({WRK_THREADS} thread, "
        f"--timeout {WRK_TIMEOUT}), after a {report['warmup_seconds']} s warm-up; readiness "
        f"probe {report['probe']}; {report['loaded']}.",
        "",
        f"Request mix ({len(report['mix'])} requests, rotated): "
        + ", ".join(f"{kind} {n}" for kind, n in sorted(report["mix_kinds"].items())),
        "",
        *traffic_table(runs),
        "",
        sent_line(runs),
        "",
        f"Warm-up: {sum(r['requests'] for r in warm.values()):,} requests, "
        f"{sum(socket_errors(r) for r in warm.values())} socket errors, "
        f"{sum(bad_statuses(r) for r in warm.values())} non-2xx/3xx.",
        "",
        f"Worker RSS, sampled every second (flat: growth < {RSS_FLAT_MB:g} MB and "
        f"< {RSS_FLAT_SHARE:.0%}):",
        "",
        *rss_table(report["rss"]),
        "",
        f"Database connections of the service (`application_name='{APPLICATION_NAME}'`): "
        f"at the end {sum(end.values())} ({_statuses(end) or 'none'}); at most "
        f"{peak['total']} during the run, at most {peak['busy']} busy (active or idle in "
        f"transaction). Pool per worker: {pool['pool']} pool_size {pool['size']} + "
        f"max_overflow {pool['overflow']}, pool_timeout {pool['timeout']:g} s; with "
        f"{pool['threads']} threads a worker checks out at most {pool['threads']} at once, "
        f"so {pool['workers']} workers hold at most {pool['bound']}.",
        "",
        database_line(report["database"], sum(r["requests"] for r in runs.values())),
        "",
        "CPU seconds used during the run (of "
        f"{report['cpu_available']:.0f} available: {os.cpu_count()} cores x "
        f"{report['seconds']} s): "
        + ", ".join(f"{g} {s:.1f}" for g, s in report["cpu"].items())
        + f". Load average at the end: {report['load']}.",
        "",
        "Logs: " + "; ".join(f"{name}: {n} error lines" for name, (n, _) in report["logs"].items()),
        *(
            f"    {name}: {line[:300]}"
            for name, (_, lines) in report["logs"].items()
            for line in lines
        ),
        "",
        "Machine: "
        + ", ".join(f"{k} {v}" for k, v in info.items() if k != "date")
        + f". wrk, the {report['nodes']} nodes and PostgreSQL all share these cores.",
        "",
        f"**zero errors: {'yes' if report['zero_errors'] else 'NO'}; "
        f"RSS flat: {'yes' if report['rss_flat'] else 'NO'}**",
    ]
    return "\n".join(out)


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=int, default=60, help="length of the measured run")
    parser.add_argument("--connections", type=int, default=64, help="in all, split over the nodes")
    parser.add_argument("--nodes", type=int, default=2, help="gunicorn nodes on one database")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="WEB_CONCURRENCY of each node"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="seconds of load before measuring (0: none)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and wrk output")
    args = parser.parse_args(argv)
    if args.seconds < 3 or args.nodes < 1 or args.connections < args.nodes or args.workers < 1:
        parser.error("need --seconds >= 3, --nodes >= 1, --connections >= --nodes, --workers >= 1")
    return args


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Setup:
    """What the run drives: the database, its nodes and the request mix."""

    server: postgres.PostgresServer
    url: str
    loaded: str  # the load command's summary line
    nodes: list[Node]
    probe: str  # the readiness probe that answered
    mix: list[Request]
    mix_file: Path


def set_up(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> Setup:
    """PostgreSQL, the fixtures loaded by the real command, the nodes started together (so
    they migrate under the lock at once) and ready, the mix checked on every node. Every
    process started is registered on ``stack``, so leaving it stops them."""
    server = stack.enter_context(postgres.running(settings=()))
    stack.callback(lambda: shutil.copy(server.directory / "server.log", workdir / "postgres.log"))
    url = server.create_database(DATABASE)
    env = {**os.environ, "FLASK_DATABASE_URL": url}
    loaded = load_fixtures(env)
    nodes = []
    for index in range(args.nodes):
        node = start_node(chr(ord("A") + index), env, args.workers, workdir)
        stack.callback(stop_group, node.process)
        nodes.append(node)
    probe = "/readyz"
    for node in nodes:
        probe = wait_ready(node, probe)
    mix = build_mix(nodes[0].base)
    for node in nodes:
        check_mix(node.base, mix)
    write_mix(mix, workdir / "mix.tsv")
    return Setup(server, url, loaded, nodes, probe, mix, workdir / "mix.tsv")


def drive(args: argparse.Namespace, setup: Setup, workdir: Path) -> dict[str, Any]:
    """The warm-up, then the measured run with the sampler running; then the connections
    left open, before the nodes stop (stopped here so that their logs are complete)."""
    per_node = split(args.connections, len(setup.nodes))
    warm = {}
    if args.warmup:
        warm = run_wrk(setup.nodes, per_node, args.warmup, setup.mix_file, workdir, "warmup")
    sampler = Sampler(setup.nodes, postmaster_pid(setup.server), dsn(setup.server))
    sampler.start()
    try:
        runs = run_wrk(setup.nodes, per_node, args.seconds, setup.mix_file, workdir, "run")
    finally:
        samples = sampler.stop()
    time.sleep(1)  # let the last replies return their connections to the pools
    with psycopg.connect(dsn(setup.server), autocommit=True) as connection:
        end = connections_by_state(connection)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    info = machine(setup.server)
    for node in setup.nodes:
        stop_group(node.process)
    return {"warmup": warm, "runs": runs, "samples": samples, "connections_end": end,
            "load": load, "machine": info}  # fmt: skip


def figures(args: argparse.Namespace, setup: Setup, measured: dict[str, Any]) -> dict[str, Any]:
    """Everything the report shows, from the run and the logs."""
    samples: Samples = measured.pop("samples")
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    conf["workers"] = args.workers
    busy = [sum(n for s, n in c.items() if s != "idle") for _, c in samples.connections]
    logs = {f"gunicorn {n.name}": scan_log(n.log, LOG_ERROR) for n in setup.nodes}
    logs["PostgreSQL"] = scan_log(setup.server.directory / "server.log", PG_ERROR)
    return {
        **measured,
        "command": " ".join(["python -m bench.soak", *sys.argv[1:]]),
        "nodes": len(setup.nodes),
        "connections": args.connections,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "probe": setup.probe,
        "loaded": setup.loaded,
        "conf": conf,
        "mix": setup.mix,
        "mix_kinds": dict(Counter(r.kind for r in setup.mix)),
        "rss": rss_figures(samples, args.seconds),
        "cpu": cpu_figures(samples),
        "cpu_available": (os.cpu_count() or 1) * args.seconds,
        "database": database_figures(samples),
        "pool": pool_figures(setup.url, args.workers * len(setup.nodes), conf),
        "connections_peak": {
            "total": max((sum(c.values()) for _, c in samples.connections), default=0),
            "busy": max(busy, default=0),
        },
        "logs": logs,
    }


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start everything, run, stop everything (on any exit), and return the figures."""
    with contextlib.ExitStack() as stack:
        setup = set_up(args, workdir, stack)
        measured = drive(args, setup, workdir)
        return figures(args, setup, measured)


def judge(report: dict[str, Any]) -> bool:
    """The pass condition: no socket error and no non-2xx/3xx response, warm-up included,
    and every worker's RSS flat."""
    every = [*report["runs"].values(), *report["warmup"].values()]
    report["zero_errors"] = not any(socket_errors(r) or bad_statuses(r) for r in every)
    report["rss_flat"] = bool(report["rss"]) and all(r["flat"] for r in report["rss"])
    return bool(report["zero_errors"] and report["rss_flat"])


def tidy(workdir: Path, keep: bool) -> None:
    if keep:
        print(f"logs, the request mix and wrk output are in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk: apt-get install wrk)")
    raise_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        report = soak(args, workdir)
    except KeyboardInterrupt:
        print("interrupted; everything this run started is stopped", file=sys.stderr)
        tidy(workdir, args.keep)
        return 130
    except BaseException:
        tidy(workdir, True)  # a failed run: the logs say why
        raise
    passed = judge(report)
    print(render(report))
    tidy(workdir, args.keep or not passed)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
