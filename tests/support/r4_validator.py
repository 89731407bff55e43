"""Run the independent FHIR R4 validator (validators/validate-r4.js) from Python.

fhir.resources parses our output but does not check required bindings or reject elements from
later FHIR versions; validators/validate-r4.js does, using FHIR.js (npm ``fhir``, pinned in
validators/package-lock.json) with ``errorOnUnexpected``. One ``node`` process validates the
whole batch, so collect resources and call :func:`validate_r4` once rather than per resource.

What FHIR.js does not check is listed at the top of validators/validate-r4.js and pinned down by
tests/test_r4_validator.py: a valid result means "structure, cardinality, types of most
primitives and required bindings are R4", not "passes the HL7 validator".
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATORS_DIR = REPO_ROOT / "validators"
SCRIPT = VALIDATORS_DIR / "validate-r4.js"
NODE_MODULES = VALIDATORS_DIR / "node_modules"

DEFAULT_TIMEOUT_S = 120.0

_INSTALL_HINT = (
    "install it from the repo root with `make validators/node_modules/.installed` "
    "(which `make pytest` depends on) or `npm ci --prefix validators`"
)


@dataclass(frozen=True)
class Issue:
    """One message from the validator."""

    severity: str  # "fatal" | "error" in R4Result.issues; "warning" | "info" in .warnings
    location: str  # FHIRPath-like, e.g. "Bundle.entry[0].resource.action[0].selectionBehavior"
    message: str

    def __str__(self) -> str:
        return f"{self.severity} at {self.location or '<resource>'}: {self.message}"


@dataclass(frozen=True)
class R4Result:
    """The validator's verdict on one input resource (a Bundle counts as one)."""

    resource_type: str | None
    id: str | None
    valid: bool
    issues: tuple[Issue, ...]  # error and fatal only; empty iff valid
    warnings: tuple[Issue, ...]  # warning and info (e.g. codes outside non-required bindings)

    def describe(self) -> str:
        """A readable multi-line summary, for assertion messages."""
        head = (
            f"{self.resource_type or '?'}/{self.id or '?'}: {'valid' if self.valid else 'INVALID'}"
        )
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])


def validate_r4(
    resources: Sequence[Mapping[str, Any]], *, timeout: float = DEFAULT_TIMEOUT_S
) -> list[R4Result]:
    """Validate FHIR R4 resources (JSON-shaped mappings); one result per resource, in order.

    Raises RuntimeError if node or validators/node_modules is missing, or if the validator
    script fails (bad input, crash, timeout) instead of returning a verdict.
    """
    if isinstance(resources, str | bytes) or not isinstance(resources, Sequence):
        raise TypeError("validate_r4 expects a sequence of FHIR resources (JSON-shaped mappings)")
    payload = json.dumps(list(resources), default=_jsonable, allow_nan=False)
    raw, returncode = run_batch(SCRIPT, "R4 validator", payload, len(resources), timeout)
    results = [_parse_result(item) for item in raw]
    if (returncode == 0) != all(result.valid for result in results):
        raise RuntimeError(f"R4 validator exit code {returncode} contradicts its results")
    return results


def run_batch(
    script: Path, label: str, payload: str, expected: int, timeout: float
) -> tuple[list[object], int]:
    """Run one of validators/*.js on a JSON ``payload`` (one node process for the batch):
    its JSON array of ``expected`` results, and its exit code (0 all valid, 1 some invalid).

    Raises RuntimeError, naming ``label``, if the script fails instead of giving a verdict."""
    node = find_node()
    if not script.is_file():
        raise RuntimeError(f"the {label} script is missing: {script}")
    try:
        proc = subprocess.run(
            [node, str(script)],
            input=payload,
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=VALIDATORS_DIR,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{label} timed out after {timeout:g}s on {expected} items") from exc
    if proc.returncode not in (0, 1):
        raise RuntimeError(
            f"{label} failed (exit {proc.returncode}): {proc.stderr.strip() or '<no stderr>'}"
        )
    try:
        raw: object = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"{label} wrote invalid JSON: {proc.stdout[:200]!r}") from exc
    if not isinstance(raw, list):
        raise RuntimeError(f"{label} wrote {type(raw).__name__}, expected a list")
    if len(raw) != expected:
        raise RuntimeError(f"{label} returned {len(raw)} results for {expected} items")
    return raw, proc.returncode


def find_node() -> str:
    """Return the path of `node`, or raise RuntimeError saying what to install."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "the R4 validator needs Node.js (>= 18) on PATH: `node` was not found; install "
            f"Node.js, then {_INSTALL_HINT}"
        )
    if not (NODE_MODULES / "fhir" / "package.json").is_file():
        raise RuntimeError(
            f"the R4 validator's npm dependencies are not installed ({NODE_MODULES} has no "
            f"`fhir` package): {_INSTALL_HINT}"
        )
    return node


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON-serialisable for the R4 validator: {type(value).__name__}")


def _parse_result(item: object) -> R4Result:
    if not isinstance(item, dict):
        raise RuntimeError(f"R4 validator result is not an object: {item!r}")
    valid = item.get("valid")
    if not isinstance(valid, bool):
        raise RuntimeError(f"R4 validator result has no boolean 'valid': {item!r}")
    return R4Result(
        resource_type=_optional_str(item, "resourceType"),
        id=_optional_str(item, "id"),
        valid=valid,
        issues=_parse_issues(item, "issues"),
        warnings=_parse_issues(item, "warnings"),
    )


def _optional_str(item: dict[str, object], key: str) -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RuntimeError(f"R4 validator result has a non-string {key!r}: {item!r}")


def _parse_issues(item: dict[str, object], key: str) -> tuple[Issue, ...]:
    raw = item.get(key)
    if not isinstance(raw, list):
        raise RuntimeError(f"R4 validator result has no list {key!r}: {item!r}")
    issues: list[Issue] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise RuntimeError(f"R4 validator issue is not an object: {entry!r}")
        fields = [entry.get(name) for name in ("severity", "location", "message")]
        severity, location, message = fields
        if not (
            isinstance(severity, str) and isinstance(location, str) and isinstance(message, str)
        ):
            raise RuntimeError(f"R4 validator issue is malformed: {entry!r}")
        issues.append(Issue(severity=severity, location=location, message=message))
    return tuple(issues)
