"""The browser side of the reading-view tests: viewports, what a page looks like once
loaded (``Snapshot``), and ``Browsing``, which opens pages in Debian's chromium.

Kept apart from ``conftest.py`` so test modules import typed helpers, not fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Route
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "validators" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    mobile: bool


DESKTOP = Viewport("desktop", 1280, 800, mobile=False)
# A phone honours the page's <meta name="viewport">, as a real one does; without it the
# layout viewport would be 980 px wide and an overflow check at "375 px" would prove nothing.
PHONE = Viewport("phone", 375, 667, mobile=True)
VIEWPORTS = (DESKTOP, PHONE)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    visible: bool
    in_main: bool


@dataclass(frozen=True)
class Section:
    """A ``<section>`` inside ``<main>``: the text of its first ``<h2>`` and its own text."""

    heading: str
    text: str


@dataclass(frozen=True)
class Snapshot:
    """The DOM as served, read right after load, before any check (axe) touches it."""

    status: int
    lang: str
    mains: int
    headings: tuple[Heading, ...]
    sections: tuple[Section, ...]
    text: str  # body innerText, whitespace-normalized
    scripts: int
    handlers: tuple[str, ...]  # inline on* attributes and javascript: URLs
    links: tuple[str, ...]  # every a[href], resolved against the page
    unstyled: tuple[str, ...]  # <style>/<link rel=stylesheet> the browser did not apply
    ids: frozenset[str]  # every id attribute, for fragment links

    @property
    def h1(self) -> list[Heading]:
        return [h for h in self.headings if h.level == 1]


_SNAPSHOT_JS = """
() => {
  const norm = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none';
  };
  const headings = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map((h) => ({
    level: Number(h.tagName[1]), text: norm(h.textContent), visible: visible(h),
    in_main: !!h.closest('main'),
  }));
  const sections = [...document.querySelectorAll('main section')].map((s) => {
    const h = s.querySelector('h2');
    return { heading: h ? norm(h.textContent) : '', text: norm(s.innerText) };
  });
  const handlers = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) handlers.push(`<${el.localName} ${a.name}>`);
      if (/^\\s*javascript:/i.test(a.value)) handlers.push(`<${el.localName} ${a.name}>`);
    }
  }
  const unstyled = [...document.querySelectorAll('style, link[rel~="stylesheet"]')]
    .filter((s) => !s.sheet)
    .map((s) => s.outerHTML.slice(0, 80));
  return {
    lang: document.documentElement.getAttribute('lang') || '',
    mains: document.querySelectorAll('main').length,
    headings,
    sections,
    text: norm(document.body.innerText),
    scripts: document.querySelectorAll('script').length,
    handlers,
    links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
    unstyled,
    ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
  };
}
"""


def snapshot(page: Page, status: int) -> Snapshot:
    data: dict[str, Any] = page.evaluate(_SNAPSHOT_JS)
    return Snapshot(
        status=status,
        lang=data["lang"],
        mains=data["mains"],
        headings=tuple(Heading(**h) for h in data["headings"]),
        sections=tuple(Section(**s) for s in data["sections"]),
        text=data["text"],
        scripts=data["scripts"],
        handlers=tuple(data["handlers"]),
        links=tuple(data["links"]),
        unstyled=tuple(data["unstyled"]),
        ids=frozenset(data["ids"]),
    )


@dataclass
class View:
    """One path rendered at one viewport, kept open for every check of that pair."""

    path: str
    url: str
    viewport: Viewport
    page: Page
    snapshot: Snapshot
    external: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        """A file name for the path: ``/education/Medication/x`` -> ``education-Medication-x``."""
        return self.path.strip("/").replace("/", "-") or "root"


class Browsing:
    """The browser's contexts, the open views, and the cache of link statuses.

    Every page is routed through a guard: a request to anything but the loopback test
    server is aborted and recorded in ``View.external``, so "no external assets" is
    observed, not assumed.

    - The reading contexts (one per viewport) bypass the page's Content-Security-Policy, so
      that whatever the markup asks for reaches the guard (the policy would block it
      silently before it left the browser). axe-core is an init script there: the browser
      evaluates it before the page, it adds no element to the DOM (the page's own
      ``<script>`` count stays as served), and it costs less than injecting it per page.
    - The JavaScript-disabled context keeps the policy, as a reader's browser does, and so
      shows whether the policy lets the page's own inline stylesheet apply.
    - Links are followed in a context of their own, without axe-core, so that following
      forty links does not evaluate it forty times.
    """

    def __init__(self, browser: Browser, site: str, axe: str) -> None:
        self.browser = browser
        self.site = site
        self._axe = axe
        self._origin = urlsplit(site).netloc
        self._contexts: dict[str, BrowserContext] = {}
        self._pages: dict[str, Page] = {}
        self._external: dict[str, list[str]] = {}
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._statuses: dict[str, int] = {}

    def _context(self, viewport: Viewport, kind: str) -> BrowserContext:
        """``kind``: ``reading`` (JavaScript, axe-core), ``plain`` (no JavaScript), ``links``."""
        key = f"{viewport.name}-{kind}"
        if key not in self._contexts:
            javascript = kind != "plain"
            context = self.browser.new_context(
                viewport={"width": viewport.width, "height": viewport.height},
                device_scale_factor=2 if viewport.mobile else 1,
                is_mobile=viewport.mobile,
                has_touch=viewport.mobile,
                java_script_enabled=javascript,
                bypass_csp=javascript,
                service_workers="block",
            )
            if kind == "reading":
                context.add_init_script(script=self._axe)
            self._contexts[key] = context
        return self._contexts[key]

    def _new_page(self, context: BrowserContext, key: str) -> Page:
        """A page whose off-server requests go to ``self._external[key]``, then aborted."""

        def guard(route: Route) -> None:
            url = route.request.url
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc == self._origin:
                route.continue_()
            else:
                self._external.setdefault(key, []).append(url)
                route.abort("blockedbyclient")

        page = context.new_page()
        page.route("**/*", guard)
        return page

    def _page(self, viewport: Viewport, kind: str) -> tuple[Page, str]:
        """The one page of a context, reused for every path: a new page costs more than
        the navigation itself."""
        key = f"{viewport.name}-{kind}"
        if key not in self._pages:
            self._pages[key] = self._new_page(self._context(viewport, kind), key)
        return self._pages[key], key

    def _load(self, page: Page, key: str, path: str, viewport: Viewport) -> View:
        self._external[key] = external = []
        url = urljoin(self.site, path)
        response = page.goto(url, wait_until="load")
        status = response.status if response is not None else 0
        return View(path, url, viewport, page, snapshot(page, status), external)

    def open(self, path: str, viewport: Viewport) -> View:
        """``path`` in the reading page of ``viewport``: valid until the next ``open``."""
        page, key = self._page(viewport, "reading")
        view = self._load(page, key, path, viewport)
        self._snapshots[(path, viewport.name)] = view.snapshot
        return view

    def open_without_javascript(self, path: str) -> View:
        """``path`` at the desktop viewport, JavaScript off, the page's CSP enforced."""
        page, key = self._page(DESKTOP, "plain")
        return self._load(page, key, path, DESKTOP)

    def snapshot(self, path: str, viewport: Viewport = DESKTOP) -> Snapshot:
        """The snapshot of an earlier view of ``path``, or of one in a page of its own (so
        that an open view is left as it is)."""
        if (path, viewport.name) not in self._snapshots:
            key = f"{viewport.name}-scratch"
            page = self._new_page(self._context(viewport, "links"), key)
            self._snapshots[(path, viewport.name)] = self._load(page, key, path, viewport).snapshot
            page.close()
        return self._snapshots[(path, viewport.name)]

    def status(self, url: str) -> int:
        """The HTTP status a reader gets following ``url`` in the browser (cached)."""
        if url not in self._statuses:
            page, _ = self._page(DESKTOP, "links")
            with page.expect_response(lambda r: r.url == url) as answer:
                try:
                    page.goto(url, wait_until="commit")
                except PlaywrightError as error:
                    # A FHIR link answers JSON or XML, which the browser saves rather
                    # than shows: the navigation ends in a download, the response stands.
                    if "Download is starting" not in error.message:
                        raise
            self._statuses[url] = answer.value.status
        return self._statuses[url]

    def close(self) -> None:
        for context in self._contexts.values():
            context.close()


saved: list[Path] = []
"""Screenshots written in this run, for the terminal summary."""


def save_screenshot(view: View, folder: Path) -> Path:
    path = folder / f"{view.slug}-{view.viewport.name}.png"
    view.page.screenshot(path=str(path), full_page=True)
    saved.append(path)
    print(f"screenshot: {path.relative_to(ROOT)}")
    return path
