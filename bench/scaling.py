"""Does a page 10x longer cost under 15x the time to map? ``python -m bench.scaling``.

For each shape of long page (identical bullets, which all clash on one action id; distinct
bullets; many sections), builds the seed page ``fixtures/pages/all-induction.txt`` grown to
n and to 10 n items, maps both with ``mappings.pipeline.map_page`` (``--repeats`` times,
alternating, after one untimed warm-up map of the seed page), and prints the median time of
each and their ratio. The issue's target is a ratio under 15; a quadratic step shows as
about 100. The counting tests (tests/test_ids.py) prove the id allocation linear; this
shows the whole mapping.

Prints a Markdown table; ``--json PATH`` also writes the figures. Exits 0, or 1 when a
ratio misses the target.
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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mappings.pipeline import map_page

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "fixtures" / "pages" / "all-induction.txt").read_text("utf-8")
BULLET = "  • vincristine\n"
HEADING = "Targeted therapy\n\n"
TARGET = 15.0
FACTOR = 10
DRUGS = ("vincristine", "daunorubicin", "doxorubicin", "cyclophosphamide", "prednisone")


def identical_bullets(n: int) -> str:
    """n copies of one bullet: n actions that all want the id ``vincristine``."""
    return SEED.replace(BULLET, BULLET * n)


def distinct_bullets(n: int) -> str:
    return SEED.replace(BULLET, "".join(f"  • {DRUGS[i % 5]} dose {i}\n" for i in range(n)))


def sections(n: int) -> str:
    block = "".join(f"Heading {i}\n\nYou may be offered vincristine {i}.\n\n" for i in range(n))
    return SEED.replace(HEADING, block + HEADING)


# Shape -> (how to build a page of n items, the default n).
SHAPES: dict[str, tuple[Callable[[int], str], int]] = {
    "identical bullets": (identical_bullets, 1_000),
    "distinct bullets": (distinct_bullets, 500),
    "sections": (sections, 100),
}


def _timed(data: bytes) -> float:
    gc.collect()
    started = time.perf_counter()
    map_page(data)
    return time.perf_counter() - started


def measure(shape: str, n: int, repeats: int) -> dict[str, Any]:
    build, _ = SHAPES[shape]
    small, large = build(n).encode(), build(FACTOR * n).encode()
    small_s, large_s = [], []
    for _ in range(repeats):
        small_s.append(_timed(small))
        large_s.append(_timed(large))
    small_median, large_median = statistics.median(small_s), statistics.median(large_s)
    return {
        "shape": shape,
        "n": n,
        "large_n": FACTOR * n,
        "small_median_s": small_median,
        "large_median_s": large_median,
        "ratio": large_median / small_median,
        "small_s": small_s,
        "large_s": large_s,
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"map_page of pages {FACTOR} x longer; median of {report['repeats']} runs each "
        f"({report['date']}, {report['cpus']} CPUs, {report['python']})",
        "",
        f"| shape | n | median | {FACTOR} n | median | ratio (target < {TARGET:g}) |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['shape']} | {r['n']:,} | {r['small_median_s']:.2f} s | {r['large_n']:,} "
            f"| {r['large_median_s']:.2f} s | {r['ratio']:.1f} |"
        )
    worst = max(r["ratio"] for r in report["results"])
    lines += ["", f"target: every ratio < {TARGET:g}: {'met' if worst < TARGET else 'NOT met'}"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed maps of each page")
    parser.add_argument(
        "--shape", action="append", choices=sorted(SHAPES), help="only these shapes"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every default n")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    map_page(SEED.encode())  # warm-up: terminology tables, models, language pipeline
    results = [
        measure(shape, max(1, round(SHAPES[shape][1] * args.scale)), args.repeats)
        for shape in (args.shape or list(SHAPES))
    ]
    report = {
        "date": datetime.now(UTC).date().isoformat(),
        "command": " ".join(["python -m bench.scaling", *(argv or sys.argv[1:])]),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "results": results,
    }
    sys.stdout.write(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    return 0 if all(r["ratio"] < TARGET for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
