"""The HL7 Infobutton (Context-Aware Knowledge Retrieval) URL-based request at ``/infobutton``,
answered the way MedlinePlus Connect answers it: an Atom feed or its JSON mirror.

``request`` parses the query, ``codes`` knows the code systems, ``lookup`` asks the store
(through ``service.catalog``), ``compose`` turns what it found into a ``feed.Feed``, which
``feed`` writes as Atom or JSON; ``views`` is the route and ``outcome`` its errors.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .views import bp

    app.register_blueprint(bp)
