"""Literal references and canonicals must resolve on this server.

Resolution is delegated to a ``References`` the caller supplies (the HTTP layer backs it
with the store), which keeps this package free of the store. Contained references (``#id``)
of Reference type are ref-1's business (an invariant); contained canonicals are checked here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from service.validation.issues import Issue
from service.validation.structure import SERVED, Node

_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?")
_OURS = re.compile(rf"/({'|'.join(SERVED)})/[A-Za-z0-9\-.]{{1,64}}")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


class References(Protocol):
    def literal_exists(self, resource_type: str, resource_id: str) -> bool: ...
    def canonical_exists(self, url: str, version: str | None) -> bool: ...


def _contained_ids(resource: Mapping[str, Any]) -> set[str]:
    contained = resource.get("contained")
    items = contained if isinstance(contained, list) else []
    return {c["id"] for c in items if isinstance(c, dict) and isinstance(c.get("id"), str)}


def _unchecked(location: str, what: str) -> Issue:
    return Issue(
        "warning",
        "not-supported",
        location,
        f"{what} is not on this server and could not be checked.",
    )


def _literal(node: Node, references: References) -> Iterator[Issue]:
    reference = node.value.get("reference")
    location = f"{node.location}.reference"
    if not isinstance(reference, str) or reference.startswith("#"):
        return
    match = _RELATIVE.fullmatch(reference)
    if match:
        if not references.literal_exists(match[1], match[2]):
            yield Issue("error", "not-found", location, f"{reference} does not exist here.")
    elif _ABSOLUTE.match(reference):
        yield _unchecked(location, f"Reference {reference}")
    else:
        yield Issue(
            "error",
            "value",
            location,
            f"{reference!r} is neither Type/id, #id nor an absolute URL.",
        )


def _canonical(
    node: Node, root: Mapping[str, Any], references: References | None
) -> Iterator[Issue]:
    value: str = node.value
    if value.startswith("#"):
        if value[1:] not in _contained_ids(root):
            yield Issue("error", "not-found", node.location, f"No contained resource {value}.")
        return
    if references is None:
        return
    url, _, version = value.partition("|")
    if not url:
        return
    if references.canonical_exists(url, version or None):
        return
    if _OURS.search(url):
        yield Issue(
            "error", "not-found", node.location, f"Canonical {value} does not resolve here."
        )
    else:
        yield _unchecked(node.location, f"Canonical {value}")


def check(
    nodes: Iterable[Node], root: Mapping[str, Any], references: References | None
) -> Iterator[Issue]:
    for node in nodes:
        if node.type == "canonical":
            yield from _canonical(node, root, references)
        elif node.type == "Reference" and references is not None:
            yield from _literal(node, references)
