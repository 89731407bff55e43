"""The one way a number or a version id is read from text.

``str.isdigit()`` and ``int()`` accept far more than digits: ``'²'.isdigit()`` is true and
``int('²')`` fails; ``int('\u0661')`` (Arabic-Indic) and ``int('\uff11')`` (fullwidth)
are 1; ``int(' 1_0 ')`` is 10; a string of more than 4,300 digits raises. Input is read
here instead: ASCII digits only, a bounded number of them, an optional sign only where the
caller allows one.
"""

from __future__ import annotations

import re

from mappings.limits import MAX_DIGITS, VERSION_ID_DIGITS

__all__ = ["MAX_DIGITS", "VERSION_ID_DIGITS", "strict_int"]

_SIGNED = re.compile(r"[+-]?[0-9]+", re.ASCII)
_UNSIGNED = re.compile(r"[0-9]+", re.ASCII)


def strict_int(text: str, *, max_digits: int = MAX_DIGITS, signed: bool = False) -> int:
    """``text`` as an integer: 1 to ``max_digits`` ASCII digits, with one leading ``+`` or
    ``-`` only when ``signed``; no space, underscore or other kind of digit. Raises
    ValueError for anything else."""
    if not (_SIGNED if signed else _UNSIGNED).fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a number (ASCII digits only)")
    if len(text.lstrip("+-")) > max_digits:
        raise ValueError(f"a number of more than {max_digits} digits")
    return int(text)
