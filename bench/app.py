"""The app the serving benchmark runs: ours, plus a bare Flask route as the baseline.

``/bare`` returns the stored bytes of the benchmarked PlanDefinition with the same content
type, and nothing else: the cost of Flask and gunicorn alone.
"""

import os

from flask import Response

from service import create_app
from service.storage import get_store

app = create_app()
_RESOURCE = os.environ.get("BENCH_RESOURCE", "PlanDefinition/all-induction")

with app.app_context():
    _type, _id = _RESOURCE.split("/")
    _stored = get_store().read(_type, _id)
    if _stored is None:
        raise SystemExit(f"{_RESOURCE} is not in the store; load the fixtures first")
    _BODY = _stored.body


@app.get("/bare")
def bare() -> Response:
    return Response(_BODY, content_type="application/fhir+json; charset=utf-8")
