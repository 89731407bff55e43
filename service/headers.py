"""Headers every reply carries, whichever front end (API, reading view, Infobutton, probes,
``/docs``) built it, errors included: one ``after_request`` hook, so a new page or a new
error handler cannot forget them.

- ``X-Content-Type-Options: nosniff`` on every reply: a browser never guesses a type.
- ``Cache-Control: no-store`` on every error (4xx, 5xx): an error describes one moment (a
  database away, a token missing, a limit reached), and no cache may hand it to the next
  client.
- On every HTML page: ``frame-ancestors 'none'`` in its ``Content-Security-Policy`` (added
  to the page's own policy, or the whole policy of a page that has none) and
  ``X-Frame-Options: DENY`` for browsers older than CSP level 2: no page can be framed.
"""

from __future__ import annotations

from flask import Flask, Response

FRAME_ANCESTORS = "frame-ancestors 'none'"


def secure(response: Response) -> Response:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    if response.status_code >= 400:
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    if response.mimetype == "text/html":
        policy = headers.get("Content-Security-Policy", "").strip().rstrip(";")
        if "frame-ancestors" not in policy:
            headers["Content-Security-Policy"] = (
                f"{policy}; {FRAME_ANCESTORS}" if policy else FRAME_ANCESTORS
            )
        headers["X-Frame-Options"] = "DENY"
    return response


def init_app(app: Flask) -> None:
    app.after_request(secure)
