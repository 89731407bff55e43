"""Settings a deployment chooses; everything else in the output is derived from content."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_BASE = "https://fhir.example.org/ped"

_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
# Semantic Versioning 2.0.0, the one definition the service uses (ARTIFACT_VERSION, the
# package it exports): ASCII digits, no leading zeros, optional pre-release and build.
_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)


def is_semver(version: str) -> bool:
    """Whether ``version`` is a semantic version (2.0.0), e.g. ``1.0.0`` or ``1.2.0-rc.1``."""
    return _SEMVER.fullmatch(version) is not None


@dataclass(frozen=True)
class MappingConfig:
    base: str = DEFAULT_BASE  # canonical base: {base}/{ResourceType}/{id}
    version: str = "1.0.0"  # business version of every artifact (SemVer)
    status: str = "active"
    language: str = "en"  # BCP 47 tag of the pages' language: Resource.language, HTML lang

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", self.base) or self.base.endswith("/"):
            raise ValueError(
                f"canonical base must be an http(s) URL without a final '/': {self.base!r}"
            )
        if not is_semver(self.version):
            raise ValueError(f"version must be SemVer (1.2.3): {self.version!r}")
        if not _LANGUAGE.match(self.language):
            raise ValueError(f"language must be a BCP 47 tag (en, en-CA): {self.language!r}")
        if self.status not in ("draft", "active", "retired"):
            raise ValueError(f"status must be draft, active or retired: {self.status!r}")

    def url(self, resource_type: str, id_: str) -> str:
        return f"{self.base}/{resource_type}/{id_}"

    def canonical(self, resource_type: str, id_: str) -> str:
        """A versioned canonical reference: url|version."""
        return f"{self.url(resource_type, id_)}|{self.version}"
