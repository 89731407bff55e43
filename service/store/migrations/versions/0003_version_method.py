"""Each version records the HTTP method that made it, and a delete is a version of its own.

- ``resource_version.method`` (POST | PUT | PATCH | DELETE). Existing versions get what
  history showed for them until now: version 1 POST, every later one PUT.
- ``resource_version.body`` may be NULL: a DELETE version has no content.
- an index on ``resource_version.last_updated`` for system-level history (every type,
  newest first).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SPARE = "_resource_version_0003"
COLUMNS = ("res_type", "res_id", "version_id", "last_updated", "content_hash")


def _method_of_old_versions() -> sa.ColumnElement[str]:
    """What history showed for a version before methods were recorded."""
    return sa.case((sa.column("version_id") == 1, "POST"), else_="PUT")


def _copy(source: str, target: str, *, methods: bool, backfill: bool) -> None:
    """``INSERT INTO target SELECT … FROM source``: the columns both have; ``backfill``
    makes up the method, and without ``methods`` the deletes stay behind."""
    names = [*COLUMNS, *(["method"] if methods else []), "body"]
    old = sa.table(source, *(sa.column(n) for n in names if n != "method" or not backfill))
    chosen: list[sa.ColumnElement[Any]] = [old.c[n] for n in COLUMNS]
    if methods:
        chosen.append(_method_of_old_versions() if backfill else old.c.method)
    chosen.append(old.c.body)
    query = sa.select(*chosen)
    if not methods:
        query = query.where(old.c.body.is_not(None))
    new = sa.table(target, *(sa.column(n) for n in names))
    op.execute(sa.insert(new).from_select(names, query))


def _text(length: int) -> sa.types.TypeEngine[str]:
    """Compares by code point: SQLite's default; the "C" collation on PostgreSQL."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _versions_table(name: str, *, methods: bool) -> None:
    """``resource_version`` as 0003 makes it (``methods``), or as it was before."""
    op.create_table(
        name,
        sa.Column("res_type", _text(64), nullable=False),
        sa.Column("res_id", _text(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", _text(32), nullable=False),
        sa.Column("content_hash", _text(64), nullable=False),
        *([sa.Column("method", _text(8), nullable=False)] if methods else []),
        sa.Column("body", sa.LargeBinary(), nullable=methods),
        sa.PrimaryKeyConstraint("res_type", "res_id", "version_id"),
    )


def _rebuild_on_sqlite(*, methods: bool) -> None:
    """SQLite cannot change a column's NULL constraint, so the table is rebuilt. Not with
    ``batch_alter_table``: the store's connections enforce foreign keys, the migration runs
    inside the write transaction (where ``PRAGMA foreign_keys`` cannot be turned off), and
    dropping the old table would orphan every ``resource_current`` row. With the checks
    deferred to the commit, the old table is copied aside, dropped, made anew under its own
    name (a rename would repoint the foreign keys that name it) and refilled: the refill
    gives every orphaned pointer its version back, so the commit finds nothing amiss (and
    fails, rolling everything back, if it did)."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    _versions_table(SPARE, methods=methods)
    _copy("resource_version", SPARE, methods=methods, backfill=methods)
    op.drop_table("resource_version")
    _versions_table("resource_version", methods=methods)
    _copy(SPARE, "resource_version", methods=methods, backfill=False)
    op.drop_table(SPARE)
    op.create_index(
        "ix_resource_version_type_updated", "resource_version", ["res_type", "last_updated"]
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(methods=True)
    else:
        op.add_column("resource_version", sa.Column("method", _text(8), nullable=True))
        versions = sa.table("resource_version", sa.column("method"), sa.column("version_id"))
        op.execute(sa.update(versions).values(method=_method_of_old_versions()))
        op.alter_column("resource_version", "method", nullable=False)
        op.alter_column("resource_version", "body", nullable=True)
    op.create_index("ix_resource_version_updated", "resource_version", ["last_updated"])


def downgrade() -> None:
    """Back to 0002, which has no place for a delete: delete versions are dropped (the
    resource stays deleted, its earlier versions kept)."""
    op.drop_index("ix_resource_version_updated", "resource_version")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(methods=False)
    else:
        op.execute("DELETE FROM resource_version WHERE body IS NULL")
        op.alter_column("resource_version", "body", nullable=False)
        op.drop_column("resource_version", "method")
