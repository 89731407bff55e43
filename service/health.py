"""``GET /healthz``: the process is up and serving (for load balancers)."""

from __future__ import annotations

from flask import Flask, Response


def healthz() -> Response:
    return Response('{"status":"ok"}', content_type="application/json")


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
