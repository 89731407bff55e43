"""R4 primitive datatypes: which JSON type each takes and the regex its value must match.

The regexes are the ones R4 4.0.1 publishes for each primitive (datatypes.html). JSON
numbers and booleans are checked by type because the regex applies to their lexical form.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"

PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.DOTALL)
    for name, pattern in {
        "base64Binary": r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+",
        "canonical": r"\S*",
        "code": r"[^\s]+( [^\s]+)*",
        "date": rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?",
        "dateTime": rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_TZ})?)?)?",
        "id": r"[A-Za-z0-9\-\.]{1,64}",
        "instant": rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_TZ}",
        "markdown": r"\s*(\S|\s)*",
        "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
        "string": r"[ \r\n\t\S]+",
        "time": _TIME,
        "uri": r"\S*",
        "url": r"\S*",
        "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "xhtml": r"[ \r\n\t\S]+",
    }.items()
}
_INTEGERS = {"integer": -(2**31), "unsignedInt": 0, "positiveInt": 1}
_INT_MAX = 2**31 - 1


def problem(ftype: str, value: object) -> tuple[str, str] | None:
    """(issue code, why) when ``value`` is not a valid JSON ``ftype``; None when it is."""
    found = _problem(ftype, value)
    if found is None:
        return None
    return ("structure" if found.startswith("must be a JSON") else "value", found)


def _problem(ftype: str, value: object) -> str | None:
    if ftype == "boolean":
        return None if isinstance(value, bool) else "must be a JSON boolean (true or false)"
    if ftype == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a JSON number"
        try:
            finite = Decimal(repr(value)).is_finite()
        except InvalidOperation:
            finite = False
        return None if finite else "must be a finite number"
    if ftype in _INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a JSON number without a fraction"
        low = _INTEGERS[ftype]
        if not low <= value <= _INT_MAX:
            return f"must be between {low} and {_INT_MAX}"
        return None
    if not isinstance(value, str):
        return "must be a JSON string"
    if value == "":
        return "must not be an empty string (FHIR JSON has no empty values)"
    pattern = PATTERNS.get(ftype)
    if pattern is not None and pattern.fullmatch(value) is None:
        return f"is not a valid {ftype} ({value[:60]!r})"
    return None
