"""Real-browser fixtures: Debian's chromium, driven headless by Playwright, against the live
gunicorn of ``tests/support/servers.py`` (``live_site``, loaded with fixtures/).

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``, which the
Makefile's ``chromium`` prerequisite of ``pytest`` installs through apt when it is missing.
When it is missing anyway, the tests fail with a message saying so; they never skip.

One browser serves every test of this package. Its scope is the package, not the session,
on purpose: while Playwright's sync API runs it marks its event loop as running in the main
thread, so any later test calling ``asyncio.run()`` (``tests/api/test_live_clients.py``)
would fail if the browser outlived this package. There is one browser per run either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.conftest import ROOT

from .pages import AXE, CHROMIUM, LAUNCH_ARGS, SCREENSHOTS, Browsing, saved


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless. Fails (never skips) when it is not installed."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium. `make test` "
            "installs it (apt-get install chromium chromium-driver); Playwright's own "
            "browser downloads are not used.",
            pytrace=False,
        )
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def browsing(browser: Browser, live_site: str, axe_source: str) -> Iterator[Browsing]:
    session = Browsing(browser, live_site, axe_source)
    yield session
    session.close()


@pytest.fixture(scope="package")
def axe_source() -> str:
    """axe-core, pinned in validators/package-lock.json and installed by ``npm ci``."""
    if not AXE.is_file():
        pytest.fail(
            f"{AXE.relative_to(ROOT)} is missing: run `make test` (npm ci --prefix validators).",
            pytrace=False,
        )
    return AXE.read_text("utf-8")


@pytest.fixture(scope="package")
def screenshots() -> Path:
    """A clean test-artifacts/screenshots/ for this run's full-page screenshots."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    saved.clear()
    return SCREENSHOTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the screenshots are, since CI keeps them as artefacts."""
    if saved:
        terminalreporter.write_line(
            f"browser screenshots: {len(saved)} in {SCREENSHOTS.relative_to(ROOT)}/"
        )
