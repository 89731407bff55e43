"""A parsed search, as SQL over the current versions and their search index.

Each clause becomes ``res_id IN (rows of the index matching it)``, so the database walks
the ``(res_type, param, key)`` index instead of every stored resource. ``key`` is the
truncated, indexed form; the full ``value``/``norm`` beside it decides the match.

Building a SQLAlchemy statement costs far more than running it, so a search is split into
its *shape* (which parameters, modifiers, prefixes, how many OR values, which sort) and
its *literals*. Statements are built and compiled once per shape, with a bound parameter
for every literal; ``literals`` produces the values in exactly the order ``build`` binds
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from service.search.query import (
    Chain,
    Clause,
    Criterion,
    DatePredicate,
    Has,
    SearchQuery,
    Token,
    Value,
)
from service.search.values import normalise

from . import schema

c = schema.current
v = schema.versions
ix = schema.search_index
K = schema.KEY_LENGTH


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- shapes and literals --------------------------------------------------------------------


def _value_shape(clause: Clause, value: Value) -> tuple[Any, ...]:
    if isinstance(value, Token):
        system = "any" if value.system is None else "none" if value.system == "" else "given"
        return ("token", value.code is not None, system)
    if isinstance(value, DatePredicate):
        return ("date", value.prefix)
    if clause.param.type == "string":
        return ("string", clause.modifier)
    return ("exact",)


def _value_literals(clause: Clause, value: Value) -> Iterator[str]:
    if isinstance(value, Token):
        if value.code is not None:
            yield from (value.code[:K], value.code)
        if value.system:
            yield value.system
    elif isinstance(value, DatePredicate):
        yield from (value.range.low, value.range.high)
    elif isinstance(value, str):
        if clause.param.type != "string":
            yield from (value[:K], value)
            return
        norm = normalise(value)
        if clause.modifier == "exact":
            yield from (norm[:K], value)
        elif clause.modifier == "contains":
            yield f"%{_like_escape(norm)}%"
        else:
            yield from (f"{_like_escape(norm[:K])}%", f"{_like_escape(norm)}%")


def _criterion_shape(criterion: Criterion) -> tuple[Any, ...]:
    if isinstance(criterion, Chain):
        branches = tuple((t, _criterion_shape(inner)) for t, inner in criterion.branches)
        return ("chain", criterion.param.name, criterion.param.canonical, branches)
    if isinstance(criterion, Has):
        inner = _criterion_shape(criterion.criterion)
        return ("has", criterion.source, criterion.param.name, criterion.param.canonical, inner)
    return (
        "clause",
        criterion.param.name,
        criterion.param.extract is None,
        criterion.modifier,
        tuple(
            ("missing", value) if isinstance(value, bool) else _value_shape(criterion, value)
            for value in criterion.values
        ),
    )


def shape(query: SearchQuery) -> tuple[Any, ...]:
    clauses = tuple(_criterion_shape(criterion) for criterion in query.clauses)
    return (query.resource_type, clauses, query.sort)


def _criterion_literals(criterion: Criterion) -> Iterator[Any]:
    """A criterion's bound values, in the order ``_criterion`` binds them."""
    if isinstance(criterion, Chain):
        for _target, inner in criterion.branches:
            yield from _criterion_literals(inner)
        return
    if isinstance(criterion, Has):
        yield from _criterion_literals(criterion.criterion)
        return
    if criterion.modifier == "missing":
        return
    for value in criterion.values:
        if criterion.param.extract is None and isinstance(value, Token):
            yield value.code
        else:
            yield from _value_literals(criterion, value)


def literals(query: SearchQuery) -> dict[str, Any]:
    """Bound values, named ``p0, p1, …`` in the order ``build`` binds them."""
    values = [value for criterion in query.clauses for value in _criterion_literals(criterion)]
    bound = {f"p{n}": value for n, value in enumerate(values)}
    bound.update(res_type=query.resource_type, limit=query.count + 1, offset=query.offset)
    return bound


# --- building statements from a shape --------------------------------------------------------


class _Binder:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> Any:
        param: Any = bindparam(f"p{self.n}")
        self.n += 1
        return param


def _date_match(low: Any, high: Any, prefix: str, p_low: Any, p_high: Any) -> ColumnElement[bool]:
    """Resource range [low, high) against the search range, per R4's prefix semantics."""
    within: ColumnElement[bool] = and_(low >= p_low, high <= p_high)
    result: ColumnElement[bool]
    match prefix:
        case "eq":
            result = within
        case "ne":
            result = not_(within)
        case "gt":
            result = high > p_high
        case "lt":
            result = low < p_low
        case "ge":
            result = or_(high > p_high, within)
        case "le":
            result = or_(low < p_low, within)
        case "sa":
            result = low >= p_high
        case "eb":
            result = high <= p_low
        case _:  # ap: the ranges meet
            result = and_(low <= p_high, high >= p_low)
    return result


def _value(value_shape: tuple[Any, ...], bind: _Binder, row: Any) -> ColumnElement[bool]:
    """One value against ``row``, an alias of the search index."""
    kind = value_shape[0]
    if kind == "token":
        _, has_code, system = value_shape
        parts: list[ColumnElement[bool]] = []
        if has_code:
            parts += [row.c.key == bind(), row.c.value == bind()]
        if system == "none":
            parts.append(row.c.system.is_(None))
        elif system == "given":
            parts.append(row.c.system == bind())
        return and_(*parts)
    if kind == "date":
        return _date_match(row.c.low, row.c.high, value_shape[1], bind(), bind())
    if kind == "string" and value_shape[1] == "contains":
        contains: ColumnElement[bool] = row.c.norm.like(bind(), escape="\\")
        return contains
    if kind == "string" and value_shape[1] is None:
        return and_(row.c.key.like(bind(), escape="\\"), row.c.norm.like(bind(), escape="\\"))
    return and_(row.c.key == bind(), row.c.value == bind())  # exact, uri, reference, composite


@dataclass(frozen=True)
class _Scope:
    """The resources a criterion filters: a (possibly aliased) current-version table, and
    the SQL expression of their type (a bound value, a literal, or the row's own column in a
    search over several types)."""

    rows: Any
    type: Any


def _column_clause(
    scope: _Scope, name: str, modifier: str | None, values: tuple[Any, ...], bind: _Binder
) -> ColumnElement[bool]:
    """``_id`` and ``_lastUpdated`` are columns of the current-version table."""
    rows = scope.rows
    if modifier == "missing":
        return false() if values[0][1] else true()
    if name == "_id":
        matches = or_(*(rows.c.res_id == bind() for _ in values))
        return not_(matches) if modifier == "not" else matches
    return or_(
        *(
            _date_match(rows.c.last_updated, rows.c.last_updated, value[1], bind(), bind())
            for value in values
        )
    )


def _criterion(scope: _Scope, criterion_shape: tuple[Any, ...], bind: _Binder) -> Any:
    kind, *rest = criterion_shape
    if kind == "chain":
        return _chain(scope, *rest, bind=bind)
    if kind == "has":
        return _has(scope, *rest, bind=bind)
    name, on_columns, modifier, values = rest
    if on_columns:
        return _column_clause(scope, name, modifier, values, bind)
    row = ix.alias()

    def ids(condition: ColumnElement[bool]) -> Any:
        return select(row.c.res_id).where(
            row.c.res_type == scope.type, row.c.param == name, condition
        )

    if modifier == "missing":
        present = scope.rows.c.res_id.in_(ids(true()))
        return not_(present) if values[0][1] else present
    matches = or_(*(_value(value, bind, row) for value in values))
    if modifier == "not":
        return scope.rows.c.res_id.not_in(ids(matches))
    return scope.rows.c.res_id.in_(ids(matches))


def _matching(resource_type: str, criterion_shape: tuple[Any, ...], bind: _Binder) -> Any:
    """An alias of the current-version table and the condition that keeps, of its rows,
    the resources of ``resource_type`` meeting the criterion."""
    rows = c.alias()
    kind = literal(resource_type, String)
    condition = and_(rows.c.res_type == kind, _criterion(_Scope(rows, kind), criterion_shape, bind))
    return rows, condition


def _pointer(rows: Any) -> Any:
    """``Type/id`` of a current-version row: what a literal reference to it holds. At most
    129 characters (type and id are 64 at most), so it equals a stored reference's ``key``
    exactly when it equals the reference, and the ``key`` index finds it."""
    return rows.c.res_type + literal("/", String) + rows.c.res_id


def _names_canonical(reference: Any, url: Any, version: Any) -> ColumnElement[bool]:
    """Whether a canonical reference row names the resource of ``url`` (and, through an
    outer join, ``version``): ``url|version``, or the bare ``url`` when the referrer pins
    that url to no version (the index holds the bare url of pinned canonicals too). A
    resource that refers to one url both pinned and unpinned is matched by its pin only."""
    pinned = ix.alias()
    pins_this_url = (
        select(pinned.c.res_id)
        .where(
            pinned.c.res_type == reference.c.res_type,
            pinned.c.res_id == reference.c.res_id,
            pinned.c.param == reference.c.param,
            pinned.c.value > reference.c.value + literal("|", String),
            pinned.c.value < reference.c.value + literal("}", String),  # "|" + 1
        )
        .exists()
    )
    return or_(
        reference.c.value == url.c.value + literal("|", String) + version.c.value,
        and_(reference.c.value == url.c.value, not_(pins_this_url)),
    )


def _canonical_rows(rows: Any) -> tuple[Any, Any, Any, ColumnElement[bool]]:
    """The url row of each resource of ``rows``, outer-joined to its version row, and the
    condition tying them to it (left in WHERE, so ``rows`` can be an outer query's)."""
    url, version = ix.alias(), ix.alias()
    joined = url.outerjoin(
        version,
        and_(
            version.c.res_type == url.c.res_type,
            version.c.res_id == url.c.res_id,
            version.c.param == literal("version", String),
        ),
    )
    tied = and_(
        url.c.res_type == rows.c.res_type,
        url.c.res_id == rows.c.res_id,
        url.c.param == literal("url", String),
    )
    return joined, url, version, tied


def _chain(
    scope: _Scope,
    name: str,
    canonical: bool,
    branches: tuple[tuple[str, tuple[Any, ...]], ...],
    *,
    bind: _Binder,
) -> ColumnElement[bool]:
    """Resources whose reference ``name`` points to a resource a branch matches."""
    alternatives = []
    for target_type, inner in branches:
        target, condition = _matching(target_type, inner, bind)
        reference = ix.alias()
        mine = and_(reference.c.res_type == scope.type, reference.c.param == name)
        if canonical:
            rows, url, version, tied = _canonical_rows(target)
            joined = target.join(rows, tied)
            points = _names_canonical(reference, url, version)
        else:
            joined, points = target, reference.c.key == _pointer(target)
        referrers = (
            select(reference.c.res_id)
            .select_from(joined.join(reference, and_(mine, points)))
            .where(condition)
        )
        alternatives.append(scope.rows.c.res_id.in_(referrers))
    return or_(*alternatives)


def _has(
    scope: _Scope,
    source_type: str,
    name: str,
    canonical: bool,
    inner: tuple[Any, ...],
    *,
    bind: _Binder,
) -> ColumnElement[bool]:
    """Resources that some ``source_type`` resource meeting ``inner`` points to through
    its reference ``name``."""
    source, condition = _matching(source_type, inner, bind)
    reference = ix.alias()
    theirs = and_(
        reference.c.res_type == source.c.res_type,
        reference.c.res_id == source.c.res_id,
        reference.c.param == literal(name, String),
    )
    joined = source.join(reference, theirs)
    if canonical:
        rows, url, version, tied = _canonical_rows(scope.rows)
        points = and_(tied, _names_canonical(reference, url, version))
        joined = joined.join(rows, true())
    else:
        points = reference.c.key == _pointer(scope.rows)
    return select(reference.c.res_id).select_from(joined).where(condition, points).exists()


_SORT_COLUMNS = {
    "_id": c.c.res_id,
    "_lastUpdated": c.c.last_updated,
    "title": c.c.sort_title,
    "date": c.c.sort_date,
    "version": c.c.sort_version,
}


@dataclass(frozen=True)
class SearchStatements:
    rows: Select[Any]
    """Matching current versions, one page (+1 to tell whether more follow), each row with
    the total count of matches."""
    count: Select[Any]


def build(query_shape: tuple[Any, ...]) -> SearchStatements:
    _resource_type, clauses, sort = query_shape
    bind = _Binder()
    scope = _Scope(c, bindparam("res_type"))
    conditions = [c.c.res_type == scope.type]
    conditions += [_criterion(scope, clause, bind) for clause in clauses]
    order = [
        (_SORT_COLUMNS[key].desc() if descending else _SORT_COLUMNS[key].asc()).nulls_last()
        for key, descending in sort
    ]
    order.append(c.c.res_id.asc())  # a total order, so pages never overlap or skip
    rows = (
        select(
            c.c.res_id,
            v.c.version_id,
            v.c.last_updated,
            v.c.body,
            func.count().over().label("total"),
        )
        .select_from(schema.current_versions)
        .where(*conditions)
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    count = select(func.count()).select_from(c).where(*conditions)
    return SearchStatements(rows, count)


def system_shape(types: tuple[str, ...], query: SearchQuery) -> tuple[Any, ...]:
    """The shape of a search over several types (``GET [base]?_type=``)."""
    return ("system", types, shape(query)[1], query.sort)


def build_system(query_shape: tuple[Any, ...]) -> SearchStatements:
    """As ``build``, over the current versions of several types: each criterion compares
    index rows of the resource's own type, and rows carry their type first."""
    _, types, clauses, sort = query_shape
    bind = _Binder()
    scope = _Scope(c, c.c.res_type)
    conditions = [or_(*(c.c.res_type == literal(t, String) for t in types))]
    conditions += [_criterion(scope, clause, bind) for clause in clauses]
    order = [
        (_SORT_COLUMNS[key].desc() if descending else _SORT_COLUMNS[key].asc()).nulls_last()
        for key, descending in sort
    ]
    order += [c.c.res_type.asc(), c.c.res_id.asc()]  # a total order across types
    rows = (
        select(
            c.c.res_type,
            c.c.res_id,
            v.c.version_id,
            v.c.last_updated,
            v.c.body,
            func.count().over().label("total"),
        )
        .select_from(schema.current_versions)
        .where(*conditions)
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    count = select(func.count()).select_from(c).where(*conditions)
    return SearchStatements(rows, count)
