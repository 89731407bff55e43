"""A search request, parsed: what to match (``Clause``) and how to return it.

Parsing is independent of the web framework: it takes the request's (name, value) pairs.
Values the server cannot honour raise ``SearchError`` (a 400 at the edge). Parameters it
does not know are rejected when the client asked for strict handling and ignored
otherwise; either way the caller learns which parameters were applied, so the self link
can say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from marshmallow import Schema, ValidationError, fields, validate

from mappings.numbers import strict_int

from .params import PARAMETERS, SORT_KEYS, SearchParam
from .values import DateRange, date_range

DEFAULT_COUNT = 20
MAX_COUNT = 200
# Beyond these a request is refused (400) rather than sent to the database as a query
# deeper than it accepts.
MAX_OFFSET = 1_000_000
MAX_CLAUSES = 32
MAX_VALUES = 100

DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap")
SUMMARY_MODES = ("true", "false", "text", "data", "count")

# Result parameters, handled by ``ResultSchema``; ``_format`` belongs to content negotiation.
RESULT_PARAMETERS = frozenset({"_count", "_offset", "_sort", "_summary", "_elements", "_total"})
IGNORED_HERE = frozenset({"_format", "_pretty"})
INCLUDE_PARAMETERS = frozenset({"_include", "_revinclude"})
INCLUDE_MODIFIERS = {"": False, "iterate": True, "recurse": True}  # recurse: R3's name
MAX_INCLUDES = 8


class SearchError(ValueError):
    """A search the server understands but cannot run as asked (HTTP 400)."""


@dataclass(frozen=True)
class Token:
    """``code``, ``system|code``, ``|code`` (no system) or ``system|`` (any code)."""

    system: str | None
    code: str | None


@dataclass(frozen=True)
class DatePredicate:
    prefix: str
    range: DateRange


Value = str | Token | DatePredicate | bool


@dataclass(frozen=True)
class Clause:
    """One parameter occurrence: its values are ORed; clauses are ANDed."""

    param: SearchParam
    modifier: str | None
    values: tuple[Value, ...]
    link: Link | None = None
    """A chained (``ref.param``) or reverse-chained (``_has``) clause: ``param`` is then the
    reference followed and ``values`` is empty (the values are the inner clause's)."""


@dataclass(frozen=True)
class Link:
    """One level of chaining. ``chain``: resources whose ``ref`` (a parameter of the searched
    type) points at an ``other`` resource matching ``inner``. ``has``: resources that an
    ``other`` resource matching ``inner`` points at through ``ref`` (a parameter of ``other``)."""

    direction: Literal["chain", "has"]
    other: str
    ref: SearchParam
    inner: Clause


@dataclass(frozen=True)
class Include:
    """``_include`` / ``_revinclude`` = ``source:param[:target]``, optionally ``:iterate``.

    An include follows ``param`` from resources of ``source`` to the resources it points to;
    a revinclude finds resources of ``source`` whose ``param`` points at a result."""

    source: str
    param: SearchParam
    target: str | None
    iterate: bool

    @property
    def text(self) -> str:
        return ":".join(filter(None, (self.source, self.param.name, self.target)))

    def targets(self) -> tuple[str, ...]:
        return (self.target,) if self.target else self.param.targets


@dataclass(frozen=True)
class SearchQuery:
    resource_type: str
    clauses: tuple[Clause, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0
    summary: str | None = None
    elements: tuple[str, ...] | None = None
    total: str = "accurate"


@dataclass(frozen=True)
class ParsedSearch:
    query: SearchQuery
    applied: tuple[tuple[str, str], ...]
    """(name, value) of every search parameter used, in request order."""
    ignored: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    """``_include=Type:param`` values of another type than the one searched: R4 follows a
    non-iterated include from the matches only, so they include nothing (no-ops)."""


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not escaped by a backslash; escapes are kept for
    the next level of parsing (``,`` between values, then ``$`` and ``|`` inside one)."""
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == separator:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\([,$|\\])", r"\1", text)


def _token(text: str) -> Token:
    pieces = _split(text, "|")
    if len(pieces) == 1:
        return Token(None, _unescape(pieces[0]))
    if len(pieces) != 2:
        raise SearchError(f"token {text!r} has more than one '|'")
    system, code = (_unescape(p) for p in pieces)
    if not system and not code:
        raise SearchError("token '|' names neither a system nor a code")
    return Token(system, code or None)


def _date(text: str) -> DatePredicate:
    prefix, rest = ("eq", text)
    if text[:2] in DATE_PREFIXES:
        prefix, rest = text[:2], text[2:]
    try:
        return DatePredicate(prefix, date_range(rest))
    except ValueError as e:
        raise SearchError(str(e)) from None


def _values(
    param: SearchParam, modifier: str | None, raw: str, base: str | None = None
) -> tuple[Value, ...]:
    if modifier == "missing":
        if raw not in ("true", "false"):
            raise SearchError(f"{param.name}:missing takes true or false, not {raw!r}")
        return (raw == "true",)
    values: list[Value] = []
    for item in _split(raw, ","):
        if item == "":
            raise SearchError(f"{param.name} has an empty value")
        if param.type == "token":
            values.append(_token(item))
        elif param.type == "date":
            values.append(_date(_unescape(item)))
        elif param.type == "composite":
            parts = _split(item, "$")
            if len(parts) != 2:
                raise SearchError(f"{param.name} takes type$value, not {item!r}")
            forms = [_token(p) for p in parts]
            values.append("$".join(_token_form(t) for t in forms))
        elif param.type == "reference" and not param.canonical and base:
            values.append(_local_reference(_unescape(item), base))
        else:
            values.append(_unescape(item))
    return tuple(values)


def _local_reference(reference: str, base: str) -> str:
    """An absolute reference on this server's own base is the relative ``Type/id`` we store
    (R4: they match); any other absolute URL is kept, and matches only itself."""
    prefix = base.rstrip("/") + "/"
    if reference.startswith(prefix):
        rest = reference[len(prefix) :]
        type_name, _, resource_id = rest.partition("/")
        if type_name in PARAMETERS and resource_id and "/" not in resource_id:
            return rest
    return reference


def _token_form(token: Token) -> str:
    """The composite index's spelling of a token (``code``, ``system|code``, ``|code``)."""
    if token.code is None:
        raise SearchError("a composite value needs a code in each component")
    if token.system is None:
        return token.code
    return f"{token.system}|{token.code}"


class _SortField(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        keys = []
        for key in text.split(","):
            key = key.strip()
            if not key:
                raise ValidationError("empty sort key")
            keys.append((key.lstrip("-"), key.startswith("-")))
        return tuple(keys)


class _ElementsField(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        if not names:
            raise ValidationError("names no element")
        return names


class StrictInteger(fields.Integer):
    """A whole number in a parameter: ASCII digits only, read by ``strict_int`` (marshmallow's
    ``int()`` reads Arabic-Indic or fullwidth digits as numbers, and ``_count=1_0`` as 10)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, str):
            try:
                return strict_int(value)
            except ValueError:
                raise self.make_error("invalid", input=value) from None
        return super()._validated(value)


class PageSize(StrictInteger):
    """``_count``: a page size above ``MAX_COUNT`` is capped, not refused (R4 lets a server
    return fewer than asked); the self link then gives the size used."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        size: int = super()._deserialize(value, attr, data, **kwargs)
        return min(size, MAX_COUNT)


class ResultSchema(Schema):
    """The result parameters: how many, which page, in what order, how much of each."""

    _count = PageSize(validate=validate.Range(min=0), load_default=DEFAULT_COUNT)
    _offset = StrictInteger(validate=validate.Range(min=0, max=MAX_OFFSET), load_default=0)
    _sort = _SortField(load_default=())
    _summary = fields.String(validate=validate.OneOf(SUMMARY_MODES), load_default=None)
    _elements = _ElementsField(load_default=None)
    _total = fields.String(
        validate=validate.OneOf(("none", "estimate", "accurate")), load_default="accurate"
    )


_RESULT_SCHEMA = ResultSchema()


def first_problem(error: ValidationError) -> str:
    """``name: what is wrong`` for the first field marshmallow rejected."""
    messages = error.messages
    if isinstance(messages, dict) and messages:
        name, problems = next(iter(messages.items()))
        text = " ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
        return f"{name}: {text}"
    return str(messages)


def parse_search(
    resource_type: str,
    pairs: Iterable[tuple[str, str]],
    *,
    strict: bool = False,
    base: str | None = None,
) -> ParsedSearch:
    """``base``: the absolute base this server is reached at (``Type/id`` references given
    as absolute URLs on it match the stored relative ones)."""
    params = PARAMETERS[resource_type]
    clauses: list[Clause] = []
    applied: list[tuple[str, str]] = []
    ignored: list[str] = []
    skipped: list[str] = []
    result: dict[str, str] = {}
    includes: dict[str, list[Include]] = {"_include": [], "_revinclude": []}
    for name, raw in pairs:
        if name in IGNORED_HERE:
            continue
        kind, _, how = name.partition(":")
        if kind in INCLUDE_PARAMETERS:
            include = _include(resource_type, kind, how, raw)
            if include is None:
                skipped.append(f"{name}={raw}")
                continue
            includes[kind].append(include)
            if sum(map(len, includes.values())) > MAX_INCLUDES:
                raise SearchError(f"more than {MAX_INCLUDES} _include/_revinclude in one search")
            applied.append((name, raw))
            continue
        if name in RESULT_PARAMETERS:
            if name in result:
                raise SearchError(f"{name} is given more than once")
            result[name] = raw
            continue
        # Never ignored, even in lenient handling: dropping a chain or _has would answer
        # every resource as if it had matched.
        if name == "_has" or name.startswith("_has:"):
            clauses.append(_reverse_chain(resource_type, name, raw, base))
        elif "." in name and name.partition(".")[0].partition(":")[0] in params:
            clauses.append(_chain(resource_type, name, raw, base))
        else:
            param_name, _, modifier = name.partition(":")
            if param_name not in params:
                if strict:
                    raise SearchError(
                        f"unknown search parameter {param_name!r} for {resource_type}"
                    )
                ignored.append(name)
                if len(clauses) + len(ignored) > MAX_CLAUSES:
                    raise SearchError(f"more than {MAX_CLAUSES} search parameters in one search")
                continue
            clauses.append(_plain(resource_type, param_name, modifier, raw, base))
        if len(clauses) + len(ignored) > MAX_CLAUSES:
            raise SearchError(f"more than {MAX_CLAUSES} search parameters in one search")
        applied.append((name, raw))
    try:
        options = _RESULT_SCHEMA.load(result)
    except ValidationError as e:
        raise SearchError(first_problem(e)) from None
    for key, _descending in options["_sort"]:
        if key not in SORT_KEYS[resource_type]:
            raise SearchError(
                f"cannot sort {resource_type} by {key!r}; "
                f"supported: {', '.join(sorted(SORT_KEYS[resource_type]))}"
            )
    summary = options["_summary"]
    query = SearchQuery(
        resource_type=resource_type,
        clauses=tuple(clauses),
        includes=tuple(includes["_include"]),
        revincludes=tuple(includes["_revinclude"]),
        sort=options["_sort"],
        # _summary=count asks for the total and no entries.
        count=0 if summary == "count" else options["_count"],
        offset=options["_offset"],
        summary=summary,
        elements=options["_elements"],
        total="accurate" if summary == "count" else options["_total"],
    )
    return ParsedSearch(query, tuple(applied), tuple(ignored), tuple(skipped))


def _plain(resource_type: str, name: str, modifier: str, raw: str, base: str | None) -> Clause:
    """``name[:modifier]=raw`` over ``resource_type``, whose parameter ``name`` must exist."""
    param = PARAMETERS[resource_type].get(name)
    if param is None:
        raise SearchError(f"unknown search parameter {name!r} for {resource_type}")
    if modifier and modifier not in param.modifiers:
        raise SearchError(f"modifier :{modifier} is not supported on {name} ({param.type})")
    values = _values(param, modifier or None, raw, base)
    if len(values) > MAX_VALUES:
        raise SearchError(f"{name} has {len(values)} values; at most {MAX_VALUES} are allowed")
    return Clause(param, modifier or None, values)


def _followable(resource_type: str) -> str:
    names = sorted(p.name for p in PARAMETERS[resource_type].values() if p.targets)
    return ", ".join(names) or "none"


def _chain(resource_type: str, name: str, raw: str, base: str | None) -> Clause:
    """``ref[:Type].param[:modifier]=raw``: one level of chaining over a reference parameter."""
    head, _, rest = name.partition(".")
    ref_name, _, type_name = head.partition(":")
    ref = PARAMETERS[resource_type].get(ref_name)
    if ref is None or not ref.targets:
        what = "not a search parameter" if ref is None else "not a reference parameter"
        raise SearchError(
            f"chained parameter {name!r}: {ref_name!r} is {what} of {resource_type} this "
            f"server can follow (it can chain: {_followable(resource_type)})"
        )
    if type_name and type_name not in ref.targets:
        if type_name in PARAMETERS or type_name[:1].isupper():
            raise SearchError(
                f"chained parameter {name!r}: {ref_name} points to "
                f"{', '.join(ref.targets)}, not {type_name}"
            )
        raise SearchError(f"chained parameter {name!r}: modifier :{type_name} is not supported")
    if not type_name and len(ref.targets) > 1:
        raise SearchError(
            f"chained parameter {name!r}: {ref_name} can point to {', '.join(ref.targets)}; "
            f"name the type, e.g. {ref_name}:{ref.targets[0]}.{rest}"
        )
    target = type_name or ref.targets[0]
    inner_name, _, inner_modifier = rest.partition(":")
    if "." in inner_name or inner_name == "_has":
        raise SearchError(
            f"chained parameter {name!r} goes more than one level deep; one level is supported"
        )
    try:
        inner = _plain(target, inner_name, inner_modifier, raw, base)
    except SearchError as e:
        raise SearchError(f"chained parameter {name!r}: {e}") from None
    return Clause(ref, None, (), Link("chain", target, ref, inner))


def _reverse_chain(resource_type: str, name: str, raw: str, base: str | None) -> Clause:
    """``_has:Type:ref:param[:modifier]=raw``: one level of reverse chaining."""
    parts = name.split(":")
    if len(parts) > 4 and parts[3] == "_has":
        raise SearchError(f"{name!r}: nested _has is not supported; one level is")
    if len(parts) < 4 or len(parts) > 5:
        raise SearchError(f"{name!r}: expected _has:Type:reference:parameter")
    _, source, ref_name, inner_name, *modifier = parts
    if inner_name == "_has" or "." in inner_name:
        raise SearchError(f"{name!r}: nested _has (or a chain inside _has) is not supported")
    if source not in PARAMETERS:
        raise SearchError(
            f"{name!r}: {source!r} is not a type served here (served: {', '.join(PARAMETERS)})"
        )
    ref = PARAMETERS[source].get(ref_name)
    if ref is None or not ref.targets:
        raise SearchError(
            f"{name!r}: {ref_name!r} is not a reference parameter of {source} this server can "
            f"follow (it can follow: {_followable(source)})"
        )
    if resource_type not in ref.targets:
        raise SearchError(
            f"{name!r}: {source}:{ref_name} points to {', '.join(ref.targets)}, "
            f"never to {resource_type}"
        )
    try:
        inner = _plain(source, inner_name, modifier[0] if modifier else "", raw, base)
    except SearchError as e:
        raise SearchError(f"{name!r}: {e}") from None
    return Clause(ref, None, (), Link("has", source, ref, inner))


def _include(resource_type: str, kind: str, how: str, raw: str) -> Include | None:
    """One ``_include``/``_revinclude``; anything the server cannot follow is a 400, never
    silently dropped. None: a non-iterated ``_include`` from another type, which includes
    nothing (the caller says so)."""
    if how not in INCLUDE_MODIFIERS:
        raise SearchError(f"{kind}:{how} is not supported (use {kind} or {kind}:iterate)")
    parts = raw.split(":")
    if raw == "*" or len(parts) not in (2, 3):
        raise SearchError(f"{kind}={raw}: expected SourceType:parameter[:TargetType]")
    source, name, *rest = parts
    target = rest[0] if rest else None
    if source not in PARAMETERS:
        raise SearchError(f"{kind}={raw}: {source!r} is not a type served here")
    param = PARAMETERS[source].get(name)
    if param is None or not param.targets:
        followable = sorted(f"{source}:{p.name}" for p in PARAMETERS[source].values() if p.targets)
        raise SearchError(
            f"{kind}={raw}: {name!r} is not a reference parameter of {source} this server can "
            f"follow (it can follow: {', '.join(followable) or 'none'})"
        )
    if target is not None and target not in param.targets:
        raise SearchError(
            f"{kind}={raw}: {source}:{name} points to {', '.join(param.targets)}, not {target}"
        )
    iterate = INCLUDE_MODIFIERS[how]
    if kind == "_include" and not iterate and source != resource_type:
        return None
    if kind == "_revinclude" and not iterate and resource_type not in param.targets:
        raise SearchError(
            f"{kind}={raw}: {source}:{name} never points to {resource_type}, so it cannot "
            "find resources that refer to this search's results"
        )
    return Include(source, param, target, iterate)
