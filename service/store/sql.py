"""A parsed search, as SQL over the current versions and their search index.

Each clause becomes ``res_id IN (rows of the index matching it)`` so the database walks
the ``(res_type, param, key)`` index instead of every stored resource. ``key`` is the
truncated, indexed form; the full ``value``/``norm`` beside it decides the match.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, not_, or_, select, true

from service.search.query import Clause, DatePredicate, SearchQuery, Token, Value
from service.search.values import normalise

from . import schema

c = schema.current
ix = schema.search_index


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _exact(value: str) -> ColumnElement[bool]:
    return and_(ix.c.key == value[: schema.KEY_LENGTH], ix.c.value == value)


def _string(value: str, modifier: str | None) -> ColumnElement[bool]:
    norm = normalise(value)
    if modifier == "exact":
        return and_(ix.c.key == norm[: schema.KEY_LENGTH], ix.c.value == value)
    if modifier == "contains":
        return ix.c.norm.like(f"%{_like_escape(norm)}%", escape="\\")
    prefix = _like_escape(norm)
    return and_(
        ix.c.key.like(f"{_like_escape(norm[: schema.KEY_LENGTH])}%", escape="\\"),
        ix.c.norm.like(f"{prefix}%", escape="\\"),
    )


def _token(token: Token) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if token.code is not None:
        parts.append(_exact(token.code))
    if token.system == "":
        parts.append(ix.c.system.is_(None))
    elif token.system is not None:
        parts.append(ix.c.system == token.system)
    return and_(*parts)


def _date_match(
    low: ColumnElement[str], high: ColumnElement[str], predicate: DatePredicate
) -> ColumnElement[bool]:
    """Resource range [low, high) against the search range, per R4's prefix semantics."""
    p_low, p_high = predicate.range.low, predicate.range.high
    within = and_(low >= p_low, high <= p_high)
    return {
        "eq": within,
        "ne": not_(within),
        "gt": high > p_high,
        "lt": low < p_low,
        "ge": or_(high > p_high, within),
        "le": or_(low < p_low, within),
        "sa": low >= p_high,
        "eb": high <= p_low,
        "ap": and_(low <= p_high, high >= p_low),
    }[predicate.prefix]


def _value(clause: Clause, value: Value) -> ColumnElement[bool]:
    kind = clause.param.type
    if isinstance(value, Token):
        return _token(value)
    if isinstance(value, DatePredicate):
        return _date_match(ix.c.low, ix.c.high, value)
    if isinstance(value, str):
        if kind == "string":
            return _string(value, clause.modifier)
        return _exact(value)  # uri, reference, composite: the index holds every spelling
    raise TypeError(f"unexpected search value {value!r}")


def _matching_ids(resource_type: str, clause: Clause, condition: ColumnElement[bool]) -> object:
    return select(ix.c.res_id).where(
        ix.c.res_type == resource_type, ix.c.param == clause.param.name, condition
    )


def _column_clause(clause: Clause) -> ColumnElement[bool]:
    """``_id`` and ``_lastUpdated`` are columns of the current-version table."""
    if clause.modifier == "missing":
        return false() if clause.values[0] else true()
    if clause.param.name == "_id":
        matches = or_(*(c.c.res_id == v.code for v in clause.values if isinstance(v, Token)))
        return not_(matches) if clause.modifier == "not" else matches
    return or_(
        *(
            _date_match(c.c.last_updated, c.c.last_updated, v)
            for v in clause.values
            if isinstance(v, DatePredicate)
        )
    )


def _clause(resource_type: str, clause: Clause) -> ColumnElement[bool]:
    if clause.param.extract is None:
        return _column_clause(clause)
    if clause.modifier == "missing":
        present = c.c.res_id.in_(_matching_ids(resource_type, clause, true()))  # type: ignore[arg-type]
        return not_(present) if clause.values[0] else present
    matches = or_(*(_value(clause, v) for v in clause.values))
    ids = _matching_ids(resource_type, clause, matches)
    if clause.modifier == "not":
        return c.c.res_id.not_in(ids)  # type: ignore[arg-type]
    return c.c.res_id.in_(ids)  # type: ignore[arg-type]


def search_conditions(query: SearchQuery) -> list[ColumnElement[bool]]:
    return [_clause(query.resource_type, clause) for clause in query.clauses]


_SORT_COLUMNS = {
    "_id": c.c.res_id,
    "_lastUpdated": c.c.last_updated,
    "title": c.c.sort_title,
    "date": c.c.sort_date,
    "version": c.c.sort_version,
}


def sort_columns(query: SearchQuery) -> list[ColumnElement[object]]:
    """The requested order, then the id, so pages never overlap or skip."""
    columns: list[ColumnElement[object]] = []
    for key, descending in query.sort:
        column = _SORT_COLUMNS[key]
        columns.append((column.desc() if descending else column.asc()).nulls_last())
    columns.append(c.c.res_id.asc())
    return columns
