"""The reading report: how a page was read, statement by statement, for a content reviewer.

Each line of the report is one sentence, bullet or heading of the page with its line number
and what it became (a structure, or text, and why); then the warnings, then the totals. The
warnings of ``map`` and ``load`` are its short form.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from .extract import Reading

_TEXT = "text"


@dataclass(frozen=True)
class Totals:
    statements: int = 0
    structured: int = 0
    kept_as_text: int = 0
    mentions: int = 0
    medications: int = 0
    warned: int = 0
    warnings: int = 0
    pages: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            *(a + b for a, b in zip(vars(self).values(), vars(other).values(), strict=True))
        )


def totals(reading: Reading) -> Totals:
    treatment = [
        s
        for s in reading.statements
        if s.where not in ("references", "disclaimer", "footer", "header", "title")
    ]
    as_text = [
        s for s in treatment if s.became.startswith(_TEXT) or s.became.startswith("description")
    ]
    return Totals(
        statements=len(treatment),
        structured=len(treatment) - len(as_text),
        kept_as_text=len(as_text),
        mentions=len(reading.accounts),
        medications=sum(a.outcome == "medication" for a in reading.accounts),
        warned=sum(a.outcome == "warning" for a in reading.accounts),
        warnings=len(reading.content.warnings),
        pages=1,
    )


def page_report(name: str, reading: Reading) -> str:
    content = reading.content
    disease = content.disease
    lines = [f"# {name}", f"title: {content.title}"]
    if disease is not None:
        coded = "coded" if disease.key else "not in the tables: text only"
        lines.append(f"topic: {content.topic or '-'}; disease: {disease.text} ({coded})")
    lines.append("")
    lines.append(f"{'line':>5}  {'where':<28}  statement -> how it was read")
    for s in reading.statements:
        where = textwrap.shorten(s.where, 28, placeholder="…")
        said = textwrap.shorten(s.text, 70, placeholder="…")
        became = s.became + (f" ({s.reason})" if s.reason else "")
        lines.append(f"{s.line:>5}  {where:<28}  {said}\n{'':>37}-> {became}")
    lines.append("")
    lines.append("warnings:" if content.warnings else "warnings: none")
    lines.extend(f"  {w}" for w in content.warnings)
    lines.append(_totals_line(totals(reading)))
    return "\n".join(lines) + "\n"


def _totals_line(t: Totals) -> str:
    return (
        f"totals: {t.statements} statements: {t.structured} structured, {t.kept_as_text} kept as "
        f"text; {t.mentions} drug mentions: {t.medications} -> Medications, {t.warned} -> "
        f"warnings; {t.warnings} warnings"
    )


def folder_report(readings: Iterable[tuple[str, Reading]]) -> str:
    """Catalogue-wide figures: one line a page, then the sum."""
    rows, total = [], Totals()
    for name, reading in readings:
        t = totals(reading)
        total = total + t
        rows.append(
            f"{name}: {t.structured}/{t.statements} structured, {t.medications}/{t.mentions} "
            f"mentions -> Medications, {t.warnings} warnings"
        )
    rows.append(f"{total.pages} pages. " + _totals_line(total))
    return "\n".join(rows) + "\n"
