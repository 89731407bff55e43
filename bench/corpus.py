"""Mapping cost over the test corpus: ``python -m bench.corpus`` (part of ``make bench``).

Maps every page of tests/corpus (the tuned pages and the holdout) with
``mappings.pipeline.map_page`` (parse, read, map, validate), interleaved round-robin with a
same-process baseline (``json.loads`` + ``json.dumps`` of the page's own bundle), and reports
per-page medians, the corpus median and the slowest page.

Linearity: one page's treatment sections repeated 10 times (so 10x the statements, drugs and
lists) is timed in the same loop as the page itself; the ratio of medians must stay under
15 for the cost to be called linear.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mappings.pipeline import map_page

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
TARGET_MS = 50.0
LINEAR_RATIO = 15.0


def pages() -> list[Path]:
    return sorted((CORPUS / "pages").glob("*.txt")) + sorted(
        (CORPUS / "unseen" / "pages").glob("*.txt")
    )


def longer(text: str, times: int) -> str:
    """The page with its sections (from the first heading after the intro to the
    references) repeated ``times`` times, each copy's lines marked "(part N)" so that no
    copy repeats another word for word (the reader keeps answers per text within a page)."""
    head, marker, tail = text.partition("\nExpert review and references\n")
    lines = head.split("\n")
    start = next(i for i, line in enumerate(lines) if i > 4 and line and not line.endswith("."))

    def copy(n: int) -> str:
        out = []
        for line in lines[start:]:
            if line.endswith("."):
                line = f"{line[:-1]} (part {n})."
            elif line.strip():
                line = f"{line} (part {n})"
            out.append(line)
        return "\n".join(out)

    body = "\n".join(copy(n) for n in range(1, times + 1))
    return "\n".join(lines[:start]) + "\n" + body + "\n" + marker + tail


def _time(op: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    op()
    return time.perf_counter_ns() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    ops: dict[str, Callable[[], object]] = {}
    for path in pages():
        data = path.read_bytes()
        text = json.dumps(map_page(data).bundle)  # warm: lexicon, dictionary, models
        ops[path.stem] = lambda d=data: map_page(d)
        ops[f"baseline:{path.stem}"] = lambda t=text: json.dumps(json.loads(t))
    sample = CORPUS / "pages" / "cll-chemotherapy.txt"
    tenfold = longer(sample.read_text("utf-8"), 10).encode("utf-8")
    map_page(tenfold)
    ops["linear:1x"] = lambda: map_page(sample.read_bytes())
    ops["linear:10x"] = lambda: map_page(tenfold)

    samples: dict[str, list[int]] = {name: [] for name in ops}
    names = list(ops)
    gc.disable()
    try:
        for r in range(args.rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(_time(ops[name]))
    finally:
        gc.enable()

    median = {n: statistics.median(s) / 1e6 for n, s in samples.items()}
    page_names = [p.stem for p in pages()]
    per_page = {n: median[n] for n in page_names}
    ratio = {n: median[n] / median[f"baseline:{n}"] for n in page_names}
    corpus_median = statistics.median(per_page.values())
    slowest = max(per_page, key=lambda n: per_page[n])
    linear = median["linear:10x"] / median["linear:1x"]

    print(f"{'page':<40} {'median ms':>10} {'x baseline':>11}")
    for n in page_names:
        print(f"{n:<40} {per_page[n]:>10.1f} {ratio[n]:>11.1f}")
    print(f"\ncorpus: {len(page_names)} pages, {args.rounds} rounds")
    print(f"corpus median {corpus_median:.1f} ms (target < {TARGET_MS:.0f} ms)")
    print(f"slowest page {slowest}: {per_page[slowest]:.1f} ms")
    print(
        f"linearity: 10x page {median['linear:10x']:.1f} ms / 1x {median['linear:1x']:.1f} ms "
        f"= {linear:.1f} (target < {LINEAR_RATIO:.0f})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "per_page_ms": per_page,
                    "corpus_median_ms": corpus_median,
                    "slowest": slowest,
                    "linear_ratio": linear,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
