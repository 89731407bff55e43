"""``/education/Medication/{id}`` in a real browser, at a desktop and a phone viewport.

Every Medication of the fixtures gets a page; the phase pages link only to these (checked
here against the phase pages as rendered), so every drug page a reader can reach is covered.
"""

from __future__ import annotations

import pytest

from . import seed
from .checks import PageChecks, broken_links
from .pages import VIEWPORTS, Browsing, View, Viewport

DRUGS = seed.drugs()
CASES = [(drug, viewport) for drug in DRUGS for viewport in VIEWPORTS]


def _path(drug_id: str) -> str:
    return f"/education/Medication/{drug_id}"


@pytest.fixture(scope="module", params=CASES, ids=[f"{d}-{v.name}" for d, v in CASES])
def view(request: pytest.FixtureRequest, browsing: Browsing) -> View:
    drug_id, viewport = request.param
    assert isinstance(viewport, Viewport)
    opened = browsing.open(_path(drug_id), viewport)
    return opened


def _drug(view: View) -> seed.Drug:
    return DRUGS[view.path.rsplit("/", 1)[1]]


class TestMedicationPage(PageChecks):
    def lang_for(self, view: View) -> str:
        return _drug(view).language

    def test_h1_names_the_drug(self, view: View) -> None:
        (h1,) = view.snapshot.h1
        assert _drug(view).name.casefold() in h1.text.casefold(), f"{view.url}: h1 {h1.text!r}"


def test_every_linked_drug_page_is_covered(browsing: Browsing) -> None:
    """The drug pages tested here include every one the phase pages link to."""
    linked = {
        link.split("#")[0].rsplit("/", 1)[1]
        for phase_id in seed.phases()
        for link in browsing.snapshot(f"/education/PlanDefinition/{phase_id}").links
        if "/education/Medication/" in link
    }
    assert linked, "the phase pages link to no drug page"
    assert linked <= set(DRUGS), f"untested drug pages: {linked - set(DRUGS)}"


@pytest.mark.parametrize("drug_id", list(DRUGS))
def test_every_link_resolves(browsing: Browsing, drug_id: str) -> None:
    broken = broken_links(browsing, _path(drug_id))
    assert not broken, f"{_path(drug_id)}: {broken}"
