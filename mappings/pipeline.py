"""Page bytes -> middle format -> FHIR: the whole mapping in one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings.content import PhaseContent, extract
from mappings.rules import MappingConfig, MappingResult, collection_bundle, map_content
from mappings.source import read_page


@dataclass(frozen=True)
class MappedPage:
    content: PhaseContent
    result: MappingResult
    bundle: dict[str, Any]


def map_page(data: bytes, config: MappingConfig | None = None) -> MappedPage:
    """Raises ``source.PageError`` for input that is not a page of this family."""
    content = extract(read_page(data))
    return map_phase(content, config)


def map_phase(content: PhaseContent, config: MappingConfig | None = None) -> MappedPage:
    result = map_content(content, config)
    return MappedPage(content, result, collection_bundle(result, content, config))
