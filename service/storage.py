"""Attaches the store to the app: ``FLASK_DATABASE_URL``, or a SQLite file in the
instance folder."""

from __future__ import annotations

import os

from flask import Flask, current_app

from service.store import Store, make_engine

EXTENSION = "ped.store"


def database_url(app: Flask) -> str:
    configured = app.config.get("DATABASE_URL")
    if configured:
        return str(configured)
    os.makedirs(app.instance_path, exist_ok=True)
    return f"sqlite:///{os.path.join(app.instance_path, 'ped.sqlite3')}"


def init_app(app: Flask) -> None:
    store = Store(make_engine(database_url(app)))
    store.create_schema()
    app.extensions[EXTENSION] = store


def get_store() -> Store:
    store: Store = current_app.extensions[EXTENSION]
    return store
