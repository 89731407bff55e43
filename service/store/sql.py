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
    FromClause,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)

from service.search.query import Clause, DatePredicate, SearchQuery, Token, Value
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


def _clause_shape(clause: Clause) -> tuple[Any, ...]:
    if clause.link is not None:
        link = clause.link
        return (
            clause.param.name,
            (link.direction, link.other, link.ref.canonical, _clause_shape(link.inner)),
            None,
            (),
        )
    return (
        clause.param.name,
        clause.param.extract is None,
        clause.modifier,
        tuple(
            ("missing", value) if isinstance(value, bool) else _value_shape(clause, value)
            for value in clause.values
        ),
    )


def shape(query: SearchQuery) -> tuple[Any, ...]:
    clauses = tuple(_clause_shape(clause) for clause in query.clauses)
    return (query.resource_type, clauses, query.sort)


def _clause_literals(clause: Clause, values: list[Any]) -> None:
    if clause.link is not None:
        _clause_literals(clause.link.inner, values)
        return
    if clause.modifier == "missing":
        return
    for value in clause.values:
        if clause.param.extract is None and isinstance(value, Token):
            values.append(value.code)
        else:
            values.extend(_value_literals(clause, value))


def literals(query: SearchQuery) -> dict[str, Any]:
    """Bound values, named ``p0, p1, …`` in the order ``build`` binds them."""
    values: list[Any] = []
    for clause in query.clauses:
        _clause_literals(clause, values)
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


def _value(value_shape: tuple[Any, ...], bind: _Binder, ix: FromClause = ix) -> ColumnElement[bool]:
    kind = value_shape[0]
    if kind == "token":
        _, has_code, system = value_shape
        parts: list[ColumnElement[bool]] = []
        if has_code:
            parts += [ix.c.key == bind(), ix.c.value == bind()]
        if system == "none":
            parts.append(ix.c.system.is_(None))
        elif system == "given":
            parts.append(ix.c.system == bind())
        return and_(*parts)
    if kind == "date":
        return _date_match(ix.c.low, ix.c.high, value_shape[1], bind(), bind())
    if kind == "string" and value_shape[1] == "contains":
        return ix.c.norm.like(bind(), escape="\\")
    if kind == "string" and value_shape[1] is None:
        return and_(ix.c.key.like(bind(), escape="\\"), ix.c.norm.like(bind(), escape="\\"))
    return and_(ix.c.key == bind(), ix.c.value == bind())  # exact, uri, reference, composite


def _column_clause(
    name: str, modifier: str | None, values: tuple[Any, ...], bind: _Binder, c: FromClause = c
) -> ColumnElement[bool]:
    """``_id`` and ``_lastUpdated`` are columns of the current-version table."""
    if modifier == "missing":
        return false() if values[0][1] else true()
    if name == "_id":
        matches = or_(*(c.c.res_id == bind() for _ in values))
        return not_(matches) if modifier == "not" else matches
    return or_(
        *(
            _date_match(c.c.last_updated, c.c.last_updated, value[1], bind(), bind())
            for value in values
        )
    )


@dataclass(frozen=True)
class _Scope:
    """Which resources a clause filters: the current-version table (or an alias of it), the
    search index alias to look their rows up in, and their type (a bound parameter at the
    top level, a constant inside a chain)."""

    current: FromClause
    index: FromClause
    res_type: Any
    type_name: str


def _clause(clause_shape: tuple[Any, ...], bind: _Binder, scope: _Scope) -> ColumnElement[bool]:
    name, on_columns, modifier, values = clause_shape
    if isinstance(on_columns, tuple):
        return _linked(name, on_columns, bind, scope)
    if on_columns:
        return _column_clause(name, modifier, values, bind, scope.current)
    index = scope.index

    def ids(condition: ColumnElement[bool]) -> Any:
        return select(index.c.res_id).where(
            index.c.res_type == scope.res_type, index.c.param == name, condition
        )

    cur = scope.current
    if modifier == "missing":
        present = cur.c.res_id.in_(ids(true()))
        return not_(present) if values[0][1] else present
    matches = or_(*(_value(value, bind, index) for value in values))
    return (
        cur.c.res_id.not_in(ids(matches)) if modifier == "not" else cur.c.res_id.in_(ids(matches))
    )


def _linked(ref: str, link: tuple[Any, ...], bind: _Binder, scope: _Scope) -> ColumnElement[bool]:
    """A chain or ``_has`` clause: sub-selects over fresh aliases (never correlated with the
    enclosing query). Canonical references are matched against the other side's ``url``
    index rows; ``Type/id`` references against the type and id."""
    direction, other, canonical, inner_shape = link
    other_current = c.alias()
    inner_scope = _Scope(other_current, ix.alias(), other, other)
    matching = [other_current.c.res_type == other, _clause(inner_shape, bind, inner_scope)]
    other_ids = select(other_current.c.res_id).where(*matching)
    refs = ix.alias()
    urls = ix.alias()
    if direction == "chain":
        # the values ``ref`` may hold to point at a matching ``other`` resource
        if canonical:
            pointed: Any = select(urls.c.value).where(
                urls.c.res_type == other, urls.c.param == "url", urls.c.res_id.in_(other_ids)
            )
        else:
            pointed = select(_typed_id(other, other_current)).where(*matching)
        return scope.current.c.res_id.in_(
            select(refs.c.res_id).where(
                refs.c.res_type == scope.res_type,
                refs.c.param == ref,
                refs.c.value.in_(pointed),
            )
        )
    # _has: the values ``other``'s ``ref`` holds, from the matching ``other`` resources
    held = select(refs.c.value).where(
        refs.c.res_type == other, refs.c.param == ref, refs.c.res_id.in_(other_ids)
    )
    if canonical:
        return scope.current.c.res_id.in_(
            select(urls.c.res_id).where(
                urls.c.res_type == scope.res_type, urls.c.param == "url", urls.c.value.in_(held)
            )
        )
    return _typed_id(scope.type_name, scope.current).in_(held)


def _typed_id(type_name: str, current: FromClause) -> ColumnElement[str]:
    """``Type/id`` of a row, as a relative reference reads (the type is one of the served
    type names, never client text)."""
    return literal_column(f"'{type_name}/'", String).concat(current.c.res_id)


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
    resource_type, clauses, sort = query_shape
    bind = _Binder()
    scope = _Scope(c, ix, bindparam("res_type"), resource_type)
    conditions = [c.c.res_type == bindparam("res_type")]
    conditions += [_clause(clause_shape, bind, scope) for clause_shape in clauses]
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
