"""Schema migrations (Alembic) on both backends: the latest revision builds exactly the
tables the store's code describes, a database made before migrations existed is adopted,
and upgrading is safe to repeat and to run from several processes at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from service.store import Store, make_engine, schema
from service.store.migrate import _config, head, revision
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
            assert len(collations) == 21  # every text column of the three tables
            assert set(collations.values()) == {"C"}
        else:
            ddl = connection.execute(text("SELECT group_concat(sql) FROM sqlite_master")).scalar()
            assert "resource_current" in ddl
            assert "COLLATE" not in ddl.upper()


def _at_revision(url: str, target: str) -> Store:
    """A store whose schema is at revision ``target`` (older than the latest)."""
    store = Store(make_engine(url))
    with store._writing(unlimited=True) as connection:
        command.upgrade(_config(connection), target)
    return store


def test_a_database_made_before_migrations_is_adopted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = _at_revision(url, "0001")  # the tables the store created before migrations
    with old.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text(OLD_VERSION), _old_row("kept", 1, "2026-01-01"))
        connection.execute(text(OLD_POINTER), _old_row("kept", 1, "2026-01-01"))
    old.engine.dispose()
    store = Store(make_engine(url))
    try:
        assert store.migrate() is True
        store.check()
        assert store.read("ActivityDefinition", "kept") is not None
    finally:
        store.engine.dispose()


# Rows as the store wrote them before revision 0003 (no method column).
OLD_VERSION = (
    "INSERT INTO resource_version (res_type, res_id, version_id, last_updated, content_hash,"
    " body) VALUES ('ActivityDefinition', :id, :n, :at, 'h', :body)"
)
OLD_POINTER = (
    "INSERT INTO resource_current (res_type, res_id, version_id, last_updated, content_hash)"
    " VALUES ('ActivityDefinition', :id, :n, :at, 'h')"
)
OLD_INDEX = (
    "INSERT INTO search_index (res_type, res_id, param, key, value)"
    " VALUES ('ActivityDefinition', :id, 'title', 'x', 'x')"
)


def _old_row(resource_id: str, version: int, at: str) -> dict[str, object]:
    body = {
        "resourceType": "ActivityDefinition",
        "id": resource_id,
        "meta": {"versionId": str(version)},
    }
    return {"id": resource_id, "n": version, "at": at, "body": json.dumps(body).encode()}


def test_upgrading_from_0002_keeps_every_version_and_records_its_method(
    database_url: str,
) -> None:
    """Rows written before 0003 get the method history showed for them (version 1 POST,
    later ones PUT); every pointer and index row survives (SQLite rebuilds the table under
    enforced foreign keys), and the upgraded store can then delete."""
    old = _at_revision(database_url, "0002")
    with old.engine.begin() as connection:
        for resource_id, latest in (("one", 1), ("three", 3)):
            for n in range(1, latest + 1):
                connection.execute(text(OLD_VERSION), _old_row(resource_id, n, f"2026-01-0{n}"))
            connection.execute(
                text(OLD_POINTER), _old_row(resource_id, latest, f"2026-01-0{latest}")
            )
            connection.execute(text(OLD_INDEX), {"id": resource_id})
    old.engine.dispose()
    store = Store(make_engine(database_url))
    try:
        assert store.migrate() is True
        store.check()
        page = store.history("ActivityDefinition", None, count=10, offset=0)
        methods = {(i.id, i.version_id): i.method for i in page.items}
        assert methods == {
            ("one", 1): "POST",
            ("three", 1): "POST",
            ("three", 2): "PUT",
            ("three", 3): "PUT",
        }
        three = store.read("ActivityDefinition", "three")
        assert three is not None and three.version_id == 3
        with store.engine.connect() as connection:
            indexed = connection.execute(text("SELECT count(*) FROM search_index")).scalar()
        assert indexed == 2
        [deleted] = store.delete([("ActivityDefinition", "three")])
        assert (deleted.action, deleted.version_id) == ("deleted", 4)
        assert store.latest("ActivityDefinition", "three") is not None
        assert store.vread("ActivityDefinition", "three", 2) is not None
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


def test_0003_downgrades_dropping_only_the_delete_versions(database_url: str) -> None:
    store = Store(make_engine(database_url))
    try:
        store.migrate()
        store.put([activity("kept", title="one")])
        store.put([activity("gone", title="one")])
        store.put([activity("gone", title="two")])
        store.delete([("ActivityDefinition", "gone")])
        with store._writing(unlimited=True) as connection:
            command.downgrade(_config(connection), "0002")
        with store.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT res_id, version_id FROM resource_version ORDER BY res_id, version_id")
            ).all()
            columns = {c["name"] for c in inspect(connection).get_columns("resource_version")}
        assert [tuple(r) for r in rows] == [("gone", 1), ("gone", 2), ("kept", 1)]
        assert "method" not in columns
        assert store.migrate() is True  # and up again
        assert store.read("ActivityDefinition", "kept") is not None
        assert store.read("ActivityDefinition", "gone") is None
        [back] = store.put([activity("gone", title="three")])
        assert (back.action, back.version_id) == ("created", 3)
    finally:
        store.engine.dispose()
