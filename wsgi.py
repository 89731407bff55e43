"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi …``.

A setting that cannot be used stops the start with its one line on stderr (``configuration:
FLASK_NAME='value': expected …``), not a traceback, and exit status 4: gunicorn's "App
failed to load", on which it stops instead of starting the worker again and again.
"""

import sys

from service import ConfigError, create_app

APP_LOAD_ERROR = 4  # gunicorn.arbiter.Arbiter.APP_LOAD_ERROR

try:
    app = create_app()
except ConfigError as error:
    print(f"configuration: {error}", file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR) from None
