"""An Infobutton request's query parameters, checked and parsed into ``InfobuttonRequest``.

These are the parameters of the HL7 URL-based Infobutton implementation guide that
MedlinePlus Connect answers. Each takes one value: a repeated one is refused rather than
resolved by picking one of them, because either choice could answer a question the client
did not ask. Any other parameter is ignored: Infobutton clients send many optional ones
(``taskContext.c.c``, ``patientPerson.administrativeGenderCode.c``, ``age.v.v``, …) that
this service does not use, and refusing them would break those clients; they are not echoed
either, so the feed never suggests they were applied.

Every problem in a request is reported at once, each naming its parameter, so a client
developer fixes a request in one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema
from werkzeug.datastructures import MultiDict

from . import language
from .codes import SYSTEMS, CodeSystem, is_oid

CODE = "mainSearchCriteria.v.c"
CODE_SYSTEM = "mainSearchCriteria.v.cs"
DISPLAY_NAME = "mainSearchCriteria.v.dn"
LANGUAGE = "informationRecipient.languageCode.c"
RESPONSE_TYPE = "knowledgeResponseType"
RECIPIENT = "informationRecipient"

PARAMETERS = (CODE, CODE_SYSTEM, DISPLAY_NAME, LANGUAGE, RECIPIENT, RESPONSE_TYPE)
"""Every parameter this endpoint reads, in the order problems and categories are listed."""

TEXT_XML = "text/xml"
ATOM = "application/atom+xml"
JSON = "application/json"
RESPONSE_TYPES = (TEXT_XML, ATOM, JSON)
DEFAULT_LANGUAGE = "en"
RECIPIENTS = ("PAT", "PROV")  # HL7 RoleClass: patient, healthcare provider

IssueCode = Literal["invalid", "required"]


@dataclass(frozen=True)
class Problem:
    """What is wrong with one parameter; ``code`` is the OperationOutcome issue type."""

    parameter: str
    code: IssueCode
    message: str

    @property
    def diagnostics(self) -> str:
        return f"{self.parameter}: {self.message}"


class RequestError(ValueError):
    """A request that cannot be answered as sent (HTTP 400), with every problem in it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.diagnostics for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class InfobuttonRequest:
    oid: str
    code: str
    """Normalized for its system (ICD-10-CM in upper case); as sent for other systems."""
    system: CodeSystem | None
    """None for a well-formed OID this service has no content coded in."""
    display: str | None
    language: str
    """The BCP 47 tag, in its recommended case."""
    recipient: str | None
    response_type: str | None
    """``text/xml``, ``application/atom+xml`` or ``application/json``; None when not given
    (an Atom feed, the Infobutton default)."""
    criteria: tuple[tuple[str, str], ...]
    """(parameter, value as sent) of each criterion applied, language included even when
    defaulted because it was applied. The feed echoes these as its categories."""

    @property
    def wants_json(self) -> bool:
        return self.response_type == JSON

    def searched_codes(self) -> tuple[str, ...]:
        """The stored codes the request finds (the code and, in ICD-10-CM, its ancestors)."""
        return self.system.widen(self.code) if self.system is not None else ()


def shown(value: str, limit: int = 40) -> str:
    """A value quoted for a message: shortened, and with every character that is not
    printable (controls, characters XML cannot carry) written as an escape."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _xml_char(c: str) -> bool:
    """XML 1.0 ``Char``: what an XML document (the feed, a FHIR XML error) can carry."""
    o = ord(c)
    if o < 0x20:
        return c in "\t\n\r"
    return o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


def _carried(value: str) -> None:
    """Values are echoed into the reply, so each must be text an XML document can hold."""
    bad = next((c for c in value if not _xml_char(c)), None)
    if bad is not None:
        raise ValidationError(f"contains U+{ord(bad):04X}, which XML text cannot carry")


def _code(value: str) -> None:
    if not value:
        raise ValidationError("is empty; give the code to look up")
    _carried(value)


def _oid(value: str) -> None:
    if not is_oid(value):
        raise ValidationError(
            f"{shown(value)} is not an OID; give the code system's OID, like "
            "2.16.840.1.113883.6.90 (ICD-10-CM)"
        )


def _language(value: str) -> None:
    if not language.is_language_tag(value):
        raise ValidationError(f"{shown(value)} is not a BCP 47 language tag, like en or en-US")


def _response_type(value: str) -> None:
    if value.lower() not in RESPONSE_TYPES:
        raise ValidationError(f"{shown(value)} is not one of {', '.join(RESPONSE_TYPES)}")


def _recipient(value: str) -> None:
    if value not in RECIPIENTS:
        raise ValidationError(f"{shown(value)} is not one of {', '.join(RECIPIENTS)}")


class InfobuttonSchema(Schema):
    """The parameters, one value each; a supported system's code is checked for its shape."""

    class Meta:
        unknown = EXCLUDE

    code = fields.String(
        data_key=CODE,
        required=True,
        validate=_code,
        error_messages={"required": "is required: the code to find education content for"},
    )
    oid = fields.String(
        data_key=CODE_SYSTEM,
        required=True,
        validate=_oid,
        error_messages={"required": "is required: the OID of the code's system"},
    )
    display = fields.String(data_key=DISPLAY_NAME, load_default=None, validate=_carried)
    language = fields.String(data_key=LANGUAGE, load_default=DEFAULT_LANGUAGE, validate=_language)
    response_type = fields.String(
        data_key=RESPONSE_TYPE, load_default=None, validate=_response_type
    )
    recipient = fields.String(data_key=RECIPIENT, load_default=None, validate=_recipient)

    @validates_schema(skip_on_field_errors=False)
    def _code_fits_system(self, data: Mapping[str, Any], **_: object) -> None:
        # Runs beside the field checks (a bad display name hides no bad code); a field that
        # failed its own check is absent from ``data``.
        system = SYSTEMS.get(data.get("oid", ""))
        if system is not None and "code" in data and not system.accepts(data["code"]):
            wrong = f"{shown(data['code'])} is not a valid {system.name} code"
            raise ValidationError(f"{wrong}; expected {system.expected}", CODE)


_SCHEMA = InfobuttonSchema()


def not_utf8() -> RequestError:
    """For a query string that is not UTF-8 once percent-decoded (werkzeug refuses to read
    it): the parameters cannot be known, so none can be named."""
    return RequestError([Problem("query string", "invalid", "is not UTF-8")])


def wants_json(args: MultiDict[str, str]) -> bool:
    """Whether errors go out as JSON: exactly one ``knowledgeResponseType``, and it is JSON.
    Known before (and whatever) the rest of the request turns out to be."""
    values = args.getlist(RESPONSE_TYPE)
    return len(values) == 1 and values[0].lower() == JSON


def _problems(error: ValidationError, given: Mapping[str, str]) -> list[Problem]:
    messages = error.messages if isinstance(error.messages, dict) else {}
    problems = []
    for parameter in PARAMETERS:
        for message in messages.get(parameter, ()):
            code: IssueCode = "invalid" if parameter in given else "required"
            problems.append(Problem(parameter, code, str(message)))
    return problems


def parse(args: MultiDict[str, str]) -> InfobuttonRequest:
    """The request, or ``RequestError`` naming every parameter that is wrong."""
    repeated = [p for p in PARAMETERS if len(args.getlist(p)) > 1]
    if repeated:
        raise RequestError(
            [
                Problem(p, "invalid", f"is given {len(args.getlist(p))} times; it takes one value")
                for p in repeated
            ]
        )
    given = {p: args[p] for p in PARAMETERS if p in args}
    try:
        data = _SCHEMA.load(given)
    except ValidationError as error:
        raise RequestError(_problems(error, given)) from None
    system = SYSTEMS.get(data["oid"])
    tag = language.canonical_case(data["language"])
    criteria = [(p, given[p]) for p in (CODE, CODE_SYSTEM, DISPLAY_NAME) if given.get(p)]
    criteria.append((LANGUAGE, given.get(LANGUAGE, tag)))
    if RECIPIENT in given:
        criteria.append((RECIPIENT, given[RECIPIENT]))
    return InfobuttonRequest(
        oid=data["oid"],
        code=system.normalize(data["code"]) if system is not None else data["code"],
        system=system,
        display=data["display"] or None,
        language=tag,
        recipient=data["recipient"],
        response_type=data["response_type"].lower() if data["response_type"] else None,
        criteria=tuple(criteria),
    )
