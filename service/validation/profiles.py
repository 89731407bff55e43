"""A resource against a profile: the constraints of a StructureDefinition's differential.

A pure function of the resource (parsed JSON) and the StructureDefinition (R4 JSON). The
base R4 rules are ``validator.validate``'s; this checks what a profile adds, element by
element of its differential:

- ``min``/``max`` along element paths, relative to each occurrence of the parent (nested
  backbone elements such as ``PlanDefinition.action.action`` follow the R4 definitions, which
  carry the ``contentReference`` of a nested action as its type);
- ``fixed[x]`` (equal) and ``pattern[x]`` (the pattern's values are present);
- ``binding`` of strength required (an error) or extensible (a warning), against the value
  sets this server can expand (``bindings.membership``);
- the types a choice or a Reference is narrowed to;
- ``constraint`` (FHIRPath invariants, evaluated with fhirpathpy as the R4 ones are);
- extension slices told apart by ``url`` (R4's default for extensions): each slice's
  ``min``/``max``, ``rules: closed``, and each matching extension against its own
  StructureDefinition (its value type, its url, no nested extensions...), when the caller's
  ``resolve`` finds it. Extensions of the FHIR Extensions Pack (``http://hl7.org/fhir/
  StructureDefinition/...``, whose definitions this server does not hold) are checked by
  url and count only, without an issue saying so on every request.

Every issue carries the FHIRPath of the element (``location``) and names the profile. A
differential element this engine does not understand (another discriminator, an element
inside a slice) is reported as ``information`` ("not checked"), never skipped silently.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models

from service.deadlines import check_deadline
from service.validation import bindings
from service.validation.definitions import Definitions, Element, TypeDef, load
from service.validation.invariants import _OPTIONS
from service.validation.issues import Issue

CORE = "http://hl7.org/fhir/StructureDefinition/"
MAX_DEPTH = 5  # baseDefinition chain and extension-in-extension recursion
Resolve = Callable[[str], Mapping[str, Any] | None]
Json = Mapping[str, Any]


def core_type(url: str) -> str | None:
    """The type a core R4 StructureDefinition URL names (``.../StructureDefinition/Medication``),
    or None when ``url`` is not one."""
    bare = url.partition("|")[0]
    if not bare.startswith(CORE):
        return None
    name = bare.removeprefix(CORE)
    typedef = load().types.get(name)
    return name if typedef is not None and "." not in name else None


@dataclass(frozen=True)
class _Instance:
    location: str
    value: Any
    typedef: TypeDef | None  # the type of ``value`` when complex
    element: Element | None  # how the parent defines it (None for the root)


@dataclass
class _Run:
    defs: Definitions
    resolve: Resolve | None
    issues: list[Issue]
    reported: set[tuple[str, str]]

    def once(self, key: str, issue: Issue) -> None:
        """An issue about the profile (not the instance), reported once per profile element."""
        if (key, issue.message) not in self.reported:
            self.reported.add((key, issue.message))
            self.issues.append(issue)


def check(
    resource: Json,
    profile: Json,
    *,
    resolve: Resolve | None = None,
    defs: Definitions | None = None,
) -> list[Issue]:
    """Every way ``resource`` breaks ``profile`` (a StructureDefinition as R4 JSON). Never
    raises on bad input; ``DeadlineExceeded`` passes through (``service.deadlines``)."""
    run = _Run(defs or load(), resolve, [], set())
    rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(rtype, str) or rtype not in run.defs.types:
        return []  # the base validation reports what is wrong with the resource itself
    url = _url(profile)
    if profile.get("resourceType") != "StructureDefinition":
        return [Issue("error", "not-supported", rtype, f"{url} is not a StructureDefinition.")]
    if profile.get("type") != rtype:
        return [
            Issue(
                "error",
                "invalid",
                rtype,
                f"Profile {url} constrains {profile.get('type')!r}, not {rtype}.",
            )
        ]
    root = _Instance(rtype, resource, run.defs.types[rtype], None)
    _profile(run, profile, root, resource, depth=0)
    return run.issues


def _url(profile: Json) -> str:
    url = profile.get("url")
    return url if isinstance(url, str) else "(a profile without a url)"


def _profile(run: _Run, profile: Json, root: _Instance, resource: Json, *, depth: int) -> None:
    url = _url(profile)
    base = profile.get("baseDefinition")
    if isinstance(base, str) and core_type(base) is None and depth < MAX_DEPTH:
        parent = run.resolve(base) if run.resolve else None
        if parent is None:
            run.once(url, _about(root.location, f"Its base profile {base} is not known here"))
        else:
            _profile(run, parent, root, resource, depth=depth + 1)
    differential = profile.get("differential")
    elements = differential.get("element") if isinstance(differential, Mapping) else None
    if not isinstance(elements, list):
        if profile.get("derivation") == "constraint":
            run.once(url, _about(root.location, f"Profile {url} has no differential"))
        return
    type_name = profile.get("type")
    slices: dict[str, list[Json]] = {}
    slicing: dict[str, Json] = {}
    for element in elements:
        if not isinstance(element, Mapping) or not isinstance(element.get("path"), str):
            continue
        path: str = element["path"]
        given = element.get("id")
        eid: str = given if isinstance(given, str) else path
        if ":" in eid:
            if eid.rsplit(":", 1)[0] == path and "." not in eid.rsplit(":", 1)[1]:
                slices.setdefault(path, []).append(element)
            else:
                run.once(url, _about(root.location, f"Element {eid} of {url} (inside a slice)"))
            continue
        if isinstance(element.get("slicing"), Mapping):
            slicing[path] = element["slicing"]
        if path != type_name and not path.startswith(f"{type_name}."):
            run.once(url, _about(root.location, f"Element {path} of {url} (not a {type_name})"))
            continue
        _element(run, url, element, path.split(".")[1:], root, resource)
    for path, named in slices.items():
        _slices(run, url, path, slicing.get(path), named, root, resource, depth)


def _about(location: str, what: str) -> Issue:
    return Issue("information", "not-supported", location, f"{what}: not checked.")


# --- walking element paths --------------------------------------------------------------------


def _children(run: _Run, parent: _Instance, segment: str) -> Iterator[_Instance] | None:
    """The values of ``segment`` in ``parent``; None when its type has no such element."""
    typedef = parent.typedef
    if typedef is None or not isinstance(parent.value, Mapping):
        return iter(())
    if segment.endswith("[x]"):
        variants = typedef.choices.get(segment[:-3])
        if variants is None:
            return None
        names = [typedef.elements[v] for v in variants]
    else:
        element = typedef.elements.get(segment)
        if element is None:
            return None
        names = [element]
    return _values(run, parent, names)


def _values(run: _Run, parent: _Instance, elements: list[Element]) -> Iterator[_Instance]:
    for element in elements:
        value = parent.value.get(element.name)
        here = f"{parent.location}.{element.name}"
        child_type = run.defs.types.get(element.type)
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is not None:
                    yield _Instance(f"{here}[{i}]", item, child_type, element)
        elif value is not None:
            yield _Instance(here, value, child_type, element)
        elif f"_{element.name}" in parent.value:
            yield _Instance(here, None, None, element)  # a primitive with only an id/extension


def _at(run: _Run, root: _Instance, segments: Sequence[str]) -> list[_Instance] | None:
    found = [root]
    for segment in segments:
        check_deadline()
        step: list[_Instance] = []
        for parent in found:
            children = _children(run, parent, segment)
            if children is None:
                return None
            step.extend(children)
        found = step
    return found


# --- one differential element -----------------------------------------------------------------


def _element(
    run: _Run, url: str, element: Json, segments: list[str], root: _Instance, resource: Json
) -> None:
    path = element["path"]
    suffix = f"(profile {url})"
    if segments:
        parents = _at(run, root, segments[:-1])
        if parents is None or _at(run, root, segments) is None:
            run.once(url, _about(root.location, f"Element {path} of {url} is not an R4 element"))
            return
        for parent in parents:
            _cardinality(run, element, path, parent, segments[-1], suffix)
    instances = _at(run, root, segments) or []
    for instance in instances:
        check_deadline()
        _value(run, url, element, path, instance, suffix)
        _types(run, element, path, instance, suffix)
    _binding(run, url, element, path, instances, suffix)
    _constraints(run, url, element, instances, resource)


def _cardinality(
    run: _Run, element: Json, path: str, parent: _Instance, segment: str, suffix: str
) -> None:
    found = list(_children(run, parent, segment) or ())
    low, high = element.get("min"), element.get("max")
    name = segment.removesuffix("[x]")
    if isinstance(low, int) and len(found) < low:
        run.issues.append(
            Issue(
                "error",
                "required",
                f"{parent.location}.{name}",
                f"{path} is required: minimum {low}, found {len(found)} {suffix}.",
            )
        )
    if isinstance(high, str) and high.isdigit() and len(found) > int(high):
        extra = found[int(high)]
        message = (
            f"{path} is not allowed {suffix}."
            if high == "0"
            else f"{path} allows at most {high}, found {len(found)} {suffix}."
        )
        run.issues.append(Issue("error", "structure", extra.location, message))


def _value(run: _Run, url: str, element: Json, path: str, instance: _Instance, suffix: str) -> None:
    for key, wanted in element.items():
        if key.startswith("fixed") and not _equal(instance.value, wanted):
            run.issues.append(
                Issue(
                    "error",
                    "value",
                    instance.location,
                    f"{path} must be {_shown(wanted)}, not {_shown(instance.value)} {suffix}.",
                )
            )
        elif key.startswith("pattern") and not _matches(instance.value, wanted):
            run.issues.append(
                Issue(
                    "error",
                    "value",
                    instance.location,
                    f"{path} must match {_shown(wanted)}, found {_shown(instance.value)} {suffix}.",
                )
            )


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return type(value) is type(wanted) and value == wanted
    return bool(value == wanted)


def _matches(value: Any, pattern: Any) -> bool:
    """R4 pattern[x]: every value the pattern has is in the instance (arrays: each of the
    pattern's items matches some item of the instance's)."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            k in value and _matches(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else []
        return all(any(_matches(item, p) for item in items) for p in pattern)
    return _equal(value, pattern)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def _types(run: _Run, element: Json, path: str, instance: _Instance, suffix: str) -> None:
    """A choice narrowed to some types; a Reference narrowed to target types."""
    types = element.get("type")
    if not isinstance(types, list) or instance.element is None:
        return
    codes = {t.get("code") for t in types if isinstance(t, Mapping)}
    base = instance.element
    if base.choice is not None and base.type not in codes:
        run.issues.append(
            Issue(
                "error",
                "structure",
                instance.location,
                f"{path} allows {', '.join(sorted(str(c) for c in codes))}, not {base.type} "
                f"{suffix}.",
            )
        )
        return
    if base.type != "Reference" or not isinstance(instance.value, Mapping):
        return
    targets: set[str] = set()
    for t in types:
        if isinstance(t, Mapping) and t.get("code") == "Reference":
            for target in t.get("targetProfile") or []:
                named = core_type(target) if isinstance(target, str) else None
                if named is None:
                    return  # a profiled target: this engine checks core targets only
                targets.add(named)
    reference = instance.value.get("reference")
    if targets and isinstance(reference, str) and "/" in reference:
        target_type = reference.rstrip("/").split("/")[-2]
        if target_type not in targets:
            run.issues.append(
                Issue(
                    "error",
                    "structure",
                    f"{instance.location}.reference",
                    f"{path} must reference {' or '.join(sorted(targets))}, not {target_type} "
                    f"{suffix}.",
                )
            )


def _binding(
    run: _Run, url: str, element: Json, path: str, instances: list[_Instance], suffix: str
) -> None:
    binding = element.get("binding")
    if not isinstance(binding, Mapping) or not instances:
        return
    strength, value_set = binding.get("strength"), binding.get("valueSet")
    if strength not in ("required", "extensible") or not isinstance(value_set, str):
        return
    bare = value_set.partition("|")[0]
    if bare not in run.defs.value_sets:
        run.once(
            url,
            _about(
                instances[0].location, f"The binding of {path} to {value_set} (not expanded here)"
            ),
        )
        return
    for instance in instances:
        kind = instance.element.type if instance.element else None
        if kind is None:
            continue
        member = bindings.membership(kind, instance.value, bare, run.defs)
        if member is None or member[0]:
            continue
        run.issues.append(
            Issue(
                "error" if strength == "required" else "warning",
                "code-invalid",
                instance.location,
                f"{path} {member[1]} is not in the {strength} value set {value_set} {suffix}.",
            )
        )


@functools.cache
def _compiled(expression: str) -> Callable[..., list[Any]]:
    compiled: Callable[..., list[Any]] = compile_fhirpath(expression, models["r4"], _OPTIONS)
    return compiled


def _constraints(
    run: _Run, url: str, element: Json, instances: list[_Instance], resource: Json
) -> None:
    constraints = element.get("constraint")
    if not isinstance(constraints, list):
        return
    for constraint in constraints:
        if not isinstance(constraint, Mapping):
            continue
        key, expression = constraint.get("key"), constraint.get("expression")
        if not isinstance(expression, str) or not isinstance(key, str):
            continue
        severity = "warning" if constraint.get("severity") == "warning" else "error"
        human = constraint.get("human") if isinstance(constraint.get("human"), str) else key
        for instance in instances:
            check_deadline()
            try:
                result = _compiled(expression)(instance.value, {"resource": resource})
            except Exception as e:
                run.once(
                    url,
                    Issue(
                        "information",
                        "informational",
                        instance.location,
                        f"{key} of {url} could not be evaluated ({type(e).__name__}).",
                    ),
                )
                continue
            if result == [False]:
                run.issues.append(
                    Issue(
                        severity,
                        "invariant",
                        instance.location,
                        f"{key}: {human} (profile {url}).",
                    )
                )


# --- extension slices -------------------------------------------------------------------------


def _slices(
    run: _Run,
    url: str,
    path: str,
    slicing: Json | None,
    named: list[Json],
    root: _Instance,
    resource: Json,
    depth: int,
) -> None:
    segments = path.split(".")[1:]
    last = segments[-1] if segments else ""
    discriminators = slicing.get("discriminator") if slicing else None
    by_url = discriminators is None and last in ("extension", "modifierExtension")
    if isinstance(discriminators, list):
        by_url = discriminators == [{"type": "value", "path": "url"}] or all(
            isinstance(d, Mapping) and d.get("type") == "value" and d.get("path") == "url"
            for d in discriminators
        )
    if not by_url or last not in ("extension", "modifierExtension"):
        run.once(url, _about(root.location, f"The slices of {path} in {url}"))
        return
    wanted: dict[str, Json] = {}
    for element in named:
        extension_url = _extension_url(element)
        if extension_url is None:
            run.once(url, _about(root.location, f"Slice {element.get('id')} of {url} (no url)"))
            continue
        wanted[extension_url] = element
    parents = _at(run, root, segments[:-1]) or []
    closed = bool(slicing) and slicing is not None and slicing.get("rules") == "closed"
    suffix = f"(profile {url})"
    for parent in parents:
        check_deadline()
        items = list(_children(run, parent, last) or ())
        for extension_url, element in wanted.items():
            matching = [i for i in items if _item_url(i) == extension_url]
            slice_path = f"{path}:{element.get('sliceName') or element.get('id')}"
            _slice_cardinality(run, element, slice_path, parent, last, matching, suffix)
            for item in matching:
                _extension(run, url, extension_url, item, resource, depth)
        if closed:
            for item in items:
                if _item_url(item) not in wanted:
                    run.issues.append(
                        Issue(
                            "error",
                            "structure",
                            item.location,
                            f"{path} is closed to extensions other than "
                            f"{', '.join(sorted(wanted))} {suffix}.",
                        )
                    )


def _extension_url(element: Json) -> str | None:
    for t in element.get("type") or []:
        if isinstance(t, Mapping) and t.get("code") == "Extension":
            profiles = t.get("profile")
            if isinstance(profiles, list) and profiles and isinstance(profiles[0], str):
                return profiles[0]
    return None


def _item_url(item: _Instance) -> Any:
    return item.value.get("url") if isinstance(item.value, Mapping) else None


def _slice_cardinality(
    run: _Run,
    element: Json,
    slice_path: str,
    parent: _Instance,
    last: str,
    matching: list[_Instance],
    suffix: str,
) -> None:
    low, high = element.get("min"), element.get("max")
    if isinstance(low, int) and len(matching) < low:
        run.issues.append(
            Issue(
                "error",
                "required",
                f"{parent.location}.{last}",
                f"{slice_path} is required: minimum {low}, found {len(matching)} {suffix}.",
            )
        )
    if isinstance(high, str) and high.isdigit() and len(matching) > int(high):
        run.issues.append(
            Issue(
                "error",
                "structure",
                matching[int(high)].location,
                f"{slice_path} allows at most {high}, found {len(matching)} {suffix}.",
            )
        )


def _extension(
    run: _Run, url: str, extension_url: str, item: _Instance, resource: Json, depth: int
) -> None:
    """An extension against its own StructureDefinition (value type, url, nesting)."""
    definition = run.resolve(extension_url) if run.resolve else None
    if definition is None and extension_url.startswith(CORE):
        return  # the FHIR Extensions Pack's (module docstring): checked by url and count only
    if definition is None:
        run.once(
            url,
            _about(
                item.location.rsplit("[", 1)[0],
                f"Extension {extension_url} (its definition is not known here)",
            ),
        )
        return
    if depth >= MAX_DEPTH or definition.get("type") != "Extension":
        return
    _profile(run, definition, item, resource, depth=depth + 1)
