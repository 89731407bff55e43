"""Page text -> sections, paragraphs and bullets. Structure only, no clinical meaning.

A page of this family (patient-education treatment-phase pages) looks like::

    <title line>
    Last medical review: [date]
    <intro paragraphs>
    <Heading>                     (short line, no final full stop, blank lines around)
    <paragraphs and "  • " bullet lists, "Find out more about …" sentences>
    ...
    Expert review and references
      • reviewer names first, then citations
    Medical disclaimer
    <paragraphs>
    <phone> | <site> | © <year> <holder>

Every paragraph and bullet of the page lands in exactly one place of the returned
``Page``, with its 1-based line number: nothing is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Literal

from mappings.documents import DocumentError, check_text
from mappings.limits import MAX_BULLET_DEPTH


class PageError(ValueError):
    """The text is not a page of this family. ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Paragraph:
    text: str
    line: int


@dataclass(frozen=True)
class MoreInfo:
    """A "Find out more about …" / "Learn more about …" sentence."""

    text: str
    line: int


@dataclass(frozen=True)
class Bullet:
    text: str
    line: int
    children: tuple[Bullet, ...] = ()  # bullets indented under this one


@dataclass(frozen=True)
class BulletList:
    items: tuple[Bullet, ...]
    line: int


Block = Paragraph | MoreInfo | BulletList


@dataclass(frozen=True)
class Section:
    """A headed section. ``heading`` is None where the page lost its heading line
    (a section that starts after a double blank line with no heading)."""

    heading: str | None
    line: int
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Footer:
    line: int
    phone: str | None
    site: str | None
    copyright: str | None  # e.g. "© 2024 Canadian Cancer Society"


@dataclass(frozen=True)
class Page:
    title: str
    title_line: int
    last_review: str | None  # text after "Last medical review:"; None when empty or absent
    review_line: int | None  # the "Last medical review:" line; None when the page has none
    intro: tuple[Block, ...]
    sections: tuple[Section, ...]  # therapy sections, page order
    reviewers: tuple[Bullet, ...]
    citations: tuple[Bullet, ...]
    disclaimer: tuple[Paragraph, ...]
    footer: Footer
    disease_line: Paragraph | None = None  # older layout: the disease named under the title
    breadcrumb: Paragraph | None = None  # older layout: "You are here: Home > …"


# Parsing -------------------------------------------------------------------------------

_HEADING_MAX = 80
_REVIEW = re.compile(r"last medical review\s*:", re.IGNORECASE)
_BREADCRUMB = re.compile(r"you are here\s*:", re.IGNORECASE)
# "•" is a bullet with or without a space after it; "-" and "*" only with whitespace after,
# so that "-5 °C" or "**Note**" stay prose.
_BULLET = re.compile(r"(?:•|[-*](?=\s|\Z))(?P<text>.*)", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?]\s+")
_MORE_INFO = re.compile(r"(?:Find out|Learn) more about \S.*\.", re.DOTALL)
_NAME_WORD = r"[A-Z][\w'\u2019.\-]*"
# "Kareem Jamani, MD, LMCC, FRCPC": capitalised name words, then credentials that start
# and end uppercase (MD, FRCPC, PhD). Citations such as "Goekbuget N, Hoelzer D . …" fail.
_REVIEWER = re.compile(rf"{_NAME_WORD}(?: {_NAME_WORD})*(?:, [A-Z][A-Za-z]*[A-Z])+")

_Kind = Literal["intro", "therapy", "expert", "disclaimer"]
_THERAPY = ("intro", "therapy")
_SPECIAL: dict[str, _Kind] = {
    "expert review and references": "expert",
    "medical disclaimer": "disclaimer",
}
_NAMES = {"expert": "Expert review and references", "disclaimer": "Medical disclaimer"}


@dataclass(frozen=True)
class _Line:
    number: int
    text: str  # stripped
    bullet: str | None  # text after the bullet marker, None for prose
    indent: int = 0  # leading spaces (a tab counts 4)


@dataclass(frozen=True)
class _Prose:
    """A paragraph before it is classified, because the same text becomes a MoreInfo, a
    citation or a disclaimer paragraph depending on the section it sits in."""

    text: str
    line: int


@dataclass
class _Open:
    heading: str | None
    line: int
    kind: _Kind
    raw: list[_Prose | BulletList] = field(default_factory=list)


# Characters XML 1.0 forbids (besides NUL, reported as binary content): no page text
# carrying them could ever be shown in a valid FHIR narrative.
_CONTROL = re.compile("[\x01-\x08\x0e-\x1f\ufffe\uffff]")


def parse_page(text: str) -> Page:
    """Callers get a Page or a PageError and nothing else, whatever the text: pages come
    from outside, and one bad page must be reported, never crash a batch export."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = text.replace("\f", " ").replace("\v", " ")  # page breaks of text exports
    try:
        check_text(text)  # no bidi controls: a page must read as it is stored
    except DocumentError as e:
        raise PageError(e.line, e.message) from None
    lines = [
        _Line(n, x.strip(), _bullet_text(x.strip()), _indent(x))
        for n, x in enumerate(text.split("\n"), 1)
    ]
    for line in lines:
        if "\x00" in line.text:
            raise PageError(line.number, "binary content, not a text page")
        if control := _CONTROL.search(line.text):
            raise PageError(
                line.number, f"control character U+{ord(control.group()):04X} in the text"
            )
        if line.bullet == "":
            # A list item whose words the export lost (a link or an image): the list would
            # be published short of an item, under a lead that may say "one of these".
            raise PageError(line.number, "empty bullet: a list item with no words")
    filled = [line for line in lines if line.text]
    if not filled:
        raise PageError(1, "empty page")
    title = filled[0]
    if _REVIEW.match(title.text):
        raise PageError(title.number, "no title line before the 'Last medical review:' line")
    header = filled[1:4]
    disease_line = breadcrumb = None
    crumb = next((i for i, line in enumerate(header) if _BREADCRUMB.match(line.text)), None)
    if crumb is not None:
        # The older layout: title, the disease on a line of its own, then the breadcrumb.
        if crumb != 1:
            raise PageError(
                header[crumb].number,
                "older layout: expected the disease line between the title and 'You are here:'",
            )
        disease_line = Paragraph(header[0].text, header[0].number)
        breadcrumb = Paragraph(header[1].text, header[1].number)
        header = filled[3:4]
    review_at = header[0] if header and _REVIEW.match(header[0].text) else None
    body_from = review_at.number if review_at else (breadcrumb.line if breadcrumb else title.number)
    last = filled[-1]
    if last.number <= body_from or ("©" not in last.text and "|" not in last.text):
        raise PageError(
            last.number, "truncated page: no footer line (phone | site | © holder) at the end"
        )

    opened = _sections(lines[body_from : last.number - 1], body_from + 1)
    expert = _special(opened, "expert", last.number)
    disclaimer = _special(opened, "disclaimer", last.number)
    intro = _therapy_blocks(opened[0].raw)
    sections = tuple(
        Section(o.heading, o.line, _therapy_blocks(o.raw)) for o in opened if o.kind == "therapy"
    )
    if not intro and not sections:
        raise PageError(body_from + 1, "no intro or treatment sections on the page")
    review = _REVIEW.match(review_at.text) if review_at else None
    reviewers, citations = _references(expert.raw)
    return Page(
        title=title.text,
        title_line=title.number,
        last_review=(review_at.text[review.end() :].strip() or None)
        if review_at and review
        else None,
        review_line=review_at.number if review_at else None,
        intro=intro,
        sections=sections,
        reviewers=reviewers,
        citations=citations,
        disclaimer=tuple(_disclaimer(disclaimer.raw)),
        footer=_footer(last),
        disease_line=disease_line,
        breadcrumb=breadcrumb,
    )


def read_page(data: bytes) -> Page:
    """Pages arrive as uploaded bytes; a bad byte is reported at its line, the one place a
    person can go and fix it, instead of escaping as a UnicodeDecodeError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        nul = data.find(b"\x00", 0, exc.start)
        if nul >= 0:
            raise PageError(_byte_line(data, nul), "binary content, not a text page") from None
        raise PageError(_byte_line(data, exc.start), "not valid UTF-8 text") from None
    return parse_page(text)  # a decodable NUL is reported by parse_page, at the same line


def _byte_line(data: bytes, offset: int) -> int:
    """Count line breaks the way parse_page does, so both report the same line numbers."""
    return data[:offset].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


def _indent(raw: str) -> int:
    expanded = raw.replace("\t", "    ")
    return len(expanded) - len(expanded.lstrip(" "))


def _bullet_text(stripped: str) -> str | None:
    match = _BULLET.match(stripped)
    return None if match is None else match["text"].strip()


def _is_heading(chunk: list[_Line]) -> bool:
    """A lone short line without closing punctuation is the only heading signal these
    pages carry; headings are not marked up."""
    if len(chunk) != 1 or chunk[0].bullet is not None:
        return False
    text = chunk[0].text
    # A heading may be a question ("What is targeted therapy?"); a lone short question is
    # read as one.
    return len(text) <= _HEADING_MAX and not text.endswith((".", ":", "!", ";", ","))


def _chunks(lines: list[_Line]) -> Iterator[tuple[int, list[_Line]]]:
    """Runs of non-blank lines, each with the number of blank lines before it."""
    blanks, run = 0, list[_Line]()
    for line in lines:
        if line.text:
            run.append(line)
            continue
        if run:
            yield blanks, run
            blanks, run = 0, []
        blanks += 1
    if run:
        yield blanks, run


def _sections(body: list[_Line], first_line: int) -> list[_Open]:
    opened = [_Open(None, first_line, "intro")]
    for blanks, chunk in _chunks(body):
        head = chunk[0]
        if _is_heading(chunk):
            key = " ".join(head.text.split()).casefold()
            kind = _SPECIAL.get(key, "therapy")
            if kind != "therapy" and any(o.kind == kind for o in opened):
                raise PageError(head.number, f"second '{_NAMES[kind]}' section on the page")
            opened.append(_Open(head.text, head.number, kind))
            continue
        current = opened[-1]
        # A heading lost in the export leaves a double blank line before the paragraph
        # that opened its section; only therapy content can lose headings like that.
        if blanks >= 2 and head.bullet is None and current.raw and current.kind in _THERAPY:
            current = _Open(None, head.number, "therapy")
            opened.append(current)
        for is_bullet, group in groupby(chunk, key=lambda line: line.bullet is not None):
            items = list(group)
            if is_bullet:
                bullets = _nest(items)
                previous = current.raw[-1] if current.raw else None
                if isinstance(previous, BulletList) and blanks and head is items[0]:
                    # Lists separated only by blank lines are one list.
                    current.raw[-1] = BulletList(previous.items + bullets, previous.line)
                else:
                    current.raw.append(BulletList(bullets, items[0].number))
            else:
                current.raw.append(_Prose(" ".join(i.text for i in items), items[0].number))
    return opened


def _nest(items: list[_Line]) -> tuple[Bullet, ...]:
    """Bullets indented further than the one before them are its children, up to
    ``MAX_BULLET_DEPTH`` levels (a deeper one is a PageError at its line).

    Built with an explicit stack, not recursion: a bullet's parent is the nearest open
    bullet indented less than it."""
    top: list[Bullet] = []
    # The open bullets, outermost first: (indent, line, text, the children found so far).
    open_: list[tuple[int, int, str, list[Bullet]]] = []

    def close() -> None:
        _, number, text, children = open_.pop()
        (open_[-1][3] if open_ else top).append(Bullet(text, number, tuple(children)))

    for item in items:
        while open_ and open_[-1][0] >= item.indent:
            close()
        if len(open_) >= MAX_BULLET_DEPTH:
            raise PageError(item.number, f"bullets nested more than {MAX_BULLET_DEPTH} levels deep")
        open_.append((item.indent, item.number, item.bullet or "", []))
    while open_:
        close()
    return tuple(top)


def _special(opened: list[_Open], kind: _Kind, last_line: int) -> _Open:
    for section in opened:
        if section.kind == kind:
            return section
    raise PageError(last_line, f"truncated page: no '{_NAMES[kind]}' section")


def _therapy_blocks(raw: list[_Prose | BulletList]) -> tuple[Block, ...]:
    blocks: list[Block] = []
    for block in raw:
        if isinstance(block, BulletList):
            blocks.append(block)
            continue
        ends = list(_SENTENCE_END.finditer(block.text))
        start = ends[-1].end() if ends else 0
        if not _MORE_INFO.fullmatch(block.text, start):
            blocks.append(Paragraph(block.text, block.line))
            continue
        if rest := block.text[:start].strip():
            blocks.append(Paragraph(rest, block.line))
        blocks.append(MoreInfo(block.text[start:], block.line))
    return tuple(blocks)


def _references(raw: list[_Prose | BulletList]) -> tuple[tuple[Bullet, ...], tuple[Bullet, ...]]:
    """Reviewers are the leading name-like bullets; everything after the first other item,
    stray paragraphs included, is a citation, so no reference text is ever dropped."""
    items: list[tuple[Bullet, bool]] = []
    for block in raw:
        if isinstance(block, BulletList):
            items.extend((b, True) for b in block.items)
        else:
            items.append((Bullet(block.text, block.line), False))
    split = 0
    while split < len(items) and items[split][1] and _REVIEWER.fullmatch(items[split][0].text):
        split += 1
    return tuple(b for b, _ in items[:split]), tuple(b for b, _ in items[split:])


def _disclaimer(raw: list[_Prose | BulletList]) -> Iterator[Paragraph]:
    for block in raw:
        if isinstance(block, BulletList):
            yield from (Paragraph(b.text, b.line) for b in block.items)
        else:
            yield Paragraph(block.text, block.line)


def _footer(line: _Line) -> Footer:
    """Phone first and copyright last; any extra middle parts stay in ``site``."""
    parts = [p.strip() for p in line.text.split("|")]
    if len(parts) == 1:
        return Footer(line.number, None, None, parts[0] or None)
    site = " | ".join(p for p in parts[1:-1] if p)
    return Footer(line.number, parts[0] or None, site or None, parts[-1] or None)
