"""Search latency, load rate and worker memory at scale: ``python -m bench.scale``.

For each backend (SQLite, PostgreSQL or both), on one empty database:

1. load the real fixtures through the real load path (``flask --app wsgi load fixtures/``,
   a child process) and time searches through the real app in-process (Flask test client
   on ``create_app``): the *small* store;
2. load the synthetic content of ``bench.synthetic`` (by default 5,000 PlanDefinitions,
   50,000 Medications and their ActivityDefinitions) the same way, timing it and taking the
   loading process's CPU time and peak RSS;
3. time the same searches again: the *large* store. The real-content searches find the
   same resources in both, so the large/small ratio of their medians is the cost of the
   store's size alone; the issue's target is at most 2x.

Searches run in interleaved rounds, every target once per round in an order rotated each
round, so drift on a noisy machine hits them alike. Two controls that do not depend on the
store's size (``/healthz``, and a read by id) show how much the machine itself changed
between the two phases. The serving process's RSS is sampled after every round: a worker
whose memory grows with requests would show it between the first and last tenth.

Prints Markdown tables (medians and ratios, never absolute claims) with the machine's
details; ``--json PATH`` also writes every figure. ``--explain`` adds each search's query
plan on the large store (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psutil
from flask import Flask
from flask.testing import FlaskClient

from bench import synthetic
from service import create_app
from service.search.query import parse_search
from service.storage import open_store
from service.store import Store, sql

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
FLASK = Path(sys.executable).parent / "flask"

TARGET_RATIO = 2.0
FLAT_RSS_MB = 2.0
"""RSS growth between the first and last tenth of the search run that still counts as
flat: a leak of one small object per request (~300 bytes over 7,000 requests) stays
under it, a leaked response body (10-50 kB) per request would be hundreds of MB."""

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
REAL_PLAN_URL = "https://fhir.example.org/ped/PlanDefinition/all-induction"

BASELINE = "healthz (no database)"
"""The control that does no database work: its large/small ratio is the machine's drift."""


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    kind: str
    """``control`` (independent of the store's size), ``real`` (finds the same real
    resources in both stores: the 2x target applies) or ``synthetic`` (finds synthetic
    resources, so nothing in the small store)."""


def targets(sizes: synthetic.Sizes) -> list[Target]:
    """What is timed. The synthetic code is a drug in the middle of the generated range."""
    drug = synthetic.drug_code(max(1, sizes.medications // 2), sizes)
    return [
        Target(BASELINE, "/healthz", "control"),
        Target("read PlanDefinition by id", "/fhir/PlanDefinition/all-induction", "control"),
        Target("Medication code=system|code", f"/fhir/Medication?code={RXNORM}|6851", "real"),
        Target("PlanDefinition url=", f"/fhir/PlanDefinition?url={REAL_PLAN_URL}", "real"),
        Target(
            "PlanDefinition title:contains",
            "/fhir/PlanDefinition?title:contains=lymphoblastic",
            "real",
        ),
        Target(
            "synthetic Medication code=",
            f"/fhir/Medication?code={synthetic.DRUG_SYSTEM}|{drug}",
            "synthetic",
        ),
        Target(
            "synthetic title:contains (few)",
            f"/fhir/PlanDefinition?title:contains={synthetic.RARE_TITLE_WORD}",
            "synthetic",
        ),
    ]


# --- loading through `flask load` ---------------------------------------------------------------


@dataclass(frozen=True)
class LoadFigures:
    resources: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    summary: str

    @property
    def rate(self) -> float:
        return self.resources / self.seconds

    @property
    def cpu_rate(self) -> float:
        return self.resources / self.cpu_seconds


def _peak_rss(process: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    """Poll a child's RSS until ``stop``: ``wait4``'s ru_maxrss is the exact peak, this is a
    cross-check that also works where ru_maxrss is not in kilobytes."""
    while not stop.wait(0.05):
        with contextlib.suppress(psutil.Error):
            peak[0] = max(peak[0], process.memory_info().rss)


def flask_load(
    database_url: str, paths: Sequence[Path], profile: Path | None = None
) -> LoadFigures:
    """Run ``flask --app wsgi load PATHS`` against ``database_url`` and measure it: wall
    time, the child's own CPU time and peak RSS (``os.wait4``). With ``profile``, under
    cProfile (slower: the figures are then only good for finding where the time goes)."""
    command = [str(FLASK), "--app", "wsgi", "load", *map(str, paths)]
    if profile is not None:
        profiler = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "flask"]
        command = [*profiler, *command[1:]]
    env = {**os.environ, "FLASK_DATABASE_URL": database_url, "FLASK_LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        stop, peak = threading.Event(), [0]
        poller = threading.Thread(target=_peak_rss, args=(psutil.Process(child.pid), stop, peak))
        poller.start()
        # wait4, not child.wait(): it also gives the child's own CPU time and peak RSS.
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        stop.set()
        poller.join()
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if child.returncode != 0:
        raise SystemExit(f"flask load failed ({child.returncode}):\n{errors.strip()}")
    summary = output.strip().splitlines()[-1]
    match = re.search(r": (\d+) resources", summary)
    if match is None:
        raise SystemExit(f"unexpected flask load summary: {summary}")
    peak_mb = max(usage.ru_maxrss * 1024, peak[0]) / 2**20  # ru_maxrss is in kB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    return LoadFigures(int(match.group(1)), seconds, cpu, peak_mb, summary)


# --- timing searches in-process ---------------------------------------------------------------


@dataclass
class Phase:
    """One search run: per target, wall and CPU time of each request, and its total."""

    samples_ms: dict[str, list[float]]
    cpu_ms: dict[str, list[float]]
    totals: dict[str, int | None]
    rss_mb: list[float] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    """Targets that answered other than 200, with what they answered."""
    load_average: tuple[float, float] = (0.0, 0.0)
    """The 1-minute load average before and after: how busy the machine was."""

    def ok(self, name: str) -> bool:
        return name not in self.failures and bool(self.samples_ms[name])

    def median(self, name: str) -> float:
        return statistics.median(self.samples_ms[name])

    def cpu_median(self, name: str) -> float:
        return statistics.median(self.cpu_ms[name])

    def p90(self, name: str) -> float:
        return statistics.quantiles(self.samples_ms[name], n=10, method="inclusive")[-1]


def _timed(client: FlaskClient, target: Target) -> tuple[float, float, Any]:
    """One request: wall and serving-thread CPU milliseconds, and the response."""
    cpu_start, start = time.thread_time_ns(), time.perf_counter_ns()
    response = client.get(target.path)
    end, cpu_end = time.perf_counter_ns(), time.thread_time_ns()
    return (end - start) / 1e6, (cpu_end - cpu_start) / 1e6, response


def _total(response: Any) -> int | None:
    body = response.get_json(silent=True)
    return body.get("total") if isinstance(body, dict) and body.get("type") == "searchset" else None


def _failure(wall_ms: float, response: Any) -> str:
    body = response.get_json(silent=True) or {}
    issues = body.get("issue") or [{}]
    return (
        f"HTTP {response.status_code} after {wall_ms:,.0f} ms: {issues[0].get('diagnostics', '')}"
    )


def measure(client: FlaskClient, chosen: Sequence[Target], rounds: int, warmup: int) -> Phase:
    """``warmup`` untimed rounds, then ``rounds`` timed ones; RSS after every round.

    A target that answers anything but 200 is recorded as failed and left out of the rest
    of the phase: a search that hits the statement timeout would otherwise take hours."""
    phase = Phase({t.name: [] for t in chosen}, {t.name: [] for t in chosen}, {})
    active = list(chosen)

    def run(target: Target) -> tuple[float, float, Any] | None:
        wall_ms, cpu_ms, response = _timed(client, target)
        if response.status_code == 200:
            return wall_ms, cpu_ms, response
        phase.failures[target.name] = _failure(wall_ms, response)
        active.remove(target)
        log(f"  {target.name}: {phase.failures[target.name]}")
        return None

    for target in list(active):
        done = run(target)
        phase.totals[target.name] = _total(done[2]) if done else None
    for _ in range(warmup):
        for target in list(active):
            run(target)
    process = psutil.Process()
    before = os.getloadavg()[0]
    gc.collect()
    for i in range(rounds):
        shift = i % max(1, len(active))
        for target in [*active[shift:], *active[:shift]]:
            done = run(target)
            if done is not None:
                phase.samples_ms[target.name].append(done[0])
                phase.cpu_ms[target.name].append(done[1])
        phase.rss_mb.append(process.memory_info().rss / 2**20)
    phase.load_average = (before, os.getloadavg()[0])
    return phase


def rss_growth(rss_mb: Sequence[float]) -> tuple[float, float, float]:
    """Median RSS of the first and the last tenth of the samples, and the growth."""
    tenth = max(1, len(rss_mb) // 10)
    first = statistics.median(rss_mb[:tenth])
    last = statistics.median(rss_mb[-tenth:])
    return first, last, last - first


# --- query plans ------------------------------------------------------------------------------


def _search_sql(store: Store, path: str) -> tuple[str, Any]:
    """The SQL the store runs for a search URL and its parameters, bound the way
    ``service.store.store._Prepared`` binds them (for EXPLAIN)."""
    parts = urlsplit(path)
    resource_type = parts.path.rsplit("/", 1)[-1]
    query = parse_search(resource_type, parse_qsl(parts.query), strict=True).query
    compiled = sql.build(sql.shape(query)).rows.compile(dialect=store.engine.dialect)
    values = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
    values.update(sql.literals(query))
    positions = compiled.positiontup
    return str(compiled), tuple(values[n] for n in positions) if positions else values


def explain(store: Store, path: str) -> str:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL) of a search."""
    statement, params = _search_sql(store, path)
    postgres = store.engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(prefix + statement, params)
        rows = cursor.fetchall()
        cursor.close()
    finally:
        connection.close()
    if postgres:
        return "\n".join(str(row[0]) for row in rows)
    return "\n".join(f"{row[0]:>3} {row[1]:>3} {row[3]}" for row in rows)


def database_version(store: Store) -> str:
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as connection:
            return "PostgreSQL " + str(connection.exec_driver_sql("SHOW server_version").scalar())
    return f"SQLite {sqlite3.sqlite_version}"


# --- one backend ------------------------------------------------------------------------------


@dataclass
class BackendRun:
    backend: str
    database: str
    fixtures_load: LoadFigures
    synthetic_load: LoadFigures
    small: Phase
    large: Phase
    counts: dict[str, int]
    plans: dict[str, str] = field(default_factory=dict)


QUIET = {"LOG_LEVEL": "WARNING"}
"""App configuration for the benchmark: no access-log line per request. It would cost the
same in both stores, but writing thousands of lines to a terminal adds noise to timings."""


def _app(database_url: str) -> Flask:
    return create_app({"DATABASE_URL": database_url, **QUIET})


def _store(app: Flask) -> Store:
    """The app's store, opened (migrated) as a command would: ``create_app`` opens nothing."""
    with app.app_context():
        return open_store()


def _require_empty(database_url: str) -> None:
    """Synthetic content never goes into a store that holds anything already."""
    store = _store(_app(database_url))
    counts = store.counts()
    store.engine.dispose()
    if any(counts.values()):
        raise SystemExit(
            f"refusing to load synthetic content into a database that is not empty: {counts}"
        )


def run_backend(
    backend: str, database_url: str, content: Path, sizes: synthetic.Sizes, args: argparse.Namespace
) -> BackendRun:
    """Fixtures, small-store searches, the synthetic load, large-store searches: all on one
    database and, for the searches, one app, as a worker would see its store grow."""
    _require_empty(database_url)
    chosen = targets(sizes)
    log(f"[{backend}] loading fixtures/")
    fixtures_load = flask_load(database_url, [FIXTURES])
    app = _app(database_url)
    client = app.test_client()
    log(f"[{backend}] small store: {args.rounds} rounds x {len(chosen)} targets")
    small = measure(client, chosen, args.rounds, args.warmup)
    log(f"[{backend}] loading {sizes.total:,} synthetic resources")
    profile = args.profile_load
    if profile is not None:  # one profile per backend
        profile = profile.with_name(f"{profile.stem}-{backend}{profile.suffix or '.prof'}")
        log(f"[{backend}] profiling the load into {profile}: its figures are inflated")
    synthetic_load = flask_load(database_url, [content], profile)
    log(f"[{backend}] large store: {args.rounds} rounds x {len(chosen)} targets")
    large = measure(client, chosen, args.rounds, args.warmup)
    store = _store(app)
    run = BackendRun(
        backend, database_version(store), fixtures_load, synthetic_load, small, large,
        store.counts(),
    )  # fmt: skip
    if args.explain:
        run.plans = {t.name: explain(store, t.path) for t in chosen if "?" in t.path}
    store.engine.dispose()
    return run


@contextlib.contextmanager
def database(backend: str, args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    """An empty database: a SQLite file in ``workdir``, the ``--database-url`` given, or a
    throwaway PostgreSQL server with its default (durable) settings."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'scale.sqlite3'}"
        return
    if args.database_url:
        yield args.database_url
        return
    from tests.support.postgres import running  # only needed, and only present, in the repo

    with running(settings=()) as server:
        yield server.create_database("bench")


# --- report -----------------------------------------------------------------------------------


def _revision() -> str:
    """The commit measured, and whether the working tree differed from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "revision": _revision(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def _verdict(target: Target, ratio: float) -> str:
    if target.kind != "real":
        return ""
    return "✓" if ratio <= TARGET_RATIO else "✗"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a bare ``|`` would end the cell."""
    return text.replace("|", "\\|")


def _fmt_total(total: int | None) -> str:
    return "" if total is None else str(total)


def _ratio(run: BackendRun, name: str) -> float:
    return run.large.median(name) / run.small.median(name)


def search_table(run: BackendRun, chosen: Sequence[Target]) -> list[str]:
    lines = [
        "| target | matches small / large | small median (ms) | large median (ms) "
        "| large p90 (ms) | ratio | ≤ 2x | ÷ healthz ratio | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    baseline_ok = run.small.ok(BASELINE) and run.large.ok(BASELINE)
    drift = _ratio(run, BASELINE) if baseline_ok else None
    for t in chosen:
        totals = f"{_fmt_total(run.small.totals.get(t.name))} / "
        totals += _fmt_total(run.large.totals.get(t.name))
        if not (run.small.ok(t.name) and run.large.ok(t.name)):
            cells = [
                f"{phase.median(t.name):.2f}" if phase.ok(t.name) else phase.failures[t.name]
                for phase in (run.small, run.large)
            ]
            verdict = "✗" if t.kind == "real" else ""
            row = [_cell(t.name), totals.strip(" /"), *map(_cell, cells), "", "", verdict, "", ""]
            lines.append(f"| {' | '.join(row)} |")
            continue
        small, large = run.small.median(t.name), run.large.median(t.name)
        cpu_ratio = run.large.cpu_median(t.name) / run.small.cpu_median(t.name)
        ratio = large / small
        corrected = "" if drift is None else f"{ratio / drift:.2f}"
        lines.append(
            f"| {_cell(t.name)} | {totals.strip(' /')} | {small:.2f} | {large:.2f} "
            f"| {run.large.p90(t.name):.2f} | **{ratio:.2f}** | {_verdict(t, ratio)} "
            f"| {corrected} | {cpu_ratio:.2f} |"
        )
    return lines


def load_table(run: BackendRun) -> list[str]:
    lines = [
        "| load (`flask load`) | resources | wall (s) | rate (res/s) | CPU (s) "
        "| rate per CPU-s | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, load in (("fixtures/", run.fixtures_load), ("synthetic", run.synthetic_load)):
        lines.append(
            f"| {name} | {load.resources:,} | {load.seconds:.1f} | {load.rate:,.0f} "
            f"| {load.cpu_seconds:.1f} | {load.cpu_rate:,.0f} | {load.peak_rss_mb:,.0f} |"
        )
    return lines


def rss_table(run: BackendRun, requests_per_phase: int) -> list[str]:
    lines = [
        "| serving process RSS | requests | first tenth (MB) | last tenth (MB) | growth (MB) "
        "| flat |",
        "|---|---|---|---|---|---|",
    ]
    for name, phase in (("small store", run.small), ("large store", run.large)):
        first, last, growth = rss_growth(phase.rss_mb)
        flat = "✓" if growth <= FLAT_RSS_MB else "✗"
        lines.append(
            f"| {name} | {requests_per_phase:,} | {first:.1f} | {last:.1f} | {growth:+.1f} "
            f"| {flat} |"
        )
    return lines


def render(
    info: dict[str, Any], runs: Sequence[BackendRun], chosen: Sequence[Target], args: Any
) -> str:
    requests = args.rounds * len(chosen)
    out = [
        f"bench.scale {info['date']}: {info['python']}, {info['platform']}, {info['cpus']} CPUs, "
        f"{info['memory_gb']} GB; load average at start {info['load_average']}; "
        f"revision {info['revision']}",
        f"{args.rounds} timed rounds after {args.warmup} warm-up rounds, {len(chosen)} targets "
        "interleaved per round; medians of wall time per request through the Flask test client",
    ]
    for run in runs:
        out += [
            "",
            f"### {run.backend} ({run.database})",
            "",
            f"Large store: {', '.join(f'{n:,} {t}' for t, n in sorted(run.counts.items()))}. "
            f"1-min load average during the small / large runs: "
            f"{run.small.load_average[0]:.1f}→{run.small.load_average[1]:.1f} / "
            f"{run.large.load_average[0]:.1f}→{run.large.load_average[1]:.1f}.",
            "",
            *search_table(run, chosen),
            "",
            *load_table(run),
            "",
            *rss_table(run, requests),
        ]
        for name, plan in run.plans.items():
            out += ["", f"Query plan on the large store, {name}:", "```", plan, "```"]
    out += [
        "",
        "ratio = large-store median / small-store median, target ≤ 2x for the searches that "
        "find the same real resources in both stores; ÷ healthz ratio divides out the drift of "
        "the machine between the two runs (healthz does no database work); CPU ratio is the "
        "ratio of the medians of the serving "
        "thread's CPU time (less sensitive to other processes; for PostgreSQL it leaves out "
        "the server's work). Controls: neither depends on the store's size, so their ratio "
        "shows how much the machine itself changed between the two runs.",
    ]
    return "\n".join(out)


def to_json(info: dict[str, Any], runs: Sequence[BackendRun], chosen: Sequence[Target]) -> Any:
    def phase(p: Phase) -> dict[str, Any]:
        return {
            "targets": {
                t.name: {
                    "median_ms": p.median(t.name),
                    "p90_ms": p.p90(t.name),
                    "cpu_median_ms": p.cpu_median(t.name),
                    "total": p.totals.get(t.name),
                }
                for t in chosen
                if p.ok(t.name)
            },
            "failures": p.failures,
            "rss_mb": dict(
                zip(("first_tenth", "last_tenth", "growth"), rss_growth(p.rss_mb), strict=True)
            ),
            "load_average": p.load_average,
        }

    return {
        **info,
        "targets": [asdict(t) for t in chosen],
        "backends": [
            {
                "backend": r.backend,
                "database": r.database,
                "counts": r.counts,
                "loads": {
                    "fixtures": {**asdict(r.fixtures_load), "rate": r.fixtures_load.rate},
                    "synthetic": {**asdict(r.synthetic_load), "rate": r.synthetic_load.rate},
                },
                "small": phase(r.small),
                "large": phase(r.large),
                "plans": r.plans,
            }
            for r in runs
        ],
    }


# --- command line -----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--plans", type=int, default=synthetic.DEFAULT_PLANS)
    parser.add_argument("--medications", type=int, default=synthetic.DEFAULT_MEDICATIONS)
    parser.add_argument("--rounds", type=int, default=1000, help="timed rounds per store")
    parser.add_argument("--warmup", type=int, default=50, help="untimed rounds per store")
    parser.add_argument(
        "--database-url",
        help="an existing, empty PostgreSQL database (default: a throwaway server)",
    )
    parser.add_argument("--explain", action="store_true", help="print query plans (large store)")
    parser.add_argument(
        "--profile-load",
        type=Path,
        metavar="PATH",
        help="run the synthetic load under cProfile into PATH-BACKEND (slows it down)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    args = parser.parse_args(argv)
    if args.rounds < 10 or args.warmup < 0 or min(args.plans, args.medications) < 1:
        parser.error("--rounds must be at least 10, --warmup at least 0, sizes at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    sizes = synthetic.Sizes(
        args.plans, args.medications, synthetic.default_activities(args.plans, args.medications)
    )
    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    runs: list[BackendRun] = []
    try:
        content = workdir / "synthetic"
        log(f"generating {sizes.total:,} synthetic resources into {content}")
        synthetic.write(content, sizes)
        for backend in backends:
            with database(backend, args, workdir) as url:
                runs.append(run_backend(backend, url, content, sizes, args))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    chosen = targets(sizes)
    print(render(info, runs, chosen, args))
    if args.json:
        args.json.write_text(json.dumps(to_json(info, runs, chosen), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
