"""Every error the API returns is an OperationOutcome, rendered here and nowhere else.

Views and lower layers raise ``FhirError`` (or let werkzeug raise its HTTP exceptions);
the handlers registered by ``init_app`` turn each into an OperationOutcome body with the
right status and headers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from service.loading import TOO_COSTLY, LoadError
from service.store import StoreUnavailable

from .negotiation import DEFAULT, Negotiated
from .rendering import render

# HTTP status -> OperationOutcome issue type, for errors werkzeug raises itself.
_ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    414: "too-long",
    415: "not-supported",
    422: "processing",
    431: "too-long",
    503: "transient",
}

log = logging.getLogger(__name__)


class FhirError(Exception):
    """An error for the client: HTTP ``status``, an issue ``code`` and what went wrong."""

    def __init__(
        self,
        status: int,
        diagnostics: str,
        code: str | None = None,
        *,
        expression: str | None = None,
        headers: Mapping[str, str] | None = None,
        issues: Sequence[tuple[str, str, str, str | None]] = (),
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code or _ISSUE_TYPES.get(status, "processing")
        self.expression = expression
        self.headers = dict(headers or {})
        self.issues = list(issues)  # every problem, when there is more than one


# Whitespace a FHIR string may not hold (its pattern is [ \r\n\t\S]+): a client's parameter
# name or value can, and an outcome quoting it would be invalid FHIR (and unconvertible to R5).
_NOT_IN_A_STRING = re.compile(r"[^\S \r\n\t]")


def _fhir_string(text: str) -> str:
    return _NOT_IN_A_STRING.sub(lambda m: repr(m.group())[1:-1], text)


def operation_outcome(
    issues: list[tuple[str, str, str, str | None]],
) -> dict[str, object]:
    """An OperationOutcome from (severity, code, diagnostics, expression) tuples; text a
    FHIR string may not hold is written escaped (``\x0b``)."""
    rendered = []
    for severity, code, diagnostics, expression in issues:
        issue: dict[str, object] = {
            "severity": severity,
            "code": code,
            "diagnostics": _fhir_string(diagnostics),
        }
        if expression and expression.strip():
            issue["expression"] = [_fhir_string(expression)]
        rendered.append(issue)
    return {"resourceType": "OperationOutcome", "issue": rendered}


def outcome_response(
    status: int,
    code: str,
    diagnostics: str,
    *,
    expression: str | None = None,
    headers: Mapping[str, str] | None = None,
    issues: Sequence[tuple[str, str, str, str | None]] = (),
) -> Response:
    body = json.dumps(
        operation_outcome(list(issues) or [("error", code, diagnostics, expression)]),
        ensure_ascii=False,
    ).encode()
    # In the client's format when negotiation got that far; R4 JSON otherwise (a 406).
    chosen: Negotiated = request.environ.get("ped.negotiated", DEFAULT) if request else DEFAULT
    response = Response(render(body, chosen), status=status, content_type=chosen.content_type)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def load_refusal(error: LoadError) -> FhirError:
    """400 (413 for input over a size limit) naming every problem, one issue each."""
    issues: list[tuple[str, str, str, str | None]] = [
        ("error", p.code, str(p), p.expression) for p in error.problems
    ]
    if error.truncated:
        issues.append(("error", TOO_COSTLY, "more problems were found than are listed", None))
    status = 413 if error.code == TOO_COSTLY else 400
    return FhirError(status, str(error), error.code, issues=issues)


def _fhir_error(error: FhirError) -> Response:
    return outcome_response(
        error.status,
        error.code,
        error.diagnostics,
        expression=error.expression,
        headers=error.headers,
        issues=error.issues,
    )


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() not in ("content-type",)}
    diagnostics = error.description or error.name
    if status == 405:
        diagnostics = f"{error.name}: this endpoint allows {headers.get('Allow', 'no method')}"
    return outcome_response(status, _ISSUE_TYPES.get(status, "processing"), diagnostics,
                            headers=headers)  # fmt: skip


def _unavailable(error: StoreUnavailable) -> Response:
    log.warning("store unavailable: %s", error)
    return outcome_response(
        503,
        "transient",
        "the database is unavailable; try again shortly",
        headers={"Retry-After": "5"},
    )


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    return outcome_response(500, "exception", "internal error; it has been logged")


def init_app(app: Flask) -> None:
    app.register_error_handler(FhirError, _fhir_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StoreUnavailable, _unavailable)
    app.register_error_handler(Exception, _unexpected)
