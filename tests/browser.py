"""The system Chromium driven by Playwright, for the browser tests (never a downloaded
browser: `playwright install` needs the network). Flags that work as root, headless."""

from __future__ import annotations

import atexit
import contextlib
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


_shared: dict[str, Any] = {}  # this process's Playwright driver and browser


@contextmanager
def chromium() -> Iterator[Any]:
    """The process's Chromium, launched on first use and closed when the process ends; fails
    the test when it is not installed. One per process: Playwright's sync API refuses a
    second driver while one runs (a Superset session and the Dagster UI tests can share an
    xdist worker), and each test isolates itself in a context of its own (desktop_page)."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium (see README)"
        )
    if "browser" not in _shared or not _shared["browser"].is_connected():
        from playwright.sync_api import sync_playwright

        if "driver" not in _shared:
            _shared["driver"] = sync_playwright().start()
            atexit.register(_stop)
        _shared["browser"] = _shared["driver"].chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
    yield _shared["browser"]


def _stop() -> None:
    with contextlib.suppress(Exception):
        _shared["browser"].close()
    with contextlib.suppress(Exception):
        _shared["driver"].stop()


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
    """Dagster's UI asks for an e-mail address on a first visit, sometimes seconds after the
    page loaded: skipped now if it is there, and whenever it covers what an action targets
    later (Playwright's locator handler, registered once per page)."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.click()
    if page not in _NEWSLETTER_HANDLED:
        page.add_locator_handler(skip, lambda button: button.click())
        _NEWSLETTER_HANDLED.add(page)


_NEWSLETTER_HANDLED: weakref.WeakSet = weakref.WeakSet()


# -- Superset dashboards -------------------------------------------------------------------
# A fingerprint of each chart on the page: its canvases' pixels (hashed) and its text.
FINGERPRINTS = """() => Array.from(document.querySelectorAll('[data-test-chart-id]')).map(el => {
    const canvases = Array.from(el.querySelectorAll('canvas'));
    let painted = 0, digest = 0;
    for (const canvas of canvases) {
        const url = canvas.toDataURL();
        for (let i = 0; i < url.length; i += 7) digest = (digest * 31 + url.charCodeAt(i)) | 0;
        const ctx = canvas.getContext('2d');
        if (ctx && canvas.width && canvas.height) {
            const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < pixels.length; i += 64) if (pixels[i] > 0) painted++;
        }
    }
    return {
        id: el.getAttribute('data-test-chart-id'),
        viz: el.getAttribute('data-test-viz-type'),
        canvases: canvases.length,
        painted: painted,
        digest: digest,
        rows: el.querySelectorAll('tbody tr').length,
        text: el.innerText,
        loading: el.querySelectorAll('.loading, [data-test="loading-indicator"]').length,
        errors: el.querySelectorAll(
            '.ant-alert-error, [data-test="error-alert"], [data-test="chart-error"]'
        ).length,
        // a warning banner or icon anywhere in the chart's box, its header included
        warnings: (el.closest('.dashboard-component-chart-holder') || el).querySelectorAll(
            '.ant-alert, [role="alert"], [aria-label="warning"], .anticon-warning'
        ).length,
    };
})"""


def wait_until_drawn(page, expected_charts: int, timeout: float = 90) -> list[dict]:
    """Wait until every chart has loaded and its canvases stopped changing (animations)."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        charts = page.evaluate(FINGERPRINTS)
        settled = len(charts) == expected_charts and not any(c["loading"] for c in charts)
        if settled and charts == previous:
            return charts
        previous = charts if settled else None
        page.wait_for_timeout(500)
    raise AssertionError(f"the charts did not finish drawing within {timeout:.0f}s: {previous}")


def assert_drew_data(charts: list[dict], where: str) -> None:
    for chart in charts:
        label = f"{where}: chart {chart['id']} ({chart['viz']})"
        assert chart["errors"] == 0, f"{label} shows an error: {chart['text'][:300]}"
        assert chart["warnings"] == 0, f"{label} shows a warning: {chart['text'][:300]}"
        assert "No results" not in chart["text"], f"{label} drew no data"
        assert "Unexpected error" not in chart["text"], f"{label}: {chart['text'][:300]}"
        if chart["viz"] == "table":
            assert chart["rows"] > 0, f"{label} has no rows"
        elif chart["viz"] == "big_number_total":
            assert any(ch.isdigit() for ch in chart["text"]), f"{label} shows no number"
        else:
            assert chart["canvases"] > 0 and chart["painted"] > 50, f"{label} drew nothing"


LOGIN_ATTEMPTS = 3


def login_to_superset(page: Any, url: str, username: str, password: str) -> None:
    """Logged in once Superset redirects to the welcome page (not waiting for that page's
    load event, which took over 30 s on a busy CI machine). On a busy machine a submit was
    lost twice in CI (no redirect within 90 s): the form is filled and sent again, up to
    LOGIN_ATTEMPTS times; the last failure is raised."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, LOGIN_ATTEMPTS + 1):
        page.goto(f"{url}/login/")
        page.fill("[data-test=username-input]", username)
        page.fill("[data-test=password-input]", password)
        page.click("[data-test=login-button]")
        try:
            page.wait_for_url("**/superset/welcome/**", wait_until="commit", timeout=45_000)
            return
        except PlaywrightTimeout:
            if attempt == LOGIN_ATTEMPTS:
                raise


def screenshot_dashboard(page: Any, path: Path, expected_charts: int, max_height: int) -> None:
    """The whole dashboard (up to `max_height` px) in one picture. Not Playwright's full-page
    mode: that resizes the window while it shoots, and Superset redraws every chart blank."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size(
        {"width": page.viewport_size["width"], "height": min(height, max_height)}
    )
    wait_until_drawn(page, expected_charts)
    page.screenshot(path=str(path))
