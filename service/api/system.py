"""System-level search: ``GET [base]?_type=…`` (and ``POST [base]/_search``), one searchset
over the types this server serves."""

from __future__ import annotations

from flask import Response

from service.search.query import SearchError, parse_system_search
from service.storage import get_store
from service.store import Included, resolve_includes

from .errors import FhirError
from .views import fhir_base, search_pairs, searchset, strict_handling


def search_system() -> Response:
    """Search across types

    ``_type`` lists the types (default: every type served); the parameters are those each
    listed type has (``_id``, ``_lastUpdated``, ``_tag``, ``_profile``, ``_security``,
    ``_source``, and any other every listed type defines), with the result parameters.
    With a single ``_type`` every parameter of that type works, chains and includes too.
    """
    try:
        found = parse_system_search(search_pairs(), strict=strict_handling(), base=fhir_base())
    except SearchError as e:
        raise FhirError(400, str(e), "invalid") from None
    store = get_store()
    query = found.search.query
    if len(found.types) == 1:
        page = store.search(query)
        included = resolve_includes(store, query, page.items)
    else:
        page = store.search_system(found.types, query)
        included = Included((), False)
    leading = [("_type", ",".join(found.types))] if found.named else []
    return searchset(fhir_base(), leading, found.search, page, included)
