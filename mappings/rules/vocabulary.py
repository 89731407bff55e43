"""FHIR's own structural vocabulary: code systems and extensions defined by the FHIR
specification and its core extension pack, not clinical terminology.

Clinical codes (drugs, diseases, procedures, routes, body sites) come only from
``mappings.terminology``, whose tables hold verified codes. What is here describes the
*shape* of the artifacts (what kind of plan, what a context means) and is fixed by the spec.
"""

from __future__ import annotations

from .config import MappingConfig

UCUM = "http://unitsofmeasure.org"
PLAN_DEFINITION_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
USAGE_CONTEXT_TYPE = "http://terminology.hl7.org/CodeSystem/usage-context-type"

TIMING_EXACT = "http://hl7.org/fhir/StructureDefinition/timing-exact"
COPYRIGHT_LABEL = "http://hl7.org/fhir/StructureDefinition/artifact-copyrightLabel"
ARTIFACT_URL = "http://hl7.org/fhir/StructureDefinition/artifact-url"
ARTIFACT_VERSION = "http://hl7.org/fhir/StructureDefinition/artifact-version"

# CQL identifiers name a predicate in words; no logic is claimed (R4 XML output uses text/cql).
CQL_IDENTIFIER = "text/cql-identifier"
FHIRPATH = "text/fhirpath"

# UCUM units by code, with the display name the spec's examples use.
UNIT_NAMES = {"d": "day", "wk": "week", "mo": "month", "a": "year", "%": "%"}


# Our own extensions: their StructureDefinitions are in ``definitions`` under these ids.
DISCLAIMER_ID = "content-disclaimer"
OPTIONS_EXHAUSTIVE_ID = "action-options-exhaustive"


def disclaimer_extension(config: MappingConfig) -> str:
    """No FHIR element holds a medical disclaimer; this is our own, published under the base."""
    return config.url("StructureDefinition", DISCLAIMER_ID)


def options_exhaustive_extension(config: MappingConfig) -> str:
    """False on an action whose child list gives examples ("such as"), not every option."""
    return config.url("StructureDefinition", OPTIONS_EXHAUSTIVE_ID)
