"""Strict, bounded reading of JSON and YAML documents from outside.

One reader for every document a file or a request brings in (FHIR JSON, the middle format
as YAML or JSON), so every one refuses the same things, with the line where it happens:

- a duplicate key in one object or mapping (RFC 8259 leaves it undefined; FHIR JSON forbids
  it; the stdlib and PyYAML silently keep the last);
- nesting deeper than ``MAX_DEPTH``;
- a number longer than ``MAX_NUMBER_LENGTH`` characters, and JSON's non-standard ``NaN``,
  ``Infinity`` or a decimal out of a float's range;
- YAML anchors and aliases (``&a`` / ``*a``): a few hundred bytes of nested aliases expand
  to gigabytes, and hand-edited content has no use for them;
- the bidirectional control characters of ``BIDI_CONTROLS``, written or escaped.

JSON is read by the stdlib's own decoder (``json.JSONDecoder``), with its hooks: the pairs
of each object, its numbers and constants, and its object and array steps, which report
where they are so that each refusal names its line. YAML is read by PyYAML's safe loader
with its composer and constructor extended. Neither is a parser of its own.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import yaml

from mappings.limits import BIDI_CONTROLS, MAX_DEPTH, MAX_NUMBER_LENGTH

Path = Sequence[str | int]
"""Where a value is in a document: its keys and list indexes from the root."""


class DocumentError(ValueError):
    """A document that is refused: ``line`` is 1-based, or 0 when not known."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


# --- text ----------------------------------------------------------------------------------

_BIDI = re.compile(f"[{''.join(sorted(BIDI_CONTROLS))}]")
# A JSON escape of a bidi control: ``\u202e`` after an even number of backslashes (an odd
# number escapes the backslash itself). Escapes occur only inside JSON strings.
_BIDI_ESCAPE = re.compile(r"\\u(?:202[a-eA-E]|206[6-9])")


def _escaped_bidi(text: str) -> re.Match[str] | None:
    for match in _BIDI_ESCAPE.finditer(text):
        backslashes = 0
        while match.start() - backslashes > 0 and text[match.start() - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return match
    return None


def _bidi_message(character: str) -> str:
    return (
        f"a bidirectional control character (U+{ord(character):04X}) is not allowed: "
        "it changes how text reads without changing what it says"
    )


def check_text(text: str) -> None:
    """Refuse text holding a bidirectional embedding, override or isolate control."""
    if not any(control in text for control in BIDI_CONTROLS):  # nine fast scans, no regex
        return
    match = _BIDI.search(text)
    if match:
        raise DocumentError(_line(text, match.start()), _bidi_message(match.group()))


def find_bidi(value: Any) -> str | None:
    """The first bidirectional control in any string of a parsed document (keys too)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            match = _BIDI.search(item)
            if match:
                return match.group()
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


# --- JSON ----------------------------------------------------------------------------------

# The stdlib's pure-Python scanner and its object and array steps: the C scanner has no hook
# that says where it is. Both have been part of ``json`` since Python 2.6.
_make_scanner: Callable[[json.JSONDecoder], Callable[[str, int], tuple[Any, int]]]
_make_scanner = json.scanner.py_make_scanner  # type: ignore[attr-defined]
_parse_object: Callable[..., tuple[Any, int]] = json.decoder.JSONObject  # type: ignore[attr-defined]
_parse_array: Callable[..., tuple[Any, int]] = json.decoder.JSONArray  # type: ignore[attr-defined]


class _Refused(Exception):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


class _JsonReader:
    """One document's decoder. ``frames`` holds, for each open object or array, where each
    of its values starts; with ``record``, ``positions`` keeps them for every container
    (by ``id``), to find the line of any value afterwards."""

    def __init__(self, record: bool = False) -> None:
        self.decoder = json.JSONDecoder(
            object_pairs_hook=self._pairs,
            parse_float=self._float,
            parse_int=self._int,
            parse_constant=self._constant,
        )
        # py_make_scanner reads these when it is made; JSONObject and JSONArray then call
        # back ``self._scan`` for every value, which says where the value starts.
        setattr(self.decoder, "parse_object", self._object)  # noqa: B010
        setattr(self.decoder, "parse_array", self._array)  # noqa: B010
        self._scan_value = _make_scanner(self.decoder)
        setattr(self.decoder, "scan_once", self._scan)  # noqa: B010
        self.frames: list[list[int]] = []
        self.at = 0
        self.positions: dict[int, list[int]] | None = {} if record else None
        self._kept: list[Any] = []  # containers whose ids are in ``positions``

    def _scan(self, text: str, index: int) -> tuple[Any, int]:
        self.at = index
        if self.frames:
            self.frames[-1].append(index)
        return self._scan_value(text, index)

    def _enter(self, index: int) -> None:
        if len(self.frames) >= MAX_DEPTH:
            raise _Refused(index, f"nested more than {MAX_DEPTH} levels deep")
        self.frames.append([])

    def _keep(self, container: Any, starts: list[int]) -> None:
        if self.positions is not None:
            self.positions[id(container)] = starts
            self._kept.append(container)

    def _object(
        self, text_and_end: tuple[str, int], strict: bool, _scan: Any, hook: Any,
        pairs_hook: Any, memo: Any = None,
    ) -> tuple[Any, int]:  # fmt: skip
        self._enter(text_and_end[1] - 1)
        try:
            return _parse_object(text_and_end, strict, self._scan, hook, pairs_hook, memo)
        finally:
            self.frames.pop()

    def _array(self, text_and_end: tuple[str, int], _scan: Any) -> tuple[Any, int]:
        self._enter(text_and_end[1] - 1)
        try:
            values, end = _parse_array(text_and_end, self._scan)
            self._keep(values, self.frames[-1])
            return values, end
        finally:
            self.frames.pop()

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        starts = self.frames[-1]
        if len(result) != len(pairs):
            seen: set[str] = set()
            for (key, _), start in zip(pairs, starts, strict=True):
                if key in seen:
                    raise _Refused(start, f"duplicate key {key!r} in one object")
                seen.add(key)
        self._keep(result, starts)
        return result

    def _number(self, text: str) -> None:
        if len(text) > MAX_NUMBER_LENGTH:
            raise _Refused(
                self.at,
                f"a number of {len(text)} characters (at most {MAX_NUMBER_LENGTH} are read)",
            )

    def _int(self, text: str) -> int:
        self._number(text)
        return int(text)

    def _float(self, text: str) -> float:
        self._number(text)
        value = float(text)
        if not math.isfinite(value):
            raise _Refused(self.at, f"the number {text} is out of range")
        return value

    def _constant(self, name: str) -> Any:
        raise _Refused(self.at, f"{name} is not a JSON number")

    def read(self, text: str) -> Any:
        try:
            return self.decoder.decode(text)
        except json.JSONDecodeError as e:
            raise DocumentError(e.lineno, f"not valid JSON: {e.msg}") from None
        except _Refused as e:
            raise DocumentError(_line(text, e.position), e.message) from None


class _Doubt(Exception):
    """The fast reader met something the strict one must locate."""


def _doubt(*_: object) -> Any:
    raise _Doubt


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Doubt
    return result


def _short_number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        if len(text) > MAX_NUMBER_LENGTH:
            raise _Doubt
        value = kind(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise _Doubt
        return value

    return read


# The stdlib's C scanner with the same refusals, unlocated: about 4x faster than the
# pure-Python one, which reads a document again only when this one doubts it.
_FAST = json.JSONDecoder(
    object_pairs_hook=_unique_pairs,
    parse_int=_short_number(int),
    parse_float=_short_number(float),
    parse_constant=_doubt,
)


def _depth_within(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def loads_json(text: str) -> Any:
    """A JSON document, read strictly (see the module's docstring)."""
    check_text(text)
    match = _escaped_bidi(text)
    if match:
        character = chr(int(match.group()[-4:], 16))
        raise DocumentError(_line(text, match.start()), _bidi_message(character))
    try:
        value = _FAST.decode(text)
    except (_Doubt, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        pass
    else:
        if _depth_within(value, MAX_DEPTH):
            return value
    return _JsonReader().read(text)  # refuses it, at its line


def json_lines(text: str) -> Callable[[Path], int]:
    """For a document ``loads_json`` reads, the line of the value at a path (or of its
    deepest ancestor that exists there); 0 if the document cannot be read."""
    reader = _JsonReader(record=True)
    try:
        root = reader.read(text)
    except DocumentError:
        return lambda path: 0
    positions = reader.positions or {}

    def line(path: Path) -> int:
        value, position = root, None
        for step in path:
            starts = positions.get(id(value))
            if isinstance(value, dict) and isinstance(step, str) and step in value:
                index = list(value).index(step)
            elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
                index = step
            else:
                break
            if starts is None:
                break
            position, value = starts[index], value[step]
        return 1 if position is None else _line(text, position)

    return line


# --- YAML ----------------------------------------------------------------------------------


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases, duplicate keys, deep nesting, long
    numbers and bidi controls, each at its line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: type[yaml.Token]) -> None:
        # The scanner looks up to 1,024 characters ahead of each "[" or "{" for a simple
        # key, over every open flow level: a line of brackets costs seconds before the
        # composer sees the first of them. So flow nesting is bounded here already.
        if self.flow_level >= MAX_DEPTH:
            raise DocumentError(self.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise DocumentError(line, f"a YAML alias (*{event.anchor}) is not allowed")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise DocumentError(line, f"a YAML anchor (&{anchor}) is not allowed")
        if isinstance(event, yaml.ScalarEvent):
            match = _BIDI.search(event.value)
            if match:
                raise DocumentError(line, _bidi_message(match.group()))
        container = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if container:
            if self._depth >= MAX_DEPTH:
                raise DocumentError(line, f"nested more than {MAX_DEPTH} levels deep")
            self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            if container:
                self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise DocumentError(
                    key_node.start_mark.line + 1, "a YAML merge key (<<) is not allowed"
                )
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise DocumentError(
                        key_node.start_mark.line + 1, f"duplicate key {key!r} in one mapping"
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (DocumentError, yaml.YAMLError):
            raise
        except (ValueError, TypeError, OverflowError) as e:
            # e.g. the timestamp 2024-13-45: PyYAML lets datetime's ValueError through.
            raise DocumentError(node.start_mark.line + 1, f"not a valid {node.tag}: {e}") from None


def _bounded_number(
    construct: Callable[[Any, yaml.ScalarNode], Any],
) -> Callable[[_YamlLoader, yaml.ScalarNode], Any]:
    def checked(loader: _YamlLoader, node: yaml.ScalarNode) -> Any:
        if len(str(node.value)) > MAX_NUMBER_LENGTH:
            raise DocumentError(
                node.start_mark.line + 1,
                f"a number of {len(str(node.value))} characters "
                f"(at most {MAX_NUMBER_LENGTH} are read)",
            )
        return construct(loader, node)

    return checked


_YamlLoader.add_constructor(
    "tag:yaml.org,2002:int", _bounded_number(yaml.constructor.SafeConstructor.construct_yaml_int)
)
_YamlLoader.add_constructor(
    "tag:yaml.org,2002:float",
    _bounded_number(yaml.constructor.SafeConstructor.construct_yaml_float),
)


def loads_yaml(text: str) -> Any:
    """A YAML document (JSON is YAML), read strictly (see the module's docstring)."""
    check_text(text)
    loader: _YamlLoader | None = None
    try:
        loader = _YamlLoader(text)
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise DocumentError(mark.line + 1 if mark else 0, _yaml_problem(e)) from None
    except yaml.reader.ReaderError as e:
        raise DocumentError(_line(text, e.position), f"not valid YAML: {e.reason}") from None
    except yaml.YAMLError as e:
        raise DocumentError(0, f"not valid YAML: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_problem(error: yaml.MarkedYAMLError) -> str:
    return f"not valid YAML: {error.problem}" if error.problem else "not valid YAML"


def walk(value: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every value of a parsed document with its path, depth first, without recursion."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        yield path, item
        if isinstance(item, dict):
            stack.extend(((*path, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*path, n), v) for n, v in reversed(list(enumerate(item))))
