"""Page prose the mapping writes into ``markdown`` elements renders as the page wrote it.

Proved against markdown-it (the renderer this service uses) in its CommonMark preset and
its default preset (GitHub's tables and strikethrough), raw HTML on and off: whatever the
text, the rendering is paragraphs holding exactly the text's characters.
"""

from __future__ import annotations

import string
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mappings.rules.markdown import literal

RENDERERS = [
    MarkdownIt("commonmark", {"html": True}),
    MarkdownIt("commonmark", {"html": False}),
    MarkdownIt("default", {"html": True}),
]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _read(html: str) -> tuple[set[str], str]:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.tags, "".join(reader.text)


def _words(text: str) -> str:
    return " ".join(text.split())


def assert_reads_as_written(text: str) -> None:
    for renderer in RENDERERS:
        tags, shown = _read(renderer.render(literal(text)))
        assert tags <= {"p"}, (text, literal(text), tags)
        assert _words(shown) == _words(text), (text, literal(text))


PROSE = st.text(
    alphabet=st.sampled_from(
        string.punctuation + "aZ09 \t\n\r" + "1." + "é²\u0301\u00a0" + "&#;amp" + "http:/w."
    ),
    max_size=60,
)


@settings(max_examples=3000, deadline=None)
@given(PROSE)
def test_any_text_reads_as_written(text: str) -> None:
    assert_reads_as_written(text)


@given(st.lists(PROSE, min_size=1, max_size=4))
def test_paragraphs_stay_paragraphs(paragraphs: list[str]) -> None:
    assert_reads_as_written("\n\n".join(paragraphs))


@pytest.mark.parametrize(
    "text",
    [
        "Read [the guide](https://evil.example/) first.",
        "This is *very* important and __so is this__.",
        "# Not a heading",
        "    indented like code",
        "1. not a list\n2) nor this",
        "- no bullet\n+ none\n* none",
        "A line\n===",
        "A line\n---",
        "> not quoted",
        "<script>alert(1)</script> and <https://autolink.example>",
        "&amp; &#42; &#x2A; stay as typed",
        "`code` and ```fences```\n~~~\nmore",
        "| a | b |\n|---|---|\n| c | d |",
        "~~struck~~",
        "[ref]: https://evil.example\n\n[ref]",
        "trailing backslash \\\nnext",
        "hard  \nbreak",
        "![image](https://evil.example/x.png)",
    ],
)
def test_markup_a_page_might_hold_reads_as_written(text: str) -> None:
    assert_reads_as_written(text)


def test_ordinary_sentences_are_left_alone() -> None:
    sentence = "Chemotherapy (chemo) uses drugs, e.g. vincristine - and less than 5% of cells."
    assert literal(sentence) == sentence
    assert literal("First paragraph.\n\nSecond one.") == "First paragraph.\n\nSecond one."
