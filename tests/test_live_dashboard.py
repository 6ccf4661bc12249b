"""The live sales dashboard in a real browser while events flow: a broker (Tansu), the
producer, `lakehouse stream events` into the session's demo lake and the live marts refreshed
and published as `make demo-stream` does, read by the session's Superset and Chromium
(tests/superset_session.py, which imported every dashboard, the live one included). The
numbers change between two of the dashboard's own refreshes, and a filter changes what the
charts show. The producer and the stream stop when the module ends: the other modules of the
session then see a live mart with rows, and never a lake still being written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake import open_lake
from orchestration.bi import SUPERSET_DIR
from orchestration.live_marts import refresh_live_marts
from orchestration.settings import REPO_ROOT, Settings
from orchestration.stream_demo import _start, _stop
from tests.browser import login_to_superset, wait_until_drawn
from tests.superset_session import SCALE, SUPERSET_SESSION, SupersetServer
from tests.test_superset import ARTIFACTS

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SUPERSET_SESSION)]
sys.path.insert(0, str(SUPERSET_DIR))
from bundle_spec import DASHBOARDS  # noqa: E402
from bundle_spec_live import LIVE_DASHBOARDS  # noqa: E402
from generate_bundles import slug  # noqa: E402

(LIVE,) = LIVE_DASHBOARDS


def refresh_marts(settings: Settings) -> None:
    """What `make demo-stream` does every few seconds: rebuild and publish the marts."""
    refresh_live_marts(settings, open_lake(settings.lake_url))


def _wait_for_sales(lake_dir: Path, timeout: float = 60) -> None:
    folder = lake_dir / "bronze" / "events" / "sales_events"
    deadline = time.monotonic() + timeout
    while not (folder.exists() and any(folder.rglob("*.parquet"))):
        if time.monotonic() > deadline:
            raise AssertionError(f"no sale landed in {folder} within {timeout:.0f} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def live_superset(kafka_broker, pipeline_settings, superset) -> Iterator[SupersetServer]:
    """The session's Superset, once events stream into its lake and a refresh of the live
    marts is published."""
    started = time.perf_counter()
    settings = pipeline_settings
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "CONNECTIONS_FILE": str(REPO_ROOT / "connections.streaming.yml"),
    }
    env.pop("LAKE_URL", None)  # the lake of DATA_DIR, the one the session's Superset serves
    python = [sys.executable, "-m"]
    producer = _start(
        [*python, "datagen.events", "--rate", "300", "--partitions", "3", "--scale", SCALE],
        env,
        stdout=subprocess.DEVNULL,
    )
    stream = None
    try:
        time.sleep(2)  # the producer creates the topics
        stream = _start(
            [*python, "orchestration.cli", "stream", "events", "--rotate-seconds", "1",
             "--no-dagster"],
            env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_sales(Path(settings.lake_url))
        refresh_marts(settings)
        print(f"\nlive dashboard fixture: events to a published mart in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        yield superset
    finally:
        _stop_and_say_if_slow("producer", producer)
        if stream is not None:
            _stop_and_say_if_slow("stream", stream)


def _stop_and_say_if_slow(name: str, process: subprocess.Popen) -> None:
    """Stop a process (SIGTERM, then a kill after 60 s); a stop that took longer than a few
    seconds is a warning in the test summary: this teardown took 60 s in whole-suite runs
    on CI's machine (2026-12-06), never when the module ran alone."""
    started = time.perf_counter()
    code = _stop(process)
    took = time.perf_counter() - started
    if took > 5:
        message = f"live dashboard: the {name} took {took:.0f} s to stop (exit {code})"
        warnings.warn(message, stacklevel=2)


@pytest.fixture(scope="module")
def live_page(live_superset, browser) -> Iterator:
    # the session's Chromium (tests/superset_session.py): a second sync Playwright in the
    # same process fails
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    login_to_superset(page, live_superset.url, live_superset.username, live_superset.password)
    yield page
    page.close()


def dashboard_url(superset: SupersetServer) -> str:
    """The dashboard with `force`: its charts' queries skip Superset's data cache (60 s),
    which may still hold the empty live mart an earlier module of the session queried."""
    return f"{superset.url}/superset/dashboard/{LIVE.slug}/?force=true"


def chart_ids(superset: SupersetServer) -> dict[str, str]:
    charts = superset.api().get(f"/api/v1/dashboard/{LIVE.slug}/charts").json()["result"]
    return {c["slice_name"]: str(c["id"]) for c in charts}


def shown(page, ids: dict[str, str]) -> dict[str, dict]:
    by_id = {c["id"]: c for c in wait_until_drawn(page, len(LIVE.charts))}
    return {name: by_id[chart_id] for name, chart_id in ids.items()}


def number(chart: dict) -> int:
    """The big number of a big number chart (its text is the title, then the number)."""
    lines = [line for line in chart["text"].splitlines() if any(ch.isdigit() for ch in line)]
    assert lines, f"no number in {chart['text']!r}"
    return int("".join(ch for ch in lines[-1] if ch.isdigit()))


def test_the_live_dashboard_refreshes_itself_and_its_numbers_move_with_the_stream(
    live_superset, live_page
):
    assert LIVE in DASHBOARDS and 0 < LIVE.refresh_frequency <= 30
    ids = chart_ids(live_superset)
    live_page.goto(dashboard_url(live_superset))
    before = shown(live_page, ids)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    live_page.screenshot(path=str(ARTIFACTS / "live-sales.png"), full_page=True)
    assert number(before["Live sales"]) > 0
    assert before["Live top products"]["rows"] > 0
    assert before["Live revenue per minute"]["painted"] > 50

    # the stream has landed more sales since: refresh the marts as `make demo-stream` does,
    # then wait for the dashboard's own timed refresh (no reload of the page)
    refresh_marts(live_superset.settings)
    deadline = time.monotonic() + LIVE.refresh_frequency * 2 + 30
    after = before
    while number(after["Live sales"]) == number(before["Live sales"]):
        assert time.monotonic() < deadline, "the dashboard did not show the new sales"
        live_page.wait_for_timeout(1000)
        after = shown(live_page, ids)
    assert number(after["Live sales"]) > number(before["Live sales"])
    live_page.screenshot(path=str(ARTIFACTS / "live-sales-refreshed.png"), full_page=True)


def test_a_region_filter_changes_what_the_live_charts_show(live_superset, live_page):
    ids = chart_ids(live_superset)
    live_page.goto(dashboard_url(live_superset))
    before = shown(live_page, ids)
    region = next(f for f in LIVE.filters if f.name == "Region")
    filter_id = f"NATIVE_FILTER-{slug(LIVE.slug)}-{slug(region.name)}"
    live_page.click(f'[data-test="{filter_id}"] .ant-select-selector')
    option = live_page.locator(".ant-select-item-option").first
    value = option.get_attribute("title") or option.inner_text()
    option.click()
    live_page.keyboard.press("Escape")
    live_page.click('[data-test="filter-bar__apply-button"]')
    live_page.wait_for_timeout(500)
    after = shown(live_page, ids)
    live_page.screenshot(path=str(ARTIFACTS / "live-sales-filtered.png"), full_page=True)

    # the marts were not refreshed meanwhile: one region's sales are fewer than all regions'
    assert 0 < number(after["Live sales"]) < number(before["Live sales"]), f"Region={value}"
    assert after["Live sales by region"]["digest"] != before["Live sales by region"]["digest"]
    assert after["Live top products"]["text"] != before["Live top products"]["text"]
