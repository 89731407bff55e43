"""Checks every reading-view page gets, and the browser-side helpers they use.

``PageChecks`` holds the tests shared by the index, the phase pages and the drug pages. A
test module subclasses it (``class TestIndex(PageChecks)``) and provides a module-scoped,
parametrized ``view`` fixture; pytest then runs every check of one page at one viewport
before it opens the next, so one page is open at a time.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Locator, Page

from .pages import Browsing, Heading, Snapshot, View, save_screenshot, snapshot

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING_IMPACTS = ("serious", "critical")
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

# Why an element a reader should see is not seen: zero size, off-screen, transparent,
# clipped to nothing by an ancestor, or hidden by clip/clip-path (the "sr-only" pattern).
_HIDDEN_JS = """
(el) => {
  const problems = [];
  const r = el.getBoundingClientRect();
  if (r.width < 4 || r.height < 4) problems.push(`size ${r.width}x${r.height}`);
  if (r.right <= 0 || r.left >= window.innerWidth) problems.push(`off-screen x=${r.left}`);
  if (r.bottom + window.scrollY <= 0) problems.push(`off-screen y=${r.top + window.scrollY}`);
  for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
    const st = getComputedStyle(a);
    const name = a.localName + (a.id ? '#' + a.id : '');
    if (Number(st.opacity) === 0) problems.push(`opacity 0 on ${name}`);
    if (st.clip !== 'auto' && st.position.match(/absolute|fixed/)) problems.push(`clip on ${name}`);
    if (st.clipPath !== 'none') problems.push(`clip-path on ${name}`);
    if (a !== el && st.overflow !== 'visible') {
      const b = a.getBoundingClientRect();
      const w = Math.min(r.right, b.right) - Math.max(r.left, b.left);
      const h = Math.min(r.bottom, b.bottom) - Math.max(r.top, b.top);
      if (w < 1 || h < 1) problems.push(`clipped by ${name}`);
    }
  }
  return problems;
}
"""

# Elements whose box reaches past ``width`` (the device's width, not innerWidth: a phone
# widens its layout viewport to fit content that overflows, which would hide the offender),
# unless a horizontally scrollable ancestor that itself fits holds them (a wide table in a
# scroll box is fine).
_OVERFLOW_JS = """
(width) => {
  const describe = (el) => {
    const id = el.id ? '#' + el.id : '';
    const cls = el.classList.length ? '.' + [...el.classList].join('.') : '';
    const text = (el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 50);
    return `<${el.localName}${id}${cls}> "${text}"`;
  };
  const offenders = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || r.right <= width + 0.5) continue;
    let held = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && a.getBoundingClientRect().right <= width + 0.5) {
        held = true;
        break;
      }
    }
    if (!held) offenders.push(`${describe(el)} right=${Math.round(r.right)}px`);
  }
  return {
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    offenders,
  };
}
"""

_AXE_RUN_JS = """
async (tags) => {
  const result = await axe.run(document, {
    runOnly: { type: 'tag', values: tags },
    resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 160) })),
  }));
}
"""


def hidden_reasons(locator: Locator) -> list[str]:
    """Why ``locator`` (one element) is not visible to a reader; empty when it is."""
    if not locator.is_visible():
        return ["not visible (display/visibility/size)"]
    box = locator.bounding_box()
    if box is None or box["width"] <= 0 or box["height"] <= 0:
        return [f"no bounding box ({box})"]
    reasons: list[str] = locator.evaluate(_HIDDEN_JS)
    return reasons


def first_visible(candidates: Locator) -> tuple[bool, list[str]]:
    """Whether any element of ``candidates`` is visible; the reasons of each otherwise."""
    reasons: list[str] = []
    for i in range(candidates.count()):
        why = hidden_reasons(candidates.nth(i))
        if not why:
            return True, []
        reasons.append("; ".join(why))
    return False, reasons or ["no element found"]


def outline_problems(headings: tuple[Heading, ...]) -> list[str]:
    """Heading order: one h1, first; going down, never more than one level at a time."""
    problems: list[str] = []
    if not headings:
        return ["no heading at all"]
    h1 = [h for h in headings if h.level == 1]
    if len(h1) != 1:
        problems.append(f"{len(h1)} h1 elements: {[h.text for h in h1]}")
    if headings[0].level != 1:
        problems.append(f"first heading is h{headings[0].level} {headings[0].text!r}")
    for before, after in itertools.pairwise(headings):
        if after.level > before.level + 1:
            problems.append(
                f"h{before.level} {before.text!r} -> h{after.level} {after.text!r} "
                f"skips h{before.level + 1}"
            )
    return problems


def overflow(page: Page, width: int) -> dict[str, Any]:
    """innerWidth, scrollWidth, and the elements reaching past ``width`` CSS pixels."""
    result: dict[str, Any] = page.evaluate(_OVERFLOW_JS, width)
    return result


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations for the page as it is now.

    The reading contexts load axe-core as an init script; it is injected here only when a
    page lacks it.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=source)
    violations: list[dict[str, Any]] = page.evaluate(_AXE_RUN_JS, AXE_TAGS)
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]


def format_violations(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=1, ensure_ascii=False)


def in_print(page: Page) -> Snapshot:
    """The page re-read under print media (same response, so status 200); the caller
    restores ``screen``."""
    page.emulate_media(media="print")
    return snapshot(page, 200)


class PageChecks:
    """What every reading-view page must do, at every viewport.

    Subclasses provide the ``view`` fixture and override ``lang_for``.
    """

    def lang_for(self, view: View) -> str | None:
        """The ``language`` of the resource the page shows; None: any language tag."""
        return None

    def test_served(self, view: View) -> None:
        assert view.snapshot.status == 200, f"{view.url}: HTTP {view.snapshot.status}"

    def test_one_main_with_one_visible_h1(self, view: View) -> None:
        s = view.snapshot
        assert s.mains == 1, f"{view.url}: {s.mains} <main> elements"
        assert len(s.h1) == 1, f"{view.url}: h1 elements {[h.text for h in s.h1]}"
        assert s.h1[0].in_main, f"{view.url}: the h1 is outside <main>"
        ok, why = first_visible(view.page.locator("h1"))
        assert ok, f"{view.url} at {view.viewport.name}: h1 not visible: {why}"

    def test_heading_order(self, view: View) -> None:
        problems = outline_problems(view.snapshot.headings)
        assert not problems, f"{view.url}: {problems}"

    def test_html_lang(self, view: View) -> None:
        lang = view.snapshot.lang
        assert _LANG.match(lang), f"{view.url}: <html lang={lang!r}> is not a language tag"
        expected = self.lang_for(view)
        if expected is not None:
            assert lang == expected, f"{view.url}: <html lang={lang!r}>, resource has {expected!r}"

    def test_no_horizontal_overflow(self, view: View) -> None:
        width = view.viewport.width
        measured = overflow(view.page, width)
        where = f"{view.url} at {view.viewport.name} ({width}px)"
        # A phone lays a page out at 980 px without <meta name="viewport">, and widens the
        # layout to fit overflowing content: either way innerWidth is no longer the phone's.
        assert measured["innerWidth"] == width, (
            f"{where}: layout viewport {measured['innerWidth']}px; "
            f"elements past {width}px: {measured['offenders']}"
        )
        assert measured["scrollWidth"] <= measured["innerWidth"], (
            f"{where}: scrollWidth {measured['scrollWidth']} > innerWidth "
            f"{measured['innerWidth']}; elements past {width}px: {measured['offenders']}"
        )
        assert not measured["offenders"], f"{where}: elements past the right edge: " + str(
            measured["offenders"]
        )

    def test_no_javascript(self, view: View) -> None:
        s = view.snapshot
        assert s.scripts == 0, f"{view.url}: {s.scripts} <script> elements"
        assert not s.handlers, f"{view.url}: script in attributes: {s.handlers}"

    def test_loads_nothing_external(self, view: View) -> None:
        assert not view.external, f"{view.url}: requests off the test server: {view.external}"

    def test_axe_finds_nothing_serious(self, view: View, axe_source: str) -> None:
        violations = axe_violations(view.page, axe_source)
        assert not violations, (
            f"{view.url} at {view.viewport.name}: axe-core {AXE_TAGS}:\n"
            f"{format_violations(violations)}"
        )

    def test_screenshot(self, view: View, screenshots: Path) -> None:
        path = save_screenshot(view, screenshots)
        assert path.stat().st_size > 0


def broken_links(browsing: Browsing, path: str) -> list[str]:
    """Every link of the page at ``path``, followed in the browser: those that do not resolve.

    Same-origin links (``/education/``, ``/fhir/`` and any other) must answer 200 to the
    browser's own request, its Accept header included, as when a reader clicks them.
    Fragment links must name an element of the page. Links to other sites (the citations'
    sources) cannot be fetched from a closed network and are not assets; they only have to
    be absolute http(s) URLs.
    """
    snapshot = browsing.snapshot(path)
    page_url = urljoin(browsing.site, path)
    broken: list[str] = []
    for link in dict.fromkeys(snapshot.links):
        parts = urlsplit(link)
        target = link.split("#")[0]
        if parts.scheme not in ("http", "https"):
            broken.append(f"{link}: not an http(s) link")
        elif parts.netloc != urlsplit(browsing.site).netloc:
            continue
        elif target == page_url and parts.fragment:
            if parts.fragment not in snapshot.ids:
                broken.append(f"{link}: no element with id {parts.fragment!r}")
        elif (status := browsing.status(target)) != 200:
            broken.append(f"{link}: HTTP {status}")
    return broken


def without_javascript_problems(browsing: Browsing, path: str) -> list[str]:
    """How the page differs for a reader with JavaScript off (and the page's CSP enforced).

    Same h1, same sections, no ``<script>``, and every stylesheet applied: with the policy
    enforced, an inline stylesheet the policy does not allow is dropped without a word.
    """
    view = browsing.open_without_javascript(path)
    plain, external = view.snapshot, view.external
    scripted = browsing.snapshot(path)
    problems: list[str] = []
    if plain.status != 200:
        problems.append(f"HTTP {plain.status}")
    if [h.text for h in plain.h1] != [h.text for h in scripted.h1]:
        problems.append(f"h1 {[h.text for h in plain.h1]} != {[h.text for h in scripted.h1]}")
    if plain.sections != scripted.sections:
        problems.append(
            f"sections {[s.heading for s in plain.sections]} != "
            f"{[s.heading for s in scripted.sections]} (or their text differs)"
        )
    if plain.scripts:
        problems.append(f"{plain.scripts} <script> elements")
    if plain.unstyled:
        problems.append(f"stylesheets blocked (Content-Security-Policy?): {plain.unstyled}")
    if external:
        problems.append(f"requests off the test server: {external}")
    return problems
