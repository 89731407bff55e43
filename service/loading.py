"""Turning input files into validated resources, before anything is written.

Three kinds of input: source pages (``.txt``), the middle format (``.yaml``/``.yml``, or
``.json`` tagged with its format) and FHIR (``.json``: a Bundle of any type, or one
resource). Everything is mapped and checked first; the caller writes the result in one
transaction. Every problem is a ``LoadError`` naming the input and, where known, its line.

What is checked, in order:

1. the document (``mappings.documents``): strict, bounded JSON and YAML, no bidi controls;
2. the input (``read_bytes``): served types, valid ids, the Bundle rules (unique
   ``fullUrl``, every ``urn:`` reference resolved by an entry, only PUT/POST in a
   transaction file of ``flask load``: ``$import`` and ``POST /fhir`` hand Bundles of
   requests to ``service.writes``), the limits of ``mappings.limits``, and the FHIR models;
3. the gate (``gate``, which ``prepare`` runs on everything it is about to write, for
   ``flask load`` and ``$import`` alike): ``$validate``'s own checks, with references and
   canonicals resolving among the resources written together or in the store.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from mappings import fhir
from mappings.content import ContentError, load, loads
from mappings.documents import DocumentError, json_lines, loads_json, walk
from mappings.limits import MAX_ACTION_DEPTH, MAX_ACTIONS, MAX_PROBLEMS, MAX_RESOURCES
from mappings.pipeline import MappedPage, map_page, map_phase
from mappings.rules import MappingConfig
from mappings.source import PageError
from service.conformance import definitions as conformance_definitions
from service.search.params import CANONICAL_TYPES, RESOURCE_TYPES
from service.search.query import SearchError, parse_search
from service.store import Store, resolve_canonicals
from service.store.store import content_hash
from service.validation import validate

Resource = dict[str, Any]
Kind = Literal["page", "content", "fhir"]
Key = tuple[str, str]
Steps = tuple[str | int, ...]
"""Where a value is in a JSON document: keys and list indexes from the root."""

SUFFIXES: dict[str, Kind | None] = {
    ".txt": "page",
    ".yaml": "content",
    ".yml": "content",
    ".json": None,  # content or FHIR: the document says which
}

TOO_COSTLY = "too-costly"
"""The issue code of a refusal for size (more resources or actions than the limits)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (``source:line``, and ``expression``, the
    FHIRPath of the element in the input when it is FHIR) and what."""

    source: str
    line: int
    message: str
    expression: str | None = None
    code: str = "invalid"

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


class LoadError(ValueError):
    """Input that cannot be loaded: ``source:line: message`` (line 0 when unknown).

    ``problems`` lists every problem found (the first is the one in the message); the
    message says how many more there are. ``code`` is the first one's issue type."""

    def __init__(
        self,
        source: str,
        line: int,
        message: str,
        *,
        code: str = "invalid",
        expression: str | None = None,
        more: Sequence[Problem] = (),
        truncated: bool = False,
    ) -> None:
        first = Problem(source, line, message, expression, code)
        text = str(first)
        if more or truncated:
            count = f"{len(more)}{'+' if truncated else ''}"
            text += f" (and {count} more problem{'s' if len(more) != 1 or truncated else ''})"
        super().__init__(text)
        self.source = source
        self.line = line
        self.message = message
        self.code = code
        self.problems: tuple[Problem, ...] = (first, *more)
        self.truncated = truncated

    @classmethod
    def of(cls, problems: Sequence[Problem], truncated: bool = False) -> LoadError:
        first, *more = problems
        return cls(
            first.source,
            first.line,
            first.message,
            code=first.code,
            expression=first.expression,
            more=more,
            truncated=truncated,
        )


class Lines:
    """The lines of values in one JSON input, found (by reading it again, keeping where
    each value starts) only when a problem needs one."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._find: Callable[[Steps], int] | None = None

    def __call__(self, steps: Steps) -> int:
        if self._find is None:
            self._find = json_lines(self._text)
        return self._find(steps)


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
    lines: Lines | None = None
    """For FHIR input, the lines of its values (None for mapped pages and content)."""
    bundle: bool = False


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
    """Map or check one input. ``kind`` None means JSON that says what it is."""
    if kind == "page":  # the page reader refuses what a page may not hold, at its line
        try:
            return _mapped(source, map_page(data, config))
        except PageError as e:
            raise LoadError(source, e.line, e.message) from None
    text = _text(source, data)
    if kind == "content":
        try:
            content = loads(text)
        except ContentError as e:
            raise LoadError(source, _content_line(str(e)), _content_message(str(e))) from None
        return _mapped(source, map_phase(content, config))
    return read_document(source, text, _document(source, loads_json, text), kind, config)


def read_document(
    source: str, text: str, document: Any, kind: Kind | None, config: MappingConfig
) -> LoadedInput:
    """Map or check one JSON input already read (``text`` finds lines for problems):
    FHIR, or with ``kind`` None the middle format when it is not FHIR."""
    if kind is None and not (isinstance(document, Mapping) and "resourceType" in document):
        try:
            content = load(document)  # the middle format as JSON, read once
        except ContentError as e:
            raise LoadError(source, 0, _content_message(str(e))) from None
        return _mapped(source, map_phase(content, config))
    if not isinstance(document, Mapping) or "resourceType" not in document:
        raise LoadError(source, 1, "not a FHIR resource or Bundle (no resourceType)")
    return _fhir_input(source, text, document)


def read_json(source: str, data: bytes) -> tuple[str, Any]:
    """The text of a JSON input and the document it holds; a LoadError at its line if it is
    not UTF-8 or not JSON within our limits."""
    text = _text(source, data)
    return text, _document(source, loads_json, text)


def _document(source: str, read: Callable[[str], Any], text: str) -> Any:
    try:
        return read(text)
    except DocumentError as e:
        raise LoadError(source, e.line, e.message, code="structure") from None


def _mapped(source: str, mapped: MappedPage) -> LoadedInput:
    resources = tuple(dict(r) for r in mapped.result.resources)
    if len(resources) > MAX_RESOURCES:
        raise LoadError(
            source,
            0,
            f"maps to {len(resources)} resources; at most {MAX_RESOURCES} are "
            "loaded from one input",
            code=TOO_COSTLY,
        )
    for resource in resources:
        _check_actions(source, resource, None, ())
    return LoadedInput(source, resources, tuple(mapped.result.warnings))


def _text(source: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise LoadError(source, line, "not valid UTF-8") from None


_LINE_PREFIX = re.compile(r"line (\d+): ")


def _content_line(message: str) -> int:
    match = _LINE_PREFIX.match(message)
    return int(match.group(1)) if match else 0


def _content_message(message: str) -> str:
    if message.startswith("_schema:"):  # marshmallow's word for "the document as a whole"
        return "not a middle-format document (a mapping with 'format' and 'content')"
    return _LINE_PREFIX.sub("", message, count=1)


# --- FHIR input ----------------------------------------------------------------------------


def _fhirpath(root: str, steps: Iterable[str | int]) -> str:
    return root + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def fhirpath_steps(location: str) -> Steps:
    """``Medication.ingredient[0].item`` -> ``("ingredient", 0, "item")``."""
    steps = [int(m[2]) if m[2] else m[1] for m in _STEP.finditer(location)]
    return tuple(steps[1:])


def _line(lines: Lines | None, steps: Steps) -> int:
    return lines(steps) if lines is not None else 0


def bundle_entries(source: str, lines: Lines, document: Mapping[str, Any]) -> list[Any]:
    """A Bundle's entries: a list of at most ``MAX_RESOURCES`` (413 beyond), as one input
    or one request takes."""
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        raise LoadError(source, lines(("entry",)), "Bundle.entry is not a list")
    if len(entries) > MAX_RESOURCES:
        raise LoadError(
            source,
            lines(("entry", MAX_RESOURCES)),
            f"the Bundle has {len(entries)} entries; at most {MAX_RESOURCES} are taken in "
            "one input or request",
            code=TOO_COSTLY,
            expression="Bundle.entry",
        )
    return entries


def _fhir_input(source: str, text: str, document: Mapping[str, Any]) -> LoadedInput:
    lines = Lines(text)
    if document.get("resourceType") != "Bundle":
        check_urns(source, lines, [((), document)], set())
        return LoadedInput(
            source, (checked_resource(source, lines, (), document),), (), lines=lines
        )
    entries = bundle_entries(source, lines, document)
    transaction = document.get("type") in ("transaction", "batch")
    resources: list[Resource] = []
    positions: list[int] = []
    creates: list[Create] = []
    full_urls: dict[str, str] = {}
    entry_urls: dict[str, int] = {}
    located: list[tuple[Steps, Any]] = []
    for n, entry in enumerate(entries):
        at: Steps = ("entry", n)
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            raise LoadError(source, lines(at), f"Bundle.entry[{n}] has no resource")
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            if full_url in entry_urls:
                # R4 bdl-7; otherwise references to it would bind to one entry silently.
                raise LoadError(
                    source,
                    lines((*at, "fullUrl")),
                    f"Bundle.entry[{n}].fullUrl {full_url} is "
                    f"also Bundle.entry[{entry_urls[full_url]}]'s: the fullUrls of a Bundle "
                    "must be unique",
                    expression=f"Bundle.entry[{n}].fullUrl",
                )
            entry_urls[full_url] = n
        located.append(((*at, "resource"), resource))
    check_urns(source, lines, located, set(entry_urls))
    for n, entry in enumerate(entries):
        resource = entry["resource"]
        request = entry.get("request") if transaction else None
        if isinstance(request, Mapping) and request.get("method") == "POST":
            creates.append(_create(source, lines, n, entry, request))
            continue
        if transaction:
            _check_put(source, lines, n, resource, request)
        checked = checked_resource(source, lines, ("entry", n, "resource"), resource)
        resources.append(checked)
        positions.append(n)
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            full_urls[full_url] = f"{checked['resourceType']}/{checked['id']}"
    return LoadedInput(
        source, tuple(resources), (), tuple(creates), full_urls, tuple(positions), lines, True
    )


_URN = ("urn:uuid:", "urn:oid:")


def check_urns(
    source: str, lines: Lines, located: Iterable[tuple[Steps, Any]], full_urls: set[str]
) -> None:
    """A ``urn:uuid:``/``urn:oid:`` reference names a Bundle entry (R4 bundle.html
    #references): one that names none cannot be resolved, and is not stored as it is."""
    problems = []
    for at, resource in located:
        for steps, value in walk(resource):
            if (
                steps
                and steps[-1] == "reference"
                and isinstance(value, str)
                and value.startswith(_URN)
                and value not in full_urls
            ):
                where = _fhirpath(
                    "Bundle" if at else str(resource.get("resourceType")), (*at, *steps)
                )
                problems.append(
                    Problem(
                        source,
                        lines((*at, *steps)),
                        f"{where}: {value} is the fullUrl of no entry in this Bundle",
                        where,
                        "not-found",
                    )
                )
    if problems:
        raise LoadError.of(problems[:MAX_PROBLEMS], truncated=len(problems) > MAX_PROBLEMS)


def _check_put(
    source: str, lines: Lines, n: int, resource: Mapping[str, Any], request: Any
) -> None:
    at: Steps = ("entry", n)
    if not isinstance(request, Mapping):
        raise LoadError(source, lines(at), f"Bundle.entry[{n}] of a transaction has no request")
    expected = f"{resource.get('resourceType')}/{resource.get('id')}"
    if request.get("method") != "PUT" or request.get("url") != expected:
        raise LoadError(
            source,
            lines((*at, "request")),
            f"Bundle.entry[{n}].request: a file loads PUT {expected} or POST "
            f"{resource.get('resourceType')}, not {_request_line(request)}; every other "
            "interaction (DELETE, PATCH, conditional updates, ifMatch) is POST /fhir's",
        )


def _request_line(request: Mapping[str, Any]) -> str:
    """``PUT Medication/x`` as the entry wrote it, saying what it lacks."""
    method, url = request.get("method"), request.get("url")
    return " ".join(
        (str(method) if isinstance(method, str) else "(no method)",
         str(url) if isinstance(url, str) else "(no url)")
    )  # fmt: skip


def _create(
    source: str, lines: Lines, n: int, entry: Mapping[str, Any], request: Mapping[str, Any]
) -> Create:
    resource = entry["resource"]
    at: Steps = ("entry", n, "resource")
    if request.get("url") != resource.get("resourceType"):
        raise LoadError(
            source,
            lines(("entry", n, "request", "url")),
            f"Bundle.entry[{n}].request.url must "
            f"be {resource.get('resourceType')!r} for a POST, not {request.get('url')!r}",
        )
    # The server chooses the id of a created resource (R4 §3.1.0.8); any id sent is ignored.
    checked = checked_resource(
        source, lines, at, {k: v for k, v in resource.items() if k != "id"}, True
    )
    if_none_exist = request.get("ifNoneExist")
    full_url = entry.get("fullUrl")
    return Create(
        source,
        lines(at),
        checked,
        if_none_exist if isinstance(if_none_exist, str) else None,
        full_url if isinstance(full_url, str) else None,
        n,
    )


def _label(resource: Mapping[str, Any], at: Steps) -> str:
    """``Type/id``, or for a resource without an id yet where it is in its Bundle."""
    resource_id = resource.get("id")
    if isinstance(resource_id, str):
        return f"{resource.get('resourceType')}/{resource_id}"
    return f"{resource.get('resourceType')} of {_fhirpath('Bundle', at[:2])}"


def _root(at: Steps | None, resource_type: str) -> str:
    """The FHIRPath of a resource in its input (the type itself when it is the whole)."""
    return _fhirpath("Bundle", at) if at else resource_type


def checked_resource(
    source: str, lines: Lines, at: Steps, resource: Mapping[str, Any], create: bool = False
) -> Resource:
    """A served resource that the FHIR models accept; with ``create``, one without an id
    yet. ``at`` is where it is in its input."""
    resource_type = resource.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise LoadError(
            source,
            lines((*at, "id")),
            f"{resource_type!r} is not served here (only {', '.join(RESOURCE_TYPES)})",
            expression=_fhirpath(_root(at, "Resource"), ("resourceType",)),
        )
    resource_id = resource.get("id")
    if not create and (not isinstance(resource_id, str) or not fhir.is_valid_id(resource_id)):
        raise LoadError(
            source,
            lines((*at, "id")),
            f"{resource_type} has no id"
            if resource_id is None
            else f"{resource_type} needs a valid id, not {resource_id!r}",
            expression=_fhirpath(_root(at, resource_type), ("id",)),
        )
    _check_actions(source, resource, lines, at)
    try:
        fhir.validate(resource)
    except fhir.InvalidResource as e:
        problems = []
        for location, problem in e.problems[:MAX_PROBLEMS]:
            steps = tuple(
                int(p) if p.isdecimal() and p.isascii() else p for p in location.split(".")
            )
            path = _fhirpath(_root(at, resource_type), steps)
            problems.append(
                Problem(
                    source,
                    lines((*at, *steps)),
                    f"{_label(resource, at)}: {location}: {problem}",
                    path,
                    "structure",
                )
            )
        raise LoadError.of(problems, truncated=len(e.problems) > MAX_PROBLEMS) from None
    return dict(resource)


def _check_actions(
    source: str, resource: Mapping[str, Any], lines: Lines | None, at: Steps
) -> None:
    """At most ``MAX_ACTIONS`` actions in a PlanDefinition, nested at most
    ``MAX_ACTION_DEPTH`` deep (counted without recursion, stopping at the limit)."""
    if resource.get("resourceType") != "PlanDefinition":
        return
    count = 0
    stack: list[tuple[Steps, Any]] = [(("action",), resource.get("action"))]
    while stack:
        steps, actions = stack.pop()
        if not isinstance(actions, list):
            continue
        depth = sum(1 for s in steps if s == "action")
        if depth > MAX_ACTION_DEPTH:
            where = _fhirpath(_root(at, "PlanDefinition"), steps)
            raise LoadError(
                source,
                _line(lines, (*at, *steps)),
                f"{_label(resource, at)}: {where}: actions "
                f"nested more than {MAX_ACTION_DEPTH} deep",
                code=TOO_COSTLY,
                expression=where,
            )
        count += len(actions)
        if count > MAX_ACTIONS:
            raise LoadError(
                source,
                _line(lines, (*at, "action")),
                f"{_label(resource, at)}: more than {MAX_ACTIONS} actions in one PlanDefinition",
                code=TOO_COSTLY,
                expression=_fhirpath(_root(at, "PlanDefinition"), ("action",)),
            )
        for n, action in enumerate(actions):
            if isinstance(action, Mapping):
                stack.append(((*steps, n, "action"), action.get("action")))


# --- the gate ------------------------------------------------------------------------------


class StoreReferences:
    """The validator's reference resolution (``service.validation.References``): among
    ``resources`` (what is being written together) first, then in the store, where the
    stored versions those resources replace no longer count. With ``served`` (the canonical
    base and artifact version), a canonical of our own conformance resources (profiles,
    extensions, ...: served, not stored) resolves too."""

    def __init__(
        self,
        store: Store,
        resources: Iterable[Mapping[str, Any]] = (),
        *,
        served: tuple[str, str] | None = None,
    ) -> None:
        self.store = store
        self.served = served
        self.written: set[Key] = set()
        self.urls: dict[str, set[str | None]] = {}
        for resource in resources:
            self.written.add((resource["resourceType"], resource["id"]))
            url, version = resource.get("url"), resource.get("version")
            if resource["resourceType"] in CANONICAL_TYPES and isinstance(url, str):
                self.urls.setdefault(url, set()).add(version if isinstance(version, str) else None)
        # Each distinct reference is looked up once: a plan names the same activity in
        # many actions (a 1.9 MB plan's 3,900 canonicals are 30 distinct ones).
        self._stored: dict[str, bool] = {}
        self._literals: dict[Key, bool] = {}
        self._served: frozenset[str] | None = None

    def _served_canonicals(self) -> frozenset[str]:
        """``url`` and ``url|version`` of each of our served conformance resources, read
        once (a plan names its canonicals thousands of times)."""
        if self._served is None:
            found: set[str] = set()
            if self.served is not None:
                for resource in conformance_definitions(*self.served):
                    url, version = resource.get("url"), resource.get("version")
                    if isinstance(url, str):
                        found.add(url)
                        if isinstance(version, str):
                            found.add(f"{url}|{version}")
            self._served = frozenset(found)
        return self._served

    def literal_exists(self, resource_type: str, resource_id: str) -> bool:
        key = (resource_type, resource_id)
        if key in self.written:
            return True
        if key not in self._literals:
            self._literals[key] = self.store.exists(resource_type, resource_id)
        return self._literals[key]

    def canonical_exists(self, url: str, version: str | None) -> bool:
        canonical = url if version is None else f"{url}|{version}"
        if canonical in self._served_canonicals():
            return True
        versions = self.urls.get(url)
        if versions is not None and (version is None or version in versions):
            return True
        if canonical not in self._stored:
            found = resolve_canonicals(self.store, CANONICAL_TYPES, {canonical})
            self._stored[canonical] = any(
                (f.resource_type, f.id) not in self.written for f in found
            )
        return self._stored[canonical]


@dataclass(frozen=True)
class Origin:
    """Where a resource to be written came from: its input, and where it is in it (None
    for a mapped page or middle-format document, which have no FHIR text)."""

    source: str
    lines: Lines | None = None
    at: Steps | None = None
    created: bool = False
    """A POST entry: its id is new, so it is named by where it is in its Bundle."""

    def problem(
        self, resource: Mapping[str, Any], location: str, message: str, code: str
    ) -> Problem:
        resource_type = str(resource.get("resourceType"))
        steps = fhirpath_steps(location) if location else ()
        if self.at is None or self.lines is None:
            line, expression = 0, location or resource_type
        else:
            line = self.lines((*self.at, *(steps or ("id",))))
            expression = _fhirpath(_root(self.at, resource_type), steps)
        label = f"{resource_type}/{resource.get('id')}"
        if self.created and self.at:
            label = f"{resource_type} of {_fhirpath('Bundle', self.at[:2])}"
        where = location or resource_type
        # The validator's messages often start with the element they are about.
        said = message if message.startswith(where) else f"{where}: {message}"
        return Problem(
            self.source,
            line,
            f"{label}: {said}",
            expression,
            code,
        )


def gate(
    resources: Sequence[Resource], store: Store, origins: Mapping[Key, Origin] | None = None
) -> None:
    """The one check everything passes before it is written: ``$validate``'s (structure,
    required bindings, invariants, narrative, terminology), with references and canonicals
    resolving among ``resources`` or in ``store``. Raises a LoadError naming every error
    (at most ``MAX_PROBLEMS``) at its input and line (``origins``); writes nothing."""
    references = StoreReferences(store, resources)
    problems: list[Problem] = []
    for resource in resources:
        key = (resource["resourceType"], resource["id"])
        origin = (origins or {}).get(key) or Origin("input")
        for issue in validate(resource, references=references):
            if issue.severity in ("error", "fatal"):
                problems.append(origin.problem(resource, issue.location, issue.message, issue.code))
        if len(problems) > MAX_PROBLEMS:
            raise LoadError.of(problems[:MAX_PROBLEMS], truncated=True)
    if problems:
        raise LoadError.of(problems)


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
    """Settle transaction entries against the store, ``merge``, then pass everything to be
    written through the ``gate``.

    A conditional create (``ifNoneExist``) that matches one stored resource writes nothing;
    otherwise it gets a new id. References to a Bundle's ``fullUrl`` (``urn:uuid:…``) are
    rewritten to the ``Type/id`` of the resource that entry became."""
    settled: list[LoadedInput] = []
    existing: list[tuple[str, str]] = []
    order: list[tuple[str, str]] = []
    origins: dict[Key, Origin] = {}
    for loaded in inputs:
        keys = [(r["resourceType"], r["id"]) for r in loaded.resources]
        for n, key in enumerate(keys):
            at: Steps | None = None
            if loaded.lines is not None:
                at = ("entry", loaded.positions[n], "resource") if loaded.bundle else ()
            origins.setdefault(key, Origin(loaded.source, loaded.lines, at))
        if not loaded.creates and not loaded.full_urls:
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
                at = ("entry", create.index, "resource")
                origins.setdefault(
                    (resource_type, resource_id), Origin(loaded.source, loaded.lines, at, True)
                )
            if create.full_url:
                targets[create.full_url] = f"{resource_type}/{resource_id}"
            placed.append((create.index, (resource_type, resource_id)))
        order += [key for _, key in sorted(placed)]
        resources = tuple(
            fhir.rewrite_references(r, targets) for r in (*loaded.resources, *created)
        )
        settled.append(LoadedInput(loaded.source, resources, loaded.warnings))
    merged = merge(settled)
    gate(merged, store, origins)
    return Prepared(merged, existing, order)


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
            create.source,
            create.line,
            f"ifNoneExist {criteria!r} matches {page.total} "
            f"{resource_type} resources; a conditional create needs at most one",
        )
    return page.items[0].id
