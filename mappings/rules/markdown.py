r"""Page prose in a ``markdown`` element, so that it reads as the page wrote it.

A page is plain text. Where the FHIR spec types an element ``markdown`` (PlanDefinition
``description``, ``purpose``, ``copyright``, a ``valueMarkdown`` extension) and the mapping
puts page prose in it, every consumer will render that text as Markdown, so a page's
``[x](https://…)`` would become a live link and ``*…*`` emphasis. ``literal`` escapes it:
rendered by any CommonMark renderer (with GitHub's tables and strikethrough too, and with
raw HTML on or off), the text reads as written, with no markup but paragraphs.

It escapes only what can start markup, with CommonMark's backslash escapes (§2.4) or, for
spaces that would indent a line into a code block, by dropping them (a renderer drops a
paragraph line's leading spaces anyway). Sentences stay readable as JSON: full stops,
commas, brackets, hyphens and ampersands in words are left alone.

- anywhere: backslash, backtick, ``*`` ``[`` ``]`` ``<`` ``~`` ``|``, ``_`` but between two
  letters or digits, and ``&`` where it starts a character reference (``&amp;``, ``&#42;``);
- at the start of a line: ``#`` ``>`` ``+`` ``-`` ``=`` (headings, quotes, list items,
  setext underlines, thematic breaks) and the ``.`` or ``)`` after digits (an ordered list
  item);
- spaces and tabs around a line go (they would indent it into a code block, or end it in a
  hard line break; a renderer shows neither as text).

Line endings become ``\n``. A blank line stays a paragraph break: the mapping joins a
page's paragraphs with one.
"""

from __future__ import annotations

import re

# An underscore between two letters or digits ("dpd_pm" in a URL) can neither open nor
# close emphasis (CommonMark §6.2), so it stays as it is.
_INLINE = re.compile(r"[\\`*\[\]<~|]|(?<![^\W_])_|_(?![^\W_])|&(?=#?[0-9A-Za-z]+;)")
_AROUND_LINES = re.compile(r"^[ \t]+|[ \t]+$", re.MULTILINE)
_LINE_START = re.compile(r"^(?=[#>+\-=])|^(\d{1,9})(?=[.)])", re.MULTILINE)


def _line_start(match: re.Match[str]) -> str:
    return f"{match.group(1) or ''}\\"


def literal(text: str) -> str:
    """``text`` as Markdown that renders as ``text`` (its paragraphs kept)."""
    text = _AROUND_LINES.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    escaped = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    return _LINE_START.sub(_line_start, escaped)
