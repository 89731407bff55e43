"""Time to map one page: ``python -m bench.map_page`` (``make bench``).

For every seed page in fixtures/pages this times ``mappings.pipeline.map_page(bytes)``
(parse, extract, map, validate, bundle) and, with the same method, each stage on its own,
the validation of the page's resources, and a same-process baseline (``json.loads`` +
``json.dumps`` of the page's golden bundle). All operations of all pages run round-robin
in one loop, in an order rotated every round, so drift on a noisy machine hits them alike.

Prints a table; ``--json PATH`` also writes the figures. Exits 0 unless a page fails to map.
See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mappings import fhir
from mappings.content import extract
from mappings.pipeline import map_page
from mappings.rules import collection_bundle, map_content
from mappings.source import PageError, read_page

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "fixtures" / "pages"
GOLDEN = ROOT / "fixtures" / "fhir"
TARGET_MS = 50.0

# Operation names, in table order. The four stages add up to (about) map_page.
MAP = "map_page"
STAGES = ("parse", "extract", "map_content", "bundle")
VALIDATE = "validate"
BASELINE = "baseline"
LABELS = {
    MAP: "map_page (whole)",
    "parse": "  parse",
    "extract": "  extract",
    "map_content": "  map_content+validate",
    "bundle": "  bundle+validate",
    VALIDATE: "validate (resources)",
    BASELINE: "baseline json",
}

Op = Callable[[], object]


@dataclass(frozen=True)
class Subject:
    """One page, ready to time: an operation per name, with its inputs precomputed."""

    stem: str
    size: int
    resources: int
    golden: str  # where the baseline's JSON text came from
    golden_matches: bool | None  # mapped bundle == golden file; None without a golden file
    first_call_ms: float  # the page's first map_page call; the process's first is cold
    ops: dict[str, Op]


@dataclass(frozen=True)
class Stats:
    median_ms: float
    p90_ms: float
    min_ms: float

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Stats:
        ms = [ns / 1e6 for ns in samples_ns]
        p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1] if len(ms) > 1 else ms[0]
        return cls(statistics.median(ms), p90, min(ms))


def prepare(path: Path) -> Subject:
    """Map the page once through the stages, so that each stage can be timed on its own
    real input. Raises whatever the mapping raises."""
    data = path.read_bytes()
    start = time.perf_counter_ns()
    map_page(data)
    first_call_ms = (time.perf_counter_ns() - start) / 1e6
    page = read_page(data)
    content = extract(page)
    result = map_content(content)
    bundle = collection_bundle(result, content)
    resources = result.resources
    golden_path = GOLDEN / f"{path.stem}.json"
    if golden_path.is_file():
        golden_text = golden_path.read_text(encoding="utf-8")
        golden = str(golden_path.relative_to(ROOT))
        golden_matches: bool | None = json.loads(golden_text) == bundle
    else:  # a new seed page without a golden file yet: the mapped bundle is as good
        golden_text = json.dumps(bundle, indent=2, ensure_ascii=False)
        golden, golden_matches = "mapped bundle (no golden file)", None

    def validate_resources() -> None:
        for resource in resources:
            fhir.validate(resource)

    ops: dict[str, Op] = {
        MAP: lambda: map_page(data),
        "parse": lambda: read_page(data),
        "extract": lambda: extract(page),
        "map_content": lambda: map_content(content),
        "bundle": lambda: collection_bundle(result, content),
        VALIDATE: validate_resources,
        BASELINE: lambda: json.dumps(json.loads(golden_text)),
    }
    return Subject(path.stem, len(data), len(resources), golden, golden_matches, first_call_ms, ops)


def measure(subjects: Sequence[Subject], runs: int, warmup: int) -> dict[tuple[str, str], Stats]:
    """Round-robin: every round runs every operation of every page once, starting one
    operation later than the round before."""
    tasks = [(s.stem, name, op) for s in subjects for name, op in s.ops.items()]
    for _ in range(warmup):
        for _, _, op in tasks:
            op()
    samples: dict[tuple[str, str], list[int]] = {(stem, name): [] for stem, name, _ in tasks}
    clock = time.perf_counter_ns
    gc.collect()
    for i in range(runs):
        shift = i % len(tasks)
        for stem, name, op in tasks[shift:] + tasks[:shift]:
            start = clock()
            op()
            end = clock()
            samples[stem, name].append(end - start)
    return {key: Stats.of(values) for key, values in samples.items()}


def page_figures(subject: Subject, stats: dict[tuple[str, str], Stats]) -> dict[str, Any]:
    ops = {name: stats[subject.stem, name] for name in subject.ops}
    whole = ops[MAP].median_ms
    return {
        "page": subject.stem,
        "bytes": subject.size,
        "resources": subject.resources,
        "baseline_input": subject.golden,
        "golden_matches": subject.golden_matches,
        "ops": {name: vars(s) for name, s in ops.items()},
        "stage_sum_ms": sum(ops[name].median_ms for name in STAGES),
        "validation_share": ops[VALIDATE].median_ms / whole,
        "validation_and_bundle_share": (ops[VALIDATE].median_ms + ops["bundle"].median_ms) / whole,
        "ratio_map_to_baseline": whole / ops[BASELINE].median_ms,
        "target_met": whole < TARGET_MS,
    }


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


GOLDEN_NOTE = {True: "bundle matches golden", False: "bundle DIFFERS from golden"}


def row(label: str, figures: dict[str, float], whole: float | None) -> str:
    """One table line; ``whole`` (the map_page median) adds a share column."""
    share = "" if whole is None else f"{figures['median_ms'] / whole:.0%}"
    return (
        f"  {label:<26}{figures['median_ms']:9.2f}{figures['p90_ms']:9.2f}"
        f"{figures['min_ms']:9.2f}{share:>8}"
    ).rstrip()


def render(report: dict[str, Any]) -> str:
    out = [
        f"bench.map_page  {report['date']}  {report['python']}  {report['cpus']} CPUs",
        f"{len(report['pages'])} page(s), {report['runs']} timed runs each after "
        f"{report['warmup']} warm-up runs, {report['ops_per_round']} operations "
        "interleaved per round",
    ]
    if report["cold_first_call_ms"] is not None:
        out.append(
            f"cold first map_page of the process: {report['cold_first_call_ms']:.1f} ms "
            "(terminology load, lazy model imports; not in the figures below)"
        )
    for page in report["pages"]:
        ops, whole = page["ops"], page["ops"][MAP]["median_ms"]
        stage_sum = page["stage_sum_ms"]
        out += [
            "",
            f"{page['page']}: {page['bytes']} bytes -> {page['resources']} resources "
            f"({GOLDEN_NOTE.get(page['golden_matches'], 'no golden bundle')})",
            f"  {'operation':<26}{'median':>9}{'p90':>9}{'min':>9}{'share':>8}   (ms)",
            *(row(LABELS[name], ops[name], whole) for name in (MAP, *STAGES)),
            f"  {'  (sum of stage medians)':<26}{stage_sum:9.2f}{'':18}{stage_sum / whole:>8.0%}",
            row(LABELS[VALIDATE], ops[VALIDATE], whole),
            row(LABELS[BASELINE], ops[BASELINE], None),
            f"  ratio median(map_page)/median(baseline): {page['ratio_map_to_baseline']:.2f}",
            f"  validation share (resources only): {page['validation_share']:.0%}"
            "; with the bundle stage (which re-validates them): "
            f"{page['validation_and_bundle_share']:.0%}",
            f"  target: median < {TARGET_MS:g} ms: {met(page['target_met'])}",
        ]
    for failure in report["failures"]:
        out += ["", f"FAILED to map {failure['page']}: {failure['error']}"]
    why = " (a page failed to map)" if report["failures"] else ""
    out += ["", f"target: median < {TARGET_MS:g} ms: {met(report['target_met'])}{why}"]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.map_page", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per operation")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per operation")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")

    paths = sorted(PAGES.glob("*.txt"))
    if not paths:
        print(f"no seed pages in {PAGES}", file=sys.stderr)
        return 1
    subjects: list[Subject] = []
    failures: list[dict[str, str]] = []
    for path in paths:
        try:
            subjects.append(prepare(path))
        except Exception as e:  # report every page that fails, then exit 1
            if not isinstance(e, PageError | fhir.InvalidResource):
                traceback.print_exc()  # a bug, not a bad page: show where
            failures.append({"page": path.stem, "error": f"{type(e).__name__}: {e}"})

    # Only the very first call of the process is cold (terminology tables, lazy imports).
    cold_ms = subjects[0].first_call_ms if subjects and subjects[0].stem == paths[0].stem else None
    stats = measure(subjects, args.runs, args.warmup)
    pages = [page_figures(s, stats) for s in subjects]
    report: dict[str, Any] = {
        "benchmark": "bench.map_page",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m bench.map_page", *(sys.argv[1:] if argv is None else argv)]
        ),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "runs": args.runs,
        "warmup": args.warmup,
        "ops_per_round": sum(len(s.ops) for s in subjects),
        "target_ms": TARGET_MS,
        "target_met": bool(pages) and not failures and all(p["target_met"] for p in pages),
        "cold_first_call_ms": cold_ms,
        "pages": pages,
        "failures": failures,
    }
    print(render(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
