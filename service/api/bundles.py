"""Bundles assembled from stored bytes: resources are spliced in, never re-serialized."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def entry(full_url: str, resource: bytes, extra: dict[str, Any] | None = None) -> bytes:
    """``{"fullUrl": …, "resource": <stored bytes>, …extra}``."""
    parts = [b'{"fullUrl":', _dumps(full_url), b',"resource":', resource]
    for key, value in (extra or {}).items():
        parts += [b",", _dumps(key), b":", _dumps(value)]
    parts.append(b"}")
    return b"".join(parts)


def entry_of(resource: dict[str, Any], extra: dict[str, Any]) -> bytes:
    """An entry for a resource made for this reply (an OperationOutcome), not stored."""
    return _dumps({"resource": resource, **extra})


def bundle(
    bundle_type: str,
    *,
    total: int | None = None,
    links: Sequence[tuple[str, str]] = (),
    entries: Iterable[bytes] = (),
) -> bytes:
    head: dict[str, Any] = {"resourceType": "Bundle", "type": bundle_type}
    if total is not None:
        head["total"] = total
    if links:
        head["link"] = [{"relation": relation, "url": url} for relation, url in links]
    rendered = list(entries)
    if not rendered:
        return _dumps(head)
    return b"".join([_dumps(head)[:-1], b',"entry":[', b",".join(rendered), b"]}"])


def entry_of_url(full_url: str, response: dict[str, Any]) -> bytes:
    """A response entry: where a resource is, without the resource."""
    return _dumps({"fullUrl": full_url, "response": response})
