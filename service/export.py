"""The whole store written in three forms that other FHIR tooling loads as is.

``DIR/bundles/transaction-NNNN.json``
    R4 transaction Bundles of at most ``bundle_size`` PUT entries, in dependency order
    (Medication, ActivityDefinition, PlanDefinition, each by id), so a server that takes
    them one by one never sees a reference to something not loaded yet. Server-assigned
    ``meta.versionId``/``meta.lastUpdated`` are left out: the receiving server assigns its own.
``DIR/ndjson/<Type>.ndjson``
    FHIR Bulk Data: one resource per line, exactly the bytes this server serves (with its
    ``meta``), one file per type that has resources.
``DIR/package.tgz``
    A FHIR NPM package (package.json, .index.json, one ``<Type>-<id>.json`` per resource):
    the content, and this server's own conformance resources (``service.conformance``:
    profiles, extensions, search parameters, operations, the ImplementationGuide) for the
    same canonical base, version and package name, so what the content names resolves.
    Byte-identical for the same store: fixed tar metadata, fixed order, gzip mtime 0, and a
    ``date`` taken from the store rather than the clock.

Writing is atomic: everything is built in a hidden directory beside DIR and renamed into
place at the end, so a failure or Ctrl-C leaves either the old DIR or nothing.

Pure of Flask: the caller passes a ``Store`` and the configuration values.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import secrets
import shutil
import tarfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mappings import fhir
from mappings.limits import MAX_RESOURCES
from mappings.rules.config import is_semver
from service import conformance
from service.conformance.guide import dependencies as conformance_dependencies
from service.search.params import RESOURCE_TYPES
from service.store import Store, StoredResource

DEFAULT_PACKAGE_NAME = conformance.DEFAULT_PACKAGE_NAME

DEFAULT_BUNDLE_SIZE = 500

# Referenced types first: Medication <- ActivityDefinition.productReference,
# ActivityDefinition <- PlanDefinition.action.definitionCanonical.
DEPENDENCY_ORDER: tuple[str, ...] = ("Medication", "ActivityDefinition", "PlanDefinition")

SERVER_META = ("versionId", "lastUpdated")

# The FHIR package spec: two or more dot-separated namespaces, each a lowercase letter then
# lowercase letters, digits or dashes.
PACKAGE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+", re.ASCII)
# Fields of a .index.json file entry: copied when the resource has a string of that name.
_INDEX_FIELDS = ("id", "url", "version", "kind", "type", "supplements", "content")
# Tar entry mtime: npm's own fixed timestamp for reproducible tarballs (1985-10-26T08:15Z),
# because some tools treat 0 as "unset".
_TAR_MTIME = 499162500


class ExportError(RuntimeError):
    """An export that cannot be done; the message is one line and nothing was written."""


@dataclass(frozen=True)
class ExportConfig:
    canonical_base: str
    artifact_version: str
    package_name: str = DEFAULT_PACKAGE_NAME
    bundle_size: int = DEFAULT_BUNDLE_SIZE


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    counts: Mapping[str, int]
    bundles: int
    ndjson_files: int
    ndjson_lines: int
    package_files: int
    package_bytes: int

    @property
    def resources(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        types = ", ".join(f"{n} {t}" for t, n in sorted(self.counts.items()))
        return (
            f"exported {_n(self.resources, 'resource')} ({types or 'none'}) to {self.out}: "
            f"{_n(self.bundles, 'transaction Bundle')}, "
            f"{_n(self.ndjson_files, 'NDJSON file')} ({_n(self.ndjson_lines, 'line')}), "
            f"package.tgz ({_n(self.package_files, 'resource')}, {self.package_bytes} bytes)"
        )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def export_types() -> tuple[str, ...]:
    """Every served type, referenced types first; a type added later goes after them."""
    return DEPENDENCY_ORDER + tuple(sorted(t for t in RESOURCE_TYPES if t not in DEPENDENCY_ORDER))


def check_config(config: ExportConfig) -> None:
    """Refuse configuration that would give a package other tools reject, before any work."""
    if not PACKAGE_NAME_PATTERN.fullmatch(config.package_name):
        raise ExportError(
            f"configuration: PACKAGE_NAME {config.package_name!r} is not a FHIR package name "
            "(lower-case, two or more dot-separated parts, e.g. ped.education.content)"
        )
    if not is_semver(config.artifact_version):  # the package spec requires it
        raise ExportError(
            f"configuration: ARTIFACT_VERSION {config.artifact_version!r} is not a semantic "
            "version (a FHIR package version must be, e.g. 1.0.0)"
        )
    if not config.canonical_base.startswith(("http://", "https://")):
        raise ExportError(
            f"configuration: CANONICAL_BASE {config.canonical_base!r} is not an absolute URL"
        )
    if not 1 <= config.bundle_size <= MAX_RESOURCES:
        # A larger Bundle is one that `flask load` and $import refuse (mappings.limits).
        raise ExportError(f"--bundle-size must be 1 to {MAX_RESOURCES}, not {config.bundle_size}")


def export(store: Store, out: Path, config: ExportConfig, *, force: bool = False) -> ExportSummary:
    """Write the store to ``out`` atomically. Raises ExportError (and StoreUnavailable from
    the store); in every failure, including KeyboardInterrupt, nothing is left behind."""
    check_config(config)
    parent = _check_target(out, force=force)
    staging = parent / f".{out.name}.export-{secrets.token_hex(6)}"
    try:
        staging.mkdir()
    except OSError as e:
        raise ExportError(f"cannot write in {parent}: {e.strerror}") from None
    try:
        summary = _write_all(store, staging, config)
        _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportSummary(out=out, **summary)


def _check_target(out: Path, *, force: bool) -> Path:
    """The directory the export is built in (DIR's parent), after refusing targets that
    would be unsafe or impossible to replace with one rename."""
    if out.name in ("", ".", ".."):
        raise ExportError(f"{out} cannot be replaced (name the output directory itself)")
    try:
        if out.is_symlink():
            raise ExportError(f"{out} is a symbolic link (name the real directory)")
        if out.exists() and not out.is_dir():
            raise ExportError(f"{out} exists and is not a directory")
        if out.is_dir() and not force and any(out.iterdir()):
            raise ExportError(f"{out} is not empty (use --force to replace it)")
        parent = out.absolute().parent
        if not parent.is_dir():
            raise ExportError(f"{parent} is not an existing directory")
    except OSError as e:
        raise ExportError(f"cannot use {out}: {e.strerror}") from None
    return parent


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename the finished export to ``out``; an existing ``out`` is set aside first and put
    back if the rename fails, so ``out`` is never half old, half new."""
    if not out.exists():
        _rename(staging, out)
        return
    old = out.absolute().parent / f".{out.name}.replaced-{secrets.token_hex(6)}"
    _rename(out, old)
    try:
        _rename(staging, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _rename(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
    except OSError as e:
        raise ExportError(f"cannot move the export to {target}: {e.strerror}") from None


# --- the three forms ---------------------------------------------------------------------


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    latest: str = ""  # the newest meta.lastUpdated seen (FHIR instant)
    publishers: set[str] = field(default_factory=set)


def _write_all(store: Store, staging: Path, config: ExportConfig) -> dict[str, Any]:
    """One pass over the store: NDJSON lines and Bundle entries are written as resources
    arrive; package members are kept (they are small) to be written in a fixed order."""
    bundles_dir = staging / "bundles"
    ndjson_dir = staging / "ndjson"
    try:
        bundles_dir.mkdir()
        ndjson_dir.mkdir()
    except OSError as e:
        raise ExportError(f"cannot write in {staging.parent}: {e.strerror}") from None
    tally = _Tally()
    members: list[tuple[str, bytes]] = []
    index: list[dict[str, str]] = []
    total = sum(store.counts().get(t, 0) for t in export_types())
    bundles = _BundleWriter(bundles_dir, config, total)
    ndjson_lines = 0
    ndjson_files = 0
    for resource_type in export_types():
        with _LazyFile(ndjson_dir / f"{resource_type}.ndjson") as ndjson:
            for stored in store.current(resource_type):
                resource = _published(stored)
                ndjson.write(_ndjson_line(stored))
                ndjson_lines += 1
                bundles.add(resource)
                filename = f"{resource_type}-{stored.id}.json"
                members.append((filename, _pretty(resource)))
                index.append(_index_entry(filename, resource))
                tally.counts[resource_type] += 1
                tally.latest = max(tally.latest, stored.last_updated)
                if isinstance(publisher := resource.get("publisher"), str) and publisher.strip():
                    tally.publishers.add(publisher)
            ndjson_files += ndjson.opened
    bundles.close()
    for resource in conformance_resources(config):
        filename = f"{resource['resourceType']}-{resource['id']}.json"
        members.append((filename, _pretty(resource)))
        index.append(_index_entry(filename, resource))
    package_bytes = _write_package(staging / "package.tgz", config, tally, members, index)
    return {
        "counts": dict(tally.counts),
        "bundles": bundles.written,
        "ndjson_files": ndjson_files,
        "ndjson_lines": ndjson_lines,
        "package_files": len(members),
        "package_bytes": package_bytes,
    }


def conformance_resources(config: ExportConfig) -> list[dict[str, Any]]:
    """Our conformance resources, as the server serves them for this configuration."""
    return conformance.definitions(
        config.canonical_base.rstrip("/"),
        config.artifact_version,
        package_name=config.package_name,
    )


def _published(stored: StoredResource) -> dict[str, Any]:
    """The resource as content, without what this server assigned (version, timestamp)."""
    resource: dict[str, Any] = json.loads(stored.body)
    if not fhir.is_valid_id(str(resource.get("id", ""))):
        raise ExportError(f"{stored.resource_type}/{stored.id}: stored without a valid id")
    meta = {k: v for k, v in resource.get("meta", {}).items() if k not in SERVER_META}
    if meta:
        resource["meta"] = meta
    else:
        resource.pop("meta", None)
    return resource


def _ndjson_line(stored: StoredResource) -> bytes:
    """The served bytes (already compact UTF-8 JSON), re-encoded only if they span lines."""
    body = stored.body
    if b"\n" in body or b"\r" in body:
        body = _compact(json.loads(body))
    return body + b"\n"


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


class _LazyFile:
    """A file created on the first write: Bulk Data lists no file for a type without
    resources."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: BinaryIO | None = None
        self.opened = 0

    def __enter__(self) -> _LazyFile:
        return self

    def write(self, data: bytes) -> None:
        if self.handle is None:
            self.handle = _open(self.path)
            self.opened = 1
        _write(self.handle, self.path, data)

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("xb")
    except OSError as e:
        raise ExportError(f"cannot write {path.name}: {e.strerror}") from None


def _write(handle: BinaryIO, path: Path, data: bytes) -> None:
    try:
        handle.write(data)
    except OSError as e:
        raise ExportError(f"cannot write {path.name}: {e.strerror}") from None


class _BundleWriter:
    """Transaction Bundles of at most ``bundle_size`` entries, written as they fill up."""

    def __init__(self, directory: Path, config: ExportConfig, total: int) -> None:
        self.directory = directory
        self.config = config
        self.base = config.canonical_base.rstrip("/")
        # Zero-padded so that name order is load order however many Bundles there are.
        self.width = max(4, len(str(-(-total // config.bundle_size))))
        self.entries: list[dict[str, Any]] = []
        self.written = 0

    def add(self, resource: Mapping[str, Any]) -> None:
        path = f"{resource['resourceType']}/{resource['id']}"
        self.entries.append(
            {
                "fullUrl": f"{self.base}/{path}",
                "resource": resource,
                "request": {"method": "PUT", "url": path},
            }
        )
        if len(self.entries) >= self.config.bundle_size:
            self._flush()

    def close(self) -> None:
        if self.entries:
            self._flush()

    def _flush(self) -> None:
        self.written += 1
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}
        path = self.directory / f"transaction-{self.written:0{self.width}d}.json"
        with _open(path) as handle:
            _write(handle, path, _pretty(bundle))
        self.entries = []


def _index_entry(filename: str, resource: Mapping[str, Any]) -> dict[str, str]:
    """A .index.json file entry: the spec's fields the resource has as strings."""
    entry = {"filename": filename, "resourceType": str(resource["resourceType"])}
    entry.update((k, v) for k in _INDEX_FIELDS if isinstance(v := resource.get(k), str))
    return entry


def package_json(
    config: ExportConfig, counts: Mapping[str, int], latest: str, publishers: Sequence[str]
) -> dict[str, Any]:
    """package.json per the FHIR package spec. ``date`` (YYYYMMDDHHmmss) is the newest
    ``meta.lastUpdated`` in the store, so the same store gives the same package."""
    types = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no resources"
    manifest: dict[str, Any] = {
        "name": config.package_name,
        "version": config.artifact_version,
        "type": "Conformance",
        "canonical": config.canonical_base.rstrip("/"),
        "fhirVersions": [fhir.FHIR_VERSION],
        "dependencies": conformance_dependencies(),  # the ImplementationGuide's dependsOn
        "author": ", ".join(publishers) or config.package_name,
        "description": (
            f"Structured patient-education content as FHIR R4 resources ({types}), "
            "exported from the patient-education content server."
        ),
    }
    if latest:
        manifest["date"] = re.sub(r"\D", "", latest)[:14]
    return manifest


def _write_package(
    path: Path,
    config: ExportConfig,
    tally: _Tally,
    members: list[tuple[str, bytes]],
    index: list[dict[str, str]],
) -> int:
    members.sort()
    manifest = package_json(config, tally.counts, tally.latest, sorted(tally.publishers))
    files = [
        ("package.json", _pretty(manifest)),
        (
            ".index.json",
            _pretty({"index-version": 2, "files": sorted(index, key=lambda e: e["filename"])}),
        ),
        *members,
    ]
    data = _tgz(files)
    with _open(path) as handle:
        _write(handle, path, data)
    return len(data)


def _tgz(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A gzipped tar of ``package/<name>`` entries with nothing that varies between runs:
    fixed mtime, owner and mode, no user names, and a gzip header without name or time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()
