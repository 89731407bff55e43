"""``$validate``: check a client's resource against R4 and against this server's content.

The engine is pure (no web layer, no store): ``validate`` takes parsed JSON and returns issues;
the HTTP layer turns them into an OperationOutcome. Every check is data-driven from files
committed beside this package (``r4_definitions.json``, ``r4_invariants.json``), each naming
its source, so what is checked is reviewable without reading code.
"""

from service.validation.issues import Issue
from service.validation.references import References
from service.validation.validator import validate

__all__ = ["Issue", "References", "validate"]
