"""The reading view at ``/education/``: each phase and drug as a patient reads it, rendered
on the server from the stored FHIR resources only."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .views import bp

    app.register_blueprint(bp)
