"""PlanDefinition: one per phase page (type clinical-protocol).

The action tree mirrors the page, because the consumer is a display module: one root
action for the phase (goal, duration, urgency) whose children are the page's sections in
page order; each list becomes a logical group with the selection behaviour its lead
sentence states; each bullet keeps its verbatim words in ``textEquivalent`` and points at
the shared ActivityDefinition of what it offers.
"""

from __future__ import annotations

from typing import Any

from mappings.content.model import Option, OptionGroup, PhaseContent, Section, Step
from mappings.terminology import Terminology

from .activitydefinition import codeable, duration_quantity, timing
from .catalogue import Catalogue
from .config import MappingConfig
from .definitions import meta
from .ids import IdAllocator, pascal, slug
from .markdown import literal
from .narrative import Html
from .vocabulary import (
    COPYRIGHT_LABEL,
    CQL_IDENTIFIER,
    PLAN_DEFINITION_TYPE,
    TIMING_EXACT,
    USAGE_CONTEXT_TYPE,
    disclaimer_extension,
    options_exhaustive_extension,
)


def plan_id(content: PhaseContent) -> str:
    disease = content.disease
    if disease is not None and content.phase:
        return slug(disease.abbreviation or disease.text, content.phase)
    return slug(content.title)


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v not in (None, [], "")}


def _with_condition(action: dict[str, Any], option: Option) -> dict[str, Any]:
    """The option's own condition ("if someone cannot cope with …"): it applies to this
    option only, never to its section."""
    if option.condition is None:
        return action
    words = option.condition.text
    condition = {"kind": "applicability", "expression": _expression(_without_if(words))}
    return {**action, "condition": [*action.get("condition", []), condition]}


def _without_if(words: str) -> str:
    return words[3:] if words.lower().startswith("if ") else words


def _expression(words: str) -> dict[str, Any]:
    """A condition in the page's words. The CQL identifier names the predicate; no logic
    is claimed, so nothing is invented."""
    return {"description": words, "language": CQL_IDENTIFIER, "expression": words}


class _ActionBuilder:
    def __init__(
        self,
        content: PhaseContent,
        catalogue: Catalogue,
        config: MappingConfig,
        terms: Terminology,
    ) -> None:
        self.content, self.catalogue, self.config, self.terms = content, catalogue, config, terms
        self.ids = IdAllocator()

    def _definition(self, path: tuple[int, ...]) -> str:
        return self.config.canonical("ActivityDefinition", self.catalogue.activity(path).id)

    def option(
        self, option: Option, path: tuple[int, ...], extra: dict[str, Any]
    ) -> dict[str, Any]:
        """A bullet: a single activity, or a logical group of its alternatives."""
        if len(option.choices) == 1:
            activity = self.catalogue.activity((*path, 0))
            schedule = activity.schedule
            choice_action: dict[str, Any] = {
                "id": self.ids(activity.id),
                "textEquivalent": option.text,
                **extra,
                # The page's own wording of the schedule ("often given weekly": not exact).
                "timingTiming": timing(
                    schedule.frequency, schedule.period, schedule.unit, schedule.approximate
                )
                if schedule is not None and schedule.approximate
                else None,
                "definitionCanonical": self._definition((*path, 0)),
            }
            if option.purpose:
                choice_action["reason"] = [{"text": option.purpose}]
            return _drop_none(_with_condition(choice_action, option))
        children = [
            {
                "id": self.ids(self.catalogue.activity((*path, c)).id),
                "textEquivalent": choice.text,
                "definitionCanonical": self._definition((*path, c)),
            }
            for c, choice in enumerate(option.choices)
        ]
        group: dict[str, Any] = {
            "extension": None
            if option.exhaustive
            else [{"url": options_exhaustive_extension(self.config), "valueBoolean": False}],
            "id": self.ids(
                option.drug_class.text
                if option.drug_class
                else " or ".join(choice.text for choice in option.choices)
            ),
            "textEquivalent": option.text,
            **extra,
            "code": None,
            "reason": [{"text": option.purpose}] if option.purpose else None,
            "groupingBehavior": "logical-group",
            "selectionBehavior": option.selection,
            "action": children,
        }
        group = _with_condition(group, option)
        if option.drug_class is not None:
            known = self.terms.drug_class_by_key(option.drug_class.drug_class or "")
            codings = (known.coding,) if known and known.coding else ()
            group["code"] = [codeable(codings, option.drug_class.text)]
        return _drop_none(group)

    def group(self, group: OptionGroup, s: int, g: int) -> dict[str, Any]:
        action: dict[str, Any] = {
            "extension": None
            if group.exhaustive
            else [{"url": options_exhaustive_extension(self.config), "valueBoolean": False}],
            "id": self.ids(self.section_ids[s], "options", str(g + 1)),
            "title": group.lead,
            "timingTiming": timing(
                group.schedule.frequency,
                group.schedule.period,
                group.schedule.unit,
                group.schedule.approximate,
            )
            if group.schedule
            else None,
            "groupingBehavior": "logical-group",
            "selectionBehavior": group.selection,
            "requiredBehavior": group.required,
            "precheckBehavior": group.precheck,
            "action": [
                self.option(option, (s, 0, g, o), {}) for o, option in enumerate(group.options)
            ],
        }
        return _drop_none(action)

    def steps(self, steps: tuple[Step, ...], s: int) -> list[dict[str, Any]]:
        """Prose drug sentences; "If this doesn't work, …" follows the step before it."""
        actions: list[dict[str, Any]] = []
        for t, step in enumerate(steps):
            extra: dict[str, Any] = {}
            if step.after and actions:
                extra = {
                    "condition": [{"kind": "start", "expression": _expression(step.after)}],
                    "relatedAction": [{"actionId": actions[-1]["id"], "relationship": "after-end"}],
                }
            actions.append(self.option(step.option, (s, 1, t, 0), extra))
        return actions

    def section(self, section: Section, s: int) -> dict[str, Any]:
        procedure = self.terms.procedure_by_key(section.procedure) if section.procedure else None
        action: dict[str, Any] = {
            "id": self.section_ids[s],
            "title": section.title,
            "description": "\n\n".join(section.prose) or None,
            "code": [codeable(procedure.codings, section.title or procedure.name)]
            if procedure and procedure.codings
            else None,
            "documentation": [
                {"type": "documentation", "display": text} for text in section.more_info
            ],
            "condition": [
                {
                    "kind": "applicability",
                    "expression": _expression(_without_if(section.condition.text)),
                }
            ]
            if section.condition
            else None,
            "groupingBehavior": "visual-group",
            "requiredBehavior": section.required,
            "action": [self.group(g, s, i) for i, g in enumerate(section.groups)]
            + self.steps(section.steps, s),
        }
        return _drop_none(action)

    def root(self, goal_id: str | None) -> dict[str, Any]:
        content = self.content
        self.section_ids = [self.ids(s.title or s.kind) for s in content.sections]
        span = content.duration
        repeat: dict[str, Any] | None = None
        if span is not None:
            repeat = {}
            if span.approximate:
                repeat["extension"] = [{"url": TIMING_EXACT, "valueBoolean": False}]
            if span.low == span.high:
                repeat["boundsDuration"] = duration_quantity(span.low, span.unit)
            else:
                repeat["boundsRange"] = {
                    "low": duration_quantity(span.low, span.unit),
                    "high": duration_quantity(span.high, span.unit),
                }
        root = {
            "id": self.ids(content.phase or "phase", "phase"),
            "title": content.title,
            "goalId": [goal_id] if goal_id else None,
            "timingTiming": {"repeat": repeat} if repeat else None,
            "priority": content.urgency.priority if content.urgency else None,
            "groupingBehavior": "visual-group",
            "action": self.sections(),
        }
        return _drop_none(root)

    def sections(self) -> list[dict[str, Any]]:
        """The page's sections in page order; a sub-heading's section sits inside the action
        of the heading it belongs to, after that heading's own content."""
        built = [self.section(section, s) for s, section in enumerate(self.content.sections)]
        top: list[dict[str, Any]] = []
        for section, action in zip(self.content.sections, built, strict=True):
            if section.parent is None:
                top.append(action)
            else:
                # Appended in place: copying the parent's list per sub-section was quadratic.
                built[section.parent].setdefault("action", []).append(action)
        return top


def _disease_concept(content: PhaseContent, terms: Terminology) -> dict[str, Any] | None:
    disease = content.disease
    if disease is None:
        return None
    known = terms.disease_by_key(disease.key) if disease.key else None
    return codeable(known.codings if known else (), disease.text)


def build_plan_definition(
    content: PhaseContent, catalogue: Catalogue, config: MappingConfig, terms: Terminology
) -> dict[str, Any]:
    id_ = plan_id(content)
    disease = _disease_concept(content, terms)
    goal = None
    if content.goal is not None:
        goal = _drop_none(
            {
                "id": "goal",
                "description": {"text": content.goal.statement},
                "addresses": [disease] if disease else None,
            }
        )
    holder = content.copyright.holder if content.copyright else None
    telecom = [
        {"system": "phone", "value": content.phone} if content.phone else None,
        {"system": "url", "value": content.site} if content.site else None,
    ]
    extensions = [
        {"url": COPYRIGHT_LABEL, "valueString": content.copyright.text}
        if content.copyright
        else None,
        {"url": disclaimer_extension(config), "valueMarkdown": "\n\n".join(content.disclaimer)}
        if content.disclaimer
        else None,
    ]
    aliases = [a[:1].upper() + a[1:] for a in content.aliases]
    pd = _drop_none(
        {
            "resourceType": "PlanDefinition",
            "id": id_,
            "meta": meta(config, "PlanDefinition"),
            "language": config.language,
            "extension": [e for e in extensions if e],
            "url": config.url("PlanDefinition", id_),
            "version": config.version,
            "name": pascal(content.title),
            "title": content.title,
            "subtitle": "; ".join(aliases) or None,
            "type": {
                "coding": [
                    {
                        "system": PLAN_DEFINITION_TYPE,
                        "code": "clinical-protocol",
                        "display": "Clinical Protocol",
                    }
                ]
            },
            "status": config.status,
            "experimental": False,
            "publisher": holder,
            "contact": [_drop_none({"name": holder, "telecom": [t for t in telecom if t]})]
            if holder or any(telecom)
            else None,
            "description": "\n\n".join(content.intro) or None,
            "useContext": [
                {
                    "code": {"system": USAGE_CONTEXT_TYPE, "code": "focus"},
                    "valueCodeableConcept": disease,
                }
            ]
            if disease
            else None,
            "jurisdiction": [{"text": content.jurisdiction}] if content.jurisdiction else None,
            "purpose": content.goal.sentence if content.goal else None,
            "usage": " ".join(content.usage) or None,
            "copyright": content.copyright.text if content.copyright else None,
            "reviewer": [{"name": name} for name in content.reviewers],
            "relatedArtifact": [
                _drop_none({"type": "citation", "label": str(i), "citation": c.text, "url": c.url})
                for i, c in enumerate(content.citations, start=1)
            ],
            "goal": [goal] if goal else None,
        }
    )
    builder = _ActionBuilder(content, catalogue, config, terms)
    pd["action"] = [builder.root("goal" if goal else None)]
    pd["text"] = plan_narrative(pd)  # from the page's words, before they become Markdown
    _as_markdown(pd)
    return pd


def _as_markdown(pd: dict[str, Any]) -> None:
    """Page prose in the elements R4 types ``markdown`` (``description``, ``purpose``,
    ``copyright``, ``relatedArtifact.citation``, the disclaimer's ``valueMarkdown``),
    escaped so that a renderer shows it as the page wrote it. ``string`` elements (titles,
    ``textEquivalent``, action ``description``, ``usage``) are plain text as they are."""
    for key in ("description", "purpose", "copyright"):
        if key in pd:
            pd[key] = literal(pd[key])
    for artifact in pd.get("relatedArtifact", []):
        artifact["citation"] = literal(artifact["citation"])
    for extension in pd.get("extension", []):
        if "valueMarkdown" in extension:
            extension["valueMarkdown"] = literal(extension["valueMarkdown"])


def plan_narrative(pd: dict[str, Any]) -> dict[str, Any]:
    """The phase as a reader meets it: header, then each action with its words."""
    h = Html()
    h.add(None, "h1", pd["title"])
    if "subtitle" in pd:
        h.add(None, "p", pd["subtitle"])
    if "description" in pd:
        h.paragraphs(None, [pd["description"]])
    for goal in pd.get("goal", []):
        h.field(None, "Goal", goal["description"]["text"])
    if "usage" in pd:
        h.field(None, "Usage", pd["usage"])
    for action in pd["action"][0].get("action", []):
        _action_narrative(h, None, action, depth=2)
    if pd.get("reviewer"):
        h.field(None, "Reviewed by", "; ".join(r["name"] for r in pd["reviewer"]))
    h.add(None, "h2", "References") if pd.get("relatedArtifact") else None
    h.items(None, [a["citation"] for a in pd.get("relatedArtifact", [])])
    for ext in pd.get("extension", []):
        if "valueMarkdown" in ext:
            h.paragraphs(None, [ext["valueMarkdown"]])
    if "copyright" in pd:
        h.add(None, "p", pd["copyright"])
    return h.narrative()


def _action_narrative(h: Html, parent: Any, action: dict[str, Any], depth: int) -> None:
    if "title" in action:
        h.add(parent, f"h{min(depth, 6)}", action["title"])
    for condition in action.get("condition", []):
        if condition["kind"] == "applicability":
            h.field(parent, "Applies", "if " + condition["expression"]["description"])
    if "description" in action:
        h.paragraphs(parent, [action["description"]])
    children = action.get("action", [])
    if children:
        ul = h.add(parent, "ul")
        for child in children:
            li = h.add(ul, "li", child.get("textEquivalent"))
            if "title" in child or (child.get("action") and "textEquivalent" not in child):
                _action_narrative(h, li, child, depth + 1)
    for doc in action.get("documentation", []):
        h.add(parent, "p", doc["display"])
