"""Our own StructureDefinitions: the two extensions we emit and the profiles our content claims.

Pure data, built from the deployment's ``MappingConfig`` (canonical base and version). Each
profile says only what the rules in this package *always* do, whatever the page or middle
format: an element is ``min 1`` when every code path writes it, a value is fixed when every
code path writes the same one, an element is ``max 0`` when no code path writes it. What a
page may or may not give (a goal, a disclaimer, a drug's codes) stays optional. The shape of the
action tree below its second level varies with the page, so it is stated as invariants
(FHIRPath over ``repeat(action)``) rather than as element paths.
"""

from __future__ import annotations

from typing import Any

from .config import MappingConfig
from .vocabulary import (
    ARTIFACT_URL,
    ARTIFACT_VERSION,
    COPYRIGHT_LABEL,
    CQL_IDENTIFIER,
    DISCLAIMER_ID,
    FHIRPATH,
    OPTIONS_EXHAUSTIVE_ID,
    PLAN_DEFINITION_TYPE,
    USAGE_CONTEXT_TYPE,
    disclaimer_extension,
    options_exhaustive_extension,
)

FHIR_VERSION = "4.0.1"
CORE = "http://hl7.org/fhir/StructureDefinition"
PROFILED = ("PlanDefinition", "ActivityDefinition", "Medication")
# How deep the action tree may carry ``action-options-exhaustive`` by path: a section's group
# or step (3), a sub-section's group or a group's option (4), a sub-section group's option (5).
_OPTION_DEPTHS = (3, 4, 5)

Element = dict[str, Any]


def profile_id(resource_type: str) -> str:
    return f"ped-{resource_type.lower()}"


def profile_url(config: MappingConfig, resource_type: str) -> str:
    """The canonical URL of our profile of ``resource_type`` (what ``meta.profile`` claims)."""
    if resource_type not in PROFILED:
        raise ValueError(f"no profile of {resource_type}: we profile {', '.join(PROFILED)}")
    return config.url("StructureDefinition", profile_id(resource_type))


def meta(config: MappingConfig, resource_type: str) -> dict[str, Any]:
    """The ``meta`` every mapped resource carries: the profile it conforms to."""
    return {"profile": [profile_url(config, resource_type)]}


def _el(path: str, slice_name: str | None = None, **props: Any) -> Element:
    """One differential element; ``id`` follows R4's rule (slices as ``path:sliceName``)."""
    element: Element = {"id": f"{path}:{slice_name}" if slice_name else path, "path": path}
    if slice_name:
        element["sliceName"] = slice_name
    for key, value in props.items():
        element["max" if key == "max_" else key] = value
    return element


def _min(path: str, short: str | None = None, max_: str | None = None) -> Element:
    element = _el(path, min=1, **({"max_": max_} if max_ else {}))
    if short:
        element["short"] = short
    return element


def _absent(path: str, short: str) -> Element:
    return _el(path, short=short, max_="0")


def _url_slicing(path: str, description: str) -> Element:
    return _el(
        path,
        slicing={
            "discriminator": [{"type": "value", "path": "url"}],
            "description": description,
            "ordered": False,
            "rules": "open",
        },
    )


def _extension_slice(path: str, name: str, url: str, short: str, min_: int = 0) -> Element:
    return _el(
        path, name, short=short, min=min_, max_="1", type=[{"code": "Extension", "profile": [url]}]
    )


def _header(config: MappingConfig, id_: str, name: str, title: str, description: str) -> Element:
    return {
        "resourceType": "StructureDefinition",
        "id": id_,
        "url": config.url("StructureDefinition", id_),
        "version": config.version,
        "name": name,
        "title": title,
        "status": config.status,
        "experimental": False,
        "description": description,
        "fhirVersion": FHIR_VERSION,
    }


def _extension(
    config: MappingConfig,
    id_: str,
    name: str,
    title: str,
    description: str,
    context: str,
    value_type: str,
) -> Element:
    url = config.url("StructureDefinition", id_)
    return {
        **_header(config, id_, name, title, description),
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": context}],
        "type": "Extension",
        "baseDefinition": f"{CORE}/Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                _el("Extension", short=title, definition=description, max_="1"),
                _absent("Extension.extension", "No nested extensions"),
                _el("Extension.url", fixedUri=url),
                _el("Extension.value[x]", min=1, type=[{"code": value_type}]),
            ]
        },
    }


def _profile(
    config: MappingConfig, resource_type: str, title: str, description: str, elements: list[Element]
) -> Element:
    id_ = profile_id(resource_type)
    return {
        **_header(config, id_, f"Ped{resource_type}", title, description),
        "kind": "resource",
        "abstract": False,
        "type": resource_type,
        "baseDefinition": f"{CORE}/{resource_type}",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def _narrative(resource_type: str) -> list[Element]:
    """Every resource we map is in the pages' language and carries a generated narrative."""
    return [
        _min(f"{resource_type}.language", "The pages' language (the deployment's setting)"),
        _min(f"{resource_type}.text", "Narrative generated from the resource"),
        _el(f"{resource_type}.text.status", fixedCode="generated"),
    ]


def _artifact(resource_type: str, *before_experimental: Element) -> list[Element]:
    """What every canonical artifact we map carries (PlanDefinition, ActivityDefinition)."""
    return [
        _min(f"{resource_type}.url", "{base}/" + resource_type + "/{id}"),
        _min(f"{resource_type}.version", "The deployment's content version (SemVer)"),
        _min(f"{resource_type}.name", "Computable name (PascalCase)"),
        _min(f"{resource_type}.title"),
        *before_experimental,
        _el(f"{resource_type}.experimental", min=1, fixedBoolean=False),
    ]


def _action_path(depth: int) -> str:
    return "PlanDefinition" + ".action" * depth


def _invariant(key: str, human: str, expression: str) -> Element:
    return {"key": key, "severity": "error", "human": human, "expression": expression}


def _plan_invariants(config: MappingConfig) -> list[Element]:
    exhaustive = options_exhaustive_extension(config)
    activity = config.url("ActivityDefinition", "")
    return [
        _invariant("ped-pd-1", "Every action has an id", "repeat(action).all(id.exists())"),
        _invariant(
            "ped-pd-2",
            "An action that points at an activity is a leaf that keeps the page's words",
            "repeat(action).where(definition.exists())"
            ".all(textEquivalent.exists() and action.empty())",
        ),
        _invariant(
            "ped-pd-3",
            "Every definition is a versioned canonical of one of our ActivityDefinitions",
            f"repeat(action).definition.all($this.startsWith('{activity}') "
            f"and $this.endsWith('|{config.version}'))",
        ),
        _invariant(
            "ped-pd-4",
            "An action with child actions says how they are grouped",
            "repeat(action).where(action.exists()).all(groupingBehavior.exists())",
        ),
        _invariant(
            "ped-pd-5",
            "An action with a selection behaviour is a logical group",
            "repeat(action).where(selectionBehavior.exists())"
            ".all(groupingBehavior = 'logical-group')",
        ),
        _invariant(
            "ped-pd-6",
            "An action says at most once whether its options are exhaustive",
            f"repeat(action).all(extension.where(url = '{exhaustive}').count() <= 1)",
        ),
        _invariant(
            "ped-pd-7",
            "Every condition is the page's words as a CQL identifier",
            f"repeat(action).condition.all(expression.language = '{CQL_IDENTIFIER}' "
            "and expression.description.exists() and expression.expression.exists())",
        ),
    ]


def _plan_definition(config: MappingConfig) -> Element:
    root, section = _action_path(1), _action_path(2)
    elements = [
        _el("PlanDefinition", constraint=_plan_invariants(config)),
        *_narrative("PlanDefinition"),
        _url_slicing("PlanDefinition.extension", "Extensions are told apart by url"),
        _extension_slice(
            "PlanDefinition.extension",
            "copyrightLabel",
            COPYRIGHT_LABEL,
            "The page's copyright line",
        ),
        _extension_slice(
            "PlanDefinition.extension",
            "contentDisclaimer",
            disclaimer_extension(config),
            "The page's medical disclaimer",
        ),
        *_artifact(
            "PlanDefinition",
            _el(
                "PlanDefinition.type",
                min=1,
                patternCodeableConcept={
                    "coding": [{"system": PLAN_DEFINITION_TYPE, "code": "clinical-protocol"}]
                },
                binding={
                    "strength": "required",
                    "valueSet": f"http://hl7.org/fhir/ValueSet/plan-definition-type|{FHIR_VERSION}",
                },
            ),
        ),
        _el("PlanDefinition.contact", max_="1", short="The page's publisher"),
        _el("PlanDefinition.useContext", max_="1", short="The disease the page is about"),
        _el(
            "PlanDefinition.useContext.code",
            patternCoding={"system": USAGE_CONTEXT_TYPE, "code": "focus"},
            binding={
                "strength": "required",
                "valueSet": f"http://hl7.org/fhir/ValueSet/usage-context-type|{FHIR_VERSION}",
            },
        ),
        _el("PlanDefinition.useContext.value[x]", type=[{"code": "CodeableConcept"}]),
        _el("PlanDefinition.jurisdiction", max_="1"),
        _min("PlanDefinition.jurisdiction.text", "The country as the page names it"),
        _min("PlanDefinition.reviewer.name"),
        _el("PlanDefinition.relatedArtifact.type", fixedCode="citation"),
        _min("PlanDefinition.relatedArtifact.label", "The reference's number on the page"),
        _min("PlanDefinition.relatedArtifact.citation"),
        _el("PlanDefinition.goal", max_="1"),
        _min("PlanDefinition.goal.id"),
        _min("PlanDefinition.goal.description.text", "The goal in the page's words"),
        _el("PlanDefinition.goal.addresses", max_="1", short="The disease"),
        _min("PlanDefinition.goal.addresses.text", "The disease in the page's words"),
        _min("PlanDefinition.action", "The phase: one root action", max_="1"),
        _min(f"{root}.id"),
        _min(f"{root}.title", "The page's title"),
        _absent(f"{root}.textEquivalent", "The phase is a container"),
        _el(f"{root}.goalId", max_="1"),
        _el(f"{root}.timing[x]", type=[{"code": "Timing"}], short="How long the phase lasts"),
        _el(f"{root}.groupingBehavior", min=1, fixedCode="visual-group"),
        _absent(f"{root}.selectionBehavior", "The phase is a container"),
        _absent(f"{root}.definition[x]", "The phase is a container"),
        _el(f"{section}", short="The page's sections, in page order"),
        _min(f"{section}.id"),
        _absent(f"{section}.textEquivalent", "A section is a container"),
        _el(f"{section}.code", max_="1"),
        _min(f"{section}.code.text"),
        _el(f"{section}.documentation.type", fixedCode="documentation"),
        _min(f"{section}.documentation.display", "The page's 'Find out more' words"),
        _el(f"{section}.condition", max_="1"),
        _el(f"{section}.condition.kind", fixedCode="applicability"),
        _min(f"{section}.condition.expression"),
        _el(f"{section}.groupingBehavior", min=1, fixedCode="visual-group"),
        _absent(f"{section}.selectionBehavior", "A section is a container"),
        _absent(f"{section}.definition[x]", "A section is a container"),
    ]
    for depth in _OPTION_DEPTHS:
        path = f"{_action_path(depth)}.extension"
        elements += [
            _url_slicing(path, "Extensions are told apart by url"),
            _extension_slice(
                path,
                "optionsExhaustive",
                options_exhaustive_extension(config),
                "False where the child list gives examples, not every option",
            ),
        ]
    return _profile(
        config,
        "PlanDefinition",
        "Patient-education phase plan",
        "One treatment phase page as a clinical protocol: one root action (the phase) whose "
        "children are the page's sections in page order; lists are logical groups of actions "
        "that keep the page's words and point at shared ActivityDefinitions.",
        elements,
    )


def _activity_definition(config: MappingConfig) -> Element:
    medication = f"{CORE}/Medication"
    elements = [
        *_narrative("ActivityDefinition"),
        *_artifact("ActivityDefinition"),
        _el("ActivityDefinition.code", max_="1"),
        _min("ActivityDefinition.code.text", "What the activity is, in words"),
        _el("ActivityDefinition.intent", fixedCode="proposal"),
        _el(
            "ActivityDefinition.product[x]",
            type=[
                {"code": "Reference", "targetProfile": [medication]},
                {"code": "CodeableConcept"},
            ],
        ),
        _el("ActivityDefinition.dosage", max_="1"),
        _min("ActivityDefinition.dosage.text", "How it is given, in the tables' words"),
        _min("ActivityDefinition.dosage.timing.repeat.frequency"),
        _min("ActivityDefinition.dosage.timing.repeat.period"),
        _min("ActivityDefinition.dosage.timing.repeat.periodUnit"),
        _min("ActivityDefinition.dosage.route.text"),
        _min("ActivityDefinition.bodySite.text"),
        _el("ActivityDefinition.dynamicValue", max_="1", short="As needed"),
        _el("ActivityDefinition.dynamicValue.path", fixedString="asNeededBoolean"),
        _el("ActivityDefinition.dynamicValue.expression.language", fixedCode=FHIRPATH),
        _el("ActivityDefinition.dynamicValue.expression.expression", fixedString="true"),
    ]
    return _profile(
        config,
        "ActivityDefinition",
        "Patient-education activity",
        "One distinct activity a page offers (a drug, a drug class or a procedure, with its "
        "route and schedule in words), shared by every action that offers it. No amount is "
        "ever given.",
        elements,
    )


def _medication(config: MappingConfig) -> Element:
    elements = [
        *_narrative("Medication"),
        _url_slicing("Medication.extension", "Extensions are told apart by url"),
        _extension_slice(
            "Medication.extension", "artifactUrl", ARTIFACT_URL, "Canonical URL", min_=1
        ),
        _extension_slice(
            "Medication.extension", "artifactVersion", ARTIFACT_VERSION, "Content version", min_=1
        ),
        _min("Medication.code", "The drug ingredient"),
        _min("Medication.code.text", "Its generic name"),
        _el("Medication.status", min=1, fixedCode="active"),
    ]
    return _profile(
        config,
        "Medication",
        "Patient-education drug",
        "One generic Medication per drug ingredient, with a canonical URL and version "
        "(artifact-url, artifact-version) so that packages can carry it.",
        elements,
    )


def structure_definitions(config: MappingConfig) -> list[dict[str, Any]]:
    """Every StructureDefinition we publish: our extensions, then our profiles."""
    return [
        _extension(
            config,
            DISCLAIMER_ID,
            "ContentDisclaimer",
            "Content disclaimer",
            "The page's medical disclaimer, as Markdown: FHIR has no element for it.",
            "PlanDefinition",
            "markdown",
        ),
        _extension(
            config,
            OPTIONS_EXHAUSTIVE_ID,
            "ActionOptionsExhaustive",
            "Action options exhaustive",
            "Whether the action's child actions are every option (true, the default when "
            "absent) or examples only (false: 'such as', 'may include').",
            "PlanDefinition.action",
            "boolean",
        ),
        _plan_definition(config),
        _activity_definition(config),
        _medication(config),
    ]
