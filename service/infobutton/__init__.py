"""The HL7 Infobutton (Context-Aware Knowledge Retrieval) URL-based request at ``/infobutton``,
answered the way MedlinePlus Connect answers it: an Atom feed or its JSON mirror."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    pass
