"""Schema migrations (Alembic): bring a database to the latest revision, or tell how far
it is from it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, column, inspect, select, table

MIGRATIONS = Path(__file__).with_name("migrations")

_VERSION_TABLE = "alembic_version"  # Alembic's default

# The revision whose tables the store created before it had migrations.
_BASELINE = "0001"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The latest revision."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return revision


def revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated). Read from Alembic's table
    directly: readiness probes ask on every call, and a migration context would log two
    lines each time."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    version = table(_VERSION_TABLE, column("version_num"))
    found = connection.execute(select(version.c.version_num)).scalars().all()
    if len(found) > 1:  # a branched history: let Alembic say what it is
        return MigrationContext.configure(connection).get_current_revision()
    return found[0] if found else None


def upgrade(connection: Connection) -> bool:
    """Bring the schema to the latest revision on ``connection``, whose transaction must
    hold the write lock. Returns whether anything changed."""
    current = revision(connection)
    if current == head():
        return False
    if current is None and inspect(connection).has_table("resource_current"):
        # Created before migrations existed: adopt it at the revision of those tables.
        command.stamp(_config(connection), _BASELINE)
    command.upgrade(_config(connection), "head")
    return True
