"""Synthetic FHIR R4 content for scale tests: ``python -m bench.synthetic --out DIR``.

Writes N PlanDefinitions, M Medications and the ActivityDefinitions the plans use, shaped
like the real content (a phase action holding visual groups of option groups whose leaves
point by ``definitionCanonical`` at ActivityDefinitions that ``productReference`` a
Medication), as FHIR ``transaction`` Bundles of ``PUT`` entries that ``flask --app wsgi
load DIR`` takes as they are.

None of it is clinical content, and none of it can pass for any: every resource carries
the HL7 test-data tag (``meta.tag`` v3-ActReason ``HTEST`` "test health data"), an id
starting ``synthetic-``, a title or code text starting "Synthetic", a narrative saying it
is synthetic test data, and codes only from code systems under
``https://fhir.example.org/ped/synthetic/`` (no RxNorm, ATC, SNOMED or any other real
system, so no real clinical code is invented). Canonical resources are ``draft`` and
``experimental``; R4 Medication has no draft status, so Medications carry none.

The output is a function of the arguments alone (seeded, no clock), so two runs with the
same arguments write byte-identical files. It is never written under ``fixtures/``, which
holds the real content.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mappings.rules import DEFAULT_BASE

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

Resource = dict[str, Any]

TEST_DATA_TAG = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}
"""The HL7 tag for test data (v3 ActReason HTEST), on every synthetic resource, so that
``_tag=http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST`` finds all of it."""

SYNTHETIC_BASE = "https://fhir.example.org/ped/synthetic"
DRUG_SYSTEM = f"{SYNTHETIC_BASE}/CodeSystem/drug"
"""Stands where RxNorm stands in the real content: one code per synthetic drug."""
DRUG_CLASS_SYSTEM = f"{SYNTHETIC_BASE}/CodeSystem/drug-class"
"""Stands where ATC classes stand: a code shared by many synthetic drugs."""
CONDITION_SYSTEM = f"{SYNTHETIC_BASE}/CodeSystem/condition"
"""Stands where SNOMED CT / ICD-10-CM stand in a plan's focus and goal."""
SOURCE = f"{SYNTHETIC_BASE}/generator"
"""``meta.source`` of every synthetic resource: the generator, not a publisher."""

VERSION = "0.0.0-synthetic"
PUBLISHER = "Synthetic test data (not real content)"
LANGUAGE = "en"

RARE_TITLE_WORD = "sentinel"
"""In the title of one plan in ``RARE_EVERY`` (numbers 1, 1 + RARE_EVERY, …): a
``title:contains`` that matches a few plans at any size."""
RARE_EVERY = 1000

DEFAULT_PLANS = 5_000
DEFAULT_MEDICATIONS = 50_000
ACTIVITIES_PER_PLAN = 3
"""Default ActivityDefinitions per plan: activities are shared between plans, as one drug
recurs across the phases that give it."""
MAX_ACTIVITIES_PER_PLAN = 6
"""At most this many activities per plan: the fewest any plan uses, so each is used."""
DEFAULT_BUNDLE_SIZE = 500
"""Entries per Bundle file: ``flask export``'s default, so files are sized like real ones."""
DEFAULT_SEED = 20261204

# Made-up words for titles and descriptions: none is a clinical term, and none occurs in
# the real content's titles, so a search aimed at real content never matches these.
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa", "sigma", "omega")
_COLOURS = ("amber", "cobalt", "crimson", "indigo", "jade", "ochre", "russet", "teal", "umber")
_NOUNS = ("lattice", "meadow", "harbour", "orchard", "quarry", "beacon", "canyon", "glacier")

# Synthetic routes and schedules for ActivityDefinition dosage: text only, no codes.
_ROUTES = ("by mouth (synthetic)", "into a vein (synthetic)", "under the skin (synthetic)")
_SCHEDULES = ("daily", "weekly", "monthly", "once")

# Grouping of the options inside a visual group, as in the real content.
_SELECTIONS = ("all", "any", "exactly-one", "one-or-more")


@dataclass(frozen=True)
class Sizes:
    plans: int
    medications: int
    activities: int

    @property
    def total(self) -> int:
        return self.plans + self.medications + self.activities


def default_activities(plans: int, medications: int) -> int:
    """Three activities per plan, but never more than there are drugs to give."""
    return max(1, min(medications, ACTIVITIES_PER_PLAN * plans))


# --- ids, codes and markings ------------------------------------------------------------------


def _width(count: int) -> int:
    """Zero-padded width for numbers up to ``count``, so ids sort in generation order."""
    return max(5, len(str(count)))


def plan_id(n: int, sizes: Sizes) -> str:
    return f"synthetic-plan-{n:0{_width(sizes.plans)}d}"


def activity_id(n: int, sizes: Sizes) -> str:
    return f"synthetic-activity-{n:0{_width(sizes.activities)}d}"


def medication_id(n: int, sizes: Sizes) -> str:
    return f"synthetic-medication-{n:0{_width(sizes.medications)}d}"


def drug_code(n: int, sizes: Sizes) -> str:
    """The synthetic drug code of Medication ``n``: ``DRUG_SYSTEM|drug_code(n)``."""
    return f"SYN-{n:0{_width(sizes.medications)}d}"


def _meta() -> dict[str, Any]:
    return {"source": SOURCE, "tag": [dict(TEST_DATA_TAG)]}


def _narrative(heading: str, *lines: str) -> dict[str, str]:
    """A generated narrative that says, first, that this is synthetic test data."""
    body = "".join(f"<p>{_escape(line)}</p>" for line in lines)
    return {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
        "<p><b>Synthetic test data: not clinical content. Do not use for care.</b></p>"
        f"<h2>{_escape(heading)}</h2>{body}</div>",
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _canonical(base: str, resource_type: str, resource_id: str) -> str:
    return f"{base}/{resource_type}/{resource_id}"


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


# --- resources --------------------------------------------------------------------------------


def medication(n: int, sizes: Sizes, base: str) -> Resource:
    """Medication ``n`` (1-based): a drug code of its own and a class code shared with the
    drugs around it, like RxNorm + ATC in the real content."""
    resource_id = medication_id(n, sizes)
    name = f"Synthetic drug {n:0{_width(sizes.medications)}d}"
    drug_class = f"SYN-CLASS-{(n - 1) // 250 + 1:04d}"
    return {
        "resourceType": "Medication",
        "id": resource_id,
        "meta": _meta(),
        "language": LANGUAGE,
        "text": _narrative(name, f"Synthetic drug class {drug_class}."),
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/artifact-url",
                "valueUri": _canonical(base, "Medication", resource_id),
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/artifact-version",
                "valueString": VERSION,
            },
        ],
        "code": {
            "coding": [
                _coding(DRUG_SYSTEM, drug_code(n, sizes), name),
                _coding(DRUG_CLASS_SYSTEM, drug_class, f"Synthetic drug class {drug_class}"),
            ],
            "text": name,
        },
    }


def activity(n: int, drug: int, sizes: Sizes, base: str, rng: random.Random) -> Resource:
    """ActivityDefinition ``n``: giving Medication ``drug``, half of them with a dosage."""
    resource_id = activity_id(n, sizes)
    drug_name = f"Synthetic drug {drug:0{_width(sizes.medications)}d}"
    title = f"Synthetic activity {n:0{_width(sizes.activities)}d}: {drug_name}"
    resource: Resource = {
        "resourceType": "ActivityDefinition",
        "id": resource_id,
        "meta": _meta(),
        "language": LANGUAGE,
        "url": _canonical(base, "ActivityDefinition", resource_id),
        "version": VERSION,
        "name": f"SyntheticActivity{n}",
        "title": title,
        "status": "draft",
        "experimental": True,
        "publisher": PUBLISHER,
        "kind": "MedicationRequest",
        "intent": "proposal",
        "productReference": {
            "reference": f"Medication/{medication_id(drug, sizes)}",
            "display": drug_name,
        },
    }
    lines = [f"Drug: {drug_name}."]
    if rng.random() < 0.5:
        route = rng.choice(_ROUTES)
        schedule = rng.choice(_SCHEDULES)
        resource["dosage"] = [{"text": f"{schedule}, {route}", "route": {"text": route}}]
        lines.append(f"How it is given: {schedule}, {route}.")
    resource["text"] = _narrative(title, *lines)
    return resource


def _leaf(activity_n: int, sizes: Sizes, base: str) -> dict[str, Any]:
    resource_id = activity_id(activity_n, sizes)
    return {
        "id": f"option-{activity_n}",
        "textEquivalent": f"Synthetic activity {activity_n:0{_width(sizes.activities)}d}",
        "definitionCanonical": (f"{_canonical(base, 'ActivityDefinition', resource_id)}|{VERSION}"),
    }


def _option_group(
    number: int, activities: list[int], sizes: Sizes, base: str, rng: random.Random
) -> dict[str, Any]:
    """Options to choose between; now and then a nested either-or group, as in the real
    content ("daunorubicin, doxorubicin or a similar anthracycline drug")."""
    leaves: list[dict[str, Any]] = [_leaf(a, sizes, base) for a in activities]
    if len(leaves) >= 3 and rng.random() < 0.4:
        nested = {
            "id": f"options-{number}-either",
            "textEquivalent": "Synthetic either-or choice",
            "groupingBehavior": "logical-group",
            "selectionBehavior": "exactly-one",
            "action": leaves[-2:],
        }
        leaves = [*leaves[:-2], nested]
    return {
        "id": f"options-{number}",
        "title": f"Synthetic option group {number}:",
        "groupingBehavior": "logical-group",
        "selectionBehavior": rng.choice(_SELECTIONS),
        "action": leaves,
    }


def _sections(
    activities: list[int], sizes: Sizes, base: str, rng: random.Random
) -> list[dict[str, Any]]:
    """Split a plan's activities into 1-3 visual groups of 1-2 option groups each."""
    sections: list[dict[str, Any]] = []
    remaining = list(activities)
    section_count = min(len(remaining), rng.randint(1, 3))
    for s in range(1, section_count + 1):
        take = len(remaining) if s == section_count else max(1, len(remaining) // 2)
        chunk, remaining = remaining[:take], remaining[take:]
        groups = [chunk] if len(chunk) < 4 or rng.random() < 0.5 else [chunk[:2], chunk[2:]]
        word = rng.choice(_NOUNS)
        sections.append(
            {
                "id": f"section-{s}",
                "title": f"Synthetic {word} therapy",
                "description": f"Synthetic section text about {word} therapy (test data).",
                "groupingBehavior": "visual-group",
                "action": [
                    _option_group(s * 10 + g, group, sizes, base, rng)
                    for g, group in enumerate(groups, start=1)
                ],
            }
        )
    return sections


def plan_title(n: int, sizes: Sizes, rng: random.Random) -> str:
    words = f"{rng.choice(_GREEK)} {rng.choice(_COLOURS)} {rng.choice(_NOUNS)}"
    rare = f" ({RARE_TITLE_WORD} cohort)" if n % RARE_EVERY == 1 else ""
    return f"Synthetic treatment phase {n:0{_width(sizes.plans)}d}: {words} regimen{rare}"


def plan(n: int, activities: list[int], sizes: Sizes, base: str, rng: random.Random) -> Resource:
    """PlanDefinition ``n``: a phase action over visual groups of options, with the focus
    and goal of the real plans, coded in a synthetic condition system."""
    resource_id = plan_id(n, sizes)
    title = plan_title(n, sizes, rng)
    condition_code = f"SYN-COND-{rng.randint(1, 40):02d}"
    condition = {
        "coding": [
            _coding(CONDITION_SYSTEM, condition_code, f"Synthetic condition {condition_code}")
        ],
        "text": f"synthetic condition {condition_code}",
    }
    description = (
        f"{title}. This plan is synthetic test data made by a generator for scale tests; "
        "it describes no real treatment."
    )
    return {
        "resourceType": "PlanDefinition",
        "id": resource_id,
        "meta": _meta(),
        "language": LANGUAGE,
        "url": _canonical(base, "PlanDefinition", resource_id),
        "version": VERSION,
        "name": f"SyntheticPlan{n}",
        "title": title,
        "type": {
            "coding": [
                _coding(
                    "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                    "clinical-protocol",
                    "Clinical Protocol",
                )
            ]
        },
        "status": "draft",
        "experimental": True,
        "publisher": PUBLISHER,
        "description": description,
        "useContext": [
            {
                "code": {
                    "system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                    "code": "focus",
                },
                "valueCodeableConcept": condition,
            }
        ],
        "goal": [
            {"id": "goal", "description": {"text": "synthetic goal"}, "addresses": [condition]}
        ],
        "action": [
            {
                "id": "phase",
                "title": title,
                "goalId": ["goal"],
                "groupingBehavior": "visual-group",
                "action": _sections(activities, sizes, base, rng),
            }
        ],
        "text": _narrative(title, description),
    }


# --- the whole set ----------------------------------------------------------------------------


def _rng(seed: int, kind: str) -> random.Random:
    """One generator per kind, so changing one count does not reshuffle the others."""
    return random.Random(f"{seed}:{kind}")  # noqa: S311 (test data, not cryptography)


def medications(sizes: Sizes, base: str) -> Iterator[Resource]:
    for n in range(1, sizes.medications + 1):
        yield medication(n, sizes, base)


def activities(sizes: Sizes, base: str, seed: int) -> Iterator[Resource]:
    """Activity ``n`` gives a drug drawn at random: most Medications are in no plan, as in
    a drug catalogue larger than the content written about it."""
    rng = _rng(seed, "activities")
    drugs = rng.sample(range(1, sizes.medications + 1), sizes.activities)
    for n, drug in enumerate(drugs, start=1):
        yield activity(n, drug, sizes, base, rng)


def plans(sizes: Sizes, base: str, seed: int) -> Iterator[Resource]:
    """Each plan uses 6-14 activities; every activity is used by at least one plan (with
    at most ``MAX_ACTIVITIES_PER_PLAN`` activities per plan, which ``main`` enforces)."""
    rng = _rng(seed, "plans")
    unused = list(range(1, sizes.activities + 1))
    rng.shuffle(unused)
    for n in range(1, sizes.plans + 1):
        count = rng.randint(6, 14)
        fresh_share = -(-len(unused) // (sizes.plans - n + 1))  # ceiling: none left over
        chosen = [unused.pop() for _ in range(min(fresh_share, count, len(unused)))]
        while len(chosen) < min(count, sizes.activities):
            extra = rng.randint(1, sizes.activities)
            if extra not in chosen:
                chosen.append(extra)
        yield plan(n, chosen, sizes, base, rng)


def resources(
    sizes: Sizes, base: str = DEFAULT_BASE, seed: int = DEFAULT_SEED
) -> Iterator[Resource]:
    """Every synthetic resource, in dependency order: Medications, then the activities
    that give them, then the plans that use the activities."""
    yield from medications(sizes, base)
    yield from activities(sizes, base, seed)
    yield from plans(sizes, base, seed)


def transaction(entries: Sequence[Resource], base: str) -> dict[str, Any]:
    """A transaction Bundle of ``PUT Type/id``: loading it twice creates nothing new."""
    return {
        "resourceType": "Bundle",
        "meta": _meta(),
        "type": "transaction",
        "entry": [
            {
                "fullUrl": _canonical(base, r["resourceType"], r["id"]),
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in entries
        ],
    }


def _chunks(items: Iterator[Resource], size: int) -> Iterator[list[Resource]]:
    chunk: list[Resource] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- writing ----------------------------------------------------------------------------------


class OutputError(ValueError):
    """An output directory the generator will not write into."""


def check_output(out: Path) -> None:
    """Refuse ``fixtures/`` (real content) and any directory that holds files already, so
    synthetic files never end up beside real ones and one ``flask load DIR`` takes both."""
    resolved = out.resolve()
    if resolved == FIXTURES or FIXTURES in resolved.parents:
        raise OutputError(f"{out}: synthetic content is never written under {FIXTURES}")
    if resolved.exists() and (not resolved.is_dir() or any(resolved.iterdir())):
        raise OutputError(f"{out}: not an empty directory")


NOTICE = """\
# Synthetic test data

Written by `python -m bench.synthetic {arguments}`.

None of it is clinical content: it exists to test the service at scale. Every resource
carries `meta.tag` v3-ActReason `HTEST` ("test health data"), an id starting `synthetic-`
and codes only from code systems under

    {base}/

Never load it into a store that serves real content.
"""


def write(
    out: Path,
    sizes: Sizes,
    *,
    base: str = DEFAULT_BASE,
    seed: int = DEFAULT_SEED,
    bundle_size: int = DEFAULT_BUNDLE_SIZE,
) -> list[Path]:
    """Write the transaction Bundles (``synthetic-NNNN.json``, in dependency order) and a
    ``SYNTHETIC.md`` notice that ``flask load`` skips. Returns the Bundle files."""
    check_output(out)
    out.mkdir(parents=True, exist_ok=True)
    arguments = (
        f"--plans {sizes.plans} --medications {sizes.medications} "
        f"--activities {sizes.activities} --seed {seed} --base {base}"
    )
    (out / "SYNTHETIC.md").write_text(
        NOTICE.format(arguments=arguments, base=SYNTHETIC_BASE), encoding="utf-8"
    )
    written: list[Path] = []
    for number, chunk in enumerate(_chunks(resources(sizes, base, seed), bundle_size), start=1):
        path = out / f"synthetic-{number:04d}.json"
        text = json.dumps(transaction(chunk, base), ensure_ascii=False, indent=1)
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.synthetic", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, help="empty or new directory (default: a temp dir)")
    parser.add_argument("--plans", type=int, default=DEFAULT_PLANS)
    parser.add_argument("--medications", type=int, default=DEFAULT_MEDICATIONS)
    parser.add_argument(
        "--activities",
        type=int,
        help=f"default {ACTIVITIES_PER_PLAN} per plan, at most one per drug",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--bundle-size", type=int, default=DEFAULT_BUNDLE_SIZE)
    parser.add_argument(
        "--base", default=DEFAULT_BASE, help="canonical base (FLASK_CANONICAL_BASE)"
    )
    args = parser.parse_args(argv)
    activity_count = args.activities or default_activities(args.plans, args.medications)
    if min(args.plans, args.medications, activity_count, args.bundle_size) < 1:
        parser.error("--plans, --medications, --activities and --bundle-size must be at least 1")
    if activity_count > min(args.medications, MAX_ACTIVITIES_PER_PLAN * args.plans):
        parser.error(
            f"--activities can be at most --medications (one activity per drug) and "
            f"{MAX_ACTIVITIES_PER_PLAN} x --plans (every activity in some plan)"
        )
    sizes = Sizes(args.plans, args.medications, activity_count)
    out = args.out or Path(tempfile.mkdtemp(prefix="ped-synthetic-"))
    try:
        files = write(out, sizes, base=args.base, seed=args.seed, bundle_size=args.bundle_size)
    except OutputError as e:
        print(e, file=sys.stderr)
        return 1
    print(
        f"wrote {len(files)} transaction Bundles to {out}: {sizes.total} synthetic resources "
        f"({sizes.plans} PlanDefinition, {sizes.activities} ActivityDefinition, "
        f"{sizes.medications} Medication)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
