"""Narrative (``text.div``) built from a resource's structure.

Built as an element tree and serialised by the XML library, so page text is always
escaped (a page containing ``<script>`` yields inert text) and the XHTML is well formed.
Only elements the FHIR narrative rules (txt-1, txt-2) allow are used: no scripts, forms,
event attributes or external references.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

XHTML = "http://www.w3.org/1999/xhtml"


class Html:
    """A small XHTML builder: ``h.add(parent, "p", "text")``."""

    def __init__(self) -> None:
        self.root = Element("div", {"xmlns": XHTML})

    def add(self, parent: Element | None, tag: str, text: str | None = None) -> Element:
        element = SubElement(self.root if parent is None else parent, tag)
        if text:
            element.text = text
        return element

    def paragraphs(self, parent: Element | None, texts: Iterable[str]) -> None:
        for text in texts:
            for paragraph in text.split("\n\n"):
                self.add(parent, "p", paragraph)

    def items(self, parent: Element | None, texts: Iterable[str]) -> Element | None:
        texts = [t for t in texts if t]
        if not texts:
            return None
        ul = self.add(parent, "ul")
        for text in texts:
            self.add(ul, "li", text)
        return ul

    def field(self, parent: Element | None, label: str, value: str | None) -> None:
        if value:
            p = self.add(parent, "p")
            b = SubElement(p, "b")
            b.text = f"{label}: "
            b.tail = value

    def narrative(self) -> dict[str, Any]:
        div = tostring(self.root, encoding="unicode", short_empty_elements=False)
        return {"status": "generated", "div": div}
