"""marshmallow schemas for the middle format: YAML/JSON <-> immutable content objects.

The schemas are the boundary where hand-edited or stored content comes back in, so they
validate every code-like field against the closed vocabularies of ``model``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, get_args

import yaml
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate

from mappings.documents import DocumentError, loads_yaml

from . import model

FORMAT = "ped-content/2"  # bumped when the middle format changes incompatibly
# Older documents this version still reads, upgraded on load (``_upgrade``).
READS = ("ped-content/1", FORMAT)


def _one_of(literal: Any) -> validate.OneOf:
    return validate.OneOf(get_args(literal))


def _text(**kw: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1), **kw)


def _optional_text() -> fields.String:
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1))


def _integer(**kw: Any) -> fields.Integer:
    """A YAML/JSON number, not text: marshmallow's lenient ``int()`` would read the text
    ``"1_0"`` as 10, and Arabic-Indic or fullwidth digits as numbers."""
    return fields.Integer(strict=True, **kw)


def _texts() -> fields.List[str]:
    return fields.List(_text(), load_default=list)


class _Frozen(Schema):
    """Loads into the dataclass named by ``model_class``; lists become tuples."""

    model_class: ClassVar[type]

    class Meta:
        unknown = RAISE
        ordered = True

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> Any:
        return self.model_class(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        )


class SpanSchema(_Frozen):
    model_class = model.Span
    text = _text(required=True)
    low = _integer(required=True, validate=validate.Range(min=0))
    high = _integer(required=True, validate=validate.Range(min=0))
    unit = _text(required=True)
    approximate = fields.Boolean(required=True)


class ScheduleSchema(_Frozen):
    model_class = model.Schedule
    text = _text(required=True)
    frequency = _integer(required=True, validate=validate.Range(min=1))
    period = _integer(required=True, validate=validate.Range(min=1))
    unit = _text(required=True)
    approximate = fields.Boolean(required=True)


class DrugRefSchema(_Frozen):
    model_class = model.DrugRef
    name = _text(required=True)
    drug = _optional_text()
    brands = _texts()
    other_names = _texts()
    concept = _optional_text()
    generic = _optional_text()
    formulation = _optional_text()


class ClassRefSchema(_Frozen):
    model_class = model.ClassRef
    text = _text(required=True)
    drug_class = _optional_text()


class ChoiceSchema(_Frozen):
    model_class = model.Choice
    text = _text(required=True)
    kind = fields.String(required=True, validate=_one_of(model.ChoiceKind))
    drug = fields.Nested(DrugRefSchema, load_default=None, allow_none=True)
    drug_class = fields.Nested(ClassRefSchema, load_default=None, allow_none=True)
    procedure = _optional_text()
    examples = fields.List(fields.Nested(DrugRefSchema), load_default=list)
    dose = _optional_text()
    route = _optional_text()
    route_text = _optional_text()
    schedule = fields.Nested(ScheduleSchema, load_default=None, allow_none=True)
    body_sites = _texts()


class OptionSchema(_Frozen):
    model_class = model.Option
    text = _text(required=True)
    line = _integer(required=True, validate=validate.Range(min=1))
    choices = fields.List(fields.Nested(ChoiceSchema), required=True)
    selection = fields.String(load_default=None, allow_none=True, validate=_one_of(model.Selection))
    wording = _optional_text()
    drug_class = fields.Nested(ClassRefSchema, load_default=None, allow_none=True)
    exhaustive = fields.Boolean(load_default=True)
    purpose = _optional_text()
    as_needed = fields.Boolean(load_default=False)
    regimen = _optional_text()
    frequency = _optional_text()
    condition = fields.Nested(lambda: ConditionSchema(), load_default=None, allow_none=True)


class OptionGroupSchema(_Frozen):
    model_class = model.OptionGroup
    lead = _text(required=True)
    line = _integer(required=True, validate=validate.Range(min=1))
    selection = fields.String(required=True, validate=_one_of(model.Selection))
    wording = _optional_text()
    required = fields.String(load_default=None, allow_none=True, validate=_one_of(model.Required))
    precheck = fields.String(load_default=None, allow_none=True, validate=_one_of(model.Precheck))
    exhaustive = fields.Boolean(required=True)
    schedule = fields.Nested(ScheduleSchema, load_default=None, allow_none=True)
    options = fields.List(fields.Nested(OptionSchema), required=True)


class StepSchema(_Frozen):
    model_class = model.Step
    option = fields.Nested(OptionSchema, required=True)
    after = _optional_text()


class ConditionSchema(_Frozen):
    model_class = model.Condition
    text = _text(required=True)
    sentence = _text(required=True)


class SectionSchema(_Frozen):
    model_class = model.Section
    heading = _optional_text()
    title = _optional_text()
    kind = _text(required=True)
    line = _integer(required=True, validate=validate.Range(min=1))
    prose = _texts()
    required = fields.String(load_default=None, allow_none=True, validate=_one_of(model.Required))
    required_wording = _optional_text()
    condition = fields.Nested(ConditionSchema, load_default=None, allow_none=True)
    groups = fields.List(fields.Nested(OptionGroupSchema), load_default=list)
    steps = fields.List(fields.Nested(StepSchema), load_default=list)
    more_info = _texts()
    procedure = _optional_text()
    parent = _integer(load_default=None, allow_none=True, validate=validate.Range(min=0))


class GoalSchema(_Frozen):
    model_class = model.Goal
    sentence = _text(required=True)
    statement = _text(required=True)


class UrgencySchema(_Frozen):
    model_class = model.Urgency
    sentence = _text(required=True)
    wording = _text(required=True)
    priority = fields.String(required=True, validate=_one_of(model.Priority))


class DiseaseSchema(_Frozen):
    model_class = model.Disease
    text = _text(required=True)
    abbreviation = _optional_text()
    key = _optional_text()


class CitationSchema(_Frozen):
    model_class = model.Citation
    text = _text(required=True)
    url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"})


class CopyrightSchema(_Frozen):
    model_class = model.Copyright
    text = _text(required=True)
    year = _optional_text()
    holder = _optional_text()


class PhaseContentSchema(_Frozen):
    model_class = model.PhaseContent
    title = _text(required=True)
    last_review = _optional_text()
    disease = fields.Nested(DiseaseSchema, load_default=None, allow_none=True)
    phase = _optional_text()
    aliases = _texts()
    intro = _texts()
    goal = fields.Nested(GoalSchema, load_default=None, allow_none=True)
    duration = fields.Nested(SpanSchema, load_default=None, allow_none=True)
    urgency = fields.Nested(UrgencySchema, load_default=None, allow_none=True)
    usage = _texts()
    jurisdiction = _optional_text()
    sections = fields.List(fields.Nested(SectionSchema), required=True)
    reviewers = _texts()
    citations = fields.List(fields.Nested(CitationSchema), load_default=list)
    disclaimer = _texts()
    copyright = fields.Nested(CopyrightSchema, load_default=None, allow_none=True)
    phone = _optional_text()
    site = _optional_text()
    topic = _optional_text()
    warnings = _texts()


class DocumentSchema(Schema):
    """The file envelope: a format tag, so a stored file says what it is."""

    class Meta:
        unknown = EXCLUDE

    format = fields.String(required=True, validate=validate.OneOf(READS))
    content = fields.Nested(PhaseContentSchema, required=True)


class ContentError(ValueError):
    """Middle-format input that does not load. ``messages`` is marshmallow's field map."""

    def __init__(self, messages: Any) -> None:
        super().__init__(_first_problem(messages))
        self.messages = messages


def _first_problem(messages: Any, path: str = "") -> str:
    if isinstance(messages, dict):
        for key, value in messages.items():
            return _first_problem(value, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return _first_problem(messages[0], path)
    return f"{path}: {messages}" if path else str(messages)


def dump(content: model.PhaseContent) -> dict[str, Any]:
    """The middle format as plain data (``format`` first, for humans reading the file)."""
    return {"format": FORMAT, "content": PhaseContentSchema().dump(content)}


def _upgrade(data: Any) -> Any:
    """ped-content/1 had one ``brand`` per drug; it reads as a list of one."""
    if not isinstance(data, dict) or data.get("format") != "ped-content/1":
        return data

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: walk(v) for k, v in value.items()}
            if "name" in out and "brand" in out and "drug" in out:
                brand = out.pop("brand")
                out["brands"] = [brand] if brand else []
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(data)


def load(data: Any) -> model.PhaseContent:
    try:
        loaded = DocumentSchema().load(_upgrade(data))
    except ValidationError as e:
        raise ContentError(e.messages) from e
    except RecursionError:
        raise ContentError(
            "the document is nested too deeply to be middle-format content"
        ) from None
    content: model.PhaseContent = loaded["content"]
    return content


def dumps_yaml(content: model.PhaseContent) -> str:
    return yaml.safe_dump(dump(content), sort_keys=False, allow_unicode=True, width=100)


def dumps_json(content: model.PhaseContent) -> str:
    return json.dumps(dump(content), indent=2, ensure_ascii=False) + "\n"


def loads(text: str) -> model.PhaseContent:
    """Load YAML or JSON text (JSON is YAML), read strictly and bounded
    (``mappings.documents``): a refusal is a ``ContentError`` starting ``line N: ``."""
    try:
        data = loads_yaml(text)
    except DocumentError as e:
        raise ContentError(f"line {e.line}: {e.message}" if e.line else e.message) from None
    return load(data)
