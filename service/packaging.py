"""CRMI ``$package``: a PlanDefinition and everything it depends on, as a transaction
Bundle another FHIR server loads as it is.

The artifact comes first, then the ActivityDefinitions (and PlanDefinitions) its actions
use, then the Medications those give. Every entry is a conditional create: canonical
resources by ``url`` and ``version``, Medications by their RxNorm code (R4 Medication has
no ``url``); a Medication without one is written under its own id (``PUT``). References
between entries use the entries' ``urn:uuid`` fullUrls, which the receiving server
rewrites to the ids it assigns.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from mappings.fhir import rewrite_references
from mappings.terminology import RXNORM
from service.search.params import PARAMETERS
from service.search.query import Include, SearchQuery
from service.store import Store, StoredResource, resolve_includes

Resource = dict[str, Any]

# Follow action definitions (nested plans too) and then the products of activities.
_DEPENDENCIES = (
    Include("PlanDefinition", PARAMETERS["PlanDefinition"]["definition"], None, True),
    Include("ActivityDefinition", PARAMETERS["ActivityDefinition"]["product"], None, True),
)
_ORDER = {"PlanDefinition": 0, "ActivityDefinition": 1, "Medication": 2}
_SERVER_META = ("versionId", "lastUpdated")


def dependencies(store: Store, artifact: StoredResource) -> list[StoredResource]:
    """Everything ``artifact`` needs, by type then id, without the artifact itself."""
    query = SearchQuery("PlanDefinition", includes=_DEPENDENCIES)
    found = resolve_includes(store, query, [artifact])
    if found.truncated:
        raise ValueError(f"{artifact.resource_type}/{artifact.id} has too many dependencies")
    return sorted(found.items, key=lambda r: (_ORDER.get(r.resource_type, 9), r.id))


def package(artifact: StoredResource, dependencies: Sequence[StoredResource]) -> Resource:
    """The transaction Bundle: ``artifact`` first, then ``dependencies``."""
    resources = [json.loads(r.body) for r in (artifact, *dependencies)]
    requests = [_request(r) for r in resources]
    full_urls = [_full_url(r) for r in resources]
    # References to a POSTed entry name its fullUrl: the receiving server assigns the id.
    posted = {
        f"{r['resourceType']}/{r['id']}": full_url
        for r, request, full_url in zip(resources, requests, full_urls, strict=True)
        if request["method"] == "POST"
    }
    entries = [
        {"fullUrl": full_url, "resource": _for_transport(r, posted), "request": request}
        for r, request, full_url in zip(resources, requests, full_urls, strict=True)
    ]
    return {
        "resourceType": "Bundle",
        "id": _uuid(f"package:{artifact.resource_type}/{artifact.id}/{artifact.version_id}"),
        "type": "transaction",
        "entry": entries,
    }


def _uuid(name: str) -> str:
    # Deterministic: the same content packages to the same Bundle.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _full_url(resource: Resource) -> str:
    return f"urn:uuid:{_uuid(resource['resourceType'] + '/' + resource['id'])}"


def _request(resource: Resource) -> dict[str, str]:
    resource_type = resource["resourceType"]
    url, version = resource.get("url"), resource.get("version")
    if isinstance(url, str):
        criteria = f"url={quote(url, safe=':/')}"
        if isinstance(version, str):
            criteria += f"&version={quote(version, safe='')}"
        return {"method": "POST", "url": resource_type, "ifNoneExist": criteria}
    code = _rxnorm_code(resource)
    if code is not None:
        criteria = f"code={quote(RXNORM, safe=':/')}|{quote(code, safe='')}"
        return {"method": "POST", "url": resource_type, "ifNoneExist": criteria}
    return {"method": "PUT", "url": f"{resource_type}/{resource['id']}"}


def _rxnorm_code(resource: Resource) -> str | None:
    codes = [
        coding.get("code")
        for coding in resource.get("code", {}).get("coding", [])
        if coding.get("system") == RXNORM
    ]
    return codes[0] if len(codes) == 1 and isinstance(codes[0], str) else None


def _for_transport(resource: Resource, posted: dict[str, str]) -> Resource:
    """The resource without server metadata, its references to POSTed entries rewritten."""
    copy = rewrite_references(resource, posted)
    meta = {k: v for k, v in copy.get("meta", {}).items() if k not in _SERVER_META}
    if meta:
        copy["meta"] = meta
    else:
        copy.pop("meta", None)
    return dict(copy)
