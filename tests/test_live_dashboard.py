"""The live sales dashboard in a real browser while events flow: a broker (Tansu), the
producer, `lakehouse stream events` and the live marts refreshed as `make demo-stream`
does; Superset bootstrapped with the live dashboard's part of the bundle only (its serving
catalog holds the streamed mart, not the batch marts). The numbers change between two of
the dashboard's own refreshes, and a filter changes what the charts show."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake import open_lake
from orchestration.bi import (
    SUPERSET_DIR,
    SUPERSET_VENV,
    load_credentials,
    start_superset,
    stop_superset,
    superset_env,
    wait_until_healthy,
)
from orchestration.live_marts import refresh_live_marts
from orchestration.settings import REPO_ROOT, Settings
from orchestration.stream_demo import _start, _stop
from tests.browser import login_to_superset, wait_until_drawn
from tests.superset_session import SupersetServer, free_port
from tests.test_superset import ARTIFACTS

pytestmark = pytest.mark.integration
sys.path.insert(0, str(SUPERSET_DIR))
from bundle_spec import DASHBOARDS  # noqa: E402
from bundle_spec_live import LIVE_DASHBOARDS  # noqa: E402
from generate_bundles import slug  # noqa: E402

(LIVE,) = LIVE_DASHBOARDS
BUNDLE = SUPERSET_DIR / "bundles"


class LiveSuperset(SupersetServer):
    def refresh_marts(self) -> None:
        """What `make demo-stream` does every few seconds: rebuild and publish the marts."""
        refresh_live_marts(self.settings, open_lake(self.settings.lake_url))


def live_bundle(target: Path) -> Path:
    """The live dashboard's files of the generated bundle: the serving catalog of this test
    holds no batch mart, and the bootstrap checks every dataset of its bundle."""
    keep = {"metadata.yaml", "databases/lakehouse_serving.yaml"}
    keep |= {f"dashboards/{slug(LIVE.slug)}.yaml"}
    keep |= {f"charts/{slug(c.name)}.yaml" for c in LIVE.charts}
    keep |= {f"datasets/lakehouse_serving/{c.dataset}.yaml" for c in LIVE.charts}
    for name in keep:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BUNDLE / name, target / name)
    return target


def _wait_for_sales(lake_dir: Path, timeout: float = 60) -> None:
    folder = lake_dir / "bronze" / "events" / "sales_events"
    deadline = time.monotonic() + timeout
    while not (folder.exists() and any(folder.rglob("*.parquet"))):
        if time.monotonic() > deadline:
            raise AssertionError(f"no sale landed in {folder} within {timeout:.0f} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def live_superset(kafka_broker, tmp_path_factory) -> Iterator[LiveSuperset]:
    if not (SUPERSET_VENV / "bin" / "gunicorn").exists():
        pytest.fail("Superset's virtualenv is missing: run `make superset-setup` (make test does)")
    started = time.perf_counter()
    data_dir = tmp_path_factory.mktemp("live-data")
    settings = Settings.from_env({"DATA_DIR": str(data_dir)})
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "CONNECTIONS_FILE": str(REPO_ROOT / "connections.streaming.yml"),
    }
    env.pop("LAKE_URL", None)
    python = [sys.executable, "-m"]
    producer = _start(
        [*python, "datagen.events", "--rate", "300", "--partitions", "3", "--scale", "0.01"],
        env,
        stdout=subprocess.DEVNULL,
    )
    stream = None
    process = None
    try:
        time.sleep(2)  # the producer creates the topics
        stream = _start(
            [*python, "orchestration.cli", "stream", "events", "--rotate-seconds", "1",
             "--no-dagster"],
            env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_sales(Path(settings.lake_url))
        refresh_live_marts(settings, open_lake(settings.lake_url))
        data_seconds = time.perf_counter() - started
        superset = superset_env(settings)
        bootstrap = subprocess.run(
            [str(SUPERSET_VENV / "bin" / "python"), str(SUPERSET_DIR / "bootstrap.py"),
             "--bundle", str(live_bundle(data_dir / "live-bundle"))],
            env=superset, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert bootstrap.returncode == 0, bootstrap.stdout[-3000:] + bootstrap.stderr[-3000:]
        bootstrap_seconds = time.perf_counter() - started - data_seconds
        port = free_port()
        process = start_superset(settings, port, run_bootstrap=False)
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process)
        credentials = load_credentials(settings)
        total = time.perf_counter() - started
        print(
            f"\nlive dashboard fixture: {total:.1f} s (events to a published mart "
            f"{data_seconds:.1f} s, Superset bootstrap {bootstrap_seconds:.1f} s, "
            f"start {total - data_seconds - bootstrap_seconds:.1f} s)"
        )
        yield LiveSuperset(
            url,
            settings,
            credentials["SUPERSET_ADMIN_USERNAME"],
            credentials["SUPERSET_ADMIN_PASSWORD"],
            bootstrap_seconds,
        )
    finally:
        if process is not None:
            stop_superset(process)
        _stop(producer)
        if stream is not None:
            _stop(stream)


@pytest.fixture(scope="module")
def live_page(live_superset, browser) -> Iterator:
    # the session's Chromium (tests/superset_session.py): a second sync Playwright in the
    # same process fails
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    login_to_superset(page, live_superset.url, live_superset.username, live_superset.password)
    yield page
    page.close()


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
    live_page.goto(f"{live_superset.url}/superset/dashboard/{LIVE.slug}/")
    before = shown(live_page, ids)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    live_page.screenshot(path=str(ARTIFACTS / "live-sales.png"), full_page=True)
    assert number(before["Live sales"]) > 0
    assert before["Live top products"]["rows"] > 0
    assert before["Live revenue per minute"]["painted"] > 50

    # the stream has landed more sales since: refresh the marts as `make demo-stream` does,
    # then wait for the dashboard's own timed refresh (no reload of the page)
    live_superset.refresh_marts()
    deadline = time.monotonic() + LIVE.refresh_frequency * 2 + 30
    after = before
    while number(after["Live sales"]) == number(before["Live sales"]):
        assert time.monotonic() < deadline, "the dashboard did not show the new sales"
        live_page.wait_for_timeout(2000)
        after = shown(live_page, ids)
    assert number(after["Live sales"]) > number(before["Live sales"])
    live_page.screenshot(path=str(ARTIFACTS / "live-sales-refreshed.png"), full_page=True)


def test_a_region_filter_changes_what_the_live_charts_show(live_superset, live_page):
    ids = chart_ids(live_superset)
    live_page.goto(f"{live_superset.url}/superset/dashboard/{LIVE.slug}/")
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
