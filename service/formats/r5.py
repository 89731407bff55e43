"""R4 resources as FHIR R5 (5.0.0), for clients that ask for ``fhirVersion=5.0``.

Only what changed between R4 and R5 for the types we serve is rewritten (from the R5
"Differences from R4" notes of PlanDefinition, ActivityDefinition, Medication, Dosage and
RelatedArtifact); everything else is carried over as is. Each result is then checked
with fhir.resources' R5 models, so what we send is R5 by construction. Where R4 content
has no R5 equivalent (a dated action, two codes on one action), the conversion refuses
rather than drop it: a client never gets less than the resource says.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import fhir.resources as r5_models
from pydantic import ValidationError

Json = dict[str, Any]


class ConversionError(ValueError):
    """R4 content that R5 cannot express without losing something."""


def to_r5(resource: Json) -> Json:
    """An R5 copy of an R4 resource (Bundles and contained resources included), checked
    against the R5 models."""
    try:
        converted = _convert(copy.deepcopy(resource))
        r5_models.get_fhir_model_class(converted["resourceType"]).model_validate(converted)
    except RecursionError:
        # The copy, the conversion and the models recurse once or more a level.
        raise ConversionError("it is nested too deeply to convert") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConversionError(
            f"{converted['resourceType']} is not valid R5 at {where}: {first['msg']}"
        ) from None
    return converted


def _convert(resource: Json) -> Json:
    for contained in resource.get("contained", []):
        _convert(contained)
    _CONVERTERS.get(resource.get("resourceType", ""), _unchanged)(resource)
    return resource


def _unchanged(resource: Json) -> None:
    pass


def _bundle(bundle: Json) -> None:
    for entry in bundle.get("entry", []):
        if "resource" in entry:
            _convert(entry["resource"])
        outcome = entry.get("response", {}).get("outcome")
        if outcome is not None:
            _convert(outcome)


def _rename(element: Json, old: str, new: str) -> None:
    for prefix in ("", "_"):
        if prefix + old in element:
            element[prefix + new] = element.pop(prefix + old)


def _no_r5_equivalent(element: Json, path: str, *names: str) -> None:
    for name in names:
        if name in element or f"_{name}" in element:
            raise ConversionError(f"{path}.{name} has no R5 equivalent")


def _related_artifact(artifact: Json, path: str) -> None:
    # R5 removed RelatedArtifact.url: the link is the document's url.
    if "url" in artifact:
        document = artifact.setdefault("document", {})
        if "url" in document and document["url"] != artifact["url"]:
            raise ConversionError(f"{path} has both a url and a document with another url")
        document["url"] = artifact.pop("url")
        if "_url" in artifact:
            document["_url"] = artifact.pop("_url")


# R4 ActionParticipantType codes that R5 spells differently.
_PARTICIPANT_TYPES = {"related-person": "relatedperson"}


def _participants(element: Json) -> None:
    for participant in element.get("participant", []):
        if participant.get("type") in _PARTICIPANT_TYPES:
            participant["type"] = _PARTICIPANT_TYPES[participant["type"]]


def _action(action: Json, path: str) -> None:
    for related in action.get("relatedAction", []):
        _rename(related, "actionId", "targetId")
    codes = action.get("code")
    if codes is not None:
        if len(codes) > 1:
            raise ConversionError(f"{path} has {len(codes)} codes; an R5 action has one")
        action["code"] = codes[0]
    _no_r5_equivalent(action, path, "timingDateTime", "timingPeriod")
    for name in ("input", "output"):
        if name in action:
            action[name] = [{"requirement": requirement} for requirement in action[name]]
    for n, artifact in enumerate(action.get("documentation", [])):
        _related_artifact(artifact, f"{path}.documentation[{n}]")
    _participants(action)
    for n, child in enumerate(action.get("action", [])):
        _action(child, f"{path}.action[{n}]")


def _artifacts(resource: Json) -> None:
    for n, artifact in enumerate(resource.get("relatedArtifact", [])):
        _related_artifact(artifact, f"{resource['resourceType']}.relatedArtifact[{n}]")


def _plan_definition(resource: Json) -> None:
    _artifacts(resource)
    for n, action in enumerate(resource.get("action", [])):
        _action(action, f"PlanDefinition.action[{n}]")


def _dosage(dosage: Json) -> None:
    _rename(dosage, "asNeededBoolean", "asNeeded")
    if "asNeededCodeableConcept" in dosage:
        dosage["asNeededFor"] = [dosage.pop("asNeededCodeableConcept")]


def _activity_definition(resource: Json) -> None:
    _artifacts(resource)
    _no_r5_equivalent(resource, "ActivityDefinition", "timingDateTime", "timingPeriod")
    if "location" in resource:
        resource["location"] = {"reference": resource["location"]}
    _participants(resource)
    for dosage in resource.get("dosage", []):
        _dosage(dosage)


def _medication(resource: Json) -> None:
    _rename(resource, "form", "doseForm")
    _rename(resource, "manufacturer", "marketingAuthorizationHolder")
    # R5's totalVolume is a Quantity; an R4 amount is a Ratio that need not reduce to one.
    _no_r5_equivalent(resource, "Medication", "amount")
    for ingredient in resource.get("ingredient", []):
        if "itemCodeableConcept" in ingredient:
            ingredient["item"] = {"concept": ingredient.pop("itemCodeableConcept")}
        elif "itemReference" in ingredient:
            ingredient["item"] = {"reference": ingredient.pop("itemReference")}
        _rename(ingredient, "strength", "strengthRatio")


_CONVERTERS: dict[str, Callable[[Json], None]] = {
    "Bundle": _bundle,
    "PlanDefinition": _plan_definition,
    "ActivityDefinition": _activity_definition,
    "Medication": _medication,
}
