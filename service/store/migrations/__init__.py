"""Alembic migrations of the store's schema (``service.store.migrate`` runs them)."""
