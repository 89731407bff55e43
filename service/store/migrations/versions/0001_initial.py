"""The first schema: resource versions, current-version pointers, the search index.

Identical, on SQLite, to what the store created before it had migrations; a database
created then is adopted at this revision (``service.store.migrate``).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

KEY_LENGTH = 191


def _text(length: int | None = None) -> sa.types.TypeEngine[str]:
    """Compares by code point: SQLite's default; the "C" collation on PostgreSQL."""
    if length is None:
        return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resource_version",
        sa.Column("res_type", _text(64), nullable=False),
        sa.Column("res_id", _text(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", _text(32), nullable=False),
        sa.Column("content_hash", _text(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("res_type", "res_id", "version_id"),
    )
    op.create_index(
        "ix_resource_version_type_updated", "resource_version", ["res_type", "last_updated"]
    )
    op.create_table(
        "resource_current",
        sa.Column("res_type", _text(64), nullable=False),
        sa.Column("res_id", _text(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", _text(32), nullable=False),
        sa.Column("content_hash", _text(64), nullable=False),
        sa.Column("sort_title", _text(KEY_LENGTH)),
        sa.Column("sort_date", _text(32)),
        sa.Column("sort_version", _text(KEY_LENGTH)),
        sa.PrimaryKeyConstraint("res_type", "res_id"),
        sa.ForeignKeyConstraint(
            ["res_type", "res_id", "version_id"],
            [
                "resource_version.res_type",
                "resource_version.res_id",
                "resource_version.version_id",
            ],
        ),
    )
    op.create_index("ix_resource_current_updated", "resource_current", ["res_type", "last_updated"])
    op.create_index("ix_resource_current_title", "resource_current", ["res_type", "sort_title"])
    op.create_table(
        "search_index",
        sa.Column("res_type", _text(64), nullable=False),
        sa.Column("res_id", _text(64), nullable=False),
        sa.Column("param", _text(64), nullable=False),
        sa.Column("key", _text(KEY_LENGTH)),
        sa.Column("system", _text()),
        sa.Column("value", _text()),
        sa.Column("norm", _text()),
        sa.Column("low", _text(32)),
        sa.Column("high", _text(32)),
        sa.ForeignKeyConstraint(
            ["res_type", "res_id"], ["resource_current.res_type", "resource_current.res_id"]
        ),
    )
    op.create_index("ix_search_index_key", "search_index", ["res_type", "param", "key"])
    op.create_index("ix_search_index_date", "search_index", ["res_type", "param", "low", "high"])
    op.create_index("ix_search_index_resource", "search_index", ["res_type", "res_id"])


def downgrade() -> None:
    op.drop_table("search_index")
    op.drop_table("resource_current")
    op.drop_table("resource_version")
