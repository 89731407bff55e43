"""The store under test, once per backend (SQLite and a real PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.store import Store, make_engine


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """An empty, migrated store."""
    s = Store(make_engine(database_url))
    s.migrate()
    yield s
    s.engine.dispose()


def activity(resource_id: str, **fields: Any) -> dict[str, Any]:
    """A minimal ActivityDefinition for exercising the store (not clinical content)."""
    return {"resourceType": "ActivityDefinition", "id": resource_id, "status": "active", **fields}
