"""Liveness and worker memory under heavy requests: ``python -m bench.heavy``.

One gunicorn started as ``make serve`` starts it (``gunicorn.conf.py``, ``wsgi:app``, the
worker count of ``WEB_CONCURRENCY`` or the config's default) over a throwaway SQLite store
holding ``fixtures/`` and a little synthetic content (``bench.synthetic``: 300 plans, 900
activities, 3,000 drugs, all tagged as test data). For ``--seconds`` (60 for the figures)
``--clients`` threads (24) send heavy requests back to back, more than the workers have
threads (5 x 4 on 2 cores): every other thread ``$validate``, the others rotating over the
three kinds of heavy read (after a 503, a thread waits 1 s before its next request):

- ``validate``: ``POST /fhir/PlanDefinition/$validate`` of a 1.9 MB PlanDefinition (the
  fixture plan's actions copied 130 times with fresh ids: 6,370 actions, 3,900 canonicals);
- ``include-iterate``: a page of 50 synthetic plans with ``_include=PlanDefinition:definition``
  and ``_include:iterate=ActivityDefinition:product``, every other one as XML;
- ``r5-xml``: pages of plans (varying ``_count``/``_offset``) and a fixture plan, as FHIR R5
  XML (``Accept: application/fhir+xml; fhirVersion=5.0``);
- ``reading-view``: ``/education/PlanDefinition/{id}`` of fixture and synthetic plans.

Meanwhile a probe sends ``GET /healthz`` every second, from a process of its own (the
clients' threads share a GIL), each on its own connection and thread, so a slow probe hides
none of the next; the access records give the time each probe took inside the app. The RSS
of every gunicorn worker (``/proc/<pid>/status`` VmRSS, through psutil) is sampled every
second.

Reported: the probe's latency (median, p99, max; target: never over 1 s), the heavy
requests by kind and status, and the workers' RSS (target: the end at most 1.5 times the
start) at the start (after one request of each kind), at the end of the load (requests
still in flight) and 2 s after the last reply (what the workers keep). ``--json PATH``
also writes every figure. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import requests

from bench import synthetic
from bench.serve import BIN, ROOT
from tests.support.plans import renamed
from tests.support.processes import free_port, stop_group

PROBE_LIMIT_S = 1.0
RSS_GROWTH_LIMIT = 1.5
HEAVY_TIMEOUT_S = 120.0  # a client waits this long for a heavy reply (then: "client timeout")
PROBE_TIMEOUT_S = 120.0
R5_XML = "application/fhir+xml; fhirVersion=5.0"
FIXTURE_PLANS = ("all-induction", "all-maintenance")
SYNTHETIC_SIZES = synthetic.Sizes(300, 3000, 900)
MB = 1024 * 1024


def big_plan(target_bytes: int = 1_900_000) -> bytes:
    """A PlanDefinition of about ``target_bytes``: the fixture plan's top-level action
    copied with fresh action ids until the JSON is that large. Every canonical still names
    a stored ActivityDefinition, so ``$validate`` resolves each against the store."""
    bundle = json.loads((ROOT / "fixtures/fhir/all-induction.json").read_text("utf-8"))
    plan = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "PlanDefinition"
    )
    plan = copy.deepcopy(plan)
    plan["id"] = "bench-heavy-plan"
    plan["url"] += "-bench-heavy"
    top = plan["action"][0]
    actions: list[Any] = []
    plan["action"] = actions
    while len(json.dumps(plan)) < target_bytes:
        actions.append(renamed(top, f"-c{len(actions)}"))
    return json.dumps(plan).encode()


@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    probes: list[tuple[float, float, str]] = field(default_factory=list)  # (at, seconds, status)
    rss: list[tuple[float, dict[int, int]]] = field(default_factory=list)

    def record(self, kind: str, status: str, elapsed: float) -> None:
        with self.lock:
            self.statuses[kind][status] += 1
            self.seconds[kind].append(elapsed)


Request = Callable[[requests.Session, int], requests.Response]


def _requests(base: str, plan: bytes, synthetic_plans: list[str]) -> list[tuple[str, Request]]:
    tag = f"{synthetic.TEST_DATA_TAG['system']}|{synthetic.TEST_DATA_TAG['code']}"

    def validate(s: requests.Session, n: int) -> requests.Response:
        return s.post(
            f"{base}/fhir/PlanDefinition/$validate",
            data=plan,
            headers={"Content-Type": "application/fhir+json"},
            timeout=HEAVY_TIMEOUT_S,
        )

    def include_iterate(s: requests.Session, n: int) -> requests.Response:
        params = {
            "_tag": tag,
            "_count": "50",
            "_offset": str(50 * (n % 6)),
            "_include": "PlanDefinition:definition",
            "_include:iterate": "ActivityDefinition:product",
        }
        if n % 2:
            params["_format"] = "xml"
        return s.get(f"{base}/fhir/PlanDefinition", params=params, timeout=HEAVY_TIMEOUT_S)

    def r5_xml(s: requests.Session, n: int) -> requests.Response:
        headers = {"Accept": R5_XML}
        if n % 3 == 0:
            url = f"{base}/fhir/PlanDefinition/{FIXTURE_PLANS[n % 2]}"
            return s.get(url, headers=headers, timeout=HEAVY_TIMEOUT_S)
        # Distinct pages, as a client paging through the content would ask for them.
        params = {"_tag": tag, "_count": str(10 + n % 41), "_offset": str(n % 250)}
        return s.get(
            f"{base}/fhir/PlanDefinition", params=params, headers=headers, timeout=HEAVY_TIMEOUT_S
        )

    def reading_view(s: requests.Session, n: int) -> requests.Response:
        ids = (*FIXTURE_PLANS, *synthetic_plans)
        return s.get(f"{base}/education/PlanDefinition/{ids[n % len(ids)]}", timeout=60)

    return [
        ("validate", validate),
        ("include-iterate", include_iterate),
        ("r5-xml", r5_xml),
        ("reading-view", reading_view),
    ]


def _client(
    number: int, kinds: list[tuple[str, Request]], stop_at: float, results: Results
) -> None:
    # Every other client sends only $validate; the others rotate over the heavy reads (a
    # single rotation would soon have every client waiting on a $validate). After a 503 a
    # client waits a second (less than the Retry-After it was given) rather than spin.
    mine = kinds[:1] if number % 2 == 0 else kinds[1:]
    n = number
    with requests.Session() as session:
        while time.monotonic() < stop_at:
            kind, send = mine[n % len(mine)]
            started = time.monotonic()
            try:
                status = str(send(session, n).status_code)
            except requests.Timeout:
                status = "client timeout"
            except requests.ConnectionError:
                status = "connection error"
            results.record(kind, status, time.monotonic() - started)
            if status == "503":
                time.sleep(1)
            n += 1


def _probe(base: str, at: float, found: list[tuple[float, float, str]]) -> None:
    started = time.monotonic()
    try:
        status = str(requests.get(f"{base}/healthz", timeout=PROBE_TIMEOUT_S).status_code)
    except requests.Timeout:
        status = "client timeout"
    except requests.ConnectionError:
        status = "connection error"
    found.append((at, time.monotonic() - started, status))


def _prober(base: str, seconds: float, out: Any) -> None:
    """The probe, in a process of its own: the clients' threads (and their GIL) in this
    one must not add to what it measures."""
    found: list[tuple[float, float, str]] = []
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for tick in range(int(seconds)):
            time.sleep(max(0.0, began + tick - time.monotonic()))
            pool.submit(_probe, base, time.monotonic() - began, found)
    out.put(sorted(found))


def _workers_rss(master: int) -> dict[int, int]:
    found: dict[int, int] = {}
    with contextlib.suppress(psutil.Error):
        for worker in psutil.Process(master).children():
            with contextlib.suppress(psutil.Error):
                found[worker.pid] = worker.memory_info().rss
    return found


def _serve(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLASK_DATABASE_URL": f"sqlite:///{workdir}/heavy.sqlite3",
        "FLASK_LOG_LEVEL": "INFO",  # access records: how long the app took for each probe
        "PORT": str(port),
    }
    content = workdir / "synthetic"
    synthetic.write(content, SYNTHETIC_SIZES)
    for source in ("fixtures/", str(content)):
        subprocess.run([BIN / "flask", "--app", "wsgi", "load", source], cwd=ROOT, env=env,
                       check=True, capture_output=True)  # fmt: skip
    log = (workdir / "gunicorn.log").open("wb")
    return subprocess.Popen(
        [BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip


def _wait(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).ok:
                return
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url} within {timeout:g} s")


def run(seconds: float, clients: int, workdir: Path) -> tuple[Results, dict[str, Any]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    plan = big_plan()
    synthetic_plans = [synthetic.plan_id(n, SYNTHETIC_SIZES) for n in range(1, 301, 7)]
    kinds = _requests(base, plan, synthetic_plans)
    server = _serve(workdir, port)
    results = Results()
    try:
        _wait(f"{base}/healthz", server)
        with requests.Session() as session:  # warm-up: each kind once, in some worker
            for _, send in kinds:
                send(session, 0)
        time.sleep(2)
        start_rss = _workers_rss(server.pid)
        load_before = os.getloadavg()[0]
        spawn = multiprocessing.get_context("spawn")
        probed = spawn.Queue()
        prober = spawn.Process(target=_prober, args=(base, seconds, probed))
        prober.start()
        began = time.monotonic()
        stop_at = began + seconds
        threads = [
            threading.Thread(target=_client, args=(n, kinds, stop_at, results), daemon=True)
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        tick = 0
        while (now := time.monotonic()) < stop_at:
            results.rss.append((now - began, _workers_rss(server.pid)))
            tick += 1
            time.sleep(max(0.0, began + tick - time.monotonic()))
        end_rss = _workers_rss(server.pid)  # before the clients' last replies drain
        load_after = os.getloadavg()[0]
        results.probes = probed.get(timeout=PROBE_TIMEOUT_S + 10)
        prober.join()
        drained_by = time.monotonic() + HEAVY_TIMEOUT_S
        for thread in threads:
            thread.join(timeout=max(0.0, drained_by - time.monotonic()))
        time.sleep(2)  # the last replies are out; what the workers keep now stays
        drained_rss = _workers_rss(server.pid)
    finally:
        stop_group(server, timeout=30)
    log = (workdir / "gunicorn.log").read_text("utf-8", "replace")
    in_app = [
        float(record["duration_ms"]) / 1000
        for line in log.splitlines()
        if '"/healthz"' in line and (record := json.loads(line)).get("logger") == "service.access"
    ]
    facts = {
        "probe_in_app_max": max(in_app, default=float("nan")),
        "start_rss": start_rss,
        "load_before": load_before,
        "load_after": load_after,
        "end_rss": end_rss,
        "drained_rss": drained_rss,
        "worker_timeouts": log.count("WORKER TIMEOUT"),
        "workers_booted": log.count("Booting worker"),
        "recycled": log.count("Autorestarting worker") + log.count("recycling worker"),
    }
    return results, facts


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(results: Results, facts: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    probe_seconds = [s for _, s, _ in results.probes]
    probe_statuses = Counter(status for _, _, status in results.probes)
    worst = max(probe_seconds, default=float("nan"))
    start, end, drained = facts["start_rss"], facts["end_rss"], facts["drained_rss"]
    start_total, end_total = sum(start.values()), sum(end.values())
    drained_total = sum(drained.values())
    start_max, end_max = max(start.values(), default=0), max(end.values(), default=0)
    drained_max = max(drained.values(), default=0)
    peak_max = max((max(s.values(), default=0) for _, s in results.rss), default=0)
    pids = {pid for _, sample in results.rss for pid in sample} | set(start) | set(end)
    growth = end_total / start_total if start_total else float("nan")
    kept = drained_total / start_total if start_total else float("nan")
    print(
        f"\n{args.seconds:g} s, {args.clients} heavy clients, gunicorn.conf.py "
        f"({len(start)} workers at the start), {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d}, load average "
        f"{facts['load_before']:.1f} before, {facts['load_after']:.1f} after\n"
    )
    print("| /healthz probe | value | target |")
    print("|---|---|---|")
    print(f"| probes sent | {len(probe_seconds)} | |")
    print(f"| statuses | {_counts(probe_statuses)} | all 200 |")
    print(f"| median | {statistics.median(probe_seconds) * 1000:.1f} ms | |")
    print(f"| p99 | {_quantile(probe_seconds, 0.99) * 1000:.1f} ms | |")
    met = "✓" if worst <= PROBE_LIMIT_S and set(probe_statuses) == {"200"} else "✗"
    print(f"| **max** | **{worst * 1000:.1f} ms** | ≤ {PROBE_LIMIT_S * 1000:.0f} ms {met} |")
    print(f"| over 1 s | {sum(s > PROBE_LIMIT_S for s in probe_seconds)} | 0 |")
    in_app = facts["probe_in_app_max"] * 1000
    print(f"| max inside the app (access records) | {in_app:.1f} ms | |\n")
    print("| heavy request | sent | statuses | median | max |")
    print("|---|---|---|---|---|")
    for kind, counts in results.statuses.items():
        times = results.seconds[kind]
        print(f"| {kind} | {sum(counts.values())} | {_counts(counts)} | "
              f"{statistics.median(times):.2f} s | {max(times):.2f} s |")  # fmt: skip

    def verdict(ratio: float) -> str:
        return f"x {ratio:.2f} {'✓' if ratio <= RSS_GROWTH_LIMIT else '✗'}"

    print(
        f"\n| worker RSS (target: at most x {RSS_GROWTH_LIMIT} the start) | start | end of "
        "the load (requests in flight) | 2 s after the last reply | peak (one worker) |"
    )
    print("|---|---|---|---|---|")
    print(f"| all workers | {start_total / MB:.0f} MB | {end_total / MB:.0f} MB "
          f"({verdict(growth)}) | {drained_total / MB:.0f} MB ({verdict(kept)}) | |")  # fmt: skip
    print(f"| largest worker | {start_max / MB:.0f} MB | {end_max / MB:.0f} MB | "
          f"{drained_max / MB:.0f} MB | {peak_max / MB:.0f} MB |")  # fmt: skip
    print(f"\nworker processes seen: {len(pids)} (booted {facts['workers_booted']}, recycled "
          f"{facts['recycled']}, gunicorn WORKER TIMEOUTs {facts['worker_timeouts']})")  # fmt: skip
    return {
        "date": datetime.now(UTC).isoformat(),
        "command": " ".join(sys.argv),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seconds": args.seconds,
        "clients": args.clients,
        "probes": results.probes,
        "statuses": {k: dict(v) for k, v in results.statuses.items()},
        "request_seconds": results.seconds,
        "rss_samples": [(t, {str(k): v for k, v in s.items()}) for t, s in results.rss],
        "start_rss": {str(k): v for k, v in start.items()},
        "end_rss": {str(k): v for k, v in end.items()},
        "drained_rss": {str(k): v for k, v in drained.items()},
        **{
            k: facts[k]
            for k in (
                "worker_timeouts",
                "workers_booted",
                "recycled",
                "load_before",
                "load_after",
                "probe_in_app_max",
            )
        },
    }


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{status}: {n}" for status, n in sorted(counter.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=24, help="threads sending heavy requests")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    # Stopped from outside (timeout, ^C), still stop gunicorn: its workers would go on
    # computing the requests in flight.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="bench-heavy-") as workdir:
        results, facts = run(args.seconds, args.clients, Path(workdir))
    figures = report(results, facts, args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
