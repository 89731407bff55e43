"""FHIR ``markdown`` as HTML, for every page and feed that shows content to people.

CommonMark with raw HTML and images off: content can format itself, never carry markup,
scripts or remote assets; markdown-it escapes the text and refuses ``javascript:`` links.

Only elements the FHIR spec types ``markdown`` come here; a ``string`` element is plain
text wherever it is shown, whatever characters it holds (``[x](…)`` is not a link there).
Where the mapping writes page prose into a ``markdown`` element it escapes it
(``mappings.rules.markdown``), so it renders as the page wrote it.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image")


def to_html(text: str, heading: int) -> str:
    """Blocks of HTML. Headings, whatever their level, become ``h{heading}``: the level
    below the element that holds them, so a page's outline never skips or jumps."""
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{heading}"
    rendered: str = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    return rendered


def to_inline_html(text: str) -> str:
    """Inline HTML only (emphasis, links), for a one-line summary."""
    rendered: str = _MARKDOWN.renderInline(text.strip())
    return rendered


def to_text(text: str) -> str:
    """What the Markdown reads as, without its markup: the text of each paragraph (a link
    keeps its words, not its address), paragraphs apart by a blank line. For a view that
    shows a ``markdown`` element as plain text (a citation, whose address it links itself)."""
    paragraphs: list[str] = []
    for token in _MARKDOWN.parse(text):
        if token.type != "inline":
            continue
        words = []
        for child in token.children or ():
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append("\n")
        paragraphs.append("".join(words))
    return "\n\n".join(p for p in paragraphs if p)
