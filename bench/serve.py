"""Serving benchmark: wrk against our read and search, and against a bare Flask route
returning the same bytes, all in one gunicorn run with the project's settings.

    make bench-serve          (or: .venv/bin/python -m bench.serve --rounds 5 --seconds 5)

Rounds interleave the targets so machine noise hits each alike; the report gives medians
and the ratio of each target's throughput to the bare route's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

TARGETS = {
    "bare route (baseline)": "/bare",
    "read PlanDefinition": "/fhir/PlanDefinition/all-induction",
    "search by url": "/fhir/PlanDefinition?url=https://fhir.example.org/ped/PlanDefinition/all-induction",
    "search by code": "/fhir/Medication?code=http://www.nlm.nih.gov/research/umls/rxnorm|6851",
}
TARGETS_FLOOR = {"read PlanDefinition": 0.85, "search by url": 0.5, "search by code": 0.5}
P99_LIMIT_MS = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not answer {url}")


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group())  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[text.lstrip("0123456789.")]


def _wrk(url: str, seconds: int, connections: int) -> tuple[float, float, int]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"  wrk: socket errors {socket_errors.group(1)}", file=sys.stderr)
    return rps, p99, int(errors.group(1)) if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    port = _free_port()
    env = {
        **os.environ,
        "FLASK_DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
        "PORT": str(port),
    }
    subprocess.run([BIN / "flask", "--app", "wsgi", "load", "fixtures/"], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    server = subprocess.Popen(
        [BIN / "gunicorn", "--config", "gunicorn.conf.py", "bench.app:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in TARGETS}
    try:
        _wait(f"{base}/healthz")
        for url in TARGETS.values():  # warm every worker
            _wrk(base + url, 1, args.connections)
        for round_number in range(args.rounds):
            for name, url in TARGETS.items():
                results[name].append(_wrk(base + url, args.seconds, args.connections))
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    baseline = statistics.median(r[0] for r in results["bare route (baseline)"])
    print(f"\n{args.rounds} rounds x {args.seconds}s, {args.connections} connections, "
          f"gunicorn.conf.py settings\n")  # fmt: skip
    print("| target | median req/s | ratio to bare | median p99 (ms) | non-2xx |")
    print("|---|---|---|---|---|")
    failed = False
    for name in TARGETS:
        rps = statistics.median(r[0] for r in results[name])
        p99 = statistics.median(r[1] for r in results[name])
        errors = sum(r[2] for r in results[name])
        ratio = rps / baseline
        floor = TARGETS_FLOOR.get(name)
        verdict = "" if floor is None else (" ✓" if ratio >= floor else f" ✗ (target {floor})")
        if p99 >= P99_LIMIT_MS:
            verdict += f" p99 ✗ (target < {P99_LIMIT_MS:g} ms)"
        failed |= bool(verdict.strip().startswith("✗") or "p99 ✗" in verdict or errors)
        print(f"| {name} | {rps:,.0f} | {ratio:.2f}{verdict} | {p99:.1f} | {errors} |")
    if failed:
        print("\nsome targets missed", file=sys.stderr)


if __name__ == "__main__":
    main()
