"""Fault tests: the store's guarantees proved with real processes (gunicorn nodes and
``flask load``) on both backends, SQLite and a real PostgreSQL server: replies never mix two
loads, writers queue and land whole, a killed load leaves nothing behind, a database that
goes away gives 503s and is served again when it is back, and a full or read-only database
fails a load in one line without writing anything. The shared machinery is ``harness.py``.
"""
