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
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from mappings.numbers import strict_int

from .params import PARAMETERS, RESOURCE_TYPES, SORT_KEYS, SearchParam
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
MAX_LINKS = 3
"""References one parameter may follow, chained (``a.b.c``) and reverse-chained (``_has``)
together; beyond them a search is refused (400)."""


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


@dataclass(frozen=True)
class Chain:
    """``param[:Type].rest`` (R4 chaining): resources whose reference ``param`` points to a
    resource of a branch's type that meets the branch's criterion. Without ``:Type`` there
    is a branch for every target type that has the chained parameter."""

    param: SearchParam
    branches: tuple[tuple[str, Criterion], ...]


@dataclass(frozen=True)
class Has:
    """``_has:source:param:rest`` (R4 reverse chaining): resources that some ``source``
    resource meeting ``criterion`` points to through its reference ``param``."""

    source: str
    param: SearchParam
    criterion: Criterion


Criterion = Clause | Chain | Has
"""One parameter occurrence of a search: criteria are ANDed."""


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
    clauses: tuple[Criterion, ...] = ()
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


def _local_reference(value: str, base: str | None) -> str:
    """An absolute reference on this server's own base (``{base}/Medication/x``) names the
    same resource as the relative ``Medication/x`` the store holds (R4 search.html,
    reference). Any other URL is compared as written."""
    if base:
        prefix = f"{base.rstrip('/')}/"
        if value.startswith(prefix):
            local = value[len(prefix) :]
            resource_type, slash, resource_id = local.partition("/")
            if slash and resource_type in RESOURCE_TYPES and resource_id and "/" not in resource_id:
                return local
    return value


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
        elif param.type == "reference" and not param.canonical:
            values.append(_local_reference(_unescape(item), base))
        else:
            values.append(_unescape(item))
    return tuple(values)


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
    """``base``: this server's FHIR base URL, so that absolute references on it match."""
    clauses: list[Criterion] = []
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
        criterion = _criterion(resource_type, name, raw, base, 0)
        if criterion is None:
            if strict:
                unknown = name.partition(":")[0].partition(".")[0]
                raise SearchError(f"unknown search parameter {unknown!r} for {resource_type}")
            ignored.append(name)
            if len(clauses) + len(ignored) > MAX_CLAUSES:
                raise SearchError(f"more than {MAX_CLAUSES} search parameters in one search")
            continue
        clauses.append(criterion)
        if sum(map(_leaves, clauses)) + len(ignored) > MAX_CLAUSES:
            raise SearchError(
                f"more than {MAX_CLAUSES} search parameters in one search (a chain counts "
                "once for each type it follows)"
            )
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


def _criterion(
    resource_type: str, name: str, raw: str, base: str | None, links: int
) -> Criterion | None:
    """The criterion ``name=raw`` sets on ``resource_type``; None when ``name`` is not one
    of its parameters (the caller ignores it, or refuses it under strict handling).
    Chained parameters and ``_has`` are evaluated, or refused with a 400 that names them:
    dropping one would answer every resource as if it had matched."""
    if name == "_has" or name.startswith("_has:"):
        return _reverse_chain(resource_type, name, raw, base, links)
    head, dot, rest = name.partition(".")
    param_name, _, modifier = head.partition(":")
    param = PARAMETERS[resource_type].get(param_name)
    if param is None:
        return None
    if dot:
        return _chain(resource_type, param, modifier, rest, raw, base, links)
    if modifier and modifier not in param.modifiers:
        raise SearchError(f"modifier :{modifier} is not supported on {param_name} ({param.type})")
    values = _values(param, modifier or None, raw, base)
    if len(values) > MAX_VALUES:
        raise SearchError(
            f"{param_name} has {len(values)} values; at most {MAX_VALUES} are allowed"
        )
    return Clause(param, modifier or None, values)


def _leaves(criterion: Criterion) -> int:
    """What a criterion weighs against ``MAX_CLAUSES``: a chain, once per type it follows
    (each is a sub-select of its own)."""
    if isinstance(criterion, Chain):
        return sum(_leaves(inner) for _target, inner in criterion.branches)
    if isinstance(criterion, Has):
        return _leaves(criterion.criterion)
    return 1


def _too_deep(written: str, links: int) -> None:
    if links >= MAX_LINKS:
        raise SearchError(
            f"{written!r} follows more than {MAX_LINKS} references (chained and _has "
            "together); that is not supported here"
        )


def _chain(
    resource_type: str,
    param: SearchParam,
    modifier: str,
    rest: str,
    raw: str,
    base: str | None,
    links: int,
) -> Chain:
    written = f"{param.name}{':' + modifier if modifier else ''}.{rest}"
    _too_deep(written, links)
    if param.type != "reference":
        raise SearchError(
            f"chained parameter {written!r}: {param.name} is a {param.type} parameter of "
            f"{resource_type}, and only a reference parameter can be chained"
        )
    if not param.targets:
        raise SearchError(
            f"chained parameter {written!r}: {param.name} points to types not served here, "
            "so the chain cannot be followed; this chain is not supported"
        )
    if modifier and modifier not in param.targets:
        raise SearchError(
            f"chained parameter {written!r}: the only modifier a chain takes is the type "
            f"it follows to ({', '.join(param.targets)}); :{modifier} is not supported"
        )
    targets = (modifier,) if modifier else param.targets
    branches: list[tuple[str, Criterion]] = []
    for target in targets:
        criterion = _criterion(target, rest, raw, base, links + 1)
        if criterion is not None:
            branches.append((target, criterion))
    chained = rest.partition(".")[0].partition(":")[0]
    if not branches:
        raise SearchError(
            f"chained parameter {written!r}: {chained!r} is not a search parameter of "
            f"{' or '.join(targets)}; this chain is not supported"
        )
    kinds = {target: _kind(criterion) for target, criterion in branches}
    if len(set(kinds.values())) > 1:
        found = ", ".join(f"a {kind} parameter of {target}" for target, kind in kinds.items())
        raise SearchError(
            f"chained parameter {written!r} is ambiguous: {chained} is {found}; name the "
            f"type, as {param.name}:{branches[0][0]}.{rest}"
        )
    return Chain(param, tuple(branches))


def _kind(criterion: Criterion) -> str:
    if isinstance(criterion, Clause):
        return criterion.param.type
    return "chained" if isinstance(criterion, Chain) else "_has"


def _reverse_chain(resource_type: str, name: str, raw: str, base: str | None, links: int) -> Has:
    parts = name.split(":", 3)
    if len(parts) != 4 or not all(parts[1:]):
        raise SearchError(
            f"{name!r}: _has takes the form _has:Type:reference-parameter:search-parameter"
        )
    _, source, ref_name, rest = parts
    _too_deep(name, links)
    if source not in PARAMETERS:
        raise SearchError(f"{name!r}: {source!r} is not a type served here")
    param = PARAMETERS[source].get(ref_name)
    if param is None or param.type != "reference":
        raise SearchError(
            f"{name!r}: {ref_name!r} is not a reference parameter of {source}; this _has is "
            "not supported"
        )
    if resource_type not in param.targets:
        raise SearchError(
            f"{name!r}: {source}:{ref_name} never points to {resource_type}, so this _has "
            "is not supported"
        )
    criterion = _criterion(source, rest, raw, base, links + 1)
    if criterion is None:
        raise SearchError(
            f"{name!r}: {rest.partition(':')[0].partition('.')[0]!r} is not a search "
            f"parameter of {source}; this _has is not supported"
        )
    return Has(source, param, criterion)


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


@dataclass(frozen=True)
class SystemSearch:
    """``GET [base]?_type=…``: the types searched, and the search as parsed for them."""

    types: tuple[str, ...]
    search: ParsedSearch
    named: bool
    """Whether the request gave ``_type`` (else every served type is searched)."""


def parse_system_search(
    pairs: Iterable[tuple[str, str]], *, strict: bool = False, base: str | None = None
) -> SystemSearch:
    """A search across types. Without ``_type`` it covers every served type. A parameter
    must be one every searched type has, with the same type (the common ``_id``,
    ``_lastUpdated``, ``_tag``…, or ``title`` for ``_type=PlanDefinition,
    ActivityDefinition``); one that only some have is a 400 naming it. Chains, ``_has``,
    ``_include`` and ``_revinclude`` need a single ``_type``."""
    pairs = list(pairs)
    given = [raw for name, raw in pairs if name == "_type"]
    if len(given) > 1:
        raise SearchError("_type is given more than once (list the types in one, with commas)")
    types = RESOURCE_TYPES
    if given:
        types = tuple(dict.fromkeys(t.strip() for t in given[0].split(",")))
        unknown = [t for t in types if t not in PARAMETERS]
        if unknown or not types:
            raise SearchError(
                f"_type={given[0]}: {', '.join(map(repr, unknown)) or 'no type'} is not a type "
                f"served here (served: {', '.join(RESOURCE_TYPES)})"
            )
    rest = [(name, raw) for name, raw in pairs if name != "_type"]
    if len(types) > 1:
        for name, raw in rest:
            _check_across(types, name, raw)
    parsed = parse_search(types[0], rest, strict=strict, base=base)
    return SystemSearch(types, parsed, bool(given))


def _check_across(types: tuple[str, ...], name: str, raw: str) -> None:
    """Refuse what a search of several types cannot evaluate for each of them."""
    several = ", ".join(types)
    if name in IGNORED_HERE:
        return
    if name == "_sort":
        for key in (k.strip().lstrip("-") for k in raw.split(",") if k.strip()):
            lacking = [t for t in types if key not in SORT_KEYS[t]]
            if lacking:
                raise SearchError(
                    f"cannot sort {', '.join(lacking)} by {key!r}: a search of several types "
                    "sorts on keys every one of them has (_id, _lastUpdated)"
                )
        return
    if name in RESULT_PARAMETERS:
        return
    kind = name.partition(":")[0]
    if kind in INCLUDE_PARAMETERS or kind == "_has" or "." in name:
        raise SearchError(
            f"{name} is not supported in a search of several types ({several}): give a single _type"
        )
    param_name = kind
    found = {t: PARAMETERS[t].get(param_name) for t in types}
    lacking = [t for t, p in found.items() if p is None]
    if lacking and len(lacking) < len(types):
        raise SearchError(
            f"search parameter {param_name!r} is not defined for {', '.join(lacking)}: a "
            f"search of several types ({several}) takes only parameters each of them has; "
            "narrow _type to use it"
        )
    if len({p.type for p in found.values() if p is not None}) > 1:
        raise SearchError(
            f"search parameter {param_name!r} has a different type on each of {several}; "
            "narrow _type to use it"
        )
