"""Codes from the systems our terminology tables cover must be codes the tables hold.

A client can send any RxNorm code; this server only vouches for the verified rows of the
project's worksheet, so anything else in those systems is an error here, not a guess.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

from mappings import terminology
from service.validation.issues import Issue
from service.validation.structure import Node


@functools.cache
def known_codes() -> frozenset[tuple[str, str]]:
    tables = terminology.load()
    codings: list[terminology.Coding] = []
    for drug in tables.drugs:
        codings.extend(drug.codings)
        codings.extend(brand.coding for brand in drug.brands if brand.coding)
    codings.extend(c.coding for c in tables.drug_classes if c.coding)
    for concepts in (tables.diseases, tables.procedures, tables.body_sites, tables.routes):
        for concept in concepts:
            codings.extend(concept.codings)
    return frozenset((c.system, c.code) for c in codings)


def check(nodes: Iterable[Node]) -> Iterator[Issue]:
    known = known_codes()
    for node in nodes:
        if node.type != "Coding":
            continue
        system, code = node.value.get("system"), node.value.get("code")
        if not (isinstance(system, str) and isinstance(code, str)):
            continue  # the structure walk reports malformed codings
        if system in terminology.SYSTEMS and (system, code) not in known:
            yield Issue(
                "error",
                "code-invalid",
                node.location,
                f"Code {code!r} of {system} is not in this server's terminology tables.",
            )
