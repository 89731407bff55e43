"""The ImplementationGuide: every conformance resource of ours, in one R4 guide whose
package is what `flask export` writes."""

from __future__ import annotations

from collections.abc import Sequence

from .common import FHIR_VERSION, Json, header

# What the guide builds on: FHIR R4 itself, and the FHIR Extensions Pack for R4, which
# defines the artifact-url, artifact-version and artifact-copyrightLabel extensions our
# content and profiles use (they are not in R4 core). The export's package.json lists the
# same packages as its dependencies.
DEPENDS_ON: tuple[Json, ...] = (
    {
        "id": "hl7fhirr4core",
        "uri": "http://hl7.org/fhir/ImplementationGuide/hl7.fhir.core",
        "packageId": "hl7.fhir.r4.core",
        "version": FHIR_VERSION,
    },
    {
        "id": "hl7fhiruvextensions",
        "uri": "http://hl7.org/fhir/extensions/ImplementationGuide/hl7.fhir.uv.extensions",
        "packageId": "hl7.fhir.uv.extensions.r4",
        "version": "5.2.0",
    },
)


def dependencies() -> dict[str, str]:
    """The packages the guide depends on, as package.json ``dependencies``."""
    return {str(d["packageId"]): str(d["version"]) for d in DEPENDS_ON}


def implementation_guide(
    canonical_base: str, version: str, package_name: str, resources: Sequence[Json]
) -> Json:
    """The guide listing ``resources`` (our other conformance resources)."""
    guide = header(
        "ImplementationGuide",
        package_name,
        canonical_base,
        version,
        name=_name(package_name),
        title="Patient-education structured content (FHIR R4)",
        description=(
            "The conformance resources of the patient-education content server: "
            "profiles of PlanDefinition, ActivityDefinition and Medication, the extensions "
            "the content uses, the search parameters and operations FHIR R4 does not "
            "define. Served under the canonical base and packaged by `flask export`."
        ),
    )
    guide.update(
        {
            "packageId": package_name,
            "fhirVersion": [FHIR_VERSION],
            "dependsOn": [dict(d) for d in DEPENDS_ON],
            "definition": {
                "resource": [
                    {
                        "reference": {"reference": f"{r['resourceType']}/{r['id']}"},
                        "name": str(r.get("title") or r.get("name") or r["id"]),
                    }
                    for r in resources
                ]
            },
        }
    )
    return guide


def _name(package_name: str) -> str:
    """A computer-friendly name from the package name (``ped.education.content`` ->
    ``PedEducationContent``)."""
    return "".join(p[:1].upper() + p[1:] for p in package_name.replace("-", ".").split("."))
