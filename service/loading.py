"""Turning input files into validated resources, before anything is written.

Three kinds of input: source pages (``.txt``), the middle format (``.yaml``/``.yml``, or
``.json`` tagged with its format) and FHIR (``.json``: a Bundle of any type, or one
resource). Everything is mapped and validated first; the caller writes the result in one
transaction. Every problem is a ``LoadError`` naming the input and, where known, its line.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from mappings import fhir
from mappings.content import ContentError, loads
from mappings.pipeline import MappedPage, map_page, map_phase
from mappings.rules import MappingConfig
from mappings.source import PageError
from service.search.params import RESOURCE_TYPES
from service.search.query import SearchError, parse_search
from service.store import Store
from service.store.store import content_hash

Resource = dict[str, Any]
Kind = Literal["page", "content", "fhir"]

SUFFIXES: dict[str, Kind | None] = {
    ".txt": "page",
    ".yaml": "content",
    ".yml": "content",
    ".json": None,  # content or FHIR: the document says which
}


class LoadError(ValueError):
    """Input that cannot be loaded: ``source:line: message`` (line 0 when unknown)."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Create:
    """``POST Type`` in a transaction Bundle: the server chooses the id, and with
    ``if_none_exist`` creates nothing when a resource matches those search criteria."""

    source: str
    line: int
    resource: Resource
    if_none_exist: str | None
    full_url: str | None
    index: int
    """Its position among the Bundle's entries."""


@dataclass(frozen=True)
class LoadedInput:
    source: str
    resources: tuple[Resource, ...]
    warnings: tuple[str, ...]
    creates: tuple[Create, ...] = ()
    full_urls: Mapping[str, str] = field(default_factory=dict)
    """Bundle fullUrl -> ``Type/id`` of its resource, to rewrite references that use it."""
    positions: tuple[int, ...] = ()
    """The Bundle entry of each of ``resources`` (with ``creates``, the request order)."""


@dataclass(frozen=True)
class Prepared:
    """What to write, and the conditional creates that found their resource already."""

    resources: list[Resource]
    existing: list[tuple[str, str]]
    order: list[tuple[str, str]]
    """(type, id) of every input resource and transaction entry, in request order."""


def mapping_config(config: Mapping[str, Any]) -> MappingConfig:
    """The mapping configuration from the app's (``CANONICAL_BASE``, ``ARTIFACT_VERSION``).
    Raises ValueError if it is not usable."""
    return MappingConfig(base=config["CANONICAL_BASE"], version=config["ARTIFACT_VERSION"])


def expand(paths: Iterable[Path]) -> list[Path]:
    """The files to load: files as given, directories searched recursively (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in SUFFIXES)
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise LoadError(str(path), 0, f"cannot load {path.suffix or 'extensionless'} "
                                f"files (use {', '.join(SUFFIXES)})")  # fmt: skip
            files.append(path)
        elif path.exists():
            raise LoadError(str(path), 0, "not a regular file or directory")
        else:
            raise LoadError(str(path), 0, "no such file or directory")
    return files


def read_file(path: Path, config: MappingConfig) -> LoadedInput:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(str(path), 0, f"cannot read: {e.strerror}") from None
    return read_bytes(str(path), data, SUFFIXES[path.suffix], config)


def read_bytes(source: str, data: bytes, kind: Kind | None, config: MappingConfig) -> LoadedInput:
    """Map or validate one input. ``kind`` None means JSON that says what it is."""
    if kind == "page":
        try:
            return _mapped(source, map_page(data, config))
        except PageError as e:
            raise LoadError(source, e.line, e.message) from None
    text = _text(source, data)
    if kind is None:
        document = _json(source, text)
        if isinstance(document, Mapping) and "resourceType" in document:
            return _fhir_input(source, text, document)
        kind = "content"
    if kind == "content":
        try:
            content = loads(text)
        except ContentError as e:
            raise LoadError(source, _content_line(str(e)), _content_message(str(e))) from None
        return _mapped(source, map_phase(content, config))
    document = _json(source, text)
    if not isinstance(document, Mapping) or "resourceType" not in document:
        raise LoadError(source, 1, "not a FHIR resource or Bundle (no resourceType)")
    return _fhir_input(source, text, document)


def _mapped(source: str, mapped: MappedPage) -> LoadedInput:
    return LoadedInput(
        source,
        tuple(dict(r) for r in mapped.result.resources),
        tuple(mapped.result.warnings),
    )


def _text(source: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise LoadError(source, line, "not valid UTF-8") from None


def _json(source: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LoadError(source, e.lineno, f"not valid JSON: {e.msg}") from None


_LINE_PREFIX = re.compile(r"line (\d+): ")


def _content_line(message: str) -> int:
    match = _LINE_PREFIX.match(message)
    return int(match.group(1)) if match else 0


def _content_message(message: str) -> str:
    if message.startswith("_schema:"):  # marshmallow's word for "the document as a whole"
        return "not a middle-format document (a mapping with 'format' and 'content')"
    return _LINE_PREFIX.sub("", message, count=1)


def _line_of(text: str, resource: Mapping[str, Any]) -> int:
    """Where a resource starts in its file, found by its id (0 if it has none)."""
    resource_id = resource.get("id")
    if not isinstance(resource_id, str):
        return 0
    match = re.search(r'"id"\s*:\s*' + re.escape(json.dumps(resource_id)), text)
    return text.count("\n", 0, match.start()) + 1 if match else 0


def _fhir_input(source: str, text: str, document: Mapping[str, Any]) -> LoadedInput:
    if document.get("resourceType") != "Bundle":
        return LoadedInput(source, (_checked(source, text, document),), ())
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        raise LoadError(source, 1, "Bundle.entry is not a list")
    transaction = document.get("type") in ("transaction", "batch")
    resources: list[Resource] = []
    positions: list[int] = []
    creates: list[Create] = []
    full_urls: dict[str, str] = {}
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            raise LoadError(source, 0, f"Bundle.entry[{n}] has no resource")
        request = entry.get("request") if transaction else None
        if isinstance(request, Mapping) and request.get("method") == "POST":
            creates.append(_create(source, text, n, entry, request))
            continue
        if transaction:
            _check_put(source, text, n, resource, request)
        checked = _checked(source, text, resource)
        resources.append(checked)
        positions.append(n)
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            full_urls[full_url] = f"{checked['resourceType']}/{checked['id']}"
    return LoadedInput(source, tuple(resources), (), tuple(creates), full_urls, tuple(positions))


def _check_put(source: str, text: str, n: int, resource: Mapping[str, Any], request: Any) -> None:
    if not isinstance(request, Mapping):
        raise LoadError(
            source, _line_of(text, resource), f"Bundle.entry[{n}] of a transaction has no request"
        )
    expected = f"{resource.get('resourceType')}/{resource.get('id')}"
    if request.get("method") != "PUT" or request.get("url") != expected:
        raise LoadError(
            source, _line_of(text, resource),
            f"Bundle.entry[{n}].request: only PUT {expected} or POST "
            f"{resource.get('resourceType')} can be loaded, not "
            f"{request.get('method')} {request.get('url')}",
        )  # fmt: skip


def _create(
    source: str, text: str, n: int, entry: Mapping[str, Any], request: Mapping[str, Any]
) -> Create:
    resource = entry["resource"]
    line = _line_of(text, resource)
    if request.get("url") != resource.get("resourceType"):
        raise LoadError(
            source, line, f"Bundle.entry[{n}].request.url must be "
            f"{resource.get('resourceType')!r} for a POST, not {request.get('url')!r}",
        )  # fmt: skip
    # The server chooses the id of a created resource (R4 §3.1.0.8); any id sent is ignored.
    checked = _checked(source, text, {k: v for k, v in resource.items() if k != "id"}, line)
    if_none_exist = request.get("ifNoneExist")
    full_url = entry.get("fullUrl")
    return Create(
        source,
        line,
        checked,
        if_none_exist if isinstance(if_none_exist, str) else None,
        full_url if isinstance(full_url, str) else None,
        n,
    )


def _checked(
    source: str, text: str, resource: Mapping[str, Any], create_line: int | None = None
) -> Resource:
    """A valid resource of a served type; with ``create_line``, one without an id yet."""

    def line() -> int:
        # Found only for an error: searching the text for every resource of a large
        # Bundle made loading quadratic in its size.
        return _line_of(text, resource) if create_line is None else create_line

    resource_type = resource.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise LoadError(
            source,
            line(),
            f"{resource_type!r} is not served here (only {', '.join(RESOURCE_TYPES)})",
        )
    resource_id = resource.get("id")
    if create_line is None and (
        not isinstance(resource_id, str) or not fhir.is_valid_id(resource_id)
    ):
        raise LoadError(source, line(), f"{resource_type} needs a valid id, not {resource_id!r}")
    try:
        fhir.validate(resource)
    except fhir.InvalidResource as e:
        location, problem = e.problems[0]
        raise LoadError(
            source, line(), f"{resource_type}/{resource_id}: {location}: {problem}"
        ) from None
    return dict(resource)


def merge(inputs: Sequence[LoadedInput]) -> list[Resource]:
    """One resource per (type, id). The same resource from two inputs is kept once;
    two different resources under one id are an error naming both inputs."""
    chosen: dict[tuple[str, str], tuple[str, Resource]] = {}
    for loaded in inputs:
        for resource in loaded.resources:
            key = (resource["resourceType"], resource["id"])
            if key in chosen:
                first_source, first = chosen[key]
                if content_hash(first) != content_hash(resource):
                    where = (
                        "earlier in it" if first_source == loaded.source else f"in {first_source}"
                    )
                    raise LoadError(
                        loaded.source, 0, f"{key[0]}/{key[1]} differs from the one {where}"
                    )
                continue
            chosen[key] = (loaded.source, resource)
    return [resource for _, resource in chosen.values()]


def prepare(inputs: Sequence[LoadedInput], store: Store) -> Prepared:
    """Settle transaction entries against the store, then ``merge``.

    A conditional create (``ifNoneExist``) that matches one stored resource writes nothing;
    otherwise it gets a new id. References to a Bundle's ``fullUrl`` (``urn:uuid:…``) are
    rewritten to the ``Type/id`` of the resource that entry became."""
    settled: list[LoadedInput] = []
    existing: list[tuple[str, str]] = []
    order: list[tuple[str, str]] = []
    for loaded in inputs:
        keys = [(r["resourceType"], r["id"]) for r in loaded.resources]
        if not loaded.creates:
            settled.append(loaded)
            order += keys
            continue
        placed = list(zip(loaded.positions, keys, strict=True))
        targets = dict(loaded.full_urls)
        created: list[Resource] = []
        for create in loaded.creates:
            resource_type = create.resource["resourceType"]
            match = _existing(store, create)
            if match is not None:
                existing.append((resource_type, match))
                resource_id = match
            else:
                resource_id = str(uuid.uuid4())
                created.append({**create.resource, "id": resource_id})
            if create.full_url:
                targets[create.full_url] = f"{resource_type}/{resource_id}"
            placed.append((create.index, (resource_type, resource_id)))
        order += [key for _, key in sorted(placed)]
        resources = tuple(
            fhir.rewrite_references(r, targets) for r in (*loaded.resources, *created)
        )
        settled.append(LoadedInput(loaded.source, resources, loaded.warnings))
    return Prepared(merge(settled), existing, order)


def _existing(store: Store, create: Create) -> str | None:
    """The id of the one stored resource matching a conditional create's criteria."""
    if create.if_none_exist is None:
        return None
    resource_type = create.resource["resourceType"]
    criteria = create.if_none_exist.split("?", 1)[-1]
    try:
        query = parse_search(
            resource_type, parse_qsl(criteria, keep_blank_values=True), strict=True
        ).query
    except SearchError as e:
        raise LoadError(create.source, create.line, f"ifNoneExist {criteria!r}: {e}") from None
    page = store.search(query)
    if not page.items:
        return None
    if len(page.items) > 1:
        raise LoadError(
            create.source, create.line, f"ifNoneExist {criteria!r} matches {page.total} "
            f"{resource_type} resources; a conditional create needs at most one",
        )  # fmt: skip
    return page.items[0].id
