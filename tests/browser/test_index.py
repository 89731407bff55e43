"""``/education/``, the index, in a real browser at a desktop and a phone viewport.

Every phase of the fixtures is listed, linked and grouped under a heading that names its
disease (the PlanDefinition's ``useContext`` focus text); every drug is listed and linked.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import seed
from .checks import PageChecks, broken_links, first_visible, without_javascript_problems
from .pages import VIEWPORTS, Browsing, View

PATH = "/education/"

# From a link, the heading of the group it is listed in: the first heading of the nearest
# enclosing section (or article, nav, aside) that comes before the link; failing that, the
# last heading before the link in document order.
_GROUP_HEADING_JS = """
(a) => {
  const norm = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  const before = (h) => !!(h.compareDocumentPosition(a) & Node.DOCUMENT_POSITION_FOLLOWING);
  const found = (h) => ({ level: Number(h.tagName[1]), text: norm(h.textContent) });
  for (let el = a.parentElement; el && el !== document.body; el = el.parentElement) {
    if (el.matches('section, article, nav, aside')) {
      const h = el.querySelector('h1, h2, h3, h4, h5, h6');
      if (h && before(h)) return found(h);
    }
  }
  const preceding = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(before);
  return preceding.length ? found(preceding[preceding.length - 1]) : null;
}
"""


@pytest.fixture(scope="module", params=VIEWPORTS, ids=[v.name for v in VIEWPORTS])
def view(request: pytest.FixtureRequest, browsing: Browsing) -> View:
    opened = browsing.open(PATH, request.param)
    return opened


class TestIndex(PageChecks):
    def lang_for(self, view: View) -> str | None:
        """The content's language when every phase shares one; the index shows only it."""
        languages = {phase.language for phase in seed.phases().values()}
        return languages.pop() if len(languages) == 1 else None

    @pytest.mark.parametrize("phase_id", list(seed.phases()))
    def test_phase_listed_under_its_disease(self, view: View, phase_id: str) -> None:
        phase = seed.phases()[phase_id]
        links = view.page.locator(f'main a[href$="/education/PlanDefinition/{phase_id}"]')
        assert links.count() >= 1, f"{view.url}: no link to PlanDefinition/{phase_id}"
        ok, why = first_visible(links)
        assert ok, f"{view.url} at {view.viewport.name}: link to {phase_id} hidden: {why}"
        title = seed.normalize(seed.source_page(phase.stem).title)
        assert title in seed.normalize(links.first.inner_text()), (
            f"{view.url}: the link to {phase_id} reads {links.first.inner_text()!r}"
        )
        heading: dict[str, Any] | None = links.first.evaluate(_GROUP_HEADING_JS)
        assert heading is not None, f"{view.url}: {phase_id} is under no heading"
        assert heading["level"] >= 2, f"{view.url}: {phase_id} is under the page title only"
        assert phase.disease.casefold() in heading["text"].casefold(), (
            f"{view.url}: {phase_id} is listed under {heading['text']!r}, "
            f"not under its disease {phase.disease!r}"
        )

    def test_every_drug_listed(self, view: View) -> None:
        missing: dict[str, list[str]] = {}
        for drug in seed.drugs().values():
            links = view.page.locator(f'main a[href$="/education/Medication/{drug.id}"]')
            ok, why = first_visible(links.filter(has_text=drug.name))
            if not ok:
                missing[drug.id] = why
        assert not missing, f"{view.url} at {view.viewport.name}: drugs not listed: {missing}"


def test_works_without_javascript(browsing: Browsing) -> None:
    problems = without_javascript_problems(browsing, PATH)
    assert not problems, f"{PATH} with JavaScript disabled: {problems}"


def test_every_link_resolves(browsing: Browsing) -> None:
    broken = broken_links(browsing, PATH)
    assert not broken, f"{PATH}: {broken}"
