"""``/education/PlanDefinition/{id}`` in a real browser, at a desktop and a phone viewport.

Each phase page must show everything its seed page says: the title as the h1, every section
heading as a visible ``<h2>`` of its own ``<section>`` with that section's prose under it,
every sentence, and every drug the terminology table knows, visible and linked to its drug
page. Expectations come from ``fixtures/pages`` and ``mappings/terminology`` (see
``seed.py``), never from the renderer.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator

from . import seed
from .checks import (
    PageChecks,
    broken_links,
    first_visible,
    hidden_reasons,
    in_print,
    without_javascript_problems,
)
from .pages import VIEWPORTS, Browsing, View, Viewport

PHASES = seed.phases()
CASES = [(phase, viewport) for phase in PHASES for viewport in VIEWPORTS]


def _path(phase_id: str) -> str:
    return f"/education/PlanDefinition/{phase_id}"


@pytest.fixture(scope="module", params=CASES, ids=[f"{p}-{v.name}" for p, v in CASES])
def view(request: pytest.FixtureRequest, browsing: Browsing) -> View:
    phase_id, viewport = request.param
    assert isinstance(viewport, Viewport)
    opened = browsing.open(_path(phase_id), viewport)
    return opened


def _phase(view: View) -> seed.Phase:
    return PHASES[view.path.rsplit("/", 1)[1]]


def _source(view: View) -> seed.SourcePage:
    return seed.source_page(_phase(view).stem)


def expected_sections(phase: seed.Phase) -> list[tuple[str, str]]:
    """(heading, first sentence) of each treatment section, in the seed page's order.

    A heading the text export lost is the stored action's title at the same position, which
    needs the text and the PlanDefinition to have the same sections in the same order.
    """
    source = seed.source_page(phase.stem)
    assert len(source.sections) == len(phase.section_titles), (
        f"{phase.stem}.txt has {len(source.sections)} sections, PlanDefinition/{phase.id} "
        f"{len(phase.section_titles)}: {phase.section_titles}"
    )
    return [
        (section.heading or title, section.first_sentence)
        for section, title in zip(source.sections, phase.section_titles, strict=True)
    ]


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)


def _section(view: View, heading: str) -> Locator:
    """The ``<section>`` of ``<main>`` whose ``<h2>`` reads exactly ``heading``."""
    h2 = view.page.locator("h2").filter(
        has_text=re.compile(rf"^\s*{re.escape(heading)}\s*$", re.IGNORECASE)
    )
    return view.page.locator("main section").filter(has=h2)


class TestPhasePage(PageChecks):
    def lang_for(self, view: View) -> str:
        return _phase(view).language

    def test_h1_is_the_page_title(self, view: View) -> None:
        (h1,) = view.snapshot.h1
        assert h1.text == seed.normalize(_source(view).title), view.url

    def test_every_section_is_a_visible_h2_section(self, view: View) -> None:
        problems: list[str] = []
        for heading, _ in expected_sections(_phase(view)):
            sections = _section(view, heading)
            if sections.count() != 1:
                problems.append(f"{heading!r}: {sections.count()} <section>s with that <h2>")
                continue
            for what, element in (("h2", sections.locator("h2").first), ("section", sections)):
                why = hidden_reasons(element)
                if why:
                    problems.append(f"{heading!r} {what} not visible: {why}")
        assert not problems, f"{view.url} at {view.viewport.name}: {problems}"

    def test_sections_in_source_order(self, view: View) -> None:
        expected = [h.casefold() for h, _ in expected_sections(_phase(view))]
        shown = [s.heading.casefold() for s in view.snapshot.sections]
        in_order = [h for h in shown if h in expected]
        assert in_order == expected, f"{view.url}: sections {shown}"

    def test_section_prose_under_its_heading(self, view: View) -> None:
        by_heading = {s.heading.casefold(): s.text for s in view.snapshot.sections}
        misplaced = [
            f"{heading!r}: {sentence!r}"
            for heading, sentence in expected_sections(_phase(view))
            if seed.normalize(sentence) not in by_heading.get(heading.casefold(), "")
        ]
        assert not misplaced, f"{view.url}: first sentence not in its section: {misplaced}"

    def test_every_sentence_is_shown(self, view: View) -> None:
        missing = [s for s in _source(view).sentences if s not in view.snapshot.text]
        assert not missing, (
            f"{view.url} at {view.viewport.name}: {len(missing)} sentences of "
            f"fixtures/pages/{_phase(view).stem}.txt not in the page's text: {missing}"
        )

    def test_every_drug_is_visible(self, view: View) -> None:
        hidden: dict[str, list[str]] = {}
        for name in _source(view).drugs:
            ok, why = first_visible(view.page.locator("main").get_by_text(_word(name)))
            if not ok:
                hidden[name] = why
        assert not hidden, f"{view.url} at {view.viewport.name}: drugs not visible: {hidden}"

    def test_every_drug_links_to_its_page(self, view: View) -> None:
        phase = _phase(view)
        problems: list[str] = []
        for name in _source(view).drugs:
            medication = phase.medications.get(name)
            if medication is None:
                problems.append(f"{name}: no Medication named so in fixtures/fhir/{phase.stem}")
                continue
            links = view.page.locator(f'main a[href$="/education/Medication/{medication}"]')
            ok, why = first_visible(links.filter(has_text=_word(name)))
            if not ok:
                problems.append(f"{name}: no visible link to Medication/{medication}: {why}")
        assert not problems, f"{view.url} at {view.viewport.name}: {problems}"

    def test_drug_links_are_the_phase_drugs(self, view: View) -> None:
        linked = {
            link.rsplit("/", 1)[1]
            for link in view.snapshot.links
            if "/education/Medication/" in link
        }
        unknown = linked - set(_phase(view).medications.values())
        assert not unknown, f"{view.url}: links to drugs the phase does not use: {unknown}"

    def test_print_shows_every_section_sentence_and_drug(self, view: View) -> None:
        """Under print media nothing is hidden, and Chromium makes a PDF of the page."""
        try:
            printed = in_print(view.page)
            missing = [s for s in _source(view).sentences if s not in printed.text]
            hidden = [
                heading
                for heading, _ in expected_sections(_phase(view))
                if hidden_reasons(_section(view, heading).locator("h2").first)
            ]
            hidden += [
                name
                for name in _source(view).drugs
                if not first_visible(view.page.locator("main").get_by_text(_word(name)))[0]
            ]
            pdf = view.page.pdf()
        finally:
            view.page.emulate_media(media="screen")
        assert not missing, f"{view.url}: sentences missing in print: {missing}"
        assert not hidden, f"{view.url}: sections or drugs hidden in print: {hidden}"
        assert printed.sections == view.snapshot.sections, (
            f"{view.url}: the sections' text differs in print"
        )
        assert pdf.startswith(b"%PDF") and len(pdf) > 1000, f"{view.url}: PDF {len(pdf)} bytes"


@pytest.mark.parametrize("phase_id", list(PHASES))
def test_works_without_javascript(browsing: Browsing, phase_id: str) -> None:
    problems = without_javascript_problems(browsing, _path(phase_id))
    assert not problems, f"{_path(phase_id)} with JavaScript disabled: {problems}"


@pytest.mark.parametrize("phase_id", list(PHASES))
def test_every_link_resolves(browsing: Browsing, phase_id: str) -> None:
    broken = broken_links(browsing, _path(phase_id))
    assert not broken, f"{_path(phase_id)}: {broken}"
