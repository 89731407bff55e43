"""Tables: every version of every resource, a pointer to each current version, and the
search index of current versions.

Bodies are stored as the exact JSON bytes served, so a read never re-serializes.
Timestamps are ISO text in UTC with a fixed width (``service.search.values``), which
compares correctly as text on SQLite and PostgreSQL alike. Text compares and sorts by code
point on both: SQLite's default, and the "C" collation on PostgreSQL (whose default follows
the server's locale, and whose btree indexes serve ``LIKE 'prefix%'`` only under "C").

The schema is created and changed by Alembic migrations (``migrations/``); these tables are
what the latest revision creates.
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


def _text(length: int | None = None) -> String:
    """A string column that compares by code point on every backend."""
    plain = String(length) if length is not None else Text()
    collated = String(length, collation="C") if length is not None else Text(collation="C")
    return plain.with_variant(collated, "postgresql")


# Indexed search keys are cut to this many characters (btree entries have a size limit on
# PostgreSQL); the full value sits beside it and decides every match.
KEY_LENGTH = 191

# What ``resource_version.method`` holds: the interaction that made each version.
METHODS = ("POST", "PUT", "PATCH", "DELETE")

versions = Table(
    "resource_version",
    metadata,
    Column("res_type", _text(64), nullable=False),
    Column("res_id", _text(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", _text(32), nullable=False),
    Column("content_hash", _text(64), nullable=False),
    # The HTTP method that made the version (``METHODS``); a DELETE has no body.
    Column("method", _text(8), nullable=False),
    Column("body", LargeBinary, nullable=True),
    PrimaryKeyConstraint("res_type", "res_id", "version_id"),
    Index("ix_resource_version_type_updated", "res_type", "last_updated"),
    Index("ix_resource_version_updated", "last_updated"),
)

current = Table(
    "resource_current",
    metadata,
    Column("res_type", _text(64), nullable=False),
    Column("res_id", _text(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", _text(32), nullable=False),
    Column("content_hash", _text(64), nullable=False),
    # Sort keys (``_sort``): normalised title, the start of ``date``, the version.
    Column("sort_title", _text(KEY_LENGTH)),
    Column("sort_date", _text(32)),
    Column("sort_version", _text(KEY_LENGTH)),
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
    Column("res_type", _text(64), nullable=False),
    Column("res_id", _text(64), nullable=False),
    Column("param", _text(64), nullable=False),
    Column("key", _text(KEY_LENGTH)),
    Column("system", _text()),
    Column("value", _text()),
    Column("norm", _text()),
    Column("low", _text(32)),
    Column("high", _text(32)),
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
