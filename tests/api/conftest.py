"""The API tests use the shared servers (``tests/support/servers.py``)."""

from tests.support.servers import TOKEN, make_app

__all__ = ["TOKEN", "make_app"]
