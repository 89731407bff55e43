"""Reading list bullets: the words after a drug's name say how it is given."""

from __future__ import annotations

import pytest

from mappings.pipeline import map_page

from .conftest import FIXTURES

MAINTENANCE = (FIXTURES / "pages" / "all-maintenance.txt").read_text("utf-8")


def _monthly_vincristine(bullet: str):  # type: ignore[no-untyped-def]
    page = MAINTENANCE.replace("  • vincristine\n", f"  • {bullet}\n")
    (option,) = [
        o for o in map_page(page.encode()).content.sections[0].groups[1].options if o.text == bullet
    ]
    return option


@pytest.mark.parametrize(
    ("bullet", "route", "route_text", "unit"),
    [
        ("vincristine, given intravenously", "intravenous", "intravenously", None),
        ("vincristine, often given weekly", None, None, "wk"),
        ("vincristine, given with chemotherapy", None, None, None),
    ],
)
def test_a_given_clause_is_read_for_schedule_and_route(
    bullet: str, route: str | None, route_text: str | None, unit: str | None
) -> None:
    (choice,) = _monthly_vincristine(bullet).choices
    assert choice.drug is not None and choice.drug.drug == "vincristine"
    assert (choice.route, choice.route_text) == (route, route_text)
    assert (choice.schedule.unit if choice.schedule else None) == unit
