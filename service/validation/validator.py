"""The entry point: one pass of structure, then the checks that need typed nodes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from service.deadlines import DeadlineExceeded, check_deadline
from service.validation import bindings, invariants, narrative, profiles, references, terminology
from service.validation.definitions import load
from service.validation.issues import Issue, ordered
from service.validation.profiles import Resolve
from service.validation.references import References
from service.validation.structure import SERVED, Node, Walk


def validate(
    resource: Mapping[str, Any],
    *,
    expected_type: str | None = None,
    references: References | None = None,
    profiles: Sequence[Mapping[str, Any]] = (),
    resolve: Resolve | None = None,
) -> list[Issue]:
    """Every problem found, errors first, in document order. Never raises on bad input;
    raises ``DeadlineExceeded`` when the request's deadline passes (``service.deadlines``).

    ``profiles`` are StructureDefinitions the resource is also checked against
    (``service.validation.profiles``); ``resolve`` finds the definitions they name
    (extensions, base profiles) by canonical URL."""
    try:
        return _validate(resource, expected_type, references, profiles, resolve)
    except DeadlineExceeded:
        raise  # the request's deadline: not a finding about the resource
    except RecursionError:
        return [Issue("error", "structure", "", "The resource is nested too deeply to check.")]
    except Exception as e:
        return [Issue("fatal", "exception", "", f"Validation failed internally ({e!r}).")]


class _Checkpointed:
    """The walk's nodes, re-iterable, checking the request's deadline at each node a check
    takes up."""

    def __init__(self, nodes: list[Node]) -> None:
        self._nodes = nodes

    def __iter__(self) -> Iterator[Node]:
        for node in self._nodes:
            check_deadline()
            yield node


def _validate(
    resource: Any,
    expected_type: str | None,
    resolver: References | None,
    claimed: Sequence[Mapping[str, Any]],
    resolve: Resolve | None,
) -> list[Issue]:
    if not isinstance(resource, dict):
        return [Issue("fatal", "structure", "", "The body is not a JSON object (a resource).")]
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return [Issue("fatal", "required", "", "The resource has no resourceType.")]
    if expected_type is not None and rtype != expected_type:
        return [
            Issue(
                "fatal",
                "invalid",
                "",
                f"resourceType is {rtype!r} but this endpoint validates {expected_type}.",
            )
        ]
    if rtype not in SERVED:
        return [
            Issue(
                "fatal",
                "not-supported",
                "",
                f"This server validates {', '.join(SERVED)}, not {rtype!r}.",
            )
        ]
    walk = Walk(load())
    walk.resource(resource, "", contained=False)
    nodes = _Checkpointed(walk.nodes)
    found = list(walk.issues)
    found += bindings.check(nodes, walk.defs)
    found += invariants.check(nodes, resource)
    found += narrative.check(nodes)
    found += references.check(nodes, resource, resolver)
    found += terminology.check(nodes)
    for profile in claimed:
        found += profiles.check(resource, profile, resolve=resolve, defs=walk.defs)
    if resolver is None:
        found.append(
            Issue(
                "information",
                "informational",
                "",
                "References and canonicals were not resolved (no resolver was given).",
            )
        )
    return ordered(found, walk.positions)
