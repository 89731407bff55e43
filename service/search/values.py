"""How FHIR search compares values: normalised strings and dates as half-open ranges.

The same functions index a stored resource and read a search value, so both sides of
every comparison are prepared identically.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

# Index and query date bounds are ISO text in UTC with a fixed width, so they compare
# correctly as strings on every database.
_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


# Bounds beyond every real instant key, for open-ended periods and the end of year 9999.
MIN_KEY = "0000-00-00T00:00:00.000000"
MAX_KEY = "9999-99-99T99:99:99.999999"


def normalise(text: str) -> str:
    """Case- and accent-insensitive form used by string search (R4 §3.1.1.5.7)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def instant_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_KEY_FORMAT)


@dataclass(frozen=True)
class DateRange:
    """``[low, high)`` as instant keys."""

    low: str
    high: str


_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?",
    re.ASCII,  # \d alone matches every script's digits, which int() then reads
)


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    return moment.replace(year=moment.year + month // 12, month=month % 12 + 1)


def date_range(text: str) -> DateRange:
    """The range a FHIR date, dateTime or instant covers, at its own precision.

    ``2024`` is the whole year, ``2024-05-01T10:00Z`` one minute. Values without a zone
    are read as UTC. Raises ValueError for anything else.
    """
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a FHIR date: {text!r}")
    g = match.groupdict()
    zone: tzinfo = UTC
    if g["zone"] and g["zone"] != "Z":
        sign = 1 if g["zone"][0] == "+" else -1
        hours, minutes = int(g["zone"][1:3]), int(g["zone"][4:6])
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = g["fraction"] or ""
    try:
        low = datetime(
            int(g["year"]),
            int(g["month"] or 1),
            int(g["day"] or 1),
            int(g["hour"] or 0),
            int(g["minute"] or 0),
            int(g["second"] or 0),
            int((fraction + "000000")[:6]),
            tzinfo=zone,
        )
        low_key = instant_key(low)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"not a FHIR date: {text!r} ({e})") from None
    try:
        if g["month"] is None:
            high = low.replace(year=low.year + 1)
        elif g["day"] is None:
            high = _add_months(low, 1)
        elif g["hour"] is None:
            high = low + timedelta(days=1)
        elif g["second"] is None:
            high = low + timedelta(minutes=1)
        elif not fraction:
            high = low + timedelta(seconds=1)
        else:
            high = low + timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
    except (ValueError, OverflowError):  # the range ends after year 9999
        return DateRange(low_key, MAX_KEY)
    return DateRange(low_key, instant_key(high))
