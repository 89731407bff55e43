"""The routing registry: every endpoint under ``/fhir``, the interaction or operation it
implements, and the methods it takes. Routes are registered from this table and the
CapabilityStatement is generated from it, so the two cannot disagree."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, current_app
from marshmallow import Schema
from werkzeug.routing import BaseConverter

from service.conformance import CONFORMANCE_TYPES
from service.conformance.operations import IMPORT

from . import conformance, imports, package, system, validate, views, writes
from .capability import STATEMENT_ID, capability_statement
from .errors import FhirError


@dataclass(frozen=True)
class Operation:
    """A FHIR operation (``$name``) as the CapabilityStatement and OpenAPI describe it."""

    name: str
    definition: str
    """Canonical URL of its OperationDefinition; a relative one is under CANONICAL_BASE."""
    level: str
    """"system", "type" or "instance"."""
    resource_types: tuple[str, ...] | None = None
    """The types it applies to at type or instance level (None: every served type)."""
    parameters: type[Schema] | None = None
    """Its query parameters, as a marshmallow schema."""
    body: tuple[str, ...] = ()
    """Media types it takes as a request body."""
    body_is_subject: bool = False
    """The body is what the operation examines (``$validate``): any content is a finding in
    the reply, not a request error."""


@dataclass(frozen=True)
class Route:
    rule: str
    endpoint: str
    view: Callable[..., Response]
    methods: tuple[str, ...]
    interaction: str | None = None
    """An interaction code: type level (CapabilityStatement.rest.resource.interaction), or
    system level (``SYSTEM_INTERACTIONS``, in rest.interaction)."""
    operation: Operation | None = None


class TypeConverter(BaseConverter):
    """A resource type name: never ``$operation`` or ``_history``, which have rules of
    their own (so ``GET /fhir/$import`` is a 405, not a search of type "$import"), and never
    ``metadata`` (so ``POST /fhir/metadata`` is a 405, not a create of type "metadata")."""

    regex = r"(?!metadata\b)[A-Za-z][A-Za-z0-9]{0,63}"


class IdConverter(BaseConverter):
    """A FHIR logical id (R4 ``id``), so ``$validate`` is never read as an id."""

    regex = r"[A-Za-z0-9\-.]{1,64}"


CONVERTERS = {"type": TypeConverter, "id": IdConverter}


def metadata() -> Response:
    config = current_app.config
    statement = capability_statement(
        ROUTES,
        views.fhir_base(),
        config["CANONICAL_BASE"],
        fhir_version=views.negotiated().fhir_version,
        artifact_version=config["ARTIFACT_VERSION"],
        package_name=config["PACKAGE_NAME"],
    )
    return views.reply(json.dumps(statement, ensure_ascii=False).encode())


def read_statement(resource_id: str) -> Response:
    """Read the CapabilityStatement by its id (``GET /fhir/metadata`` is the usual way)."""
    if resource_id != STATEMENT_ID:
        raise FhirError(404, f"CapabilityStatement/{resource_id} is not known", "not-found")
    return metadata()


_PACKAGE = Operation(
    "package",
    "http://hl7.org/fhir/uv/crmi/OperationDefinition/crmi-package",
    "type",
    ("PlanDefinition",),
    package.PackageParameters,
    ("application/fhir+json",),
)

_PACKAGE_INSTANCE = Operation(
    "package",
    _PACKAGE.definition,
    "instance",
    ("PlanDefinition",),
    None,
    ("application/fhir+json",),
)

_VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"

ROUTES: tuple[Route, ...] = (
    Route("/metadata", "metadata", metadata, ("GET",)),
    Route("/$import", "import", imports.import_content, ("POST",),
          operation=Operation(IMPORT.code, IMPORT.path, IMPORT.level,
                              body=tuple(IMPORT.media_types))),
    Route("/PlanDefinition/$package", "package_type", package.package_type, ("GET", "POST"),
          operation=_PACKAGE),
    Route("/PlanDefinition/<id:resource_id>/$package", "package_instance",
          package.package_instance, ("GET", "POST"), operation=_PACKAGE_INSTANCE),
    Route("/<type:resource_type>/$validate", "validate", validate.validate_resource, ("POST",),
          operation=Operation("validate", _VALIDATE, "type", body=validate.BODY_TYPES,
                              body_is_subject=True)),
    Route("/<type:resource_type>/<id:resource_id>/$validate", "validate_instance",
          validate.validate_instance, ("POST",),
          operation=Operation("validate", _VALIDATE, "instance", body=validate.BODY_TYPES,
                              body_is_subject=True)),
    Route("/_history", "history_system", views.history_system, ("GET",), "history-system"),
    Route("", "transaction", writes.transaction_or_batch, ("POST",), "transaction"),
    Route("", "search_system", system.search_system, ("GET",), "search-system"),
    Route("/_search", "search_system_form", system.search_system, ("POST",), "search-system"),
    Route("/<type:resource_type>", "search", views.search, ("GET",), "search-type"),
    Route("/<type:resource_type>", "create", writes.create, ("POST",), "create"),
    Route("/<type:resource_type>", "conditional_update", writes.conditional_update, ("PUT",)),
    Route("/<type:resource_type>", "conditional_delete", writes.conditional_delete,
          ("DELETE",)),
    Route("/<type:resource_type>/_search", "search_form", views.search, ("GET", "POST"),
          "search-type"),
    Route("/<type:resource_type>/_history", "history_type", views.history_type, ("GET",),
          "history-type"),
    Route("/<type:resource_type>/<id:resource_id>", "read", views.read, ("GET",), "read"),
    Route("/<type:resource_type>/<id:resource_id>", "update", writes.update, ("PUT",), "update"),
    Route("/<type:resource_type>/<id:resource_id>", "patch", writes.patch, ("PATCH",), "patch"),
    Route("/<type:resource_type>/<id:resource_id>", "delete", writes.delete, ("DELETE",),
          "delete"),
    Route("/<type:resource_type>/<id:resource_id>/_history", "history_instance",
          views.history_instance, ("GET",), "history-instance"),
    Route("/<type:resource_type>/<id:resource_id>/_history/<version_id>", "vread", views.vread,
          ("GET",), "vread"),
)  # fmt: skip


WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _conformance_routes() -> tuple[Route, ...]:
    """Our conformance resources (``service.conformance``): read and search, each write a
    405. Static rules, so they come before the ``<type:resource_type>`` ones; listed in the
    CapabilityStatement by ``capability`` (they are read-only, whatever the stored types
    allow) and in OpenAPI by ``openapi`` (their reads and searches)."""
    routes = []
    for t in CONFORMANCE_TYPES:
        routes += [
            Route(f"/{t}", f"conformance_search_{t}", conformance.search, ("GET",)),
            Route(f"/{t}", f"conformance_refuse_{t}", conformance.refuse, WRITES),
            Route(f"/{t}/_search", f"conformance_search_form_{t}", conformance.search,
                  ("GET", "POST")),
            Route(f"/{t}/<id:resource_id>", f"conformance_read_{t}", conformance.read, ("GET",)),
            Route(f"/{t}/<id:resource_id>", f"conformance_refuse_instance_{t}",
                  conformance.refuse, WRITES),
            Route(f"/{t}/_history", f"conformance_history_{t}", conformance.no_history,
                  ("GET",)),
            Route(f"/{t}/<id:resource_id>/_history", f"conformance_history_instance_{t}",
                  conformance.no_history, ("GET",)),
            Route(f"/{t}/<id:resource_id>/_history/<version_id>", f"conformance_vread_{t}",
                  conformance.no_history, ("GET",)),
        ]  # fmt: skip
    statement = "/CapabilityStatement/<id:resource_id>"
    routes += [
        Route(statement, "capability_statement_read", read_statement, ("GET",)),
        Route(statement, "capability_statement_refuse", conformance.refuse, WRITES),
    ]
    return tuple(routes)


CONFORMANCE_ROUTES = _conformance_routes()
# The endpoints (as the blueprint names them) of the paths where writes are routed only to
# be refused: OPTIONS answers GET and HEAD there, whatever methods the refusing rules take.
# (``_search`` takes its POST.)
_REFUSING_RULES = frozenset(r.rule for r in CONFORMANCE_ROUTES if r.view is conformance.refuse)
READ_ONLY_ENDPOINTS = frozenset(
    f"fhir.{route.endpoint}" for route in CONFORMANCE_ROUTES if route.rule in _REFUSING_RULES
)


def blueprint() -> Blueprint:
    bp = Blueprint("fhir", __name__, url_prefix="/fhir")
    for route in ROUTES:
        bp.add_url_rule(
            route.rule,
            endpoint=route.endpoint,
            view_func=route.view,
            methods=list(route.methods),
            # POST [base]/ as well as POST [base]: fhir-kit-client sends transactions there.
            strict_slashes=route.rule != "",
        )
    for route in CONFORMANCE_ROUTES:
        resource_type = route.rule.split("/")[1]
        bp.add_url_rule(
            route.rule,
            endpoint=route.endpoint,
            view_func=route.view,
            methods=list(route.methods),
            defaults={} if route.view is read_statement else {"resource_type": resource_type},
        )
    return bp
