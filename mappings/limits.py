"""The limits on what one input may hold, in one place.

Each is far above what the seed content and the test corpus use (noted beside it), and low
enough that no single file or request can make parsing, mapping or validation run away.
``mappings.documents`` applies the document limits while it parses; ``service.loading``
applies the others before anything is validated or written.
"""

from __future__ import annotations

MAX_DEPTH = 64
"""Nesting of objects and arrays (JSON) or mappings and sequences (YAML) in one document.
The fixtures' Bundles nest 16 deep, their middle format 13; a PlanDefinition with
``MAX_ACTION_DEPTH`` levels of actions inside a Bundle nests about 40 deep."""

MAX_NUMBER_LENGTH = 64
"""Characters of one number as written (sign, digits, point and exponent). FHIR's widest
number, ``integer64``, has 19 digits, and a decimal is kept to 18 significant digits;
Python refuses to read integers of more than 4,300 digits at all."""

MAX_DIGITS = 32
"""ASCII digits of an integer read from text (``mappings.numbers.strict_int``): more than any
FHIR integer type has (integer64 has 19), far below Python's 4,300-digit conversion limit."""

VERSION_ID_DIGITS = 9
"""Digits of a version id (``_history/<vid>``): the store numbers versions with 32-bit
integers, so a longer one names no version."""

MAX_BULLET_DEPTH = 8
"""Levels of nested bullets a page may have (the pages of this family use two)."""

MAX_RESOURCES = 1_000
"""Resources in one input (a file for ``flask load``, the body of a ``$import``). A seed page
maps to at most 43, a ``flask export`` Bundle holds 500 by default."""

MAX_ACTIONS = 1_000
"""Actions of one PlanDefinition, at every depth together. The corpus's largest has 58."""

MAX_ACTION_DEPTH = 16
"""Levels of ``action`` inside ``action`` in one PlanDefinition. The corpus's deepest has 6."""

MAX_PROBLEMS = 100
"""Problems one refusal lists (an OperationOutcome's issues); past it, the refusal says
there are more. Fixing the first hundred is where a client starts anyway."""

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""The Unicode bidirectional embedding, override and isolate controls (LRE, RLE, PDF, LRO,
RLO, LRI, RLI, FSI, PDI). They reorder what a reader sees without changing what is stored
("Trojan Source", CVE-2021-42574), and nothing in patient-education text needs them, so
input holding one is refused. The marks U+200E, U+200F and U+061C are not refused: they
only set the direction of the characters around them, cannot reverse a run of text, and
are ordinary in right-to-left languages."""
