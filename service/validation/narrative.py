"""txt-1 and txt-2 in Python: R4 writes them as ``htmlChecks()``, which no FHIRPath engine
we have implements, so we check the R4 rule itself (its XPath: allowed elements, allowed
attributes, some non-whitespace content) with lxml."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lxml import etree

from service.validation.issues import Issue
from service.validation.structure import Node

XHTML = "http://www.w3.org/1999/xhtml"
# The R4 4.0.1 txt-1 XPath lists these names verbatim.
ELEMENTS = frozenset(
    "a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em "
    "h1 h2 h3 h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td "
    "tfoot th thead tr tt ul var".split()
)
ATTRIBUTES = frozenset(
    "abbr accesskey align alt axis bgcolor border cellhalign cellpadding cellspacing "
    "cellvalign char charoff charset cite class colspan compact coords dir frame headers "
    "height href hreflang hspace id lang longdesc name nowrap rel rev rowspan rules scope "
    "shape span src start style summary tabindex title type valign value vspace width".split()
)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _problems(div: str) -> Iterator[tuple[str, str]]:
    try:
        root = etree.fromstring(div.encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, ValueError) as e:
        yield "txt-1", f"Narrative.div is not well-formed XHTML: {e}."
        return
    if root.tag != f"{{{XHTML}}}div":
        yield "txt-1", "Narrative.div must be an XHTML <div> in the XHTML namespace."
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        if qname.namespace != XHTML or qname.localname not in ELEMENTS:
            yield "txt-1", f"Narrative.div contains <{qname.localname}>, which R4 forbids."
        for attribute in element.attrib:
            name = etree.QName(attribute)
            shown = f"xml:{name.localname}" if name.namespace else name.localname
            if name.namespace or name.localname not in ATTRIBUTES:
                yield "txt-1", f"Narrative.div uses the attribute {shown}, which R4 forbids."
    text = "".join(str(t) for t in root.itertext()).strip()
    has_image = any(img.get("src") for img in root.iter(f"{{{XHTML}}}img"))
    if not text and not has_image:
        yield "txt-2", "The narrative SHALL have some non-whitespace content."


def check(nodes: Iterable[Node]) -> Iterator[Issue]:
    for node in nodes:
        if node.type == "xhtml" and isinstance(node.value, str):
            for key, message in dict.fromkeys(_problems(node.value)):
                yield Issue("error", "invariant", node.location, f"{key}: {message}")
