"""FHIR XML for JSON-shaped resources, both ways, for R4 and R5.

The element order, types and cardinality come from fhir.resources' models; the conversion
itself is ours because fhir.resources' XML writer has two defects that make its output
invalid or lossy: it writes an element's ``id`` (``action.id``, ``goal.id``) as a child
``<id value>`` instead of an ``id`` attribute, and drops it when reading it back; and it
renders decimals through ``float``, so ``1`` becomes ``1.0`` (FHIR decimals keep their
precision). Here every value is copied as written, and the rules of the FHIR XML format
(R4 §2.6.2) are applied as such:

- a primitive is ``<name value="…"/>``; its JSON ``_name`` companion gives the element's
  ``id`` attribute and ``extension`` children;
- the ``id`` of any element that is not a resource is an attribute; a resource's ``id`` is
  an element; ``Extension.url`` is an attribute;
- a Resource-typed element (``Bundle.entry.resource``, ``contained``) wraps an element
  named after the resource type;
- ``Narrative.div`` is XHTML, inline in its own namespace.

Parsing XML refuses DTDs, entities and anything the models do not know, with the line.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, Literal

from fhir_core.utils import (
    determine_version_prefix_from_class,
    get_fhir_type_name,
    is_list_type,
    is_primitive_type,
)
from lxml import etree

from mappings.limits import MAX_NUMBER_LENGTH
from mappings.numbers import MAX_DIGITS, strict_int
from service.deadlines import check_deadline

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"

Release = Literal["4.0.1", "5.0.0"]


_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'


class XmlError(ValueError):
    """XML that is not a FHIR resource this server can read. ``line`` is 1-based or 0."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


class XmlSyntaxError(XmlError):
    """Not well-formed XML at all (as opposed to XML that is not a FHIR resource)."""


class RawNumber(str):
    """A JSON number kept as written, so that ``1.50`` stays ``1.50`` in XML."""

    __slots__ = ()


def loads_exact(body: bytes | str) -> Any:
    """JSON with numbers kept as written (``RawNumber``), for rendering as XML."""
    return json.loads(body, parse_float=RawNumber, parse_int=RawNumber)


@dataclass(frozen=True)
class _Field:
    name: str
    fhir_type: str
    many: bool
    primitive: bool


def _models(release: Release) -> ModuleType:
    """The models of a release. Importing its ``fhirtypes`` fills fhir_core's type
    registry, which names the FHIR type of each model field."""
    package = "fhir.resources.R4B" if release == "4.0.1" else "fhir.resources"
    importlib.import_module(f"{package}.fhirtypes")
    return importlib.import_module(package)


@cache
def _fields(release: Release, type_name: str) -> tuple[dict[str, _Field], bool]:
    """The elements of a FHIR type, in XML order, and whether it is a resource."""
    try:
        cls = _models(release).get_fhir_model_class(type_name)
    except (KeyError, ValueError, AttributeError, ImportError):
        raise XmlError(0, f"{type_name} is not a FHIR type") from None
    prefix = determine_version_prefix_from_class(cls)
    aliases = cls.get_alias_mapping()
    fields = {}
    for name in cls.elements_sequence():
        info = cls.model_fields[aliases[name]]
        fields[name] = _Field(
            name, get_fhir_type_name(info, prefix=prefix), is_list_type(info),
            is_primitive_type(info),
        )  # fmt: skip
    return fields, bool(cls.has_resource_base())


# --- JSON -> XML ---------------------------------------------------------------------------


def to_xml(resource: Mapping[str, Any], release: Release = "4.0.1") -> bytes:
    """A resource (JSON-shaped; numbers ideally as ``RawNumber``) as FHIR XML, UTF-8.

    Elements are filled from a stack of pending work, not by recursion, so a stored
    resource nested hundreds of levels deep renders like any other."""
    pending: list[_Pending] = []
    root = _resource_element(resource, release, pending)
    while pending:
        element, value, type_name = pending.pop()
        found: list[_Pending] = []
        _fill(element, value, type_name, release, found)
        pending.extend(reversed(found))  # children in document order, depth first
    return _DECLARATION + bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=False))


# An element still to fill: the element, its JSON value and its FHIR type.
_Pending = tuple[etree._Element, Mapping[str, Any], str]


def _resource_element(
    resource: Mapping[str, Any], release: Release, pending: list[_Pending]
) -> etree._Element:
    type_name = resource.get("resourceType")
    if not isinstance(type_name, str):
        raise ValueError("a resource needs a resourceType")
    # lxml takes None as the default namespace's prefix; its stubs do not know that.
    element = etree.Element(f"{{{FHIR_NS}}}{type_name}", nsmap={None: FHIR_NS})  # type: ignore[dict-item]
    pending.append((element, resource, type_name))
    return element


def _fill(
    element: etree._Element,
    value: Mapping[str, Any],
    type_name: str,
    release: Release,
    pending: list[_Pending],
) -> None:
    """Sets the element's attributes and adds its children; complex children are left
    in ``pending``, to be filled in turn."""
    check_deadline()  # a large Bundle takes seconds to write
    fields, is_resource = _fields(release, type_name)
    if not is_resource and value.get("id") is not None:
        element.set("id", str(value["id"]))
    if type_name == "Extension" and value.get("url") is not None:
        element.set("url", str(value["url"]))
    known = {"resourceType"} | fields.keys() | {f"_{name}" for name in fields}
    unknown = [key for key in value if key not in known]
    if unknown:
        raise ValueError(f"{type_name} has no element {unknown[0]!r}")
    for name, field in fields.items():
        if name == "id" and not is_resource:
            continue
        if type_name == "Extension" and name == "url":
            continue
        _add(element, field, value.get(name), value.get(f"_{name}"), release, pending)


def _add(
    parent: etree._Element,
    field: _Field,
    value: Any,
    companion: Any,
    release: Release,
    pending: list[_Pending],
) -> None:
    if value is None and companion is None:
        return
    if field.many:
        values = value if isinstance(value, list) else []
        companions = companion if isinstance(companion, list) else []
        for index in range(max(len(values), len(companions))):
            item = values[index] if index < len(values) else None
            extra = companions[index] if index < len(companions) else None
            _add_one(parent, field, item, extra, release, pending)
    else:
        _add_one(parent, field, value, companion, release, pending)


def _add_one(
    parent: etree._Element,
    field: _Field,
    value: Any,
    companion: Any,
    release: Release,
    pending: list[_Pending],
) -> None:
    if value is None and companion is None:
        return
    if field.fhir_type == "xhtml":
        parent.append(_xhtml(value))
        return
    child = etree.SubElement(parent, f"{{{FHIR_NS}}}{field.name}")
    if field.fhir_type == "Resource":
        child.append(_resource_element(value, release, pending))
    elif field.primitive:
        if isinstance(companion, Mapping):
            _fill(child, companion, "Element", release, pending)  # its id and extensions
        if value is not None:
            child.set("value", _primitive_text(value))
    else:
        pending.append((child, value, field.fhir_type))


# Characters XML 1.0 cannot carry. FHIR strings may not hold them either, but a reply can
# echo what a client sent (an ignored parameter's name), so they become U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _primitive_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _xhtml(div: Any) -> etree._Element:
    try:
        element = etree.fromstring(str(div).encode(), parser=_parser())
    except etree.XMLSyntaxError as e:
        raise ValueError(f"the narrative is not well-formed XHTML: {e}") from None
    if element.tag != f"{{{XHTML_NS}}}div":
        raise ValueError("the narrative must be an XHTML div")
    return element


# --- XML -> JSON ---------------------------------------------------------------------------


@cache
def _parser() -> etree.XMLParser:
    # No DTDs, no entity expansion, no network: a request body cannot reach files or hosts.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        remove_comments=True, remove_pis=True, huge_tree=False,
    )  # fmt: skip


def from_xml(data: bytes, release: Release = "4.0.1") -> dict[str, Any]:
    """A FHIR XML resource as JSON-shaped data (numbers as int or float)."""
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as e:
        raise XmlSyntaxError(e.lineno or 0, f"not well-formed XML: {e.msg}") from None
    if getattr(root.getroottree().docinfo, "doctype", None):
        raise XmlError(1, "a DOCTYPE is not allowed in FHIR XML")
    try:  # the parser stops at 256 levels; reading recurses twice a level
        return _read_resource(root, release)
    except RecursionError:
        raise XmlError(0, "the resource is nested too deeply to read") from None


def _line(element: etree._Element) -> int:
    line = element.sourceline
    return line if isinstance(line, int) else 0


def _local(element: etree._Element, namespace: str = FHIR_NS) -> str:
    qname = etree.QName(element)
    if qname.namespace != namespace:
        raise XmlError(
            _line(element),
            f"<{qname.localname}> is not in the FHIR namespace {namespace}",
        )
    return str(qname.localname)


def _read_resource(element: etree._Element, release: Release) -> dict[str, Any]:
    type_name = _local(element)
    if not _fields(release, type_name)[1]:
        raise XmlError(_line(element), f"<{type_name}> is not a resource")
    if element.attrib:
        raise XmlError(_line(element), f"<{type_name}> takes no attributes")
    result: dict[str, Any] = {"resourceType": type_name}
    _read_children(element, type_name, result, release)
    return result


def _read_complex(element: etree._Element, type_name: str, release: Release) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for attribute, value in element.attrib.items():
        if attribute == "id" or (attribute == "url" and type_name == "Extension"):
            result[attribute] = value
        else:
            raise XmlError(
                _line(element),
                f"<{etree.QName(element).localname}> has an unknown attribute {attribute!r}",
            )
    _read_children(element, type_name, result, release)
    return result


def _read_children(
    element: etree._Element, type_name: str, result: dict[str, Any], release: Release
) -> None:
    fields, is_resource = _fields(release, type_name)
    if element.text and element.text.strip():
        raise XmlError(_line(element), f"unexpected text in <{type_name}>")
    for child in element:
        line = _line(child)
        if etree.QName(child).namespace == XHTML_NS and "div" in fields:
            result["div"] = etree.tostring(child, encoding=str, with_tail=False)
            continue
        name = _local(child)
        field = fields.get(name)
        if field is None or (name == "id" and not is_resource):
            raise XmlError(line, f"{type_name} has no element <{name}>")
        if field.fhir_type == "Resource":
            inner = list(child)
            if len(inner) != 1:
                raise XmlError(line, f"<{name}> must hold exactly one resource")
            _put(result, field, _read_resource(inner[0], release), line)
        elif field.primitive:
            _read_primitive(child, field, result, release)
        else:
            _put(result, field, _read_complex(child, field.fhir_type, release), line)
    for name, field in fields.items():
        companion = result.get(f"_{name}")
        if field.many and isinstance(companion, list):
            if all(c is None for c in companion):
                del result[f"_{name}"]
            elif all(v is None for v in result.get(name, [])):
                del result[name]


def _read_primitive(
    child: etree._Element, field: _Field, result: dict[str, Any], release: Release
) -> None:
    line = _line(child)
    raw = child.get("value")
    companion: dict[str, Any] | None = None
    for attribute, text in child.attrib.items():
        if attribute == "id":
            companion = {"id": text}
        elif attribute != "value":
            raise XmlError(line, f"<{field.name}> has an unknown attribute {attribute!r}")
    if len(child):
        companion = companion or {}
        _read_children(child, "Element", companion, release)
    if raw is None and companion is None:
        raise XmlError(line, f"<{field.name}> has neither a value nor extensions")
    value = None if raw is None else _typed(raw, field.fhir_type, line)
    if field.many:
        # Companions keep their positions; all-None lists are dropped once the parent is read.
        result.setdefault(field.name, []).append(value)
        result.setdefault(f"_{field.name}", []).append(companion)
        return
    if field.name in result or f"_{field.name}" in result:
        raise XmlError(line, f"<{field.name}> may appear only once")
    if value is not None:
        result[field.name] = value
    if companion is not None:
        result[f"_{field.name}"] = companion


def _put(result: dict[str, Any], field: _Field, value: Any, line: int) -> None:
    if field.many:
        result.setdefault(field.name, []).append(value)
    elif field.name in result:
        raise XmlError(line, f"<{field.name}> may appear only once")
    else:
        result[field.name] = value


# The R4 patterns of the numeric and boolean primitives (datatypes.html).
_PATTERNS = {
    "boolean": re.compile(r"true|false"),
    "integer": re.compile(r"-?(0|[1-9][0-9]*)"),
    "integer64": re.compile(r"-?(0|[1-9][0-9]*)"),
    "unsignedInt": re.compile(r"0|[1-9][0-9]*"),
    "positiveInt": re.compile(r"\+?[1-9][0-9]*"),
    "decimal": re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"),
}


def _typed(raw: str, fhir_type: str, line: int) -> Any:
    pattern = _PATTERNS.get(fhir_type)
    if pattern is None:
        return raw
    if fhir_type != "boolean" and len(raw) > MAX_NUMBER_LENGTH:
        # The limit JSON input has (mappings.documents); Python cannot even read an integer
        # of more than 4,300 digits.
        raise XmlError(
            line,
            f"the {fhir_type} has {len(raw)} characters (at most {MAX_NUMBER_LENGTH} are read)",
        )
    if not pattern.fullmatch(raw):
        raise XmlError(line, f"{raw!r} is not a valid {fhir_type}")
    if fhir_type == "boolean":
        return raw == "true"
    if fhir_type == "decimal" and any(c in raw for c in ".eE"):
        number = float(raw)
        if number in (float("inf"), float("-inf")):
            raise XmlError(line, f"{raw!r} is out of range for a decimal")
        return number
    try:  # the pattern has checked the digits; strict_int bounds how many there are
        return strict_int(raw, signed=True)
    except ValueError:
        raise XmlError(line, f"a {fhir_type} of more than {MAX_DIGITS} digits") from None
