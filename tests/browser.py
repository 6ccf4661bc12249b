"""The system Chromium driven by Playwright, for the browser tests (never a downloaded
browser: `playwright install` needs the network). Flags that work as root, headless."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium, closed afterwards; fails the test when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (see README)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def desktop_page(browser: Any, artifacts: Path) -> Iterator[Any]:
    """A page in a fresh context at a desktop size; `artifacts` is where screenshots go."""
    artifacts.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def dismiss_dagster_newsletter(page: Any) -> None:
    """Dagster's UI asks for an e-mail address on a first visit."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.click()
