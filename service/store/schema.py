"""Tables: every version of every resource, a pointer to each current version, and the
search index of current versions.

Bodies are stored as the exact JSON bytes served, so a read never re-serializes.
Timestamps are ISO text in UTC with a fixed width (``service.search.values``), which
compares correctly as text on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
)

metadata = MetaData()

# Indexed search keys are cut to this many characters (btree entries have a size limit on
# PostgreSQL); the full value sits beside it and decides every match.
KEY_LENGTH = 191

versions = Table(
    "resource_version",
    metadata,
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", String(32), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    PrimaryKeyConstraint("res_type", "res_id", "version_id"),
    Index("ix_resource_version_type_updated", "res_type", "last_updated"),
)

current = Table(
    "resource_current",
    metadata,
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", String(32), nullable=False),
    Column("content_hash", String(64), nullable=False),
    # Sort keys (``_sort``): normalised title, the start of ``date``, the version.
    Column("sort_title", String(KEY_LENGTH)),
    Column("sort_date", String(32)),
    Column("sort_version", String(KEY_LENGTH)),
    PrimaryKeyConstraint("res_type", "res_id"),
    ForeignKeyConstraint(
        ["res_type", "res_id", "version_id"],
        ["resource_version.res_type", "resource_version.res_id", "resource_version.version_id"],
    ),
    Index("ix_resource_current_updated", "res_type", "last_updated"),
    Index("ix_resource_current_title", "res_type", "sort_title"),
)

search_index = Table(
    "search_index",
    metadata,
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("key", String(KEY_LENGTH)),
    Column("system", Text),
    Column("value", Text),
    Column("norm", Text),
    Column("low", String(32)),
    Column("high", String(32)),
    ForeignKeyConstraint(
        ["res_type", "res_id"],
        ["resource_current.res_type", "resource_current.res_id"],
    ),
    Index("ix_search_index_key", "res_type", "param", "key"),
    Index("ix_search_index_date", "res_type", "param", "low", "high"),
    Index("ix_search_index_resource", "res_type", "res_id"),
)

# Each current version joined to its row (and body) in ``resource_version``.
current_versions = current.join(
    versions,
    and_(
        versions.c.res_type == current.c.res_type,
        versions.c.res_id == current.c.res_id,
        versions.c.version_id == current.c.version_id,
    ),
)
