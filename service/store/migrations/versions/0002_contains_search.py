"""Indexes for ``:contains`` string searches (``title:contains=…``), which match anywhere
in a value (``norm LIKE '%…%'``) and so cannot seek the ``key`` index.

- PostgreSQL: a trigram GIN index (``pg_trgm``, a trusted extension shipped with the
  server) over the normalised values, which serves ``LIKE '%abc%'`` for patterns of three
  or more characters.
- SQLite: a covering index of (type, parameter, value, id), so the scan of one parameter's
  values reads the index alone instead of every index row's table page.

Both are specific to their backend, so they are not in ``schema.metadata``; the schema test
leaves them out of its comparison by name (``CONTAINS_INDEXES``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIGRAM = "ix_search_index_norm_trgm"
COVERING = "ix_search_index_norm"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            TRIGRAM,
            "search_index",
            ["norm"],
            postgresql_using="gin",
            postgresql_ops={"norm": "gin_trgm_ops"},
            postgresql_where="norm IS NOT NULL",
        )
    else:
        op.create_index(COVERING, "search_index", ["res_type", "param", "norm", "res_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(TRIGRAM, "search_index")
    else:
        op.drop_index(COVERING, "search_index")
