"""Large PlanDefinitions made from the fixture plan, for the deadline tests and the
heavy-request benchmark."""

from __future__ import annotations

from typing import Any


def renamed(node: Any, suffix: str) -> Any:
    """A copy of an action tree whose ``id`` and ``actionId`` values end in ``suffix``, so
    several copies can sit in one plan."""
    if isinstance(node, dict):
        return {
            k: v + suffix if k in ("id", "actionId") and isinstance(v, str) else renamed(v, suffix)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [renamed(item, suffix) for item in node]
    return node
