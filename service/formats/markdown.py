"""FHIR ``markdown`` as HTML, for every page and feed that shows content to people.

CommonMark with raw HTML and images off: content can format itself, never carry markup,
scripts or remote assets; markdown-it escapes the text and refuses ``javascript:`` links.
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
