"""Alembic's environment. Migrations run inside a write transaction that holds the store's
write lock, so several nodes starting at once migrate one after another, and a load never
runs against a half-changed schema.

``service.store.migrate`` hands over its connection; the ``alembic`` command (from the
repository root, with ``alembic.ini``) opens one on ``sqlalchemy.url`` or, when set,
``FLASK_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from service.store.engine import lock_for_writing, make_engine, write_options
from service.store.schema import metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    run(handed_over)
else:
    url = os.environ.get("FLASK_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set FLASK_DATABASE_URL or sqlalchemy.url in alembic.ini")
    engine = make_engine(url)
    with engine.connect().execution_options(**write_options()) as connection:
        with connection.begin():
            lock_for_writing(connection, unlimited=True)
            run(connection)
    engine.dispose()
