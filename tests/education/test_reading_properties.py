"""Any PlanDefinition the store can hold renders: the reading model never assumes the shape
our own mapping produces (a single phase action, titles everywhere, known codes)."""

from __future__ import annotations

import itertools
from typing import Any

import lxml.html
from flask import Flask, render_template
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from mappings.rules.config import MappingConfig
from service.catalog import Entry, PhaseContents
from service.education import reading

# Short text, often Markdown-significant (headings, emphasis, links, raw HTML).
_text = st.one_of(
    st.text(min_size=0, max_size=12),
    st.sampled_from(
        ["# Title", "### Deep\n\ntext", "Setext\n===", "<h1>x</h1>", "[a](javascript:x)"]
    ),
)
_codes = st.sampled_from(["any", "all", "exactly-one", "one-or-more", "all-or-none", "bogus"])


def _action(children: st.SearchStrategy[list[dict[str, Any]]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(["a", "b", "c"]),
            "title": _text,
            "textEquivalent": _text,
            "description": _text,
            "groupingBehavior": st.sampled_from(["visual-group", "logical-group"]),
            "selectionBehavior": _codes,
            "definitionCanonical": st.sampled_from(["http://x/ActivityDefinition/a|1", "urn:x"]),
            "condition": st.lists(
                st.fixed_dictionaries(
                    {"kind": st.sampled_from(["applicability", "start", "stop"])},
                    optional={
                        "expression": st.fixed_dictionaries({}, optional={"description": _text})
                    },
                ),
                max_size=2,
            ),
            "relatedAction": st.lists(
                st.fixed_dictionaries(
                    {
                        "actionId": st.sampled_from(["a", "b", "zz"]),
                        "relationship": st.sampled_from(["after-end", "before", "weird"]),
                    }
                ),
                max_size=2,
            ),
            "documentation": st.lists(
                st.fixed_dictionaries(
                    {"type": st.just("documentation")},
                    optional={"display": _text, "url": st.just("https://example.org/")},
                ),
                max_size=2,
            ),
            "timingTiming": st.just({"repeat": {"boundsDuration": {"value": 2, "unit": "cycles"}}}),
            "action": children,
        },
    )


_actions = st.recursive(
    st.lists(_action(st.just([])), max_size=3),
    lambda children: st.lists(_action(children), max_size=3),
    max_leaves=12,
)

_plans = st.fixed_dictionaries(
    {"resourceType": st.just("PlanDefinition"), "id": st.just("p"), "status": st.just("active")},
    optional={
        "title": _text,
        "subtitle": _text,
        "description": _text,
        "language": st.sampled_from(["en", "fr-CA"]),
        "action": _actions,
        "goal": st.lists(
            st.fixed_dictionaries({"description": st.fixed_dictionaries({"text": _text})}),
            max_size=2,
        ),
        "relatedArtifact": st.lists(
            st.fixed_dictionaries({"type": st.just("citation"), "citation": _text}), max_size=2
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(plan=_plans)
def test_any_plan_renders(app: Flask, plan: dict[str, Any]) -> None:
    entry = Entry(plan, 1, "2026-01-01T00:00:00Z")
    page = reading.phase_page(entry, PhaseContents(), MappingConfig())
    with app.test_request_context("/education/PlanDefinition/p"):
        html = render_template("phase.html", page=page, css=Markup(""), lang=page.lang)
    document = lxml.html.fromstring(html)
    levels = [int(h.tag[1]) for h in document.xpath("//h1|//h2|//h3|//h4|//h5|//h6")]
    assert levels.count(1) == 1 and levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    assert document.xpath("//script") == []
    assert document.get("lang") == plan.get("language", "und")
