"""Regenerate ``r4_definitions.json`` from the R4 definitions FHIR.js ships.

Run ``python -m service.validation.build_definitions [PROFILES_DIR]`` after ``make test`` has
installed the npm package ``fhir`` 4.12.0 under ``validators/node_modules``. Its
``profiles/types.json`` is a digest of the R4 4.0.1 StructureDefinitions (element names, types,
cardinality, bindings) and ``profiles/valuesets.json`` holds the expanded R4 value sets.

The running service never reads node_modules: this script keeps only what ``$validate`` needs
(the types reachable from the three resources we serve, and the codes of the value sets those
types bind with strength ``required``) and the output is committed beside this module.

Two corrections are applied to the FHIR.js digest, both to match R4 4.0.1 itself:
- ``Element.id`` is a plain string in R4 (only ``Resource.id`` has the ``id`` type);
- choice names are normalised to ``name[x]`` (FHIR.js writes some with and some without).
"""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path
from typing import Any

ROOTS = ("PlanDefinition", "ActivityDefinition", "Medication")
SOURCE = "npm fhir@4.12.0 profiles/types.json + profiles/valuesets.json (FHIR R4 4.0.1)"
DEFAULT_PROFILES = Path("validators/node_modules/fhir/profiles")
OUTPUT = Path(__file__).with_name("r4_definitions.json")
# Value sets R4 binds only extensibly that our profiles bind (``mappings.rules.definitions``),
# expanded too so that ``$validate?profile=`` can check those bindings.
PROFILE_VALUE_SETS = (
    "http://hl7.org/fhir/ValueSet/plan-definition-type",
    "http://hl7.org/fhir/ValueSet/usage-context-type",
)
PRIMITIVES = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
        "instant", "integer", "markdown", "oid", "positiveInt", "string", "time",
        "unsignedInt", "uri", "url", "uuid", "xhtml",
    }
)  # fmt: skip


def _elements(
    owner: str, kind: str, props: list[dict[str, Any]], out: dict[str, Any]
) -> list[list[Any]]:
    """Element rows of one type; nested backbone elements become types of their own."""
    rows: list[list[Any]] = []
    for prop in props:
        name = prop["_name"]
        if name.startswith("_"):
            continue
        ftype = prop["_type"]
        if ftype.startswith("#"):
            ftype = ftype[1:]
        elif ftype in ("BackboneElement", "Element") and prop.get("_properties"):
            ftype = f"{owner}.{name}"
            out[ftype] = {
                "kind": "backbone",
                "elements": _elements(ftype, "backbone", prop["_properties"], out),
            }
        if name == "id" and kind != "resource":
            ftype = "string"
        choice = prop.get("_choice")
        if choice is not None:
            choice = choice.removesuffix("[x]")
        binding = None
        if prop.get("_valueSetStrength") == "required":
            binding = prop["_valueSet"].split("|")[0]
        required = 1 if prop.get("_required") else 0
        rows.append([name, ftype, required, bool(prop.get("_multiple")), choice, binding])
    return rows


def build(profiles: Path) -> dict[str, Any]:
    types = json.loads((profiles / "types.json").read_text("utf-8"))
    valuesets = json.loads((profiles / "valuesets.json").read_text("utf-8"))
    out: dict[str, Any] = {}
    queue = deque(ROOTS)
    while queue:
        name = queue.popleft()
        if name in out or name in PRIMITIVES or name == "Resource":
            continue
        definition = types[name]
        kind = definition["_kind"]
        out[name] = {"kind": "resource" if kind == "resource" else "complex", "elements": []}
        out[name]["elements"] = _elements(name, kind, definition["_properties"], out)
        for typedef in list(out.values()):
            for row in typedef["elements"]:
                if row[1] not in out and "." not in row[1]:
                    queue.append(row[1])
    bound = sorted(
        {row[5] for t in out.values() for row in t["elements"] if row[5]} | set(PROFILE_VALUE_SETS)
    )
    sets: dict[str, list[list[str]]] = {}
    unexpanded: list[str] = []
    for url in bound:
        if url not in valuesets:
            unexpanded.append(url)
            continue
        sets[url] = sorted(
            [system["uri"], code["code"]]
            for system in valuesets[url]["systems"]
            for code in system.get("codes", [])
        )
    return {
        "source": SOURCE,
        "generator": "python -m service.validation.build_definitions",
        "row": ["name", "type", "min", "many", "choice", "requiredValueSet"],
        "types": dict(sorted(out.items())),
        "valueSets": sets,
        "unexpandedValueSets": unexpanded,
    }


def main(argv: list[str]) -> int:
    profiles = Path(argv[0]) if argv else DEFAULT_PROFILES
    data = build(profiles)
    text = json.dumps(data, indent=None, separators=(",", ":"), sort_keys=False)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(data['types'])} types, {len(data['valueSets'])} value sets)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
