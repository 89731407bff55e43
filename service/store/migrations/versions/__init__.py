"""Schema revisions, oldest first (``alembic history``)."""
