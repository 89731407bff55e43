"""Our StructureDefinitions (mappings.rules.definitions): valid R4, well-formed, and true.

"True" is checked over every resource the mapping emits from every page we have (fixtures,
the corpus and its holdout): each claims its profile in ``meta.profile`` and meets every
constraint the profile's differential declares (cardinality, fixed and pattern values,
required bindings, types, extension slices by url, and the invariants, run with fhirpathpy).
The check is a small reading of the differential, not the service's profile validator; the
planted cases at the end show that it fails when a resource breaks a constraint.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy import evaluate
from fhirpathpy.models import models

from mappings.pipeline import map_page
from mappings.rules import MappingConfig
from mappings.rules.definitions import PROFILED, profile_url, structure_definitions
from mappings.rules.vocabulary import (
    PLAN_DEFINITION_TYPE,
    USAGE_CONTEXT_TYPE,
    disclaimer_extension,
    options_exhaustive_extension,
)
from service.validation.definitions import load as load_r4
from tests.support.r4_validator import validate_r4

Resource = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [
        *(ROOT / "fixtures" / "pages").glob("*.txt"),
        *(ROOT / "tests" / "corpus" / "pages").glob("*.txt"),
        *(ROOT / "tests" / "corpus" / "unseen" / "pages").glob("*.txt"),
    ]
)
CONFIG = MappingConfig()
OTHER = MappingConfig(base="http://other.example/fhir", version="2.1.0", status="draft")
# The code system of each value set a profile binds as required (every code in it is from it).
BOUND_SYSTEMS = {
    "http://hl7.org/fhir/ValueSet/plan-definition-type|4.0.1": PLAN_DEFINITION_TYPE,
    "http://hl7.org/fhir/ValueSet/usage-context-type|4.0.1": USAGE_CONTEXT_TYPE,
}


@cache
def mapped_resources(config: MappingConfig = CONFIG) -> tuple[Resource, ...]:
    return tuple(r for page in PAGES for r in map_page(page.read_bytes(), config).result.resources)


@cache
def definitions(config: MappingConfig = CONFIG) -> dict[str, Resource]:
    return {sd["url"]: sd for sd in structure_definitions(config)}


# --- the StructureDefinitions themselves --------------------------------------------------


def test_the_set_is_our_two_extensions_and_three_profiles() -> None:
    sds = structure_definitions(CONFIG)
    assert [sd["id"] for sd in sds] == [
        "content-disclaimer",
        "action-options-exhaustive",
        "ped-plandefinition",
        "ped-activitydefinition",
        "ped-medication",
    ]
    assert {sd["type"] for sd in sds if sd["kind"] == "resource"} == set(PROFILED)


@pytest.mark.parametrize("config", [CONFIG, OTHER], ids=["default", "other-base"])
def test_every_structure_definition_passes_the_independent_r4_validator(
    config: MappingConfig,
) -> None:
    sds = structure_definitions(config)
    results = validate_r4(sds)
    assert all(r.valid for r in results), "\n".join(r.describe() for r in results)
    assert [r.resource_type for r in results] == ["StructureDefinition"] * len(sds)


@pytest.mark.parametrize("config", [CONFIG, OTHER], ids=["default", "other-base"])
def test_ids_and_urls_are_unique_and_under_the_canonical_base(config: MappingConfig) -> None:
    sds = structure_definitions(config)
    assert len({sd["id"] for sd in sds}) == len({sd["url"] for sd in sds}) == len(sds)
    assert len({sd["name"] for sd in sds}) == len(sds)
    for sd in sds:
        assert sd["url"] == f"{config.base}/StructureDefinition/{sd['id']}"
        assert sd["version"] == config.version
        assert sd["status"] == config.status
        assert sd["fhirVersion"] == "4.0.1"
        assert sd["derivation"] == "constraint"
        assert sd["abstract"] is False
        assert sd["baseDefinition"] == f"http://hl7.org/fhir/StructureDefinition/{sd['type']}"


def test_the_extension_urls_we_emit_are_the_urls_of_their_definitions() -> None:
    for config in (CONFIG, OTHER):
        urls = definitions(config)
        for url in (disclaimer_extension(config), options_exhaustive_extension(config)):
            assert urls[url]["type"] == "Extension"
            fixed = [
                e for e in urls[url]["differential"]["element"] if e["path"] == "Extension.url"
            ]
            assert [e["fixedUri"] for e in fixed] == [url]


def test_profile_url_names_each_profile_and_nothing_else() -> None:
    for resource_type in PROFILED:
        sd = definitions(CONFIG)[profile_url(CONFIG, resource_type)]
        assert (sd["kind"], sd["type"]) == ("resource", resource_type)
    with pytest.raises(ValueError, match="no profile of Bundle"):
        profile_url(CONFIG, "Bundle")


def _r4_element(path: str) -> tuple[str, bool] | None:
    """The R4 type of ``path`` (a ``[x]`` element: the choice) and whether it exists."""
    r4 = load_r4()
    head, *rest = path.split(".")
    current = head
    if current not in r4.types:
        return None
    for part in rest:
        typedef = r4.types.get(current)
        if typedef is None:
            return None
        if part.endswith("[x]"):
            if part[:-3] not in typedef.choices:
                return None
            return ("choice", True)
        element = typedef.elements.get(part)
        if element is None:
            return None
        current = element.type
    return (current, True)


def _elements(sd: Resource) -> list[Resource]:
    elements: list[Resource] = sd["differential"]["element"]
    return elements


def test_every_differential_path_exists_in_r4() -> None:
    for sd in structure_definitions(CONFIG):
        for element in _elements(sd):
            assert element["path"].split(".")[0] == sd["type"], element["id"]
            assert _r4_element(element["path"]) is not None, f"{sd['id']}: {element['path']}"


def _r4_order(path: str) -> tuple[int, ...]:
    """Where ``path`` comes in R4's element order, level by level."""
    r4 = load_r4()
    head, *rest = path.split(".")
    current, key = head, []
    for part in rest:
        typedef = r4.types[current]
        names = list(typedef.elements)
        if part.endswith("[x]"):
            key.append(names.index(typedef.choices[part[:-3]][0]))
            break
        key.append(names.index(part))
        current = typedef.elements[part].type
    return tuple(key)


def test_each_differential_is_in_r4_element_order() -> None:
    """A differential lists elements in the order of the base definition (R4 §2.21.0.5)."""
    for sd in structure_definitions(CONFIG):
        order = [_r4_order(e["path"]) for e in _elements(sd)]
        assert order == sorted(order), sd["id"]


def test_element_ids_are_unique_and_follow_their_paths() -> None:
    for sd in structure_definitions(CONFIG):
        ids = [e["id"] for e in _elements(sd)]
        assert len(ids) == len(set(ids)), sd["id"]
        for element in _elements(sd):
            name = element.get("sliceName")
            assert element["id"] == (f"{element['path']}:{name}" if name else element["path"])


def test_each_slice_follows_its_slicing() -> None:
    for sd in structure_definitions(CONFIG):
        sliced: set[str] = set()
        for element in _elements(sd):
            if "slicing" in element:
                assert element["slicing"]["discriminator"] == [{"type": "value", "path": "url"}]
                sliced.add(element["path"])
            if "sliceName" in element:
                assert element["path"] in sliced, element["id"]
                (profile,) = element["type"][0]["profile"]
                assert element["type"][0]["code"] == "Extension" and profile.startswith("http")


# --- the profiles are true of everything we map ------------------------------------------


def _children(node: Any, part: str) -> list[Any]:
    if not isinstance(node, dict):
        return []
    if part.endswith("[x]"):
        stem = part[:-3]
        keys = [k for k in node if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    else:
        keys = [part]
    out: list[Any] = []
    for key in keys:
        value = node.get(key)
        if value is not None:
            out.extend(value if isinstance(value, list) else [value])
    return out


def _at(resource: Resource, path: str) -> list[Any]:
    nodes: list[Any] = [resource]
    for part in path.split(".")[1:]:
        nodes = [child for node in nodes for child in _children(node, part)]
    return nodes


def _matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _matches(v, value.get(k)) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_matches(p, v) for v in value) for p in pattern)
    return bool(pattern == value)


def _codings(value: Any) -> list[Resource]:
    if isinstance(value, dict) and "coding" in value:
        codings: list[Resource] = value["coding"]
        return codings
    return [value] if isinstance(value, dict) else []


def _type_key(stem: str, code: str) -> str:
    return stem + code[:1].upper() + code[1:]


def violations(resource: Resource, sd: Resource) -> Iterator[str]:
    """Every way ``resource`` breaks a constraint of ``sd``'s differential."""
    for element in _elements(sd):
        path = element["path"]
        parent_path, _, last = path.rpartition(".")
        where = element["id"]
        for key in ("constraint",) if "constraint" in element else ():
            for invariant in element[key]:
                for node in _at(resource, path):
                    if evaluate(node, invariant["expression"], {}, models["r4"]) != [True]:
                        yield f"{where}: {invariant['key']} ({invariant['human']})"
        if not parent_path:
            continue
        parents = _at(resource, parent_path)
        if "sliceName" in element:
            (url,) = element["type"][0]["profile"]
            for parent in parents:
                n = sum(1 for e in parent.get("extension", []) if e.get("url") == url)
                if n < element.get("min", 0) or n > int(
                    element.get("max", "*").replace("*", "9999")
                ):
                    yield f"{where}: {n} extensions {url}"
            continue
        for parent in parents:
            n = len(_children(parent, last))
            if n < element.get("min", 0):
                yield f"{where}: missing"
            if element.get("max", "*") != "*" and n > int(element["max"]):
                yield f"{where}: {n} > max {element['max']}"
        values = _at(resource, path)
        for key, expected in element.items():
            if key.startswith("fixed"):
                yield from (f"{where}: {v!r} is not {expected!r}" for v in values if v != expected)
            if key.startswith("pattern"):
                yield from (
                    f"{where}: {v!r} lacks {expected!r}"
                    for v in values
                    if not _matches(expected, v)
                )
        binding = element.get("binding")
        if binding and binding["strength"] == "required":
            system = BOUND_SYSTEMS[binding["valueSet"]]
            for value in values:
                for coding in _codings(value):
                    if coding.get("system") != system:
                        yield f"{where}: {coding} is not from {system}"
        if "type" in element and last.endswith("[x]"):
            allowed = {_type_key(last[:-3], t["code"]): t for t in element["type"]}
            for parent in parents:
                for key in parent:
                    if key.startswith(last[:-3]) and key not in allowed:
                        yield f"{where}: {key} is not one of {sorted(allowed)}"
                    target = allowed.get(key, {}).get("targetProfile")
                    if target and key in parent:
                        kind = target[0].rsplit("/", 1)[1]
                        if not parent[key]["reference"].startswith(f"{kind}/"):
                            yield f"{where}: {parent[key]} is not a {kind}"


def _extension_sites(node: Any, path: str) -> Iterator[tuple[str, Resource]]:
    if isinstance(node, list):
        for item in node:
            yield from _extension_sites(item, path)
    elif isinstance(node, dict):
        for extension in node.get("extension", []):
            yield path, extension
        for key, value in node.items():
            if key != "extension":
                yield from _extension_sites(value, f"{path}.{key}")


def extension_violations(resource: Resource, config: MappingConfig) -> Iterator[str]:
    """Each of our extensions where its context allows, with the value type it defines."""
    for sd in structure_definitions(config):
        if sd["type"] != "Extension":
            continue
        (context,) = sd["context"]
        (value,) = [e for e in _elements(sd) if e["path"] == "Extension.value[x]"]
        value_key = _type_key("value", value["type"][0]["code"])
        for path, extension in _extension_sites(resource, resource["resourceType"]):
            if extension.get("url") != sd["url"]:
                continue
            allowed = context["expression"]
            # An element context covers that element wherever it recurs (action.action…).
            pattern = re.escape(allowed) + (r"(\.action)*" if allowed.endswith(".action") else "")
            if not re.fullmatch(pattern, path):
                yield f"{sd['id']} at {path}, outside {allowed}"
            keys = set(extension) - {"url"}
            if keys != {value_key}:
                yield f"{sd['id']} at {path}: {sorted(keys)}, expected {value_key}"


def test_every_page_we_have_is_mapped() -> None:
    assert len(PAGES) >= 30
    kinds = {r["resourceType"] for r in mapped_resources()}
    assert kinds == set(PROFILED)


@pytest.mark.parametrize("config", [CONFIG, OTHER], ids=["default", "other-base"])
def test_every_mapped_resource_claims_its_profile(config: MappingConfig) -> None:
    for resource in mapped_resources(config):
        assert resource["meta"] == {"profile": [profile_url(config, resource["resourceType"])]}
        assert resource["meta"]["profile"][0] in definitions(config)


@pytest.mark.parametrize("config", [CONFIG, OTHER], ids=["default", "other-base"])
def test_every_mapped_resource_meets_every_constraint_of_its_profile(
    config: MappingConfig,
) -> None:
    problems = [
        f"{r['resourceType']}/{r['id']}: {problem}"
        for r in mapped_resources(config)
        for problem in violations(r, definitions(config)[r["meta"]["profile"][0]])
    ]
    assert not problems, "\n".join(problems[:40])


def test_our_extensions_appear_only_in_their_context_with_their_value_type() -> None:
    problems = [
        f"{r['resourceType']}/{r['id']}: {problem}"
        for r in mapped_resources()
        for problem in extension_violations(r, CONFIG)
    ]
    assert not problems, "\n".join(problems[:40])


def test_every_constraint_is_exercised_by_the_pages() -> None:
    """No constraint holds vacuously: each element it speaks of occurs in some mapped resource
    (or, for max 0, its parent does), so the check above tested something."""
    by_type: dict[str, list[Resource]] = {}
    for resource in mapped_resources():
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for sd in structure_definitions(CONFIG):
        if sd["kind"] != "resource":
            continue
        for element in _elements(sd):
            if "slicing" in element:
                continue
            path = element["path"]
            if element.get("max") == "0" or "sliceName" in element:
                path = path.rpartition(".")[0] or path
            if "sliceName" in element and element["path"].count(".action") > 4:
                continue  # depth 5: the pages give no option group inside a sub-section's group
            found = any(_at(r, path) for r in by_type[sd["type"]])
            assert found, f"{sd['id']}: nothing in the pages at {path}"


# --- the check catches what it claims to -------------------------------------------------


def _first(resource_type: str, predicate: Any = lambda r: True) -> Resource:
    return copy.deepcopy(
        next(r for r in mapped_resources() if r["resourceType"] == resource_type and predicate(r))
    )


def _profile_of(resource: Resource) -> Resource:
    return definitions(CONFIG)[profile_url(CONFIG, resource["resourceType"])]


def _plan_with_options_extension() -> Resource:
    url = options_exhaustive_extension(CONFIG)
    return _first("PlanDefinition", lambda r: url in str(r))


def _deep_actions(resource: Resource) -> Iterator[Resource]:
    for action in resource.get("action", []):
        yield action
        yield from _deep_actions(action)


def _break_deep_id(pd: Resource) -> None:
    leaf = next(a for a in _deep_actions(pd) if "definitionCanonical" in a)
    del leaf["id"]


def _break_options_twice(pd: Resource) -> None:
    url = options_exhaustive_extension(CONFIG)
    action = next(a for a in _deep_actions(pd) if url in str(a.get("extension")))
    action["extension"].append({"url": url, "valueBoolean": True})


def _break_leaf_children(pd: Resource) -> None:
    leaf = next(a for a in _deep_actions(pd) if "definitionCanonical" in a)
    leaf["action"] = [{"id": "x", "textEquivalent": "x"}]


def _break_definition_version(pd: Resource) -> None:
    leaf = next(a for a in _deep_actions(pd) if "definitionCanonical" in a)
    leaf["definitionCanonical"] = leaf["definitionCanonical"].replace("|1.0.0", "|9.9.9")


PLANTED = {
    "no root title": ("PlanDefinition", lambda r: r["action"][0].pop("title"), "action.title"),
    "two root actions": (
        "PlanDefinition",
        lambda r: r["action"].append(copy.deepcopy(r["action"][0])),
        "> max 1",
    ),
    "experimental": ("PlanDefinition", lambda r: r.update(experimental=True), "experimental"),
    "order set": (
        "PlanDefinition",
        lambda r: r["type"]["coding"][0].update(code="order-set"),
        "PlanDefinition.type",
    ),
    "section selection": (
        "PlanDefinition",
        lambda r: r["action"][0]["action"][0].update(selectionBehavior="any"),
        "action.action.selectionBehavior",
    ),
    "deep action without id": ("PlanDefinition", _break_deep_id, "ped-pd-1"),
    "leaf with children": ("PlanDefinition", _break_leaf_children, "ped-pd-2"),
    "definition of another version": ("PlanDefinition", _break_definition_version, "ped-pd-3"),
    "options said twice": ("PlanDefinition", _break_options_twice, "ped-pd-6"),
    "two disclaimers": (
        "PlanDefinition",
        lambda r: r["extension"].append(
            {"url": disclaimer_extension(CONFIG), "valueMarkdown": "again"}
        ),
        "extension:contentDisclaimer",
    ),
    "medication without its url": (
        "Medication",
        lambda r: r["extension"].pop(0),
        "extension:artifactUrl",
    ),
    "medication inactive": ("Medication", lambda r: r.update(status="inactive"), "status"),
    "activity for a substance": (
        "ActivityDefinition",
        lambda r: r.update(productReference={"reference": "Substance/x"}),
        "product[x]",
    ),
    "activity as an order": (
        "ActivityDefinition",
        lambda r: r.update(kind="MedicationRequest", intent="order"),
        "intent",
    ),
}


@pytest.mark.parametrize("name", PLANTED)
def test_the_check_reports_a_planted_violation(name: str) -> None:
    resource_type, mutate, where = PLANTED[name]
    resource = (
        _plan_with_options_extension()
        if resource_type == "PlanDefinition"
        else _first(resource_type)
    )
    assert not list(violations(resource, _profile_of(resource)))
    mutate(resource)
    found = list(violations(resource, _profile_of(resource)))
    assert any(where in problem for problem in found), found


def test_the_extension_check_reports_a_misplaced_or_mistyped_extension() -> None:
    pd = _plan_with_options_extension()
    pd["action"][0]["extension"] = [{"url": disclaimer_extension(CONFIG), "valueMarkdown": "x"}]
    action = next(a for a in _deep_actions(pd) if "extension" in a and a is not pd["action"][0])
    action["extension"][0] = {"url": options_exhaustive_extension(CONFIG), "valueString": "no"}
    found = list(extension_violations(pd, CONFIG))
    assert any("content-disclaimer at PlanDefinition.action" in p for p in found), found
    assert any("valueString" in p and "expected valueBoolean" in p for p in found), found
