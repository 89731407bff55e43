"""Schema migrations (Alembic) on both backends: the latest revision builds exactly the
tables the store's code describes, a database made before migrations existed is adopted,
and upgrading is safe to repeat and to run from several processes at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from service.store import Store, make_engine, schema
from service.store.migrate import head, revision
from tests.store.conftest import activity

# Indexes that exist on one backend only, made by migration 0002 outside the models.
CONTAINS_INDEXES = {"ix_search_index_norm_trgm", "ix_search_index_norm"}


def _not_backend_specific(name: str | None, kind: str, _parent: object) -> bool:
    return not (kind == "index" and name in CONTAINS_INDEXES)


def test_contains_searches_have_their_index_on_each_backend(store: Store) -> None:
    with store.engine.connect() as connection:
        names = {index["name"] for index in inspect(connection).get_indexes("search_index")}
    expected = (
        "ix_search_index_norm_trgm"
        if store.engine.dialect.name == "postgresql"
        else "ix_search_index_norm"
    )
    assert names & CONTAINS_INDEXES == {expected}


def test_the_latest_revision_builds_the_schema_the_code_describes(database_url: str) -> None:
    store = Store(make_engine(database_url))
    try:
        store.migrate()
        with store.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": _not_backend_specific}
            )
            assert compare_metadata(context, schema.metadata) == []
            assert revision(connection) == head()
    finally:
        store.engine.dispose()


def test_text_compares_by_code_point_on_both_backends(store: Store) -> None:
    """Sort order and ``LIKE 'prefix%'`` index use must not depend on the server's locale:
    SQLite's default (BINARY) collation, the "C" collation on PostgreSQL."""
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "postgresql":
            rows = connection.execute(
                text(
                    "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')"
                )
            ).all()
            collations = {(t, c): name for t, c, name in rows if t != "alembic_version"}
            assert len(collations) == 20  # every text column of the three tables
            assert set(collations.values()) == {"C"}
        else:
            ddl = connection.execute(text("SELECT group_concat(sql) FROM sqlite_master")).scalar()
            assert "resource_current" in ddl
            assert "COLLATE" not in ddl.upper()


def test_a_database_made_before_migrations_is_adopted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    schema.metadata.create_all(engine)  # what the store did before it had migrations
    engine.dispose()
    store = Store(make_engine(url))
    try:
        store.put([activity("kept", title="kept")])
        assert store.migrate() is True
        store.check()
        assert store.read("ActivityDefinition", "kept") is not None
    finally:
        store.engine.dispose()


def test_nodes_starting_together_migrate_once(database_url: str) -> None:
    stores = [Store(make_engine(database_url)) for _ in range(3)]
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            changed = list(pool.map(lambda s: s.migrate(), stores))
        assert sorted(changed) == [False, False, True]
        for store in stores:
            store.check()
    finally:
        for store in stores:
            store.engine.dispose()
