"""Persistence: versioned resources, their search index, and the SQL that searches them.

Knows FHIR search (``service.search``) but neither the web layer nor the mapping rules.
"""

from .engine import Limits, make_engine
from .includes import MAX_INCLUDED, Included, resolve_canonicals
from .includes import resolve as resolve_includes
from .store import Latest, Page, Store, StoredResource, StoreUnavailable, WriteOutcome

__all__ = [
    "MAX_INCLUDED",
    "Included",
    "Latest",
    "Limits",
    "Page",
    "Store",
    "StoreUnavailable",
    "StoredResource",
    "WriteOutcome",
    "make_engine",
    "resolve_canonicals",
    "resolve_includes",
]
