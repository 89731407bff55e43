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

from . import imports, package, system, validate, views
from .capability import capability_statement


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
    """A type-level interaction code (CapabilityStatement.rest.resource.interaction)."""
    operation: Operation | None = None


class TypeConverter(BaseConverter):
    """A resource type name: never ``$operation`` or ``_history``, which have rules of
    their own (so ``GET /fhir/$import`` is a 405, not a search of type "$import")."""

    regex = r"[A-Za-z][A-Za-z0-9]{0,63}"


class IdConverter(BaseConverter):
    """A FHIR logical id (R4 ``id``), so ``$validate`` is never read as an id."""

    regex = r"[A-Za-z0-9\-.]{1,64}"


CONVERTERS = {"type": TypeConverter, "id": IdConverter}


def metadata() -> Response:
    statement = capability_statement(
        ROUTES,
        views.fhir_base(),
        current_app.config["CANONICAL_BASE"],
        fhir_version=views.negotiated().fhir_version,
    )
    return views.reply(json.dumps(statement, ensure_ascii=False).encode())


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

ROUTES: tuple[Route, ...] = (
    Route("/metadata", "metadata", metadata, ("GET",)),
    Route("/$import", "import", imports.import_content, ("POST",),
          operation=Operation("import", "OperationDefinition/import", "system",
                              body=tuple(imports.BODY_KINDS))),
    Route("/PlanDefinition/$package", "package_type", package.package_type, ("GET", "POST"),
          operation=_PACKAGE),
    Route("/PlanDefinition/<id:resource_id>/$package", "package_instance",
          package.package_instance, ("GET", "POST"), operation=_PACKAGE_INSTANCE),
    Route("/<type:resource_type>/$validate", "validate", validate.validate_resource, ("POST",),
          operation=Operation("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                              "type", body=validate.BODY_TYPES, body_is_subject=True)),
    Route("", "search_system", system.search_system, ("GET",), "search-system"),
    Route("/_search", "search_system_form", system.search_system, ("POST",), "search-system"),
    Route("/<type:resource_type>", "search", views.search, ("GET",), "search-type"),
    Route("/<type:resource_type>/_search", "search_form", views.search, ("GET", "POST"),
          "search-type"),
    Route("/<type:resource_type>/_history", "history_type", views.history_type, ("GET",),
          "history-type"),
    Route("/<type:resource_type>/<id:resource_id>", "read", views.read, ("GET",), "read"),
    Route("/<type:resource_type>/<id:resource_id>/_history", "history_instance",
          views.history_instance, ("GET",), "history-instance"),
    Route("/<type:resource_type>/<id:resource_id>/_history/<version_id>", "vread", views.vread,
          ("GET",), "vread"),
)  # fmt: skip


def blueprint() -> Blueprint:
    bp = Blueprint("fhir", __name__, url_prefix="/fhir")
    for route in ROUTES:
        bp.add_url_rule(
            route.rule, endpoint=route.endpoint, view_func=route.view, methods=list(route.methods)
        )
    return bp
